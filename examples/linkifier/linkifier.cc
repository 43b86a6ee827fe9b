#include "linkifier.h"

#include <re2/re2.h>

#include <algorithm>
#include <memory>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

namespace plugvisor::examples::linkifier {
namespace {

using sdk::Json;

const RE2& url_pattern() {
  static const RE2 re(R"((https?://[^\s<>"'`]+))");
  return re;
}

const RE2& issue_pattern() {
  static const RE2 re(R"(\b([A-Z][A-Z0-9]+-[0-9]+)\b)");
  return re;
}

// Prose puts punctuation right after a URL ("see https://x.dev/a.") and wraps URLs in
// parentheses; neither belongs to the URL unless the URL opened a parenthesis itself.
std::string trim_url(std::string url) {
  while (!url.empty()) {
    const char c = url.back();
    if (std::string_view(".,;:!?'\"]}").find(c) != std::string_view::npos) {
      url.pop_back();
    } else if (c == ')' &&
               std::count(url.begin(), url.end(), ')') > std::count(url.begin(), url.end(), '(')) {
      url.pop_back();
    } else {
      break;
    }
  }
  return url;
}

// What makes two enrichments the same, whichever plugin or run added them.
std::string identity(const Json& e) {
  if (!e.is_object()) return e.dump();
  const std::string type = e.value("type", "");
  if (type == "issue" && e.contains("key") && e["key"].is_string())
    return "issue:" + e["key"].get<std::string>();
  if (e.contains("url") && e["url"].is_string()) return type + ":" + e["url"].get<std::string>();
  return e.dump();
}

}  // namespace

Settings parse_settings(const Json& settings) {
  Settings s;
  if (settings.contains("issue_base_url")) {
    if (!settings["issue_base_url"].is_string()) {
      throw std::invalid_argument("issue_base_url must be a string");
    }
    s.issue_base_url = settings["issue_base_url"].get<std::string>();
  }
  return s;
}

Json find_enrichments(const std::string& text, const Settings& settings) {
  std::vector<std::pair<size_t, Json>> found;  // position in text, enrichment
  std::string masked = text;                   // URLs blanked, so "x.dev/PV-1" is not an issue

  re2::StringPiece input(text);
  re2::StringPiece url;
  while (RE2::FindAndConsume(&input, url_pattern(), &url)) {
    const size_t pos = static_cast<size_t>(url.data() - text.data());
    std::fill_n(masked.begin() + static_cast<std::ptrdiff_t>(pos), url.size(), ' ');
    std::string clean = trim_url(std::string(url));
    if (clean.find("://") + 3 < clean.size()) {  // something is left after the scheme
      found.emplace_back(pos, Json{{"type", "url"}, {"url", std::move(clean)}});
    }
  }

  input = re2::StringPiece(masked);
  re2::StringPiece key;
  while (RE2::FindAndConsume(&input, issue_pattern(), &key)) {
    const size_t pos = static_cast<size_t>(key.data() - masked.data());
    Json e = {{"type", "issue"}, {"key", std::string(key)}};
    if (!settings.issue_base_url.empty()) e["url"] = settings.issue_base_url + std::string(key);
    found.emplace_back(pos, std::move(e));
  }

  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  Json out = Json::array();
  std::set<std::string> seen;
  for (auto& [pos, e] : found) {
    if (seen.insert(identity(e)).second) out.push_back(std::move(e));
  }
  return out;
}

Json enrich(const Json& data, const Settings& settings) {
  Json existing = Json::array();
  if (data.contains("enrichments") && !data["enrichments"].is_null()) {
    // Anything but a list belongs to someone we do not understand; leave it alone.
    if (!data["enrichments"].is_array()) return nullptr;
    existing = data["enrichments"];
  }
  std::set<std::string> seen;
  for (const auto& e : existing) seen.insert(identity(e));

  Json merged = existing;
  bool added = false;
  for (const char* field : {"text", "content"}) {
    if (!data.contains(field) || !data[field].is_string()) continue;
    for (auto& e : find_enrichments(data[field].get<std::string>(), settings)) {
      if (seen.insert(identity(e)).second) {
        merged.push_back(std::move(e));
        added = true;
      }
    }
  }
  if (!added) return nullptr;
  // A merge patch replaces arrays whole, so the patch carries the full list.
  return Json{{"enrichments", std::move(merged)}};
}

void install(sdk::Plugin& plugin) {
  // Written once by the handshake before any handler runs, then only read.
  auto settings = std::make_shared<Settings>();
  plugin.on_configure([settings](const Json& s) { *settings = parse_settings(s); });
  plugin.on("message.enrich",
            [settings](sdk::Context& ctx, const Json& data) {
              Json patch = enrich(data, *settings);
              if (patch.is_null()) return sdk::Result::proceed();
              ctx.log().debug("enriched message", {{"total", patch["enrichments"].size()}});
              return sdk::Result::patch(std::move(patch));
            },
            {.priority = 10, .fail_policy = sdk::FailPolicy::fail_open});
}

}  // namespace plugvisor::examples::linkifier
