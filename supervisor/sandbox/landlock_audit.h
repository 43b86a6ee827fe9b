// Landlock denials of sandboxed plugins, read from the kernel's audit log (audit_records.h says
// what they look like) on a thread of their own. plugvisord only listens: it never changes the
// system's audit settings.
//
// A denial is observable only where all of these hold (status() says which one does not):
//  - Landlock ABI 7 (Linux 6.15+): the runner asks for denials after its execve to be logged
//    (LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON), which older kernels cannot do;
//  - the kernel's audit is on (audit=1 on the kernel command line, auditd, or `auditctl -e 1`);
//  - plugvisord has CAP_AUDIT_READ and runs in the initial network namespace, the only one the
//    kernel sends its read-only copy of the audit log to.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "plugvisor/common/result.h"
#include "plugvisor/common/unique_fd.h"
#include "sandbox/audit_records.h"

namespace plugvisor::sandbox {

inline constexpr int kLandlockAbiAudit = 7;

struct AuditStatus {
  bool observable = false;
  std::string detail;  // one sentence for --check-sandbox and `plugvisorctl doctor`
};

// Host uids [first, first + count): the plugins'. Denials of any other process are not ours.
struct PluginUids {
  uint32_t first = 0;
  uint32_t count = 0;
  bool contains(uint32_t uid) const { return uid >= first && uid - first < count; }
};

class LandlockAuditWatch {
 public:
  // `suppressed`: denials of the same plugin dropped by the rate limit since the last one.
  using OnDenial = std::function<void(const LandlockDenial&, uint64_t suppressed)>;

  // Starts listening if this machine allows it; if not, status() says why. Runs `on_denial` on
  // the watch's own thread.
  LandlockAuditWatch(int landlock_abi, PluginUids uids, OnDenial on_denial);
  ~LandlockAuditWatch();
  LandlockAuditWatch(const LandlockAuditWatch&) = delete;
  LandlockAuditWatch& operator=(const LandlockAuditWatch&) = delete;

  bool listening() const { return sock_.valid(); }
  // Asks the kernel each time: an operator can switch its audit on or off at any moment.
  AuditStatus status() const;

  // What a watch would see, without starting one (plugvisord --check-sandbox).
  static AuditStatus probe(int landlock_abi);

 private:
  void run();
  void deliver(const std::vector<LandlockDenial>& denials);

  int landlock_abi_;
  PluginUids uids_;
  OnDenial on_denial_;
  std::string not_listening_;  // why, when sock_ is not valid
  UniqueFd sock_;
  UniqueFd wake_;  // eventfd: the destructor's stop signal
  LandlockDenialAssembler assembler_;
  DenialBudget budget_;
  std::thread thread_;
};

}  // namespace plugvisor::sandbox
