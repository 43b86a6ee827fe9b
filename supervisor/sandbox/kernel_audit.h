// The kernel's audit switch, over its netlink control interface (needs CAP_AUDIT_CONTROL and the
// initial pid namespace). plugvisord only reads it; the sandbox tests turn audit on for the
// Landlock denial test and restore it afterwards.
#pragma once

#include <cstdint>

#include "plugvisor/common/result.h"

namespace plugvisor::sandbox {

// audit_status.enabled: 0 off, 1 on, 2 on and locked until reboot.
Result<uint32_t> kernel_audit_enabled();
Status set_kernel_audit_enabled(uint32_t enabled);

}  // namespace plugvisor::sandbox
