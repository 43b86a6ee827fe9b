#pragma once

#include <cstdint>
#include <string>

namespace plugvisor {

// 128 random bits as 32 lowercase hex digits; unique enough for dispatch, invocation and event ids.
std::string random_id();

// Milliseconds since the Unix epoch, for timestamps that leave the process.
int64_t unix_millis();

}  // namespace plugvisor
