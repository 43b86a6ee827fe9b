#include "report.h"

#include <fmt/format.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "child.h"

namespace plugvisor::bench {

namespace {

using json = nlohmann::json;

const char* const kBaselineName = "baseline: gRPC echo over socketpair fd";
const char* const kDispatchName = "Dispatch: plugvisord -> noop plugin";
const char* const kSpawnBaselineName = "baseline: bench --echo-server, 1st Invoke";
const char* const kSpawnPluginName = "runner -> fixture-noop, 1st Describe";

std::optional<double> ratio(std::optional<double> a, std::optional<double> b) {
  if (!a || !b || *b <= 0) return std::nullopt;
  return *a / *b;
}

std::string maybe(std::optional<double> v, const char* format) {
  return v ? fmt::format(fmt::runtime(format), *v) : std::string("-");
}

std::optional<double> p50(const std::optional<LoadStats>& s) {
  return s ? std::optional(s->p50_us) : std::nullopt;
}
std::optional<double> rate(const std::optional<LoadStats>& s) {
  return s ? std::optional(s->calls_per_s) : std::nullopt;
}

void load_row(std::string& out, const char* name, int c, const std::optional<LoadStats>& row,
              const std::optional<LoadStats>& base) {
  const std::optional<double> p99 = row ? std::optional(row->p99_us) : std::nullopt;
  out += fmt::format("{:<40} {:>3} {:>9} {:>9} {:>10} {:>9} {:>10}\n", name, c,
                     maybe(p50(row), "{:.1f}"), maybe(p99, "{:.1f}"), maybe(rate(row), "{:.0f}"),
                     maybe(ratio(p50(row), p50(base)), "{:.2f}x"),
                     maybe(ratio(rate(row), rate(base)), "{:.2f}x"));
}

json load_json(const std::optional<LoadStats>& row, const std::optional<LoadStats>& base) {
  if (!row) return nullptr;
  json j = {{"concurrency", row->concurrency},
            {"calls", row->calls},
            {"p50_us", row->p50_us},
            {"p99_us", row->p99_us},
            {"calls_per_s", row->calls_per_s}};
  if (auto r = ratio(p50(row), p50(base))) j["p50_ratio"] = *r;
  if (auto r = ratio(rate(row), rate(base))) j["throughput_ratio"] = *r;
  return j;
}

std::optional<double> spawn_p50(const std::optional<SpawnStats>& s) {
  return s ? std::optional(s->p50_ms) : std::nullopt;
}

}  // namespace

Goals evaluate(const Report& r) {
  return {ratio(p50(r.dispatch_c1), p50(r.baseline_c1)),
          ratio(rate(r.dispatch_c16), rate(r.baseline_c16))};
}

bool plugvisord_exited_cleanly(const Report& r) {
  return r.plugvisord_wait_status && WIFEXITED(*r.plugvisord_wait_status) &&
         WEXITSTATUS(*r.plugvisord_wait_status) == 0;
}

std::string format_table(const Report& r) {
  std::string out = fmt::format(
      "plugvisor dispatch bench: {:.1f} s per row in {} interleaved round(s), {} spawn samples, "
      "database: {}, sandbox: {}\n\n",
      r.duration_s, r.rounds, r.spawn_samples, r.database.empty() ? "-" : r.database, r.sandbox);
  out += fmt::format("{:<40} {:>3} {:>9} {:>9} {:>10} {:>9} {:>10}\n", "row", "c", "p50 us",
                     "p99 us", "calls/s", "p50/base", "rate/base");
  load_row(out, kBaselineName, 1, r.baseline_c1, r.baseline_c1);
  load_row(out, kDispatchName, 1, r.dispatch_c1, r.baseline_c1);
  load_row(out, kBaselineName, 16, r.baseline_c16, r.baseline_c16);
  load_row(out, kDispatchName, 16, r.dispatch_c16, r.baseline_c16);

  out +=
      fmt::format("\n{:<44} {:>9} {:>9} {:>9}\n", "spawn-to-ready", "p50 ms", "p99 ms", "p50/base");
  for (const auto& [name, row] : {std::pair{kSpawnBaselineName, &r.spawn_baseline},
                                  std::pair{kSpawnPluginName, &r.spawn_plugin}}) {
    const std::optional<double> p99 = *row ? std::optional((*row)->p99_ms) : std::nullopt;
    out += fmt::format("{:<44} {:>9} {:>9} {:>9}\n", name, maybe(spawn_p50(*row), "{:.2f}"),
                       maybe(p99, "{:.2f}"),
                       maybe(ratio(spawn_p50(*row), spawn_p50(r.spawn_baseline)), "{:.2f}x"));
  }

  const Goals g = evaluate(r);
  auto verdict = [](const std::optional<double>& v, bool met) {
    return !v ? "not measured" : met ? "met" : "MISSED";
  };
  out += "\ngoals\n";
  out += fmt::format("  Dispatch p50 <= {:.1f}x baseline p50 (c=1):        {:>8}  {}\n",
                     Goals::kMaxP50Ratio, maybe(g.p50_ratio, "{:.2f}x"),
                     verdict(g.p50_ratio, g.p50_met()));
  out += fmt::format(
      "  Dispatch calls/s >= {:.0f}% of baseline's (c=16):  {:>8}  {}\n",
      Goals::kMinThroughputRatio * 100,
      maybe(g.throughput_ratio ? std::optional(*g.throughput_ratio * 100) : std::nullopt,
            "{:.0f}%"),
      verdict(g.throughput_ratio, g.throughput_met()));
  if (r.plugvisord_wait_status) {
    out += fmt::format("\nplugvisord after SIGTERM: {}{}\n",
                       describe_wait_status(*r.plugvisord_wait_status),
                       plugvisord_exited_cleanly(r) ? "" : "  <-- expected exit code 0");
  }
  for (const auto& e : r.errors) out += "\nERROR: " + e + "\n";
  return out;
}

std::string format_json(const Report& r) {
  const Goals g = evaluate(r);
  json spawn = json::object();
  for (const auto& [key, row] :
       {std::pair{"baseline", &r.spawn_baseline}, std::pair{"plugin", &r.spawn_plugin}}) {
    if (!*row) {
      spawn[key] = nullptr;
      continue;
    }
    spawn[key] = {
        {"samples", (*row)->samples}, {"p50_ms", (*row)->p50_ms}, {"p99_ms", (*row)->p99_ms}};
    if (auto x = ratio(spawn_p50(*row), spawn_p50(r.spawn_baseline))) spawn[key]["p50_ratio"] = *x;
  }
  json j = {
      {"settings",
       {{"duration_s", r.duration_s},
        {"rounds", r.rounds},
        {"spawn_samples", r.spawn_samples},
        {"database", r.database},
        {"sandbox", r.sandbox}}},
      {"baseline",
       {{"c1", load_json(r.baseline_c1, r.baseline_c1)},
        {"c16", load_json(r.baseline_c16, r.baseline_c16)}}},
      {"dispatch",
       {{"c1", load_json(r.dispatch_c1, r.baseline_c1)},
        {"c16", load_json(r.dispatch_c16, r.baseline_c16)}}},
      {"spawn_to_ready", spawn},
      {"goals",
       {{"dispatch_p50_ratio",
         {{"max", Goals::kMaxP50Ratio},
          {"measured", g.p50_ratio ? json(*g.p50_ratio) : json()},
          {"met", g.p50_met()}}},
        {"dispatch_throughput_ratio_c16",
         {{"min", Goals::kMinThroughputRatio},
          {"measured", g.throughput_ratio ? json(*g.throughput_ratio) : json()},
          {"met", g.throughput_met()}}}}},
      {"plugvisord_exit",
       r.plugvisord_wait_status ? json(describe_wait_status(*r.plugvisord_wait_status)) : json()},
      {"plugvisord_exited_cleanly", plugvisord_exited_cleanly(r)},
      {"errors", r.errors}};
  return j.dump(2) + "\n";
}

}  // namespace plugvisor::bench
