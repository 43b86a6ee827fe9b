// Bytes as hex text and back: host.v1 state values cross libpq's text protocol as hex, the
// kernel's audit log prints untrusted strings as hex, and tokens are random bytes as hex.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace plugvisor {

// Two lowercase digits per byte.
std::string to_hex(std::string_view bytes);
// Either case; nullopt for an odd length or a character that is not a hex digit.
std::optional<std::string> from_hex(std::string_view hex);

}  // namespace plugvisor
