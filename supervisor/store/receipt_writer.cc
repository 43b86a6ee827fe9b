#include "store/receipt_writer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>

#include "store/store_util.h"

namespace plugvisor::store {
namespace {

constexpr int kConnectTimeoutSeconds = 2;
constexpr size_t kMaxErrorMessageBytes = 4096;

// One statement per batch: the rows travel as one jsonb array. WITH ORDINALITY keeps the
// array's order, so receipt ids follow submission order.
constexpr const char* kInsertBatch = R"sql(
INSERT INTO receipts (at, dispatch_id, plugin_id, plugin_version, hook, status, error_code,
                      error_message, duration_us, tenant_id, work_item_id, run_id,
                      mutated_paths, fail_policy)
SELECT CASE WHEN (r->>'at_ms')::bigint > 0
            THEN 'epoch'::timestamptz + (r->>'at_ms')::bigint * interval '1 millisecond'
            ELSE now() END,
       r->>'dispatch_id', r->>'plugin_id', r->>'plugin_version', r->>'hook', r->>'status',
       NULLIF(r->>'error_code', ''), NULLIF(r->>'error_message', ''),
       (r->>'duration_us')::bigint, NULLIF(r->>'tenant_id', ''), NULLIF(r->>'work_item_id', ''),
       NULLIF(r->>'run_id', ''), r->'mutated_paths', r->>'fail_policy'
FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(r, ord)
ORDER BY ord)sql";

nlohmann::json to_json(const dispatch::Receipt& r) {
  using detail::without_nul;
  nlohmann::json paths = nlohmann::json::array();
  for (const auto& p : r.mutated_paths) paths.push_back(without_nul(p));
  std::string message = without_nul(r.error_message);
  if (message.size() > kMaxErrorMessageBytes) message.resize(kMaxErrorMessageBytes);
  return {
      {"at_ms", r.at_unix_ms},
      {"dispatch_id", without_nul(r.dispatch_id)},
      {"plugin_id", without_nul(r.plugin_id)},
      {"plugin_version", without_nul(r.plugin_version)},
      {"hook", without_nul(r.hook)},
      {"status", without_nul(r.status)},
      {"error_code", std::string(dispatch::to_string(r.error))},
      {"error_message", std::move(message)},
      {"duration_us", static_cast<int64_t>(r.duration.count())},
      {"tenant_id", without_nul(r.tenant_id)},
      {"work_item_id", without_nul(r.work_item_id)},
      {"run_id", without_nul(r.run_id)},
      {"mutated_paths", std::move(paths)},
      {"fail_policy", std::string(dispatch::to_string(r.fail_policy))},
  };
}

}  // namespace

ReceiptWriter::ReceiptWriter(std::string url, config::ReceiptWriterConfig config)
    : url_(std::move(url)), config_(config) {
  config_.batch_size = std::max<size_t>(config_.batch_size, 1);
  config_.flush_interval = std::max(config_.flush_interval, std::chrono::milliseconds(1));
  thread_ = std::thread([this] { run(); });
}

ReceiptWriter::~ReceiptWriter() {
  flush(std::chrono::seconds(2));
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  const WriterStats s = stats();
  if (s.queued > 0) {
    spdlog::warn("receipt writer: stopped with {} receipts not written", s.queued);
  }
}

void ReceiptWriter::submit(std::vector<dispatch::Receipt> receipts) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    for (auto& r : receipts) {
      if (queue_.size() >= config_.queue_capacity) {
        ++dropped_;
        if (!drop_logged_) {
          drop_logged_ = true;
          spdlog::warn("receipt writer: queue full ({} receipts), dropping new receipts",
                       config_.queue_capacity);
        }
        continue;
      }
      queue_.push_back(std::move(r));
    }
    wake = queue_.size() >= config_.batch_size;
  }
  if (wake) wake_.notify_one();
}

bool ReceiptWriter::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (queue_.empty()) return true;
  flush_requested_ = true;
  wake_.notify_one();
  return drained_.wait_for(lock, timeout, [this] { return queue_.empty(); });
}

WriterStats ReceiptWriter::stats() const {
  std::lock_guard lock(mu_);
  return WriterStats{queue_.size(), written_, dropped_, connected_.load()};
}

void ReceiptWriter::run() {
  // Exceptions must not leave this thread; the receipts stay queued and are counted at exit.
  try {
    loop();
  } catch (const std::exception& e) {
    spdlog::critical("receipt writer: thread failed: {}", e.what());
  } catch (...) {
    spdlog::critical("receipt writer: thread failed");
  }
  connected_ = false;
}

void ReceiptWriter::note_outage(const std::string& why) {
  connected_ = false;
  if (in_outage_) return;
  in_outage_ = true;
  spdlog::warn("receipt writer: database unavailable ({}); receipts stay queued, retrying", why);
}

void ReceiptWriter::loop() {
  std::optional<Connection> conn;
  detail::Backoff backoff;
  auto next_flush = std::chrono::steady_clock::now() + config_.flush_interval;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (!conn) {
      lock.unlock();
      auto opened = Connection::open(url_, kConnectTimeoutSeconds);
      lock.lock();
      if (!opened.ok()) {
        note_outage(opened.error().message);
        wake_.wait_for(lock, backoff.next(), [this] { return stopping_; });
        continue;
      }
      conn.emplace(std::move(*opened));
      connected_ = true;
      if (in_outage_) {
        spdlog::info("receipt writer: database reachable again, {} receipts queued", queue_.size());
        in_outage_ = false;
      }
    }
    // Wait for a full batch, a flush, the interval, or the end.
    wake_.wait_until(lock, next_flush, [this] {
      return stopping_ || flush_requested_ || queue_.size() >= config_.batch_size;
    });
    if (stopping_) break;
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_flush) next_flush = now + config_.flush_interval;

    while (!queue_.empty() && !stopping_) {
      if (!write_one_batch(lock, *conn)) {
        conn.reset();
        wake_.wait_for(lock, backoff.next(), [this] { return stopping_; });
        break;
      }
      backoff.reset();
    }
    if (queue_.empty()) {
      flush_requested_ = false;
      drained_.notify_all();
    }
  }
}

bool ReceiptWriter::write_one_batch(std::unique_lock<std::mutex>& lock, Connection& conn) {
  const size_t n = std::min(queue_.size(), config_.batch_size);
  nlohmann::json rows = nlohmann::json::array();
  for (size_t i = 0; i < n; ++i) rows.push_back(to_json(queue_[i]));
  // The batch stays at the front of the queue while it is written: submit() only appends,
  // and only this thread removes.
  in_flight_ = n;
  lock.unlock();
  auto inserted = conn.exec(kInsertBatch, {detail::jsonb_text(rows)});
  lock.lock();
  in_flight_ = 0;
  if (inserted.ok()) {
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    written_ += n;
    drop_logged_ = false;
    drained_.notify_all();
    return true;
  }
  if (conn.healthy() && is_data_error(conn.last_sqlstate())) {
    // Retrying a batch the database refuses would block every receipt behind it.
    spdlog::error("receipt writer: dropping {} receipts the database refused: {}", n,
                  inserted.error().message);
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    dropped_ += n;
    drained_.notify_all();
    return true;
  }
  note_outage(inserted.error().message);
  return false;
}

}  // namespace plugvisor::store
