#include "store/state_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>

#include "plugvisor/common/ids.h"
#include "store/migrations.h"
#include "store/store_util.h"

namespace plugvisor::store {
namespace {

constexpr int kConnectTimeoutSeconds = 2;
constexpr uint32_t kMaxLimit = 1000;

std::optional<std::string> null_if_empty(const std::string& s) {
  if (s.empty()) return std::nullopt;
  return detail::without_nul(s);
}

uint32_t clamp_limit(uint32_t limit) { return limit == 0 ? 50 : std::min(limit, kMaxLimit); }

dispatch::ErrorCode parse_error_code(const std::string& text) {
  using dispatch::ErrorCode;
  for (ErrorCode code :
       {ErrorCode::timeout, ErrorCode::plugin_crashed, ErrorCode::invalid_output,
        ErrorCode::circuit_open, ErrorCode::load_error, ErrorCode::execution_error,
        ErrorCode::budget_exceeded, ErrorCode::permission_denied, ErrorCode::disabled}) {
    if (dispatch::to_string(code) == text) return code;
  }
  return ErrorCode::none;
}

// The reader's connection: a short statement_timeout, so that a read never hangs the caller
// (an operator's CLI, a health check) for long.
Result<Connection> open_reader(const std::string& url) {
  auto conn = Connection::open(url, kConnectTimeoutSeconds);
  if (!conn.ok()) return conn.error();
  auto set = conn->exec("SET statement_timeout = '5s'");
  if (!set.ok()) return set.error();
  return conn;
}

}  // namespace

StateStore::StateStore(std::string url) : url_(std::move(url)) {
  thread_ = std::thread([this] { run(); });
}

StateStore::~StateStore() {
  flush(std::chrono::seconds(2));
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  if (const size_t left = pending(); left > 0) {
    spdlog::warn("state store: stopped with {} writes not applied", left);
  }
}

Status StateStore::open(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  detail::Backoff backoff;
  for (;;) {
    Status attempt = [&]() -> Status {
      auto conn = Connection::open(url_, kConnectTimeoutSeconds);
      if (!conn.ok()) return conn.error();
      if (auto migrated = apply_migrations(*conn); !migrated.ok()) return migrated;
      // Only now: migrations may wait on another supervisor's lock for longer than a read may.
      auto set = conn->exec("SET statement_timeout = '5s'");
      if (!set.ok()) return set.error();
      std::lock_guard lock(reader_mu_);
      reader_.emplace(std::move(*conn));
      return ok_status();
    }();
    if (attempt.ok()) return attempt;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return Error{"state store: open: " + attempt.error().message};
    spdlog::debug("state store: open: {}; retrying", attempt.error().message);
    const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    std::this_thread::sleep_for(std::min(backoff.next(), remaining));
  }
}

void StateStore::enqueue(Op op) {
  {
    std::lock_guard lock(mu_);
    if (ops_.size() >= kMaxPending) {
      if (dropped_++ == 0) {
        spdlog::error("state store: {} writes pending, dropping new ones", kMaxPending);
      }
      return;
    }
    ops_.push_back(std::move(op));
  }
  wake_.notify_one();
}

void StateStore::append_event(EventRecord event) {
  // Id and time are fixed now, not at write time: a retry must carry the same id, and the
  // event happened now even if the database hears of it later.
  if (event.id.empty()) event.id = time_ordered_id();
  if (event.at_unix_ms == 0) event.at_unix_ms = unix_millis();
  enqueue([e = std::move(event)](Connection& conn) -> Status {
    auto r = conn.exec(
        "INSERT INTO events (id, at, plugin_id, kind, state, detail) "
        "VALUES ($1, 'epoch'::timestamptz + $2::bigint * interval '1 millisecond', $3, $4, "
        "NULLIF($5, ''), $6::jsonb) ON CONFLICT (id) DO NOTHING",
        {e.id, std::to_string(e.at_unix_ms), detail::without_nul(e.plugin_id),
         detail::without_nul(e.kind), detail::without_nul(e.state),
         detail::jsonb_text(e.detail.is_null() ? nlohmann::json::object() : e.detail)});
    if (!r.ok()) return r.error();
    return ok_status();
  });
}

void StateStore::save_state(const PluginRow& row, int pid) {
  enqueue([row, pid](Connection& conn) -> Status {
    auto r = conn.exec(
        "INSERT INTO plugins (id, version, state, pid, restarts, updated_at) "
        "VALUES ($1, $2, $3, $4::int, $5::int, now()) ON CONFLICT (id) DO UPDATE SET "
        "version = excluded.version, state = excluded.state, pid = excluded.pid, "
        "restarts = excluded.restarts, updated_at = now()",
        {detail::without_nul(row.id), detail::without_nul(row.version),
         detail::without_nul(row.state),
         pid > 0 ? std::optional<std::string>(std::to_string(pid)) : std::nullopt,
         std::to_string(row.restarts)});
    if (!r.ok()) return r.error();
    return ok_status();
  });
}

void StateStore::set_enabled(const std::string& plugin_id, bool enabled,
                             const std::string& reason) {
  enqueue([plugin_id, enabled, reason](Connection& conn) -> Status {
    auto r = conn.exec(
        "INSERT INTO plugins (id, enabled, disabled_reason, updated_at) "
        "VALUES ($1, $2::boolean, $3, now()) ON CONFLICT (id) DO UPDATE SET "
        "enabled = excluded.enabled, disabled_reason = excluded.disabled_reason, "
        "updated_at = now()",
        {detail::without_nul(plugin_id), enabled ? "true" : "false", null_if_empty(reason)});
    if (!r.ok()) return r.error();
    return ok_status();
  });
}

bool StateStore::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return drained_.wait_for(lock, timeout, [this] { return ops_.empty(); });
}

size_t StateStore::pending() const {
  std::lock_guard lock(mu_);
  return ops_.size();
}

uint64_t StateStore::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void StateStore::run() {
  try {
    loop();
  } catch (const std::exception& e) {
    spdlog::critical("state store: writer thread failed: {}", e.what());
  } catch (...) {
    spdlog::critical("state store: writer thread failed");
  }
  connected_ = false;
}

void StateStore::loop() {
  std::optional<Connection> conn;
  bool migrated = false;
  bool in_outage = false;
  detail::Backoff backoff;
  auto outage = [&](const std::string& why, std::unique_lock<std::mutex>& lock) {
    conn.reset();
    connected_ = false;
    if (!in_outage) {
      in_outage = true;
      spdlog::warn("state store: database unavailable ({}); writes stay queued, retrying", why);
    }
    wake_.wait_for(lock, backoff.next(), [this] { return stopping_; });
  };

  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (!conn) {
      lock.unlock();
      auto opened = Connection::open(url_, kConnectTimeoutSeconds);
      Status ready = opened.ok() ? ok_status() : Status(opened.error());
      if (opened.ok() && !migrated) ready = apply_migrations(*opened);
      lock.lock();
      if (!ready.ok()) {
        outage(ready.error().message, lock);
        continue;
      }
      migrated = true;
      conn.emplace(std::move(*opened));
      connected_ = true;
      if (in_outage) {
        in_outage = false;
        spdlog::info("state store: database reachable again, {} writes queued", ops_.size());
      }
    }
    wake_.wait(lock, [this] { return stopping_ || !ops_.empty(); });
    if (stopping_) break;

    // The op stays at the front while it runs (enqueue only appends; deque references survive
    // push_back), so a failed op is retried before anything after it: order is kept.
    Op& op = ops_.front();
    busy_ = true;
    lock.unlock();
    Status done = op(*conn);
    lock.lock();
    busy_ = false;
    if (done.ok()) {
      backoff.reset();
    } else if (conn->healthy() && is_data_error(conn->last_sqlstate())) {
      ++dropped_;
      spdlog::error("state store: dropping a write the database refused: {}", done.error().message);
    } else {
      outage(done.error().message, lock);
      continue;
    }
    ops_.pop_front();
    if (ops_.empty()) drained_.notify_all();
  }
}

template <typename F>
auto StateStore::with_reader(F&& f) -> decltype(f(std::declval<Connection&>())) {
  std::lock_guard lock(reader_mu_);
  for (int attempt = 0;; ++attempt) {
    if (!reader_ || !reader_->healthy()) {
      reader_.reset();
      auto opened = open_reader(url_);
      if (!opened.ok()) return Error{"database unavailable: " + opened.error().message};
      reader_.emplace(std::move(*opened));
    }
    auto result = f(*reader_);
    if (result.ok() || reader_->healthy() || attempt > 0) return result;
    // The connection broke under us (say, the server restarted since the last read); reads
    // are safe to repeat, so try once more on a fresh one.
    reader_.reset();
  }
}

Result<std::vector<PluginRow>> StateStore::load_plugins() {
  return with_reader([](Connection& conn) -> Result<std::vector<PluginRow>> {
    auto rows = conn.exec(
        "SELECT id, version, state, enabled, coalesce(disabled_reason, ''), restarts "
        "FROM plugins ORDER BY id");
    if (!rows.ok()) return Error{"load plugins: " + rows.error().message};
    std::vector<PluginRow> out;
    out.reserve(rows->rows());
    for (int r = 0; r < rows->rows(); ++r) {
      out.push_back(PluginRow{rows->text(r, 0), rows->text(r, 1), rows->text(r, 2),
                              rows->boolean(r, 3), rows->text(r, 4),
                              static_cast<uint32_t>(rows->int64(r, 5))});
    }
    return out;
  });
}

Result<std::vector<EventRecord>> StateStore::recent_events(const EventFilter& filter) {
  return with_reader([&](Connection& conn) -> Result<std::vector<EventRecord>> {
    auto rows = conn.exec(
        "SELECT id, ms, plugin_id, kind, coalesce(state, ''), detail::text FROM ("
        "  SELECT seq, id, round(extract(epoch FROM at) * 1000)::bigint AS ms, plugin_id, kind,"
        "         state, detail FROM events"
        "  WHERE ($1 = '' OR plugin_id = $1) AND ($2 = '' OR starts_with(kind, $2))"
        "  ORDER BY seq DESC LIMIT $3::int) newest "
        "ORDER BY seq",
        {filter.plugin_id, filter.kind_prefix, std::to_string(clamp_limit(filter.limit))});
    if (!rows.ok()) return Error{"recent events: " + rows.error().message};
    std::vector<EventRecord> out;
    out.reserve(rows->rows());
    for (int r = 0; r < rows->rows(); ++r) {
      EventRecord e{
          rows->text(r, 0), rows->int64(r, 1),
          rows->text(r, 2), rows->text(r, 3),
          rows->text(r, 4), nlohmann::json::parse(rows->text(r, 5), nullptr, /*exceptions=*/false)};
      if (e.detail.is_discarded()) e.detail = nlohmann::json::object();
      out.push_back(std::move(e));
    }
    return out;
  });
}

Result<std::vector<StoredReceipt>> StateStore::list_receipts(const ReceiptFilter& filter) {
  return with_reader([&](Connection& conn) -> Result<std::vector<StoredReceipt>> {
    auto rows = conn.exec(
        "SELECT id, round(extract(epoch FROM at) * 1000)::bigint, dispatch_id, plugin_id,"
        "       plugin_version, hook, status, coalesce(error_code, ''),"
        "       coalesce(error_message, ''), duration_us, coalesce(tenant_id, ''),"
        "       coalesce(work_item_id, ''), coalesce(run_id, ''), mutated_paths::text,"
        "       fail_policy "
        "FROM receipts "
        "WHERE ($1 = '' OR plugin_id = $1) AND ($2 = '' OR hook = $2)"
        "  AND ($3 = '' OR dispatch_id = $3) AND ($4::bigint <= 0 OR id < $4::bigint) "
        "ORDER BY id DESC LIMIT $5::int",
        {filter.plugin_id, filter.hook, filter.dispatch_id, std::to_string(filter.before_id),
         std::to_string(clamp_limit(filter.limit))});
    if (!rows.ok()) return Error{"list receipts: " + rows.error().message};
    std::vector<StoredReceipt> out;
    out.reserve(rows->rows());
    for (int r = 0; r < rows->rows(); ++r) {
      StoredReceipt s;
      s.id = rows->int64(r, 0);
      dispatch::Receipt& rc = s.receipt;
      rc.at_unix_ms = rows->int64(r, 1);
      rc.dispatch_id = rows->text(r, 2);
      rc.plugin_id = rows->text(r, 3);
      rc.plugin_version = rows->text(r, 4);
      rc.hook = rows->text(r, 5);
      rc.status = rows->text(r, 6);
      rc.error = parse_error_code(rows->text(r, 7));
      rc.error_message = rows->text(r, 8);
      rc.duration = std::chrono::microseconds(rows->int64(r, 9));
      rc.tenant_id = rows->text(r, 10);
      rc.work_item_id = rows->text(r, 11);
      rc.run_id = rows->text(r, 12);
      auto paths = nlohmann::json::parse(rows->text(r, 13), nullptr, /*exceptions=*/false);
      if (paths.is_array()) {
        for (const auto& p : paths) {
          if (p.is_string()) rc.mutated_paths.push_back(p.get<std::string>());
        }
      }
      rc.fail_policy =
          dispatch::parse_fail_policy(rows->text(r, 14)).value_or(dispatch::FailPolicy::open);
      out.push_back(std::move(s));
    }
    return out;
  });
}

}  // namespace plugvisor::store
