#include "dispatch/catalog.h"

#include <catch2/catch.hpp>

#include "dispatch/types.h"

using namespace plugvisor::dispatch;

TEST_CASE("default catalog has the eleven hooks of DESIGN.md") {
  const HookCatalog c = HookCatalog::defaults();
  CHECK(c.all().size() == 11);
  for (const HookSpec* s : c.all()) {
    CHECK(s->default_timeout == std::chrono::milliseconds(1500));
    CHECK_FALSE(s->output_schema.has_value());
  }
  const HookSpec* pre = c.find("work_item.pre_create");
  REQUIRE(pre != nullptr);
  CHECK(pre->blockable);
  CHECK(pre->mutable_paths == std::vector<std::string>{"/title", "/body", "/labels", "/metadata"});

  const HookSpec* post = c.find("model.post_call");
  REQUIRE(post != nullptr);
  CHECK_FALSE(post->blockable);
  CHECK(post->mutable_paths == std::vector<std::string>{"/response/content", "/metadata"});

  for (const char* name : {"work_item.pre_create", "run.pre_prompt", "model.pre_call",
                           "tool.pre_exec", "response.pre_deliver"}) {
    INFO(name);
    REQUIRE(c.find(name) != nullptr);
    CHECK(c.find(name)->blockable);
  }
  for (const char* name : {"work_item.post_create", "model.post_call", "tool.post_exec",
                           "response.post_deliver", "message.enrich", "message.extract"}) {
    INFO(name);
    REQUIRE(c.find(name) != nullptr);
    CHECK_FALSE(c.find(name)->blockable);
  }
  CHECK(c.find("message.enrich")->mutable_paths == std::vector<std::string>{"/enrichments"});
  CHECK(c.find("response.post_deliver")->mutable_paths.empty());
  CHECK(c.find("no.such") == nullptr);
}

TEST_CASE("catalog put adds and replaces") {
  HookCatalog c = HookCatalog::defaults();
  HookSpec s;
  s.name = "tool.pre_exec";
  s.blockable = false;
  c.put(s);
  CHECK_FALSE(c.find("tool.pre_exec")->blockable);
  s.name = "custom.hook";
  c.put(s);
  CHECK(c.find("custom.hook") != nullptr);
  CHECK(c.all().size() == 12);
}

TEST_CASE("error codes and fail policies print as in DESIGN.md") {
  CHECK(to_string(ErrorCode::none).empty());
  CHECK(to_string(ErrorCode::timeout) == "TIMEOUT");
  CHECK(to_string(ErrorCode::plugin_crashed) == "PLUGIN_CRASHED");
  CHECK(to_string(ErrorCode::invalid_output) == "INVALID_OUTPUT");
  CHECK(to_string(ErrorCode::circuit_open) == "CIRCUIT_OPEN");
  CHECK(to_string(ErrorCode::load_error) == "LOAD_ERROR");
  CHECK(to_string(ErrorCode::execution_error) == "EXECUTION_ERROR");
  CHECK(to_string(ErrorCode::budget_exceeded) == "BUDGET_EXCEEDED");
  CHECK(to_string(ErrorCode::permission_denied) == "PERMISSION_DENIED");
  CHECK(to_string(ErrorCode::disabled) == "DISABLED");

  CHECK(to_string(FailPolicy::open) == "fail_open");
  CHECK(to_string(FailPolicy::closed) == "fail_closed");
  CHECK(parse_fail_policy("fail_open") == FailPolicy::open);
  CHECK(parse_fail_policy("fail_closed") == FailPolicy::closed);
  CHECK_FALSE(parse_fail_policy("closed").has_value());
  CHECK_FALSE(parse_fail_policy("").has_value());
}
