#pragma once

#include <cstdint>
#include <string>

namespace plugvisor {

// 128 random bits as 32 lowercase hex digits; unique enough for dispatch, invocation and event ids.
std::string random_id();
// The same format, but the first 12 digits are the Unix time in milliseconds and the other 20
// random: ids made later sort later. For ids that are database keys (dispatches, events), so
// that their index grows at its right edge instead of taking a random page on every insert.
std::string time_ordered_id();
// 256 bits from the kernel's CSPRNG (getrandom), hex: for capabilities such as invocation
// tokens. random_id() is a fast PRNG whose outputs plugins see, so it must never mint these.
std::string secure_token();

// Milliseconds since the Unix epoch, for timestamps that leave the process.
int64_t unix_millis();

}  // namespace plugvisor
