// A plugin that logs what its payload asks for, for host_log_test under a real plugvisord.
//
// data._log: [{"level", "msg", "fields"?}] is logged through ctx.log(), in order.
// data._bench: N logs N lines through ctx.log() and N through a stderr-only Logger, and reports
// the mean cost of one call of each as metadata.log_us / metadata.stderr_us.
// The patch always carries metadata.invocation_id, so the test can find the lines.
#include <plugvisor/sdk/plugin.h>

namespace sdk = plugvisor::sdk;
using sdk::Json;

namespace {

template <class F>
double mean_us(int n, F&& log_one) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) log_one(i);
  const std::chrono::duration<double, std::micro> took = std::chrono::steady_clock::now() - start;
  return n > 0 ? took.count() / n : 0;
}

sdk::Result handle(sdk::Context& ctx, const Json& data) {
  Json meta = {{"invocation_id", ctx.ids().invocation_id}};
  for (const auto& line : data.value("_log", Json::array())) {
    const std::string level = line.value("level", "info");
    const std::string msg = line.value("msg", "");
    const Json fields = line.value("fields", Json::object());
    if (level == "debug") ctx.log().debug(msg, fields);
    if (level == "info") ctx.log().info(msg, fields);
    if (level == "warn") ctx.log().warn(msg, fields);
    if (level == "error") ctx.log().error(msg, fields);
  }
  if (const int n = data.value("_bench", 0); n > 0) {
    const sdk::Logger to_stderr(ctx.ids().invocation_id);
    meta["log_us"] = mean_us(n, [&](int i) { ctx.log().info("bench host", {{"i", i}}); });
    meta["stderr_us"] = mean_us(n, [&](int i) { to_stderr.info("bench stderr", {{"i", i}}); });
  }
  return sdk::Result::patch({{"metadata", meta}});
}

}  // namespace

int main(int argc, char** argv) {
  auto& plugin = sdk::define("log-probe", "1.0.0");
  plugin.on_configure([&plugin](const Json&) {
    plugin.log().info("log-probe configured", {{"phase", "configure"}});
  });
  plugin.on("tool.pre_exec", handle);
  return sdk::run(argc, argv);
}
