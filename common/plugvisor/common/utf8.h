// UTF-8 as PostgreSQL and JSON accept it: what a plugin sends is bytes, and one malformed
// sequence would make the database refuse a whole batch, or a key ambiguous.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace plugvisor {

// The length (1 to 4) of the well-formed sequence at the start of `s`, with its code point in
// `code_point`; 0 if none starts there: a stray continuation byte, a truncated sequence, an
// overlong form, a surrogate or a code point past U+10FFFF.
size_t utf8_sequence(std::string_view s, uint32_t& code_point);

// `text` with every byte that starts no well-formed sequence replaced by U+FFFD.
std::string valid_utf8(std::string_view text);

}  // namespace plugvisor
