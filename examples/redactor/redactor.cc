#include "redactor.h"

#include <re2/re2.h>

#include <memory>
#include <vector>

namespace plugvisor::examples::redactor {
namespace {

using sdk::Json;

struct Rule {
  std::string kind;
  std::unique_ptr<RE2> re;
  std::string rewrite;  // RE2 rewrite string; \1 keeps a captured prefix
};

Rule rule(std::string kind, const char* pattern, std::string rewrite = {}) {
  if (rewrite.empty()) rewrite = "[REDACTED:" + kind + "]";
  return {std::move(kind), std::make_unique<RE2>(pattern), std::move(rewrite)};
}

// Order matters: the specific shapes go first so they are named by kind, and none of the later
// patterns can match inside a "[REDACTED:...]" marker, which keeps redaction idempotent.
const std::vector<Rule>& rules() {
  static const std::vector<Rule> all = [] {
    std::vector<Rule> r;
    // "Bearer <token>" keeps the scheme so the reader still sees what was there.
    r.push_back(rule("bearer_token", R"((?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,})",
                     R"(\1[REDACTED:bearer_token])"));
    r.push_back(rule("jwt", R"(\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)"));
    r.push_back(rule("api_key", R"(\bsk-[A-Za-z0-9_-]{16,})"));
    r.push_back(
        rule("github_token", R"(\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}))"));
    r.push_back(rule("aws_access_key", R"(\b(?:AKIA|ASIA)[0-9A-Z]{16}\b)"));
    r.push_back(rule("slack_token", R"(\bxox[abpr]-[A-Za-z0-9-]{10,})"));
    // key=value / "key": "value" where the key names a secret. The value may not start with
    // '[', so an earlier marker is never re-redacted.
    r.push_back(rule(
        "secret",
        R"((?i)\b([A-Za-z0-9_.-]*(?:api[_-]?key|token|secret|password)[A-Za-z0-9_.-]*["']?\s*[=:]\s*["']?)[^\s"'&,;\[{}][^\s"'&,;}]*)",
        R"(\1[REDACTED:secret])"));
    r.push_back(
        rule("email", R"(\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b)"));
    return r;
  }();
  return all;
}

Json redact_all(const Json& value, Counts* counts) {
  if (value.is_string()) return redact_text(value.get<std::string>(), counts);
  if (value.is_array() || value.is_object()) {
    Json out = value;
    for (auto& item : out) item = redact_all(item, counts);
    return out;
  }
  return value;
}

}  // namespace

std::string redact_text(const std::string& text, Counts* counts) {
  std::string out = text;
  for (const auto& r : rules()) {
    // RE2 is linear in the input, so a megabyte of tool output cannot stall the handler.
    const int n = RE2::GlobalReplace(&out, *r.re, r.rewrite);
    if (n > 0 && counts != nullptr) (*counts)[r.kind] += n;
  }
  return out;
}

std::optional<Json> redact_patch(const Json& value, Counts* counts) {
  if (value.is_string()) {
    std::string masked = redact_text(value.get<std::string>(), counts);
    if (masked == value.get_ref<const std::string&>()) return std::nullopt;
    return Json(std::move(masked));
  }
  if (value.is_object()) {
    Json patch = Json::object();
    for (const auto& [key, member] : value.items()) {
      if (auto sub = redact_patch(member, counts)) patch[key] = std::move(*sub);
    }
    if (patch.empty()) return std::nullopt;
    return patch;
  }
  if (value.is_array()) {
    Json masked = redact_all(value, counts);
    if (masked == value) return std::nullopt;
    return masked;
  }
  return std::nullopt;
}

namespace {

// One handler body for both hooks: redact data[field] and patch only that field.
sdk::Handler field_redactor(std::string field) {
  return [field](sdk::Context& ctx, const Json& data) {
    if (!data.contains(field)) return sdk::Result::proceed();
    Counts counts;
    auto patch = redact_patch(data[field], &counts);
    if (!patch) return sdk::Result::proceed();
    ctx.log().info("redacted", {{"field", field}, {"counts", counts}});
    return sdk::Result::patch(Json{{field, std::move(*patch)}});
  };
}

}  // namespace

void install(sdk::Plugin& plugin) {
  // fail_open on both hooks: the redactor is a best-effort filter, and a reply or tool result
  // should not be lost because the filter crashed. Operators who need a hard guarantee set
  // fail_closed in the plugin's config entry.
  const sdk::HookOptions options{.priority = 50, .fail_policy = sdk::FailPolicy::fail_open};
  plugin.on("tool.post_exec", field_redactor("output"), options);
  plugin.on("response.pre_deliver", field_redactor("content"), options);
}

}  // namespace plugvisor::examples::redactor
