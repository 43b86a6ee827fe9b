#include "config/config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "config/parser.h"
#include "dispatch/schema.h"

namespace plugvisor::config {
namespace detail {
namespace {

namespace fs = std::filesystem;

bool valid_hook_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool valid_listen(const std::string& listen) {
  if (listen.rfind("unix:", 0) == 0) return listen.size() > 5;
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) return false;
  const std::string port = listen.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
  const int p = std::stoi(port);
  return p >= 1 && p <= 65535;
}

}  // namespace

std::string resolve(const std::string& path, const fs::path& base) {
  if (path.empty()) return path;
  const fs::path p(path);
  return (p.is_absolute() ? p : base / p).lexically_normal().string();
}

void Parser::read_hooks(const Entry& at, dispatch::HookCatalog& catalog) {
  auto items = r_.seq(at);
  if (!items) return;
  std::set<std::string> names;
  for (const Entry& item : *items) {
    auto f = r_.map(item, {"name", "blockable", "mutable", "timeout_ms", "output_schema"});
    if (!f) continue;
    dispatch::HookSpec spec;
    const Entry* name = f->get("name");
    if (name == nullptr) {
      r_.fail(item, "'name' is required");
      continue;
    }
    auto n = r_.str(*name);
    if (!n) continue;
    if (!valid_hook_name(*n)) {
      r_.fail(*name, "'" + *n + "' is not a hook name (letters, digits, '.', '_', '-')");
      continue;
    }
    if (!names.insert(*n).second) {
      r_.fail(*name, "hook '" + *n + "' is declared twice");
      continue;
    }
    spec.name = *n;
    if (const Entry* e = f->get("blockable")) {
      if (auto v = r_.boolean(*e)) spec.blockable = *v;
    }
    if (const Entry* e = f->get("mutable")) {
      if (auto paths = r_.str_list(*e)) {
        for (size_t i = 0; i < paths->size(); ++i) {
          const std::string& p = (*paths)[i];
          try {
            (void)nlohmann::json::json_pointer(p);
            spec.mutable_paths.push_back(p);
          } catch (const nlohmann::json::exception&) {
            r_.fail(Reader::item(e->path, i), e->mark,
                    "'" + p + "' is not a JSON Pointer (it must start with '/')");
          }
        }
      }
    }
    set_ms(*f, "timeout_ms", spec.default_timeout);
    if (const Entry* e = f->get("output_schema")) {
      if (auto schema = r_.to_json(*e)) {
        if (Status s = dispatch::check_schema(*schema); !s) {
          r_.fail(*e, s.error().message);
        } else {
          spec.output_schema = std::move(*schema);
        }
      }
    }
    catalog.put(std::move(spec));
  }
}

Result<SupervisorConfig> Parser::run(const YAML::Node& root) {
  SupervisorConfig cfg;
  const Entry top{"", root.IsNull() ? YAML::Mark::null_mark() : root.Mark(), root};
  auto f = r_.map(top, {"listen", "state_dir", "runner", "plugin_dir", "log_level", "database",
                        "receipts", "dispatch", "plugin_defaults", "hooks", "plugins", "sandbox",
                        "secrets", "fetch", "ai"});
  if (!f) return Error{r_.error_text()};

  set_str(*f, "listen", cfg.listen);
  if (const Entry* e = f->get("listen"); e && !valid_listen(cfg.listen)) {
    r_.fail(*e, "'" + cfg.listen + "' is neither host:port nor unix:/path");
  }
  set_str(*f, "state_dir", cfg.state_dir);
  cfg.state_dir = resolve(cfg.state_dir, base_dir_);
  set_str(*f, "runner", cfg.runner_path);
  cfg.runner_path = resolve(cfg.runner_path, base_dir_);
  set_str(*f, "plugin_dir", cfg.plugin_dir);
  cfg.plugin_dir = resolve(cfg.plugin_dir, base_dir_);
  set_str(*f, "log_level", cfg.log_level);
  static const std::set<std::string> kLevels = {"trace", "debug",    "info", "warn",
                                                "error", "critical", "off"};
  if (const Entry* e = f->get("log_level"); e && !kLevels.count(cfg.log_level)) {
    r_.fail(*e,
            "'" + cfg.log_level + "' is not one of trace, debug, info, warn, error, critical, off");
  }
  if (const Entry* e = f->get("database")) {
    if (auto d = r_.map(*e, {"url", "embedded_user", "pg_bindir"})) {
      set_str(*d, "url", cfg.database.url);
      set_str(*d, "embedded_user", cfg.database.embedded_user);
      set_str(*d, "pg_bindir", cfg.database.pg_bindir);
      cfg.database.pg_bindir = resolve(cfg.database.pg_bindir, base_dir_);
    }
  }
  if (const Entry* e = f->get("receipts")) {
    if (auto d = r_.map(*e, {"queue_capacity", "batch_size", "flush_interval_ms"})) {
      set_int(*d, "queue_capacity", cfg.receipts.queue_capacity, 1, kMaxCount);
      set_int(*d, "batch_size", cfg.receipts.batch_size, 1, kMaxCount);
      set_ms(*d, "flush_interval_ms", cfg.receipts.flush_interval);
      if (cfg.receipts.batch_size > cfg.receipts.queue_capacity) {
        r_.fail(
            Reader::child(e->path, "batch_size"), e->mark,
            "is larger than queue_capacity (" + std::to_string(cfg.receipts.queue_capacity) + ")");
      }
    }
  }
  if (const Entry* e = f->get("dispatch")) {
    if (auto d = r_.map(*e, {"budget_ms", "max_payload_bytes", "threads", "busy_poll_us"})) {
      set_ms(*d, "budget_ms", cfg.limits.default_budget);
      set_int(*d, "threads", cfg.dispatch_threads, 1, 64);
      int64_t busy_poll_us = cfg.dispatch_busy_poll.count();
      set_int(*d, "busy_poll_us", busy_poll_us, 0, 10000);
      cfg.dispatch_busy_poll = std::chrono::microseconds(busy_poll_us);
      set_int(*d, "max_payload_bytes", cfg.limits.max_payload_bytes, 1, 1LL << 30);
    }
  }
  if (const Entry* e = f->get("sandbox")) read_sandbox(*e, cfg.sandbox);
  // The catalog first: plugins may bind hooks that this file itself declares.
  if (const Entry* e = f->get("hooks")) read_hooks(*e, cfg.catalog);
  PluginConfig defaults;
  if (const Entry* e = f->get("plugin_defaults")) {
    if (auto d = r_.map(*e, {"start_timeout_ms", "cancel_grace_ms", "drain_grace_ms",
                             "term_grace_ms", "guards", "logs", "permissions", "sandbox"})) {
      read_tunables(*d, defaults);
      check_tunables(*e, defaults);
    }
  }
  const fs::path exe_base = cfg.plugin_dir.empty() ? base_dir_ : fs::path(cfg.plugin_dir);
  if (const Entry* e = f->get("plugins"))
    read_plugins(*e, defaults, cfg.catalog, exe_base, cfg.plugins);
  read_host_sections(*f, cfg);

  if (!r_.ok()) return Error{r_.error_text()};
  return cfg;
}

}  // namespace detail

namespace fs = std::filesystem;

Result<SupervisorConfig> parse_config(std::string_view yaml_text, const std::string& source_name,
                                      const std::string& base_dir) {
  try {
    std::error_code ec;
    fs::path base = base_dir.empty() ? fs::current_path(ec) : fs::absolute(base_dir, ec);
    if (ec)
      return Error{source_name + ": cannot resolve base directory '" + base_dir +
                   "': " + ec.message()};
    YAML::Node root;
    try {
      root = YAML::Load(std::string(yaml_text));
    } catch (const YAML::ParserException& e) {
      return Error{source_name + ": invalid YAML: " + e.msg + " (line " +
                   std::to_string(e.mark.line + 1) + ", column " +
                   std::to_string(e.mark.column + 1) + ")"};
    }
    detail::Parser parser(source_name, base.lexically_normal(),
                          [](const char* name) { return std::getenv(name); });
    Result<SupervisorConfig> cfg = parser.run(root);
    if (cfg) cfg->source = source_name;
    return cfg;
  } catch (const std::exception& e) {
    // yaml-cpp and std::filesystem throw; nothing may escape a public function.
    return Error{source_name + ": " + e.what()};
  }
}

Result<SupervisorConfig> load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::errno_error(path + ": cannot read the config file", errno);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Error::errno_error(path + ": cannot read the config file", errno);
  std::error_code ec;
  const fs::path dir = fs::absolute(fs::path(path), ec).parent_path();
  return parse_config(text.str(), path, dir.string());
}

}  // namespace plugvisor::config
