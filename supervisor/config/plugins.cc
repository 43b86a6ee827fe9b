// Plugins and their tunables (timeouts, graces, guards, log limits).
#include <set>
#include <utility>

#include "config/parser.h"

namespace plugvisor::config::detail {
namespace {

namespace fs = std::filesystem;

bool valid_plugin_id(std::string_view id) {
  auto ok_char = [](char c, bool first) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
    return !first && (c == '.' || c == '_' || c == '-');
  };
  if (id.empty() || id.size() > 63) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    if (!ok_char(id[i], i == 0)) return false;
  }
  return true;
}

bool valid_env_name(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

void Parser::read_guards(const Entry& at, guard::GuardConfig& g) {
  auto f =
      r_.map(at, {"breaker_failure_threshold", "breaker_open_ms", "backoff_initial_ms",
                  "backoff_max_ms", "backoff_multiplier", "backoff_jitter",
                  "backoff_reset_after_ms", "crash_loop_max_failures", "crash_loop_window_ms"});
  if (!f) return;
  set_int(*f, "breaker_failure_threshold", g.breaker_failure_threshold, 1, kMaxCount);
  set_ms(*f, "breaker_open_ms", g.breaker_open_for);
  set_ms(*f, "backoff_initial_ms", g.backoff_initial);
  set_ms(*f, "backoff_max_ms", g.backoff_max);
  set_ms(*f, "backoff_reset_after_ms", g.backoff_reset_after);
  set_int(*f, "crash_loop_max_failures", g.crash_loop_max_failures, 1, kMaxCount);
  set_ms(*f, "crash_loop_window_ms", g.crash_loop_window);
  if (const Entry* e = f->get("backoff_multiplier")) {
    auto v = r_.number(*e);
    if (v && *v < 1.0) {
      r_.fail(*e, "must be at least 1.0 (1.0 keeps the delay constant)");
    } else if (v) {
      g.backoff_multiplier = *v;
    }
  }
  if (const Entry* e = f->get("backoff_jitter")) {
    auto v = r_.number(*e);
    if (v && (*v < 0.0 || *v >= 1.0)) {
      r_.fail(*e, "must be in [0, 1) (0.25 means +-25 %)");
    } else if (v) {
      g.backoff_jitter = *v;
    }
  }
}

void Parser::read_logs(const Entry& at, LogLimits& l) {
  auto f = r_.map(at, {"line_max_bytes", "lines_per_second", "burst"});
  if (!f) return;
  set_int(*f, "line_max_bytes", l.line_max_bytes, 1, 16 << 20);
  set_int(*f, "lines_per_second", l.lines_per_second, 1, kMaxCount);
  set_int(*f, "burst", l.burst, 1, kMaxCount);
}

void Parser::read_tunables(const Fields& f, PluginConfig& p) {
  set_ms(f, "start_timeout_ms", p.start_timeout);
  // A zero grace is meaningful: skip that rung of the shutdown ladder.
  set_ms(f, "cancel_grace_ms", p.cancel_grace, 0);
  set_ms(f, "drain_grace_ms", p.drain_grace, 0);
  set_ms(f, "term_grace_ms", p.term_grace, 0);
  if (const Entry* e = f.get("guards")) read_guards(*e, p.guards);
  if (const Entry* e = f.get("logs")) read_logs(*e, p.logs);
  if (const Entry* e = f.get("permissions")) read_permissions(*e, p.permissions);
  if (const Entry* e = f.get("sandbox")) {
    if (auto v = r_.str(*e)) {
      if (*v == "enforce") {
        p.sandbox = SandboxMode::enforce;
      } else if (*v == "off") {
        p.sandbox = SandboxMode::off;
      } else {
        r_.fail(*e, "must be enforce or off, not '" + *v + "'");
      }
    }
  }
}

void Parser::check_tunables(const Entry& at, const PluginConfig& p) {
  if (p.guards.backoff_max < p.guards.backoff_initial) {
    r_.fail(Reader::child(at.path, "guards"), at.mark,
            "backoff_max_ms (" + std::to_string(p.guards.backoff_max.count()) +
                ") is less than backoff_initial_ms (" +
                std::to_string(p.guards.backoff_initial.count()) + ")");
  }
}

void Parser::read_bindings(const Entry& at, const dispatch::HookCatalog& catalog, PluginConfig& p) {
  if (auto items = r_.seq(at)) {
    std::set<std::string> seen;
    for (const Entry& item : *items) {
      auto hf = r_.map(item, {"hook", "priority", "fail_policy", "timeout_ms"});
      if (!hf) continue;
      HookBindingConfig b;
      if (const Entry* h = hf->get("hook")) {
        if (auto name = r_.str(*h)) {
          if (catalog.find(*name) == nullptr) {
            r_.fail(*h, "unknown hook '" + *name + "' (not in the hook catalog)");
          } else if (!seen.insert(*name).second) {
            r_.fail(*h, "hook '" + *name + "' is listed twice for this plugin");
          }
          b.hook = *name;
        }
      } else {
        r_.fail(item, "'hook' is required");
      }
      if (const Entry* h = hf->get("priority")) {
        if (auto v = r_.integer(*h, -1'000'000, 1'000'000)) b.priority = static_cast<int>(*v);
      }
      if (const Entry* h = hf->get("fail_policy")) {
        if (auto v = r_.str(*h)) {
          b.fail_policy = dispatch::parse_fail_policy(*v);
          if (!b.fail_policy) r_.fail(*h, "must be fail_open or fail_closed, not '" + *v + "'");
        }
      }
      if (const Entry* h = hf->get("timeout_ms")) {
        if (auto v = r_.integer(*h, 1, kMaxMs)) b.timeout = milliseconds(*v);
      }
      p.hooks.push_back(std::move(b));
    }
  }
}

std::optional<PluginConfig> Parser::read_plugin(const Entry& at, const PluginConfig& defaults,
                                                const dispatch::HookCatalog& catalog,
                                                const fs::path& exe_base,
                                                std::map<std::string, std::string>& ids) {
  auto f = r_.map(
      at, {"id", "executable", "args", "env", "enabled", "settings", "hooks", "start_timeout_ms",
           "cancel_grace_ms", "drain_grace_ms", "term_grace_ms", "guards", "logs",
           "permissions", "sandbox"});
  if (!f) return std::nullopt;
  PluginConfig p = defaults;
  if (const Entry* e = f->get("id")) {
    if (auto id = r_.str(*e)) {
      if (!valid_plugin_id(*id)) {
        r_.fail(*e, "'" + *id + "' is not a valid id ([a-z0-9][a-z0-9._-]{0,62})");
      } else if (auto [it, fresh] = ids.emplace(*id, at.path); !fresh) {
        r_.fail(*e, "duplicate id '" + *id + "' (already used by " + it->second + ")");
      } else {
        p.id = *id;
      }
    }
  } else {
    r_.fail(at, "'id' is required");
  }
  if (const Entry* e = f->get("executable")) {
    if (auto exe = r_.str(*e)) {
      if (exe->empty()) {
        r_.fail(*e, "must not be empty");
      } else {
        // No PATH lookup: what runs must not depend on the supervisor's environment.
        p.executable = resolve(*exe, exe_base);
      }
    }
  } else {
    r_.fail(at, "'executable' is required");
  }
  if (const Entry* e = f->get("args")) {
    if (auto v = r_.str_list(*e)) p.args = std::move(*v);
  }
  if (const Entry* e = f->get("env")) {
    if (auto v = r_.str_map(*e)) {
      for (const auto& [k, val] : *v) {
        if (!valid_env_name(k)) r_.fail(*e, "'" + k + "' is not a valid environment variable name");
      }
      p.env = std::move(*v);
    }
  }
  if (const Entry* e = f->get("enabled")) {
    if (auto v = r_.boolean(*e)) p.enabled = *v;
  }
  if (const Entry* e = f->get("settings")) {
    if (auto v = r_.to_json(*e)) {
      if (v->is_null()) {
        p.settings_json = "{}";
      } else if (!v->is_object()) {
        r_.fail(*e, "must be a mapping");
      } else {
        p.settings_json = v->dump();
      }
    }
  }
  if (const Entry* e = f->get("hooks")) read_bindings(*e, catalog, p);
  read_tunables(*f, p);
  check_tunables(at, p);
  return p;
}

void Parser::read_plugins(const Entry& at, const PluginConfig& defaults,
                          const dispatch::HookCatalog& catalog, const fs::path& exe_base,
                          std::vector<PluginConfig>& out) {
  auto items = r_.seq(at);
  if (!items) return;
  std::map<std::string, std::string> ids;
  for (const Entry& item : *items) {
    if (auto p = read_plugin(item, defaults, catalog, exe_base, ids)) out.push_back(std::move(*p));
  }
}

}  // namespace plugvisor::config::detail
