// The receipts' way into PostgreSQL: batched, asynchronous, bounded.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "dispatch/types.h"
#include "store/connection.h"

namespace plugvisor::store {

struct WriterStats {
  uint64_t queued = 0;   // waiting now
  uint64_t written = 0;  // total
  uint64_t dropped = 0;  // total, because the queue was full (or, rarely, the database refused
                         // a batch's data outright)
  bool connected = false;
};

// Batched asynchronous receipt writer. submit() never blocks on the database: it appends to a
// bounded queue (dropping, counted, when full). A background thread writes batches as one
// multi-row INSERT, reconnecting with backoff when the database is away; a batch is removed
// from the queue only once written, so an outage loses nothing up to the queue bound.
class ReceiptWriter final : public dispatch::ReceiptSink {
 public:
  ReceiptWriter(std::string url, config::ReceiptWriterConfig config);
  ~ReceiptWriter() override;  // flush(2 s) then stop
  ReceiptWriter(const ReceiptWriter&) = delete;
  ReceiptWriter& operator=(const ReceiptWriter&) = delete;

  void submit(std::vector<dispatch::Receipt> receipts) override;
  // Writes everything queued, waiting at most `timeout`; returns false if some is left.
  bool flush(std::chrono::milliseconds timeout);
  WriterStats stats() const;

 private:
  void run();
  void loop();
  // Writes the oldest batch (called with mu_ held, releases it around the INSERT). Returns
  // false if the database is away (the batch stays queued).
  bool write_one_batch(std::unique_lock<std::mutex>& lock, Connection& conn);
  // Removes the oldest n receipts (mu_ held on entry and on return; their memory is freed
  // with it let go).
  void release_front(std::unique_lock<std::mutex>& lock, size_t n);
  void note_outage(const std::string& why);  // warns once per outage

  std::string url_;
  config::ReceiptWriterConfig config_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable drained_;
  std::deque<dispatch::Receipt> queue_;
  size_t in_flight_ = 0;
  uint64_t written_ = 0;
  uint64_t dropped_ = 0;
  std::atomic<bool> connected_{false};
  bool stopping_ = false;
  bool flush_requested_ = false;
  bool drop_logged_ = false;  // one warning per episode of a full queue
  bool in_outage_ = false;    // writer thread only
  std::thread thread_;
};

}  // namespace plugvisor::store
