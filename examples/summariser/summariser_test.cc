#include "summariser.h"

#include <plugvisor/sdk/testing.h>

#include <catch2/catch.hpp>
#include <string>
#include <tuple>
#include <vector>

namespace sdk = plugvisor::sdk;
namespace summariser = plugvisor::examples::summariser;
using sdk::Json;
using sdk::testing::Invocation;

namespace {

struct Fixture {
  sdk::Plugin plugin{"summariser", "test"};
  Fixture() { summariser::install(plugin); }
};

sdk::ChatResponse answer(std::string text) {
  return {.message = {.role = "assistant", .content = std::move(text)},
          .finish_reason = "stop",
          .model = "fake-model",
          .usage = {.prompt_tokens = 10, .completion_tokens = 2, .total_tokens = 12}};
}

Json delivered(const std::string& content) {
  return {{"content", content}, {"metadata", {{"channel", "c1"}}}};
}

std::optional<summariser::Summary> stored(sdk::testing::Harness& h, const std::string& tenant,
                                          const std::string& work_item) {
  auto entry = h.host().peek_state("summariser", tenant, summariser::state_key(work_item));
  if (!entry) return std::nullopt;
  return summariser::Summary::from_json(entry->value);
}

int64_t stored_version(sdk::testing::Harness& h, const std::string& tenant,
                       const std::string& work_item) {
  auto entry = h.host().peek_state("summariser", tenant, summariser::state_key(work_item));
  return entry ? entry->version : 0;
}

// The user message of a recorded chat: the previous summary and the new content.
const std::string& prompt(const sdk::testing::SentChat& chat) {
  return chat.request.messages.at(1).content;
}

}  // namespace

TEST_CASE("settings: defaults, every field, and refusals that name the setting", "[summariser]") {
  const auto d = summariser::Settings::from_json(Json::object());
  CHECK(d.max_input_chars == 8000);
  CHECK(d.max_summary_chars == 2000);
  CHECK_FALSE(d.temperature);
  CHECK(d.ttl.count() == 0);

  const auto s = summariser::Settings::from_json({{"max_input_chars", 100},
                                                  {"max_summary_chars", 50},
                                                  {"temperature", 0.2},
                                                  {"max_tokens", 300},
                                                  {"ttl_hours", 1.5},
                                                  {"system_prompt", "Be brief."}});
  CHECK(s.max_input_chars == 100);
  CHECK(s.max_summary_chars == 50);
  CHECK(s.temperature == 0.2);
  CHECK(s.max_tokens == 300);
  CHECK(s.ttl == std::chrono::minutes(90));
  CHECK(s.system_prompt == "Be brief.");

  const std::vector<std::pair<Json, std::string>> bad = {
      {{{"max_input_char", 10}}, "unknown setting \"max_input_char\""},
      {{{"max_input_chars", 0}}, "max_input_chars must be an integer from 1"},
      {{{"max_input_chars", "8000"}}, "max_input_chars must be an integer"},
      {{{"max_input_chars", -5}}, "max_input_chars must be an integer"},
      {{{"temperature", 3}}, "temperature must be a number from 0"},
      {{{"ttl_hours", -1}}, "ttl_hours must be a number from 0"},
      {{{"system_prompt", ""}}, "system_prompt must be a non-empty string"},
      {Json::array(), "settings must be a JSON object"}};
  for (const auto& [settings, message] : bad) {
    INFO(settings.dump());
    CHECK_THROWS_WITH(summariser::Settings::from_json(settings), Catch::Contains(message));
  }
  // The handshake refuses them too (Describe answers INVALID_ARGUMENT).
  Fixture f;
  CHECK_THROWS_WITH(sdk::testing::Harness(f.plugin, {{"ttl_hour", 1}}),
                    Catch::Contains("unknown setting"));
}

TEST_CASE("utf8_prefix never splits a character", "[summariser]") {
  const std::string text = "añb€c😀d";  // 1, 2, 1, 3, 1, 4, 1 bytes
  CHECK(summariser::char_count(text) == 7);
  CHECK(summariser::utf8_prefix(text, 0).empty());
  CHECK(summariser::utf8_prefix(text, 2) == "añ");
  CHECK(summariser::utf8_prefix(text, 4) == "añb€");
  CHECK(summariser::utf8_prefix(text, 6) == "añb€c😀");
  CHECK(summariser::utf8_prefix(text, 7) == text);
  CHECK(summariser::utf8_prefix(text, 100) == text);
}

TEST_CASE("stored summaries round-trip; other shapes are not read as one", "[summariser]") {
  const summariser::Summary s{.text = "ünïcode", .turns = 7, .model = "m", .updated_at_unix_ms = 5};
  const auto back = summariser::Summary::from_json(s.to_json());
  REQUIRE(back);
  CHECK(back->text == s.text);
  CHECK(back->turns == 7);
  CHECK(back->model == "m");
  CHECK(back->updated_at_unix_ms == 5);
  for (const char* bad :
       {"", "not json", "[]", R"({"summary":"x","turns":1})",
        R"({"format":"1","summary":"x","turns":1})", R"({"format":2,"summary":"x","turns":1})",
        R"({"format":1,"summary":3,"turns":1})", R"({"format":1,"summary":"x","turns":-1})"}) {
    INFO(bad);
    CHECK_FALSE(summariser::Summary::from_json(bad));
  }
  // Bytes that are not UTF-8 (a model may produce them) are replaced, not thrown on.
  const summariser::Summary broken{.text = std::string("ok\xff"), .turns = 1};
  CHECK(summariser::Summary::from_json(broken.to_json()));
}

TEST_CASE("each delivery folds into the work item's summary, previous summary in the prompt",
          "[summariser]") {
  Fixture f;
  sdk::testing::Harness h(f.plugin, {{"temperature", 0.1}, {"max_tokens", 200}});
  h.host()
      .allow_ai()
      .script_chat(answer("S1: the user asked about invoices."))
      .script_chat(answer("  S2: invoices, then refunds.\n"));

  auto first = h.invoke("response.post_deliver", delivered("Here is your invoice #42."));
  INFO(first.failure.value_or(""));
  REQUIRE_FALSE(first.failure);
  CHECK_FALSE(first.patch);
  CHECK_FALSE(first.invalid_output);
  auto s1 = stored(h, "tenant-test", "work-item-test");
  REQUIRE(s1);
  CHECK(s1->text == "S1: the user asked about invoices.");
  CHECK(s1->turns == 1);
  CHECK(s1->model == "fake-model");
  CHECK(stored_version(h, "tenant-test", "work-item-test") == 1);

  auto second = h.invoke("response.post_deliver", delivered("Your refund is on its way."));
  REQUIRE_FALSE(second.failure);
  auto s2 = stored(h, "tenant-test", "work-item-test");
  REQUIRE(s2);
  CHECK(s2->text == "S2: invoices, then refunds.");  // trimmed
  CHECK(s2->turns == 2);
  CHECK(stored_version(h, "tenant-test", "work-item-test") == 2);

  const auto chats = h.host().chats();
  REQUIRE(chats.size() == 2);
  for (const auto& chat : chats) {
    CHECK(chat.plugin_id == "summariser");
    CHECK(chat.tenant_id == "tenant-test");
    REQUIRE(chat.request.messages.size() == 2);
    CHECK(chat.request.messages[0].role == "system");
    CHECK(chat.request.messages[0].content == summariser::default_system_prompt());
    CHECK(chat.request.messages[1].role == "user");
    CHECK(chat.request.temperature == 0.1);
    CHECK(chat.request.max_tokens == 200);
  }
  CHECK_THAT(prompt(chats[0]), Catch::Contains("none yet"));
  CHECK_THAT(prompt(chats[0]), Catch::Contains("Here is your invoice #42."));
  CHECK_THAT(prompt(chats[1]), Catch::Contains("S1: the user asked about invoices."));
  CHECK_THAT(prompt(chats[1]), Catch::Contains("covers 1 responses"));
  CHECK_THAT(prompt(chats[1]), Catch::Contains("Your refund is on its way."));
  CHECK(prompt(chats[1]).find("invoice #42") == std::string::npos);  // only the summary carries it
}

TEST_CASE("summaries are kept per work item and per tenant", "[summariser]") {
  Fixture f;
  sdk::testing::Harness h(f.plugin);
  h.host().allow_ai().on_chat([](const sdk::ChatRequest& req) {
    // Names the content it was given, so each key's summary shows where it came from.
    const std::string& user = req.messages.at(1).content;
    return sdk::HostResult<sdk::ChatResponse>(answer("about " + user.substr(user.rfind('\n') + 1)));
  });
  const std::vector<std::tuple<std::string, std::string, std::string>> deliveries = {
      {"acme", "W1", "acme-w1"}, {"acme", "W2", "acme-w2"}, {"globex", "W1", "globex-w1"}};
  for (const auto& [tenant, work_item, content] : deliveries) {
    auto out = h.invoke("response.post_deliver", delivered(content),
                        Invocation{.tenant_id = tenant, .work_item_id = work_item});
    REQUIRE_FALSE(out.failure);
  }
  for (const auto& [tenant, work_item, content] : deliveries) {
    auto s = stored(h, tenant, work_item);
    REQUIRE(s);
    CHECK(s->text == "about " + content);
    CHECK(s->turns == 1);
  }
  // globex's W1 started from scratch: it never saw acme's W1 summary.
  const auto chats = h.host().chats();
  REQUIRE(chats.size() == 3);
  CHECK(chats[2].tenant_id == "globex");
  CHECK_THAT(prompt(chats[2]), Catch::Contains("none yet"));
}

TEST_CASE("the event names the work item, turns and size, never the content", "[summariser]") {
  Fixture f;
  sdk::testing::Harness h(f.plugin);
  h.host().allow_ai().script_chat(answer("Résumé: ok"));
  auto out = h.invoke("response.post_deliver", delivered("secret plan: launch on Friday"));
  REQUIRE_FALSE(out.failure);
  const auto events = h.host().events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].plugin_id == "summariser");
  CHECK(events[0].tenant_id == "tenant-test");
  CHECK(events[0].name == "plugin.summariser.summary_updated");
  CHECK(events[0].payload == Json{{"work_item_id", "work-item-test"}, {"turns", 1}, {"chars", 10}});
  CHECK(events[0].payload.dump().find("Friday") == std::string::npos);
  CHECK(events[0].payload.dump().find("Résumé") == std::string::npos);
}

TEST_CASE("long content is cut to max_input_chars, long summaries to max_summary_chars",
          "[summariser]") {
  Fixture f;
  sdk::testing::Harness h(f.plugin, {{"max_input_chars", 5}, {"max_summary_chars", 4}});
  h.host().allow_ai().script_chat(answer("€€€€€€"));
  auto out = h.invoke("response.post_deliver", delivered("ñññññXYZ"));
  REQUIRE_FALSE(out.failure);
  const auto chats = h.host().chats();
  REQUIRE(chats.size() == 1);
  CHECK_THAT(prompt(chats[0]), Catch::EndsWith(":\nñññññ"));
  CHECK_THAT(prompt(chats[0]), Catch::Contains("cut to its first 5 characters"));
  auto s = stored(h, "tenant-test", "work-item-test");
  REQUIRE(s);
  CHECK(s->text == "€€€€");
  CHECK(h.host().events().at(0).payload["chars"] == 4);
}

TEST_CASE("without the AI permission: a clear failure, nothing stored, no event", "[summariser]") {
  Fixture f;
  sdk::testing::Harness h(f.plugin);  // FakeHost starts with AI not allowed
  auto out = h.invoke("response.post_deliver", delivered("hello"));
  REQUIRE(out.failure);
  CHECK_THAT(*out.failure, Catch::StartsWith("summariser: AI chat failed: permission_denied"));
  CHECK_FALSE(out.invalid_output);
  CHECK_FALSE(h.host().peek_state("summariser", "tenant-test", "summary/work-item-test"));
  CHECK(h.host().events().empty());
  REQUIRE(h.host().denials().size() == 1);
  CHECK(h.host().denials()[0].permission == "ai");
}

TEST_CASE("a lost compare-and-set is retried with the summary that won", "[summariser]") {
  Fixture f;
  sdk::testing::Harness h(f.plugin);
  auto* host = &h.host();  // not a copy: the handler lives in the host and must not own it
  int calls = 0;
  host->allow_ai().on_chat([host, &calls](const sdk::ChatRequest&) {
    if (++calls == 1) {
      // While this delivery waits for the model, another one for the same work item stores.
      auto racer = host->connect("summariser");
      auto ticket = host->issue(
          {.plugin_id = "summariser", .tenant_id = "tenant-test", .invocation_id = "racer"});
      const summariser::Summary theirs{.text = "RACER summary", .turns = 4};
      auto put = racer->state_put({.invocation_token = ticket.token()}, "summary/work-item-test",
                                  theirs.to_json(), {.expected_version = 0});
      CHECK(put.ok());  // not REQUIRE: this runs inside the plugin's handler
      return sdk::HostResult<sdk::ChatResponse>(answer("mine, without the racer"));
    }
    return sdk::HostResult<sdk::ChatResponse>(answer("mine, folded into RACER"));
  });
  auto out = h.invoke("response.post_deliver", delivered("new reply"));
  INFO(out.failure.value_or(""));
  REQUIRE_FALSE(out.failure);
  const auto chats = host->chats();
  REQUIRE(chats.size() == 2);
  CHECK_THAT(prompt(chats[0]), Catch::Contains("none yet"));
  CHECK_THAT(prompt(chats[1]), Catch::Contains("RACER summary"));
  CHECK_THAT(prompt(chats[1]), Catch::Contains("new reply"));
  auto s = stored(h, "tenant-test", "work-item-test");
  REQUIRE(s);
  CHECK(s->text == "mine, folded into RACER");
  CHECK(s->turns == 5);
  CHECK(stored_version(h, "tenant-test", "work-item-test") == 2);
  CHECK(host->events().size() == 1);
}

TEST_CASE("a key that keeps changing ends in a failure after kMaxAttempts", "[summariser]") {
  Fixture f;
  sdk::testing::Harness h(f.plugin);
  auto* host = &h.host();
  host->allow_ai().on_chat([host](const sdk::ChatRequest&) {
    auto racer = host->connect("summariser");
    auto ticket = host->issue({.plugin_id = "summariser", .tenant_id = "tenant-test"});
    (void)racer->state_put({.invocation_token = ticket.token()}, "summary/work-item-test",
                           summariser::Summary{.text = "racer", .turns = 1}.to_json(), {});
    return sdk::HostResult<sdk::ChatResponse>(answer("never stored"));
  });
  auto out = h.invoke("response.post_deliver", delivered("reply"));
  REQUIRE(out.failure);
  CHECK_THAT(*out.failure, Catch::Contains("kept changing; gave up after 3 attempts"));
  CHECK(host->chats().size() == summariser::kMaxAttempts);
  CHECK(stored(h, "tenant-test", "work-item-test")->text == "racer");
  CHECK(host->events().empty());
}

TEST_CASE("no work item, or nothing delivered: proceed without any host call", "[summariser]") {
  Fixture f;
  sdk::testing::Harness h(f.plugin);
  h.host().allow_ai().script_chat(answer("unused"));
  auto out = h.invoke("response.post_deliver", delivered("hello"), Invocation{.work_item_id = ""});
  CHECK_FALSE(out.failure);
  CHECK_FALSE(out.patch);
  for (const Json& data : {Json{{"content", ""}}, Json{{"metadata", {{"k", 1}}}}}) {
    CHECK_FALSE(h.invoke("response.post_deliver", data).failure);
  }
  CHECK(h.host().chats().empty());
  CHECK(h.host().events().empty());
  CHECK_FALSE(h.host().peek_state("summariser", "tenant-test", "summary/work-item-test"));

  auto odd = h.invoke("response.post_deliver", {{"content", {{"parts", 1}}}});
  REQUIRE(odd.failure);
  CHECK(*odd.failure == "summariser: data.content is not a string (object)");
}

TEST_CASE("an unreadable stored value is replaced; ttl_hours expires summaries", "[summariser]") {
  Fixture f;
  sdk::testing::Harness h(f.plugin, {{"ttl_hours", 1}});
  auto* host = &h.host();
  {
    auto api = host->connect("summariser");
    auto ticket = host->issue({.plugin_id = "summariser", .tenant_id = "tenant-test"});
    REQUIRE(api->state_put({.invocation_token = ticket.token()}, "summary/work-item-test",
                           "not json", {})
                .ok());
  }
  host->allow_ai().script_chat(answer("fresh"));
  auto out = h.invoke("response.post_deliver", delivered("reply"));
  REQUIRE_FALSE(out.failure);
  CHECK_THAT(prompt(host->chats().at(0)), Catch::Contains("none yet"));
  CHECK(stored(h, "tenant-test", "work-item-test")->turns == 1);
  CHECK(stored_version(h, "tenant-test", "work-item-test") == 2);

  host->advance_clock(std::chrono::minutes(59));
  CHECK(stored(h, "tenant-test", "work-item-test"));
  host->advance_clock(std::chrono::minutes(2));
  CHECK_FALSE(stored(h, "tenant-test", "work-item-test"));
}

TEST_CASE("summariser declares response.post_deliver, fail_open", "[summariser]") {
  Fixture f;
  const auto* reg = f.plugin.find("response.post_deliver");
  REQUIRE(reg != nullptr);
  CHECK(reg->options.fail_policy == sdk::FailPolicy::fail_open);
  CHECK(f.plugin.registrations().size() == 1);
}
