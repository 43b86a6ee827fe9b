// A plugin that exercises every host call and reports, as its patch, what each returned; run by
// host_roundtrip_test against a scripted host.v1 on fd 4.
#include <plugvisor/sdk/plugin.h>

namespace sdk = plugvisor::sdk;
using sdk::Json;

namespace {

template <class T, class F>
Json report(const sdk::HostResult<T>& r, F&& on_ok) {
  Json out = {{"code", sdk::to_string(r.error().code)}, {"message", r.error().message}};
  if (r.ok()) on_ok(out, r.value());
  return out;
}

Json probe(sdk::Context& ctx) {
  Json out;
  out["get"] = report(ctx.state().get("k"), [](Json& o, const auto& e) {
    o["value"] = e ? Json(e->value) : Json();
    o["version"] = e ? e->version : 0;
  });
  out["put"] =
      report(ctx.state().put("k", "v", {.expected_version = 3, .ttl = std::chrono::seconds(2)}),
             [](Json& o, const auto& e) { o["version"] = e.version; });
  out["erase"] = report(ctx.state().erase("k"), [](Json& o, bool d) { o["deleted"] = d; });
  out["list"] = report(ctx.state().list("p/", {.limit = 7}), [](Json& o, const auto& page) {
    o["keys"] = Json::array();
    for (const auto& e : page.entries) o["keys"].push_back(e.key);
    o["next"] = page.next_cursor;
  });
  out["fetch"] = report(ctx.fetch({.method = "POST",
                                   .url = "https://api.example.com/x",
                                   .headers = {{"Authorization", "Bearer {{secret:k}}"}},
                                   .body = "payload"}),
                        [](Json& o, const auto& r) {
                          o["status"] = r.status;
                          o["body"] = r.body;
                          o["type"] = r.header("content-type");
                        });
  out["ai"] = report(ctx.ai_chat({.messages = {{.role = "user", .content = "hi"}},
                                  .tools = Json::array({{{"type", "function"}}}),
                                  .temperature = 0.5}),
                     [](Json& o, const auto& r) {
                       o["content"] = r.message.content;
                       o["tool_calls"] = r.message.tool_calls;
                       o["total_tokens"] = r.usage.total_tokens;
                     });
  out["emit"] = report(ctx.emit("plugin.host-probe.done", {{"n", 1}}),
                       [](Json& o, const std::string& id) { o["id"] = id; });
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  auto& plugin = sdk::define("host-probe", "1.0.0");
  plugin.on_configure([&plugin](const Json&) {
    // Outside any invocation: only the plugin's own state is reachable, with an empty token.
    (void)plugin.own_state().put("configured", "yes");
    plugin.log().info("configured", {{"phase", "configure"}});
  });
  plugin.on("tool.pre_exec", [](sdk::Context& ctx, const Json&) {
    Json out = probe(ctx);
    // Last, just before returning: the record must still reach the host under the token.
    ctx.log().warn("probe ran", {{"calls", 7}, {"who", "probe"}, {"level", "forged"}});
    return sdk::Result::patch(out);
  });
  return sdk::run(argc, argv);
}
