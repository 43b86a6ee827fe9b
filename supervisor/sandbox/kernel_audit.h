// The kernel's audit switch, over its netlink control interface (needs CAP_AUDIT_CONTROL and the
// initial pid namespace). plugvisord only reads it; the sandbox tests turn audit on for the
// Landlock denial test and restore it afterwards.
#pragma once

#include <cstdint>

#include "plugvisor/common/result.h"

namespace plugvisor::sandbox {

struct KernelAuditStatus {
  uint32_t enabled = 0;  // 0 off, 1 on, 2 on and locked until reboot
  uint32_t failure = 0;  // what a lost record does: 0 nothing, 1 printk, 2 panic
};
inline constexpr uint32_t kAuditFailPanic = 2;

Result<KernelAuditStatus> kernel_audit_status();
Status set_kernel_audit_enabled(uint32_t enabled);

// Whether a sandboxed plugin's Landlock denials may go to the audit log. Not where a lost audit
// record panics the machine (`auditctl -f 2`): a plugin looping on a denied call could overflow
// the audit backlog at will. Not where that cannot be read either (no CAP_AUDIT_CONTROL).
bool landlock_denials_loggable();
// The same decision for a status already read.
bool landlock_denials_loggable(const Result<KernelAuditStatus>& status);

}  // namespace plugvisor::sandbox
