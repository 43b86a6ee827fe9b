// Landlock's denials as the kernel's audit subsystem reports them (Landlock ABI 7, Linux 6.15+):
// parsing and assembly only, no sockets (landlock_audit.h reads the records).
//
// One denial is one audit event, a group of records that share a serial, in this order:
//   LANDLOCK_ACCESS  domain=1be206e39 blockers=fs.read_file path="/etc/hostname" dev="vda" ino=733
//   LANDLOCK_DOMAIN  domain=1be206e39 status=allocated mode=enforcing pid=31434 uid=200001 ...
//                    (only with a domain's first denial)
//   SYSCALL          arch=c000003e syscall=257 ... pid=31434 uid=200001 ...
//   EOE              (the end; SYSCALL and EOE only when the task has an audit context)
// The uid says whose plugin it is: every sandboxed plugin runs as a host uid of its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace plugvisor::sandbox {

// Record types from linux/audit.h (Debian 12's headers predate the Landlock ones).
inline constexpr int kAuditSyscall = 1300;
inline constexpr int kAuditEndOfEvent = 1320;
inline constexpr int kAuditLandlockAccess = 1423;
inline constexpr int kAuditLandlockDomain = 1424;

struct AuditRecord {
  uint64_t serial = 0;
  // Values unquoted, and the kernel's hex form of untrusted strings (a path with a space or a
  // quote in it) decoded; bytes outside printable ASCII become \xNN so the text is safe JSON.
  std::map<std::string, std::string> fields;
};

// Parses the text of one record ("audit(1795351600.056:4): key=value ..."); nullopt if it does
// not start with the audit(...) stamp.
std::optional<AuditRecord> parse_audit_record(std::string_view text);

struct LandlockDenial {
  uint32_t uid = 0;       // host uid of the denied process
  nlohmann::json detail;  // blockers, what was denied (path, opid, daddr, ...), syscall, pid
};

// Groups records into denials. Not thread-safe: one reader feeds it.
class LandlockDenialAssembler {
 public:
  using Clock = std::chrono::steady_clock;
  // Name of a syscall from the SYSCALL record's arch (AUDIT_ARCH_*) and number; empty: unknown.
  using SyscallNamer = std::function<std::string(uint32_t arch, int nr)>;

  explicit LandlockDenialAssembler(SyscallNamer namer = {}) : namer_(std::move(namer)) {}

  // Feeds one record of any type; returns the denials its event completed (on EOE).
  std::vector<LandlockDenial> add(int type, std::string_view text, Clock::time_point now);
  // Events that never get an EOE (no audit context) are complete once `grace` has passed.
  std::vector<LandlockDenial> expire(Clock::time_point now, std::chrono::milliseconds grace);
  bool idle() const { return pending_.empty(); }

 private:
  struct Pending {
    std::vector<AuditRecord> access;
    std::optional<AuditRecord> syscall;
    Clock::time_point first_seen;
  };
  void finish(Pending& p, std::vector<LandlockDenial>& out);

  SyscallNamer namer_;
  std::map<uint64_t, Pending> pending_;  // by serial
  // domain id -> uid of the process that made it, from its status=allocated record.
  std::unordered_map<std::string, uint32_t> domains_;
};

// At most `burst` denials per key, refilled at one per `refill`; what it refuses is counted and
// handed to the next one it lets through, so a plugin looping on a denied call cannot flood the
// event table.
class DenialBudget {
 public:
  using Clock = std::chrono::steady_clock;
  DenialBudget(int burst, std::chrono::milliseconds refill) : burst_(burst), refill_(refill) {}
  // True if this one may be recorded; `suppressed` then says how many were dropped before it.
  bool allow(uint32_t key, Clock::time_point now, uint64_t& suppressed);

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point last;
    uint64_t suppressed = 0;
    bool fresh = true;
  };
  int burst_;
  std::chrono::milliseconds refill_;
  std::unordered_map<uint32_t, Bucket> buckets_;
};

}  // namespace plugvisor::sandbox
