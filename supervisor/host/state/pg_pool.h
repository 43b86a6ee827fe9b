// A small, lazily filled pool of libpq connections for the state store. Header-only because
// the host library's source list is fixed in CMake; it is included by pg_kv_store.cc alone.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "plugvisor/common/result.h"
#include "store/connection.h"

namespace plugvisor::host::state {

class PgPool {
 public:
  // Returns its connection to the pool on destruction, or drops it when it broke or was left
  // in an unknown state, so the next acquire() opens a fresh one instead of failing again.
  class Lease {
   public:
    Lease(PgPool* pool, std::unique_ptr<store::Connection> conn, bool reused)
        : pool_(pool), conn_(std::move(conn)), reused_(reused) {}
    Lease(Lease&& other) noexcept
        : pool_(std::exchange(other.pool_, nullptr)),
          conn_(std::move(other.conn_)),
          reused_(other.reused_),
          statements_(other.statements_),
          discard_(other.discard_) {}
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() {
      if (pool_ != nullptr) pool_->release(std::move(conn_), discard_);
    }

    Result<store::QueryResult> exec(const std::string& sql,
                                    const std::vector<std::optional<std::string>>& params = {}) {
      ++statements_;
      return conn_->exec(sql, params);
    }
    const std::string& last_sqlstate() const { return conn_->last_sqlstate(); }
    // For a connection whose transaction state is unknown (a ROLLBACK that failed).
    void discard() { discard_ = true; }
    // An idle connection that outlived a server restart only shows it is dead when used. If
    // the very first statement found it so, nothing was applied: a retry is safe when that
    // statement was a read or BEGIN.
    bool went_stale() const { return reused_ && statements_ == 1 && !conn_->healthy(); }

   private:
    PgPool* pool_;
    std::unique_ptr<store::Connection> conn_;
    bool reused_ = false;
    int statements_ = 0;
    bool discard_ = false;
  };

  PgPool(std::string url, size_t size) : url_(std::move(url)), size_(size == 0 ? 1 : size) {}
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // Waits for an idle connection, or opens a new one while fewer than `size` exist. The error
  // is Connection::open's, which names the redacted URL and libpq's reason.
  Result<Lease> acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn), /*reused=*/true);
    }
    // Counted before connecting so concurrent callers cannot open more than `size`; the
    // connect itself runs unlocked because it can take up to the connect timeout.
    ++open_;
    lock.unlock();
    auto opened = store::Connection::open(url_, kConnectTimeoutS);
    if (opened.ok()) {
      // Bounds how long a hung server can hold a lease (and so a host-call thread).
      auto timeout = opened->exec("SET statement_timeout = 30000");
      if (timeout.ok()) {
        return Lease(this, std::make_unique<store::Connection>(std::move(opened).value()),
                     /*reused=*/false);
      }
      release(nullptr, true);
      return timeout.error();
    }
    release(nullptr, true);
    return opened.error();
  }

 private:
  static constexpr int kConnectTimeoutS = 5;

  void release(std::unique_ptr<store::Connection> conn, bool discard) {
    std::vector<std::unique_ptr<store::Connection>> dropped;
    {
      std::lock_guard lock(mu_);
      if (conn && !discard && conn->healthy()) {
        idle_.push_back(std::move(conn));
      } else {
        --open_;
        // A connection that broke usually means the server went away, and the idle ones
        // talk to that same server: drop them too rather than fail one call per connection.
        if (conn && !conn->healthy()) {
          open_ -= idle_.size();
          dropped.swap(idle_);
        }
      }
    }
    cv_.notify_all();
    // Dropped connections are closed here, outside the lock (PQfinish may send a Terminate).
  }

  const std::string url_;
  const size_t size_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<store::Connection>> idle_;
  size_t open_ = 0;  // idle + leased + being opened
};

}  // namespace plugvisor::host::state
