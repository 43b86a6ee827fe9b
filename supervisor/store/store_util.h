// Small pieces shared by the store's background writers (internal to supervisor/store).
#pragma once

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

namespace plugvisor::store::detail {

// Reconnect delays: 100 ms, doubling, capped at 5 s; reset after a success.
class Backoff {
 public:
  std::chrono::milliseconds next() {
    const auto now = delay_;
    delay_ = std::min(delay_ * 2, kMax);
    return now;
  }
  void reset() { delay_ = kMin; }

 private:
  static constexpr std::chrono::milliseconds kMin{100};
  static constexpr std::chrono::milliseconds kMax{5000};
  std::chrono::milliseconds delay_ = kMin;
};

// PostgreSQL text and jsonb cannot hold NUL; strip it rather than lose the whole row.
inline std::string without_nul(std::string text) {
  text.erase(std::remove(text.begin(), text.end(), '\0'), text.end());
  return text;
}

// JSON text for a jsonb parameter; invalid UTF-8 is replaced instead of throwing, because a
// plugin's bytes must never take a writer thread down.
inline std::string jsonb_text(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace plugvisor::store::detail
