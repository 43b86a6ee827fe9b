// linkifier: on message.enrich, finds issue keys (PV-12) and http(s) URLs in the message text
// and appends them to data.enrichments, without duplicates.
#pragma once

#include <plugvisor/sdk/plugin.h>

#include <string>

namespace plugvisor::examples::linkifier {

struct Settings {
  // Prefix of an issue's URL; the key is appended. Empty: issue enrichments carry no URL.
  std::string issue_base_url;
};

// Throws std::invalid_argument on malformed settings.
Settings parse_settings(const sdk::Json& settings);

// The enrichments to add for `text`, in order of appearance, deduplicated.
sdk::Json find_enrichments(const std::string& text, const Settings& settings);

// The message.enrich handler's logic: the merge patch for `data`, or null if nothing is new.
sdk::Json enrich(const sdk::Json& data, const Settings& settings);

// Registers the message.enrich handler (priority 10, fail_open) and the settings parser.
void install(sdk::Plugin& plugin);

}  // namespace plugvisor::examples::linkifier
