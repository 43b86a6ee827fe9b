// The host services' part of the config: permissions.network / state / ai of each plugin, and
// the supervisor-wide secrets, fetch and ai sections.
#include <regex>

#include "config/parser.h"

namespace plugvisor::config::detail {

namespace {

bool valid_secret_name(const std::string& s) {
  static const std::regex re("[A-Za-z_][A-Za-z0-9_]{0,127}");
  return std::regex_match(s, re);
}

}  // namespace

void Parser::read_network(const Entry& at, std::vector<egress::NetworkRule>& out) {
  auto items = r_.seq(at);
  if (!items) return;
  out.clear();
  for (const Entry& item : *items) {
    std::string text;
    bool allow_private = false;
    if (item.node.IsMap()) {
      auto f = r_.map(item, {"host", "scheme", "port", "allow_private"});
      if (!f) continue;
      std::string host, scheme = "https";
      int64_t port = 0;
      if (const Entry* e = f->get("host")) {
        if (auto v = r_.str(*e)) host = *v;
      } else {
        r_.fail(item, "'host' is required");
        continue;
      }
      set_str(*f, "scheme", scheme);
      set_int(*f, "port", port, 1, 65535);
      if (const Entry* e = f->get("allow_private")) {
        if (auto v = r_.boolean(*e)) allow_private = *v;
      }
      text = scheme + "://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
             (port != 0 ? ":" + std::to_string(port) : "");
    } else if (auto v = r_.str(item)) {
      text = *v;
    } else {
      continue;
    }
    auto rule = egress::parse_rule(text);
    if (!rule) {
      r_.fail(item, rule.error().message);
      continue;
    }
    rule->allow_private = rule->allow_private || allow_private;
    out.push_back(std::move(*rule));
  }
}

void Parser::read_state_quota(const Entry& at, StateQuota& q) {
  auto f = r_.map(at, {"max_keys", "max_bytes", "max_value_bytes"});
  if (!f) return;
  set_int(*f, "max_keys", q.max_keys, 0, kMaxCount);
  set_int(*f, "max_bytes", q.max_bytes, 0, 1LL << 40);
  set_int(*f, "max_value_bytes", q.max_value_bytes, 0, 64LL << 20);
}

void Parser::read_ai_policy(const Entry& at, AiPolicy& a) {
  auto f = r_.map(at, {"allowed", "model", "temperature", "max_input_bytes", "max_retries",
                       "backoff_initial_ms", "backoff_max_ms", "timeout_ms"});
  if (!f) return;
  // Writing an ai: section at all means "allowed" unless it says otherwise.
  a.allowed = true;
  if (const Entry* e = f->get("allowed")) {
    if (auto v = r_.boolean(*e)) a.allowed = *v;
  }
  set_str(*f, "model", a.model);
  if (const Entry* e = f->get("temperature")) {
    if (auto v = r_.number(*e)) {
      if (*v < 0 || *v > 2) {
        r_.fail(*e, "must be between 0 and 2");
      } else {
        a.temperature = *v;
      }
    }
  }
  set_int(*f, "max_input_bytes", a.max_input_bytes, 1, 64LL << 20);
  set_int(*f, "max_retries", a.max_retries, 0, 10);
  set_ms(*f, "backoff_initial_ms", a.backoff_initial, 0);
  set_ms(*f, "backoff_max_ms", a.backoff_max, 0);
  set_ms(*f, "timeout_ms", a.timeout);
  if (a.backoff_max < a.backoff_initial) {
    r_.fail(at, "backoff_max_ms is smaller than backoff_initial_ms");
  }
}

void Parser::read_host_sections(const Fields& f, SupervisorConfig& cfg) {
  if (const Entry* e = f.get("secrets")) {
    if (e->node.IsMap()) {
      for (const auto& kv : e->node) {
        const std::string name = kv.first.as<std::string>();
        const Entry item{Reader::child(e->path, name), kv.first.Mark(), kv.second};
        if (!valid_secret_name(name)) {
          r_.fail(item, "is not a valid secret name ([A-Za-z_][A-Za-z0-9_]*)");
          continue;
        }
        auto s = r_.map(item, {"env", "file"});
        if (!s) continue;
        SecretSource src;
        set_str(*s, "env", src.env);
        if (const Entry* fe = s->get("file")) {
          if (auto v = r_.str(*fe)) src.file = resolve(*v, base_dir_);
        }
        if (src.env.empty() == src.file.empty()) {
          r_.fail(item, "needs exactly one of env or file");
          continue;
        }
        cfg.secrets[name] = src;
      }
    } else if (!e->node.IsNull()) {
      r_.fail(*e, "must be a mapping of secret names to {env: VAR} or {file: path}");
    }
  }
  if (const Entry* e = f.get("fetch")) {
    if (auto d = r_.map(*e, {"max_request_bytes", "max_response_bytes", "default_timeout_ms",
                             "max_timeout_ms", "max_redirects"})) {
      set_int(*d, "max_request_bytes", cfg.fetch.max_request_bytes, 0, 1LL << 30);
      set_int(*d, "max_response_bytes", cfg.fetch.max_response_bytes, 1, 1LL << 30);
      set_ms(*d, "default_timeout_ms", cfg.fetch.default_timeout);
      set_ms(*d, "max_timeout_ms", cfg.fetch.max_timeout);
      set_int(*d, "max_redirects", cfg.fetch.max_redirects, 0, 20);
    }
  }
  if (const Entry* e = f.get("ai")) {
    if (auto d = r_.map(*e, {"base_url", "model", "api_key_env", "api_key_file"})) {
      set_str(*d, "base_url", cfg.ai.base_url);
      set_str(*d, "model", cfg.ai.model);
      set_str(*d, "api_key_env", cfg.ai.api_key_env);
      if (const Entry* fe = d->get("api_key_file")) {
        if (auto v = r_.str(*fe)) cfg.ai.api_key_file = resolve(*v, base_dir_);
      }
      const Entry* url = d->get("base_url");
      if (url == nullptr) {
        r_.fail(*e, "'base_url' is required");
      } else if (cfg.ai.base_url.rfind("http://", 0) != 0 &&
                 cfg.ai.base_url.rfind("https://", 0) != 0) {
        r_.fail(*url, "must start with http:// or https://");
      }
      if (!cfg.ai.api_key_env.empty() && !cfg.ai.api_key_file.empty()) {
        r_.fail(*e, "set api_key_env or api_key_file, not both");
      }
    }
  }
  // A plugin that references a secret the supervisor cannot supply is a config error now, not
  // a PERMISSION_DENIED at its first call.
  for (size_t i = 0; i < cfg.plugins.size(); ++i) {
    for (const std::string& s : cfg.plugins[i].permissions.secrets) {
      if (!cfg.secrets.contains(s)) {
        r_.fail(Entry{"plugins[" + std::to_string(i) + "].permissions.secrets",
                      YAML::Mark::null_mark(), {}},
                "names secret '" + s + "', which the top-level secrets section does not define");
      }
    }
  }
}

}  // namespace plugvisor::config::detail
