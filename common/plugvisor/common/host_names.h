// Names a plugin chooses in host.v1 calls: state keys and event names. Shared by the
// supervisor and the SDK's in-memory test host so both accept and refuse the same ones.
#pragma once

#include <string_view>

#include "plugvisor/common/host_error.h"

namespace plugvisor::hostcall {

inline constexpr size_t kMaxStateKeyBytes = 512;
inline constexpr size_t kMaxEventNameBytes = 200;

// 1..512 bytes of valid UTF-8 without control characters. Keys are opaque otherwise: scoping is
// by the caller's identity, never by anything written in the key.
HostStatus check_state_key(std::string_view key);
// A prefix for listing: like a key, but may be empty.
HostStatus check_state_prefix(std::string_view prefix);

// "plugin.<plugin_id>.<rest>" where <rest> is one or more dot-separated segments of
// [A-Za-z0-9_-]; anything else is refused (permission "events", target the name).
HostStatus check_event_name(std::string_view plugin_id, std::string_view name);

}  // namespace plugvisor::hostcall
