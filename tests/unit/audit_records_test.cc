// Landlock denials from audit records (supervisor/sandbox/audit_records.h). The record texts are
// what Linux 6.18 sent to the audit log's read-only group for a real denial.
#include "sandbox/audit_records.h"

#include <catch2/catch.hpp>

#include "sandbox/kernel_audit.h"

using namespace plugvisor::sandbox;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

const char* kAccess =
    "audit(1795351600.056:4): domain=1be206e39 blockers=fs.read_file path=\"/etc/hostname\" "
    "dev=\"vda\" ino=733";
const char* kDomain =
    "audit(1795351600.056:4): domain=1be206e39 status=allocated mode=enforcing pid=31434 "
    "uid=200001 exe=\"/plugin/probe\" comm=\"probe\"";
const char* kSyscall =
    "audit(1795351600.056:4): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c "
    "a1=561f6486300d a2=0 a3=0 items=0 ppid=31393 pid=31434 auid=4294967295 uid=200001 gid=200001 "
    "euid=200001 comm=\"probe\" exe=\"/plugin/probe\" key=(null)";
const char* kEoe = "audit(1795351600.056:4): ";

std::string namer(uint32_t arch, int nr) { return arch == 0xc000003e && nr == 257 ? "openat" : ""; }

}  // namespace

TEST_CASE("an audit record's fields are unquoted and its hex strings decoded") {
  auto rec = parse_audit_record(
      "audit(1795351600.056:5): domain=1be206e39 blockers=fs.read_file "
      "path=2F6574632F6120622263 dev=\"vda\" ino=1374 opid=12 ocomm=7072006F");
  REQUIRE(rec);
  CHECK(rec->serial == 5);
  CHECK(rec->fields["blockers"] == "fs.read_file");
  CHECK(rec->fields["path"] == "/etc/a b\"c");  // the kernel's hex for a path with a space
  CHECK(rec->fields["dev"] == "vda");
  CHECK(rec->fields["ino"] == "1374");
  CHECK(rec->fields["domain"] == "1be206e39");  // not an untrusted string: stays as it is
  CHECK(rec->fields["ocomm"] == "pr\\x00o");    // a NUL in a process name cannot reach jsonb
}

TEST_CASE("text that is not an audit record is refused") {
  CHECK_FALSE(parse_audit_record("domain=1 blockers=x"));
  CHECK_FALSE(parse_audit_record("audit(1795351600.056:x): a=b"));
  CHECK_FALSE(parse_audit_record(""));
}

TEST_CASE("a denial is assembled from its event and charged to the domain's uid") {
  LandlockDenialAssembler a(&namer);
  const auto t = Clock::now();
  CHECK(a.add(kAuditLandlockAccess, kAccess, t).empty());
  CHECK(a.add(kAuditLandlockDomain, kDomain, t).empty());
  CHECK(a.add(kAuditSyscall, kSyscall, t).empty());
  CHECK(a.add(1327, "audit(1795351600.056:4): proctitle=\"/plugin/probe\"", t).empty());
  auto done = a.add(kAuditEndOfEvent, kEoe, t);
  REQUIRE(done.size() == 1);
  CHECK(done[0].uid == 200001);
  const auto& d = done[0].detail;
  CHECK(d["blockers"] == "fs.read_file");
  CHECK(d["path"] == "/etc/hostname");
  CHECK(d["ino"] == 733);
  CHECK(d["syscall"] == "openat");
  CHECK(d["pid"] == 31434);
  CHECK(d["result"] == -13);
  CHECK(a.idle());
}

TEST_CASE("without an audit context the denial completes after the grace period") {
  LandlockDenialAssembler a;
  const auto t = Clock::now();
  a.add(kAuditLandlockAccess, kAccess, t);
  a.add(kAuditLandlockDomain, kDomain, t);
  CHECK(a.expire(t + 100ms, 200ms).empty());
  auto done = a.expire(t + 250ms, 200ms);
  REQUIRE(done.size() == 1);
  CHECK(done[0].uid == 200001);
  CHECK_FALSE(done[0].detail.contains("syscall"));
  CHECK(a.idle());
}

TEST_CASE("a known domain's later denials need no domain record, a freed one is forgotten") {
  LandlockDenialAssembler a;
  const auto t = Clock::now();
  a.add(kAuditLandlockAccess, kAccess, t);
  a.add(kAuditLandlockDomain, kDomain, t);
  a.add(kAuditEndOfEvent, kEoe, t);
  a.add(kAuditLandlockAccess,
        "audit(1795351600.060:9): domain=1be206e39 blockers=fs.execute path=\"/usr/bin/sh\"", t);
  auto second = a.add(kAuditEndOfEvent, "audit(1795351600.060:9): ", t);
  REQUIRE(second.size() == 1);
  CHECK(second[0].uid == 200001);
  CHECK(second[0].detail["blockers"] == "fs.execute");

  a.add(kAuditLandlockDomain,
        "audit(1795351600.108:10): domain=1be206e39 status=deallocated "
        "denials=2",
        t);
  a.add(kAuditLandlockAccess, "audit(1795351600.200:11): domain=1be206e39 blockers=fs.execute", t);
  // No domain record and no SYSCALL record: nobody to charge it to, so it is not reported.
  CHECK(a.add(kAuditEndOfEvent, "audit(1795351600.200:11): ", t).empty());
}

TEST_CASE("records of other events and types are ignored") {
  LandlockDenialAssembler a;
  const auto t = Clock::now();
  CHECK(a.add(kAuditSyscall, kSyscall, t).empty());  // no Landlock record in its event
  CHECK(a.add(kAuditEndOfEvent, kEoe, t).empty());
  CHECK(a.add(1400, "audit(1795351600.056:7): apparmor=\"DENIED\"", t).empty());
  CHECK(a.idle());
}

TEST_CASE("the denial budget lets a burst through, then one per refill, and counts the rest") {
  DenialBudget budget(3, 1000ms);
  const auto t = Clock::now();
  uint64_t suppressed = 99;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(budget.allow(7, t, suppressed));
    CHECK(suppressed == 0);
  }
  CHECK_FALSE(budget.allow(7, t, suppressed));
  CHECK_FALSE(budget.allow(7, t + 500ms, suppressed));
  CHECK(budget.allow(8, t, suppressed));  // another plugin has its own budget
  REQUIRE(budget.allow(7, t + 1000ms, suppressed));
  CHECK(suppressed == 2);
  CHECK_FALSE(budget.allow(7, t + 1100ms, suppressed));
}

TEST_CASE("plugins' denials are logged only where a lost audit record cannot stop the machine") {
  using plugvisor::Error;
  using Status = plugvisor::Result<KernelAuditStatus>;
  CHECK(landlock_denials_loggable(Status(KernelAuditStatus{1, 1})));  // on, printk on loss
  CHECK(landlock_denials_loggable(Status(KernelAuditStatus{0, 1})));  // off: harmless either way
  CHECK_FALSE(landlock_denials_loggable(Status(KernelAuditStatus{1, kAuditFailPanic})));
  CHECK_FALSE(landlock_denials_loggable(Status(Error{"AUDIT_GET: Operation not permitted", 1})));
}
