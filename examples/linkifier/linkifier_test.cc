#include "linkifier.h"

#include <plugvisor/sdk/testing.h>

#include <catch2/catch.hpp>

namespace sdk = plugvisor::sdk;
using sdk::Json;

namespace {

struct Fixture {
  sdk::Plugin plugin{"linkifier", "test"};
  Fixture() { plugvisor::examples::linkifier::install(plugin); }
};

const Json kSettings = {{"issue_base_url", "https://issues.example.com/browse/"}};

}  // namespace

TEST_CASE("linkifier finds issue keys and URLs in order", "[linkifier]") {
  Fixture f;
  sdk::testing::Harness harness(f.plugin, kSettings);
  auto out =
      harness.invoke("message.enrich",
                     {{"text", "PV-12 breaks (see https://ci.example.com/run/7). Also ABC2-300."}});
  REQUIRE_FALSE(out.failure);
  REQUIRE_FALSE(out.invalid_output);
  REQUIRE(out.patch);
  const Json expected = Json::array({
      {{"type", "issue"}, {"key", "PV-12"}, {"url", "https://issues.example.com/browse/PV-12"}},
      {{"type", "url"}, {"url", "https://ci.example.com/run/7"}},
      {{"type", "issue"},
       {"key", "ABC2-300"},
       {"url", "https://issues.example.com/browse/ABC2-300"}},
  });
  CHECK(out.data["enrichments"] == expected);
  CHECK(out.forbidden_paths.empty());
}

TEST_CASE("linkifier keeps existing enrichments and does not duplicate", "[linkifier]") {
  Fixture f;
  sdk::testing::Harness harness(f.plugin, kSettings);
  const Json existing = Json::array(
      {{{"type", "issue"}, {"key", "PV-1"}, {"url", "x"}}, {{"type", "mention"}, {"user", "ana"}}});
  auto out = harness.invoke("message.enrich",
                            {{"text", "PV-1 and PV-2, PV-2 again, http://a.dev http://a.dev"},
                             {"enrichments", existing}});
  REQUIRE(out.patch);
  const auto& list = out.data["enrichments"];
  REQUIRE(list.size() == 4);
  CHECK(list[0] == existing[0]);
  CHECK(list[1] == existing[1]);
  CHECK(list[2]["key"] == "PV-2");
  CHECK(list[3]["url"] == "http://a.dev");
}

TEST_CASE("linkifier reads content too, and leaves URL paths alone", "[linkifier]") {
  Fixture f;
  sdk::testing::Harness harness(f.plugin);  // no issue_base_url: issues carry no URL
  auto out =
      harness.invoke("message.enrich", {{"content", "https://git.example.com/PV-99/tree?x=1, ok"}});
  REQUIRE(out.patch);
  REQUIRE(out.data["enrichments"].size() == 1);
  CHECK(out.data["enrichments"][0] ==
        Json{{"type", "url"}, {"url", "https://git.example.com/PV-99/tree?x=1"}});
}

TEST_CASE("linkifier returns no patch when nothing is found or nothing is new", "[linkifier]") {
  Fixture f;
  sdk::testing::Harness harness(f.plugin, kSettings);
  auto none = harness.invoke("message.enrich", {{"text", "nothing to see, pv-12 is lower case"}});
  CHECK_FALSE(none.patch);
  CHECK_FALSE(none.blocked);

  auto first = harness.invoke("message.enrich", {{"text", "PV-7"}});
  REQUIRE(first.patch);
  auto again = harness.invoke("message.enrich", first.data);
  CHECK_FALSE(again.patch);
}

TEST_CASE("linkifier leaves a non-list enrichments field alone", "[linkifier]") {
  Fixture f;
  sdk::testing::Harness harness(f.plugin);
  auto out = harness.invoke("message.enrich", {{"text", "PV-7"}, {"enrichments", {{"a", 1}}}});
  CHECK_FALSE(out.patch);
}

TEST_CASE("linkifier rejects malformed settings", "[linkifier]") {
  Fixture f;
  CHECK_THROWS_WITH(sdk::testing::Harness(f.plugin, {{"issue_base_url", 3}}),
                    Catch::Contains("issue_base_url"));
}

TEST_CASE("linkifier declares message.enrich at priority 10, fail_open", "[linkifier]") {
  Fixture f;
  const auto* reg = f.plugin.find("message.enrich");
  REQUIRE(reg != nullptr);
  CHECK(reg->options.priority == 10);
  CHECK(reg->options.fail_policy == sdk::FailPolicy::fail_open);
}
