#include "redactor.h"

#include <plugvisor/sdk/testing.h>

#include <catch2/catch.hpp>

namespace sdk = plugvisor::sdk;
namespace redactor = plugvisor::examples::redactor;
using sdk::Json;

namespace {

struct Fixture {
  sdk::Plugin plugin{"redactor", "test"};
  Fixture() { redactor::install(plugin); }
};

}  // namespace

TEST_CASE("redact_text masks each kind of secret", "[redactor]") {
  struct Case {
    std::string in, out;
  };
  const std::vector<Case> cases = {
      {"key sk-proj-abcdefghijklmnop1234 end", "key [REDACTED:api_key] end"},
      {"ghp_abcdefghijklmnopqrstuvwxyz0123456789", "[REDACTED:github_token]"},
      {"gho_abcdefghijklmnopqrstuvwxyz0123456789", "[REDACTED:github_token]"},
      {"github_pat_11ABCDEFG0123456789_abcdefghijkl", "[REDACTED:github_token]"},
      {"aws AKIAIOSFODNN7EXAMPLE here", "aws [REDACTED:aws_access_key] here"},
      {"xoxb-1234567890-abcdefghij", "[REDACTED:slack_token]"},
      {"Authorization: Bearer abc.def-ghi_jkl", "Authorization: Bearer [REDACTED:bearer_token]"},
      {"t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl", "t=[REDACTED:jwt]"},
      {"mail ana.lima+ops@example.co.uk now", "mail [REDACTED:email] now"},
      {"api_key=abc123&x=1", "api_key=[REDACTED:secret]&x=1"},
      {"API-KEY: hunter2", "API-KEY: [REDACTED:secret]"},
      {R"({"db_password": "s3cr3t!", "user": "x"})",
       R"({"db_password": "[REDACTED:secret]", "user": "x"})"},
      {"?access_token=zzz", "?access_token=[REDACTED:secret]"},
      {"client_secret = 'abcdef'", "client_secret = '[REDACTED:secret]'"},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    CHECK(redactor::redact_text(c.in) == c.out);
  }
}

TEST_CASE("redact_text leaves ordinary text alone and is idempotent", "[redactor]") {
  for (const std::string text : {"the token is valid", "task-abcdefghijklmnopqrstu", "sk-short",
                                 "password reset link sent", "a@b"}) {
    INFO(text);
    CHECK(redactor::redact_text(text) == text);
  }
  const std::string once = redactor::redact_text(
      "token: xoxp-1234567890-abcdef, Bearer eyJa.eyJb.c, password=[x], ana@example.com");
  CHECK(redactor::redact_text(once) == once);
}

TEST_CASE("redactor patches only the changed strings of structured tool output", "[redactor]") {
  Fixture f;
  sdk::testing::Harness harness(f.plugin);
  const Json output = {{"stdout", "login as bob@example.com"},
                       {"exit_code", 0},
                       {"env", {{"HOME", "/root"}, {"TOKEN", nullptr}}},
                       {"lines", {"ok", "AKIAIOSFODNN7EXAMPLE", nullptr}}};
  auto out = harness.invoke("tool.post_exec", {{"tool", "shell"}, {"output", output}});
  REQUIRE_FALSE(out.invalid_output);
  REQUIRE(out.patch);
  CHECK(*out.patch == Json{{"output",
                            {{"stdout", "login as [REDACTED:email]"},
                             {"lines", {"ok", "[REDACTED:aws_access_key]", nullptr}}}}});
  // Untouched members, including nulls, survive the merge.
  CHECK(out.data["output"]["env"] == output["env"]);
  CHECK(out.data["output"]["exit_code"] == 0);
  CHECK(out.data["output"]["lines"][1] == "[REDACTED:aws_access_key]");
}

TEST_CASE("redactor handles string output and response content", "[redactor]") {
  Fixture f;
  sdk::testing::Harness harness(f.plugin);
  auto tool = harness.invoke("tool.post_exec", {{"output", "key=sk-abcdefghijklmnopqrstuv"}});
  REQUIRE(tool.patch);
  CHECK(tool.data["output"] == "key=[REDACTED:api_key]");

  auto reply = harness.invoke("response.pre_deliver",
                              {{"content", "write to ops@example.com"}, {"channel", "c1"}});
  REQUIRE(reply.patch);
  CHECK(*reply.patch == Json{{"content", "write to [REDACTED:email]"}});
  CHECK(reply.forbidden_paths.empty());
  CHECK(reply.data["channel"] == "c1");
}

TEST_CASE("redactor returns no patch when nothing needs masking", "[redactor]") {
  Fixture f;
  sdk::testing::Harness harness(f.plugin);
  CHECK_FALSE(harness.invoke("tool.post_exec", {{"output", {{"n", 1}, {"s", "fine"}}}}).patch);
  CHECK_FALSE(harness.invoke("response.pre_deliver", {{"content", "hello"}}).patch);
  CHECK_FALSE(harness.invoke("response.pre_deliver", {{"other", "a@example.com"}}).patch);
}

TEST_CASE("redactor copes with a large output quickly", "[redactor]") {
  Fixture f;
  sdk::testing::Harness harness(f.plugin);
  std::string big(2 << 20, 'a');  // one 2 MiB "word": a backtracking engine would suffer here
  big += " ana@example.com";
  auto out = harness.invoke("tool.post_exec", {{"output", big}});
  REQUIRE(out.patch);
  CHECK(out.duration < std::chrono::seconds(5));
}

TEST_CASE("redactor declares both hooks at priority 50, fail_open", "[redactor]") {
  Fixture f;
  for (const char* hook : {"tool.post_exec", "response.pre_deliver"}) {
    const auto* reg = f.plugin.find(hook);
    REQUIRE(reg != nullptr);
    CHECK(reg->options.priority == 50);
    CHECK(reg->options.fail_policy == sdk::FailPolicy::fail_open);
  }
}
