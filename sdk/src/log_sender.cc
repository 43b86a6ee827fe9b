// LogSender: the bounded queue and the one thread that sends it (see log_sender.h for why).
#include "log_sender.h"

#include <optional>
#include <utility>

#include "host_client.h"

namespace plugvisor::sdk::detail {
namespace {

namespace hv1 = ::plugvisor::host::v1;
using Clock = std::chrono::steady_clock;

std::string dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// host.v1 fields are strings: a string field goes as it is, anything else as its JSON text.
hv1::LogRequest to_proto(const std::string& token, const LogRecord& record) {
  hv1::LogRequest req;
  req.set_level(record.level);
  req.set_message(record.message);
  req.set_invocation_id(record.invocation_id);
  req.set_invocation_token(token);
  auto& fields = *req.mutable_fields();
  if (record.fields.is_object()) {
    for (const auto& [key, value] : record.fields.items()) {
      fields[key] = value.is_string() ? value.get<std::string>() : dump(value);
    }
  } else if (!record.fields.is_null()) {
    fields["fields"] = dump(record.fields);
  }
  return req;
}

// Failures that say the supervisor cannot be reached (or is too slow to be), as opposed to
// failures of this one record.
bool transport_failure(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return false;
    default:
      return true;
  }
}

}  // namespace

LogSender::LogSender(Send send, Fallback fallback, Limits limits)
    : send_(std::move(send)), fallback_(std::move(fallback)), limits_(limits) {
  thread_ = std::thread([this] { run(); });
}

LogSender::~LogSender() {
  std::deque<Item> left;
  {
    std::unique_lock lock(mu_);
    stopping_ = true;
    work_cv_.notify_all();
    done_cv_.wait_until(lock, Clock::now() + limits_.close_drain,
                        [&] { return queue_.empty() && !sending_; });
    left.swap(queue_);
  }
  for (const auto& item : left) fall_back(item.record);
  // The sender exits once the queue is empty, after at most one call_timeout.
  thread_.join();
}

HostResult<void> LogSender::log(const HostCall& call, LogRecord record) {
  const auto now = Clock::now();
  std::lock_guard lock(mu_);
  if (stopping_) return HostError{HostCode::unavailable, "the host connection is closing"};
  if (degraded(now)) return HostError{HostCode::unavailable, "the supervisor is not answering"};
  if (queue_.size() >= limits_.max_queued) {
    ++dropped_;
    ++dropped_unreported_;
    return {};  // taken, and counted: blocking or writing stderr here would stall the handler
  }
  queue_.push_back({call.invocation_token, std::move(record)});
  work_cv_.notify_one();
  return {};
}

uint64_t LogSender::sent() const {
  std::lock_guard lock(mu_);
  return sent_;
}

uint64_t LogSender::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

uint64_t LogSender::fell_back() const {
  std::lock_guard lock(mu_);
  return fell_back_;
}

bool LogSender::degraded(Clock::time_point now) const { return now < degraded_until_; }

void LogSender::run() noexcept {
  for (;;) {
    Item item;
    std::optional<Item> report;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left
      item = std::move(queue_.front());
      queue_.pop_front();
      sending_ = true;
      if (dropped_unreported_ > 0) {
        // Said on the plugin's own behalf, before the next record, in the order it happened.
        try {
          LogRecord warning{"warn",
                            "plugvisor sdk: dropped " + std::to_string(dropped_unreported_) +
                                " log records: the queue to the supervisor was full",
                            {{"dropped", dropped_unreported_}},
                            {}};
          report = Item{{}, std::move(warning)};
          dropped_unreported_ = 0;
        } catch (...) {
          // Out of memory: the count stays, for the next record.
        }
      }
    }
    if (report) deliver(*report);
    deliver(item);
    {
      std::lock_guard lock(mu_);
      sending_ = false;
    }
    done_cv_.notify_all();
  }
}

void LogSender::deliver(Item& item) noexcept {
  try {
    const auto now = Clock::now();
    bool skip = false;
    {
      std::lock_guard lock(mu_);
      skip = degraded(now);
    }
    if (skip) {
      fall_back(item.record);
      return;
    }
    const auto status = send_(
        to_proto(item.token, item.record),
        host_call_deadline(now + limits_.call_timeout, now, std::chrono::system_clock::now()));
    std::lock_guard lock(mu_);
    if (status.ok()) {
      ++sent_;
      return;
    }
    if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++dropped_;
      return;
    }
    if (transport_failure(status.error_code())) {
      degraded_until_ = Clock::now() + limits_.degraded_for;
    }
  } catch (...) {
    // Out of memory building the request, or a Send that threw: the line still goes out below.
  }
  fall_back(item.record);
}

void LogSender::fall_back(const LogRecord& record) noexcept {
  {
    std::lock_guard lock(mu_);
    ++fell_back_;
  }
  try {
    fallback_(record);
  } catch (...) {
    // Best effort: there is nowhere left to say it.
  }
}

}  // namespace plugvisor::sdk::detail
