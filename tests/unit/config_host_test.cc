// Config: the host services' sections (secrets, fetch, ai) and plugin permissions for them.
#include <catch2/catch.hpp>

#include "config/config.h"

using namespace plugvisor::config;

namespace {

plugvisor::Result<SupervisorConfig> parse(const std::string& yaml) {
  return parse_config(yaml, "test.yaml", "/etc/plugvisor");
}

std::string bad(const std::string& yaml) {
  auto cfg = parse(yaml);
  REQUIRE_FALSE(cfg.ok());
  return cfg.error().message;
}

}  // namespace

TEST_CASE("host sections and permissions parse") {
  auto cfg = parse(R"(
secrets:
  GITHUB_TOKEN: {env: GH_TOKEN}
  SLACK: {file: secrets/slack}
fetch: {max_response_bytes: 1024, default_timeout_ms: 500, max_redirects: 2}
ai: {base_url: "https://llm.internal/v1", model: small, api_key_file: /run/ai-key}
plugins:
  - id: p
    executable: /opt/p
    permissions:
      network: [api.github.com, "*.example.org:8443", "http://10.0.0.5:8080",
                {host: metrics.internal, scheme: http, port: 9000, allow_private: true}]
      secrets: [GITHUB_TOKEN]
      state: {max_keys: 10, max_bytes: 4096}
      ai: {model: big, temperature: 0.3, max_retries: 4, backoff_initial_ms: 100}
  - id: q
    executable: /opt/q
)");
  REQUIRE(cfg.ok());
  CHECK(cfg->secrets.at("GITHUB_TOKEN").env == "GH_TOKEN");
  CHECK(cfg->secrets.at("SLACK").file == "/etc/plugvisor/secrets/slack");
  CHECK(cfg->fetch.max_response_bytes == 1024);
  CHECK(cfg->fetch.max_redirects == 2);
  CHECK(cfg->ai.base_url == "https://llm.internal/v1");
  CHECK(cfg->ai.api_key_file == "/run/ai-key");
  const auto& p = cfg->plugins[0].permissions;
  REQUIRE(p.network.size() == 4);
  CHECK(p.network[0].host == "api.github.com");
  CHECK(p.network[0].scheme == "https");
  CHECK(p.network[1].host == "*.example.org");
  CHECK(p.network[1].port == 8443);
  CHECK(p.network[2].scheme == "http");
  CHECK(p.network[3].allow_private);
  CHECK(p.state.max_keys == 10);
  CHECK(p.state.max_bytes == 4096);
  CHECK(p.ai.allowed);
  CHECK(p.ai.model == "big");
  CHECK(p.ai.temperature == 0.3);
  CHECK(p.ai.max_retries == 4);
  // Not written: not allowed, defaults elsewhere.
  const auto& q = cfg->plugins[1].permissions;
  CHECK_FALSE(q.ai.allowed);
  CHECK(q.network.empty());
  CHECK(q.state.max_keys == StateQuota{}.max_keys);
}

TEST_CASE("bad host settings name the key and the problem") {
  CHECK_THAT(bad("plugins: [{id: p, executable: /x, permissions: {secrets: [NOPE]}}]\n"),
             Catch::Contains("NOPE") && Catch::Contains("secrets section"));
  CHECK_THAT(bad("secrets: {T: {env: A, file: /b}}\n"), Catch::Contains("secrets.T") &&
                                                            Catch::Contains("exactly one"));
  CHECK_THAT(bad("secrets: {\"bad-name\": {env: A}}\n"), Catch::Contains("not a valid secret name"));
  CHECK_THAT(bad("ai: {model: x}\n"), Catch::Contains("base_url") && Catch::Contains("required"));
  CHECK_THAT(bad("ai: {base_url: ftp://x}\n"), Catch::Contains("http://"));
  CHECK_THAT(bad("plugins: [{id: p, executable: /x, permissions: {network: [\"ftp://a.b\"]}}]\n"),
             Catch::Contains("plugins[0].permissions.network[0]"));
  CHECK_THAT(bad("plugins: [{id: p, executable: /x, permissions: {ai: {temperature: 5}}}]\n"),
             Catch::Contains("between 0 and 2"));
  CHECK_THAT(bad("plugins: [{id: p, executable: /x, permissions: {state: {max_kyes: 1}}}]\n"),
             Catch::Contains("max_kyes"));
}
