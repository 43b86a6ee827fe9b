// summariser: on response.post_deliver, keeps a running summary of each work item's delivered
// responses in the plugin's state ("summary/<work_item_id>", per tenant), updated through the
// supervisor's AI proxy, and announces each update as plugin.<id>.summary_updated.
#pragma once

#include <plugvisor/sdk/plugin.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace plugvisor::examples::summariser {

// The operator's settings; every one is optional.
struct Settings {
  // The delivered content sent to the model is cut to this many characters (code points):
  // a long reply must not blow the AI proxy's max_input_bytes or the token bill.
  size_t max_input_chars = 8000;
  // The stored summary is cut to this many characters, which bounds both the state value and
  // the prompt of the next update.
  size_t max_summary_chars = 2000;
  std::optional<double> temperature{};  // unset: the plugin's ai policy, then the upstream's
  uint32_t max_tokens = 0;              // 0: the upstream's default
  std::chrono::milliseconds ttl{0};     // ttl_hours; 0: summaries never expire
  std::string system_prompt{};          // empty: default_system_prompt()

  // Throws std::invalid_argument naming the setting that is wrong (the handshake then fails
  // with INVALID_ARGUMENT, so a typo is caught at start rather than ignored).
  static Settings from_json(const sdk::Json& settings);
};

const std::string& default_system_prompt();

// What is stored under summary/<work_item_id>, as JSON.
struct Summary {
  static constexpr int kFormat = 1;  // bumped if the stored shape ever changes
  std::string text{};
  int64_t turns = 0;    // deliveries folded into it
  std::string model{};  // the model that wrote it, as the upstream named it
  int64_t updated_at_unix_ms = 0;

  std::string to_json() const;
  // nullopt if `value` is not a summary of a format this code reads.
  static std::optional<Summary> from_json(std::string_view value);
};

std::string state_key(const std::string& work_item_id);

// Number of characters (UTF-8 code points) in `text`.
size_t char_count(std::string_view text);
// The longest prefix of `text` with at most `max_chars` code points; never splits a character.
std::string_view utf8_prefix(std::string_view text, size_t max_chars);

// The chat request that folds `content` (already cut to size) into `previous`.
sdk::ChatRequest build_request(const Settings& settings, const std::optional<Summary>& previous,
                               std::string_view content, bool content_truncated);

// Read-modify-write attempts per delivery: a lost compare-and-set means another delivery for
// the same work item stored first, so its summary has to be re-read and folded in again.
inline constexpr int kMaxAttempts = 3;

// Registers response.post_deliver (priority 0, fail_open) and the settings parser.
void install(sdk::Plugin& plugin);

}  // namespace plugvisor::examples::summariser
