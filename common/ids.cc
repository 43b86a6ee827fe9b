#include "plugvisor/common/ids.h"

#include <sys/random.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>

#include "plugvisor/common/hex.h"
#include "plugvisor/common/result.h"

namespace plugvisor {

Error Error::errno_error(std::string what, int err) {
  return Error{what + ": " + std::strerror(err), err};
}

std::string random_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int half = 0; half < 2; ++half) {
    uint64_t bits = rng();
    for (int i = 0; i < 16; ++i) {
      out[half * 16 + i] = kHex[bits & 0xf];
      bits >>= 4;
    }
  }
  return out;
}

std::string time_ordered_id() {
  std::string out = random_id();
  static constexpr char kHex[] = "0123456789abcdef";
  auto ms = static_cast<uint64_t>(unix_millis());
  for (int i = 11; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kHex[ms & 0xf];
    ms >>= 4;
  }
  return out;
}

std::string secure_token() {
  unsigned char bytes[32];
  size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      // No entropy source at all: nothing sane can continue issuing capabilities.
      std::abort();
    }
    got += static_cast<size_t>(n);
  }
  return to_hex(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

int64_t unix_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace plugvisor
