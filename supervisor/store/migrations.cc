#include "store/migrations.h"

#include <spdlog/spdlog.h>

#include <set>
#include <string>

namespace plugvisor::store {
namespace {

// Key of the session-level advisory lock that serialises migrations across supervisors
// sharing one database ("plugvis" in ASCII; any constant works as long as it never changes).
constexpr const char* kLockKey = "31644448894380403";

// Releases the advisory lock on every return path. If the connection broke, the server has
// already released it along with the session, and the failed unlock is harmless.
class AdvisoryLock {
 public:
  explicit AdvisoryLock(Connection& conn) : conn_(conn) {}
  AdvisoryLock(const AdvisoryLock&) = delete;
  AdvisoryLock& operator=(const AdvisoryLock&) = delete;
  ~AdvisoryLock() {
    if (!held_) return;
    auto unlocked = conn_.exec("SELECT pg_advisory_unlock($1::bigint)", {kLockKey});
    if (!unlocked.ok()) spdlog::debug("migrations: unlock: {}", unlocked.error().message);
  }
  Status acquire() {
    auto locked = conn_.exec("SELECT pg_advisory_lock($1::bigint)", {kLockKey});
    if (!locked.ok()) return Error{"migrations: take advisory lock: " + locked.error().message};
    held_ = true;
    return ok_status();
  }

 private:
  Connection& conn_;
  bool held_ = false;
};

Result<std::set<int>> applied_versions(Connection& conn) {
  // The table is created by 0001 itself, so on a fresh database there is nothing to read.
  auto exists = conn.exec("SELECT to_regclass('plugvisor_schema_migrations') IS NOT NULL");
  if (!exists.ok()) return Error{"migrations: " + exists.error().message};
  std::set<int> versions;
  if (!exists->boolean(0, 0)) return versions;
  auto rows = conn.exec("SELECT version FROM plugvisor_schema_migrations");
  if (!rows.ok()) return Error{"migrations: read applied versions: " + rows.error().message};
  for (int r = 0; r < rows->rows(); ++r) versions.insert(static_cast<int>(rows->int64(r, 0)));
  return versions;
}

Status apply_one(Connection& conn, const Migration& m) {
  const std::string name(m.name);
  auto fail = [&](const std::string& what, const Error& e) -> Status {
    auto rolled_back = conn.exec("ROLLBACK");
    (void)rolled_back;  // the transaction is gone either way; the first error is the one to report
    return Error{"migration " + name + ": " + what + ": " + e.message};
  };
  if (auto begun = conn.exec("BEGIN"); !begun.ok()) return fail("begin", begun.error());
  if (auto ran = conn.exec_script(std::string(m.sql)); !ran.ok()) return fail("apply", ran.error());
  auto recorded =
      conn.exec("INSERT INTO plugvisor_schema_migrations(version, name) VALUES ($1::int, $2)",
                {std::to_string(m.version), name});
  if (!recorded.ok()) return fail("record", recorded.error());
  if (auto committed = conn.exec("COMMIT"); !committed.ok()) {
    return fail("commit", committed.error());
  }
  spdlog::info("store: applied migration {}", name);
  return ok_status();
}

}  // namespace

Status apply_migrations(Connection& conn) {
  AdvisoryLock lock(conn);
  if (auto locked = lock.acquire(); !locked.ok()) return locked;
  // Read under the lock: another supervisor may have applied some while we waited.
  auto applied = applied_versions(conn);
  if (!applied.ok()) return applied.error();
  const auto& all = embedded_migrations();
  for (const Migration& m : all) {
    if (applied->contains(m.version)) continue;
    if (auto done = apply_one(conn, m); !done.ok()) return done;
  }
  if (!applied->empty() && !all.empty() && *applied->rbegin() > all.back().version) {
    spdlog::warn("store: the database has schema version {}, newer than this build's {}",
                 *applied->rbegin(), all.back().version);
  }
  return ok_status();
}

}  // namespace plugvisor::store
