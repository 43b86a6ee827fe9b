#include "store/receipt_writer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <vector>

#include "plugvisor/common/ids.h"
#include "store/copy_text.h"
#include "store/store_util.h"

namespace plugvisor::store {
namespace {

constexpr int kConnectTimeoutSeconds = 2;
constexpr size_t kMaxErrorMessageBytes = 4096;

// Rows in submission order, so receipt ids (bigserial) follow it.
constexpr const char* kCopyReceipts =
    "COPY receipts (at, dispatch_id, plugin_id, plugin_version, hook, status, error_code, "
    "error_message, duration_us, tenant_id, work_item_id, run_id, mutated_paths, fail_policy) "
    "FROM STDIN";

// An empty optional field is stored as NULL, as plugvisorctl and the admin API expect.
void value_or_null(copy_text::Row& row, std::string_view text) {
  if (text.empty()) {
    row.null();
  } else {
    row.value(text);
  }
}

void append_receipt(std::string& out, const dispatch::Receipt& r, int64_t now_ms) {
  // jsonb refuses \u0000, and a path is a plugin's patch key, so it may hold NUL.
  nlohmann::json paths = nlohmann::json::array();
  for (const auto& p : r.mutated_paths) paths.push_back(detail::without_nul(p));
  const std::string_view message =
      std::string_view(r.error_message).substr(0, kMaxErrorMessageBytes);
  copy_text::Row row(out);
  row.value(copy_text::timestamp(r.at_unix_ms > 0 ? r.at_unix_ms : now_ms))
      .value(r.dispatch_id)
      .value(r.plugin_id)
      .value(r.plugin_version)
      .value(r.hook)
      .value(r.status);
  value_or_null(row, dispatch::to_string(r.error));
  value_or_null(row, message);
  row.value(std::to_string(r.duration.count()));
  value_or_null(row, r.tenant_id);
  value_or_null(row, r.work_item_id);
  value_or_null(row, r.run_id);
  row.value(detail::jsonb_text(paths)).value(dispatch::to_string(r.fail_policy));
  row.end();
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

void ReceiptWriter::release_front(std::unique_lock<std::mutex>& lock, size_t n) {
  // Moved out under the lock (pointer swaps), freed outside it: submit() on the dispatch path
  // waits for mu_, and freeing a batch's strings takes longer than moving them.
  std::vector<dispatch::Receipt> done(
      std::make_move_iterator(queue_.begin()),
      std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
  lock.unlock();
  done.clear();
  lock.lock();
}

bool ReceiptWriter::write_one_batch(std::unique_lock<std::mutex>& lock, Connection& conn) {
  const size_t n = std::min(queue_.size(), config_.batch_size);
  // The batch stays at the front of the queue while it is written: submit() only appends, and
  // only this thread removes. A deque's push_back keeps references to its elements valid, so
  // the batch is encoded after the lock is let go: submit() runs on the dispatch path and must
  // not wait while 500 receipts are turned into text.
  std::vector<const dispatch::Receipt*> batch;
  batch.reserve(n);
  for (size_t i = 0; i < n; ++i) batch.push_back(&queue_[i]);
  in_flight_ = n;
  lock.unlock();
  const int64_t now_ms = unix_millis();
  std::string rows;
  for (const dispatch::Receipt* r : batch) append_receipt(rows, *r, now_ms);
  const Status inserted = conn.copy_in(kCopyReceipts, rows);
  lock.lock();
  in_flight_ = 0;
  if (inserted.ok()) {
    written_ += n;  // before the erase: stats() counts each receipt as queued or written
    drop_logged_ = false;
    release_front(lock, n);
    drained_.notify_all();
    return true;
  }
  if (conn.healthy() && is_data_error(conn.last_sqlstate())) {
    // Retrying a batch the database refuses would block every receipt behind it.
    spdlog::error("receipt writer: dropping {} receipts the database refused: {}", n,
                  inserted.error().message);
    dropped_ += n;
    release_front(lock, n);
    drained_.notify_all();
    return true;
  }
  note_outage(inserted.error().message);
  return false;
}

}  // namespace plugvisor::store
