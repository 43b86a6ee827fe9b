#include "report.h"

#include <fmt/format.h>
#include <sys/wait.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "child.h"

namespace plugvisor::bench {

namespace {

using json = nlohmann::json;

const char* const kBaselineName = "baseline: gRPC echo over socketpair fd";
const char* const kRelayName = "two-hop proxy: raw gRPC relay";
const char* const kAsyncRelayName = "two-hop proxy: async relay";
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

std::optional<double> cpu(const std::optional<LoadStats>& s) {
  return s ? s->server_cpu_us : std::nullopt;
}

std::optional<double> switches(const std::optional<LoadStats>& s) {
  return s ? s->switches_per_call : std::nullopt;
}

const char* const kLoadRowFormat =
    "{:<40} {:>3} {:>9} {:>9} {:>10} {:>9} {:>10} {:>8} {:>9} {:>8}\n";

void load_row(std::string& out, const char* name, int c, const std::optional<LoadStats>& row,
              const std::optional<LoadStats>& base) {
  const std::optional<double> p99 = row ? std::optional(row->p99_us) : std::nullopt;
  out += fmt::format(fmt::runtime(kLoadRowFormat), name, c, maybe(p50(row), "{:.1f}"),
                     maybe(p99, "{:.1f}"), maybe(rate(row), "{:.0f}"),
                     maybe(ratio(p50(row), p50(base)), "{:.2f}x"),
                     maybe(ratio(rate(row), rate(base)), "{:.2f}x"), maybe(cpu(row), "{:.0f}"),
                     maybe(ratio(cpu(row), cpu(base)), "{:.2f}x"), maybe(switches(row), "{:.1f}"));
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
  if (row->server_cpu_us) j["server_cpu_us_per_call"] = *row->server_cpu_us;
  if (auto r = ratio(cpu(row), cpu(base))) j["server_cpu_ratio"] = *r;
  if (row->switches_per_call) j["context_switches_per_call"] = *row->switches_per_call;
  return j;
}

// (d - r) / (d - b): the share of d's excess over b that is also above r.
std::optional<double> share_above(std::optional<double> d, std::optional<double> r,
                                  std::optional<double> b) {
  if (!d || !r || !b || *d - *b <= 0) return std::nullopt;
  return (*d - *r) / (*d - *b);
}

std::optional<double> per_call_us(const std::optional<LoadStats>& s) {
  return s && s->calls_per_s > 0 ? std::optional(1e6 / s->calls_per_s) : std::nullopt;
}

std::optional<double> spawn_p50(const std::optional<SpawnStats>& s) {
  return s ? std::optional(s->p50_ms) : std::nullopt;
}

}  // namespace

Goals evaluate(const Report& r) {
  Goals g{ratio(p50(r.dispatch_c1), p50(r.baseline_c1)),
          ratio(rate(r.dispatch_c16), rate(r.baseline_c16)),
          {}};
  if (r.dispatch_c16 && r.baseline_c16) {
    const auto& d = r.dispatch_c16->round_calls_per_s;
    const auto& b = r.baseline_c16->round_calls_per_s;
    for (size_t i = 0; i < std::min(d.size(), b.size()); ++i) {
      if (b[i] > 0) g.throughput_ratio_rounds.push_back(d[i] / b[i]);
    }
  }
  return g;
}

FloorComparison compare_to_floor(const Report& r) {
  FloorComparison f;
  f.p50_ratio = ratio(p50(r.dispatch_c1), p50(r.relay_c1));
  f.throughput_ratio = ratio(rate(r.dispatch_c16), rate(r.relay_c16));
  f.own_p50_share = share_above(p50(r.dispatch_c1), p50(r.relay_c1), p50(r.baseline_c1));
  if (f.own_p50_share) f.own_p50_us = *p50(r.dispatch_c1) - *p50(r.relay_c1);
  f.own_cost_share_c16 = share_above(per_call_us(r.dispatch_c16), per_call_us(r.relay_c16),
                                     per_call_us(r.baseline_c16));
  return f;
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
  out += fmt::format(fmt::runtime(kLoadRowFormat), "row", "c", "p50 us", "p99 us", "calls/s",
                     "p50/base", "rate/base", "cpu us", "cpu/base", "cs/call");
  load_row(out, kBaselineName, 1, r.baseline_c1, r.baseline_c1);
  load_row(out, kRelayName, 1, r.relay_c1, r.baseline_c1);
  load_row(out, kAsyncRelayName, 1, r.async_relay_c1, r.baseline_c1);
  load_row(out, kDispatchName, 1, r.dispatch_c1, r.baseline_c1);
  load_row(out, kBaselineName, 16, r.baseline_c16, r.baseline_c16);
  load_row(out, kRelayName, 16, r.relay_c16, r.baseline_c16);
  load_row(out, kAsyncRelayName, 16, r.async_relay_c16, r.baseline_c16);
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
  if (g.throughput_ratio_rounds.size() > 1) {
    const auto [lo, hi] =
        std::minmax_element(g.throughput_ratio_rounds.begin(), g.throughput_ratio_rounds.end());
    out += fmt::format("    the same, round by round ({} rounds):       {:.0f}-{:.0f}%\n",
                       g.throughput_ratio_rounds.size(), *lo * 100, *hi * 100);
  }
  if (r.receipts) {
    out += fmt::format(
        "  plugvisord's receipts over the run: {} written, {} dropped, {} still queued\n",
        r.receipts->written, r.receipts->dropped, r.receipts->queued);
    if (r.receipts->dropped > 0) {
      out +=
          "  note: receipts were dropped, so the Dispatch rows did not pay for all of their "
          "persistence\n";
    }
  }

  // Not a goal: how much of the gap above is plugvisord's, given what two hops cost here.
  const FloorComparison f = compare_to_floor(r);
  auto percent = [](std::optional<double> v) { return v ? std::optional(*v * 100) : std::nullopt; };
  out += "\nvs. the two-hop floor (raw gRPC relay: the two hops alone)\n";
  out +=
      fmt::format("  Dispatch p50 is {} the two-hop floor's (c=1)", maybe(f.p50_ratio, "{:.2f}x"));
  if (f.own_p50_share) {
    out += fmt::format(
        "; {:.1f} us ({:.0f}%) of its {:.1f} us over the baseline is plugvisord's own",
        *f.own_p50_us, *f.own_p50_share * 100, *p50(r.dispatch_c1) - *p50(r.baseline_c1));
  }
  out += fmt::format("\n  Dispatch calls/s is {} of the two-hop floor's (c=16)",
                     maybe(percent(f.throughput_ratio), "{:.0f}%"));
  if (f.own_cost_share_c16) {
    out += fmt::format("; {:.0f}% of its extra time per call over the baseline is plugvisord's own",
                       *f.own_cost_share_c16 * 100);
  }
  out += "\n";
  // If the floor itself misses a goal, no supervisor making two such sync hops can meet it here.
  const std::optional<double> floor_p50 = ratio(p50(r.relay_c1), p50(r.baseline_c1));
  const std::optional<double> floor_rate = ratio(rate(r.relay_c16), rate(r.baseline_c16));
  if (floor_p50 && *floor_p50 > Goals::kMaxP50Ratio) {
    out += fmt::format(
        "  note: the floor alone misses the p50 goal ({:.2f}x the baseline's at c=1): no "
        "supervisor making two such sync hops can meet it on this machine\n",
        *floor_p50);
  }
  if (floor_rate && *floor_rate < Goals::kMinThroughputRatio) {
    out += fmt::format(
        "  note: the floor alone misses the calls/s goal ({:.0f}% of the baseline's at c=16): no "
        "supervisor making two such sync hops can meet it on this machine\n",
        *floor_rate * 100);
  }
  // The experiment: would a relay on the async API, one queue and few threads, meet the goals?
  const std::optional<double> async_p50 = ratio(p50(r.async_relay_c1), p50(r.baseline_c1));
  const std::optional<double> async_rate = ratio(rate(r.async_relay_c16), rate(r.baseline_c16));
  if (async_p50 || async_rate) {
    out += fmt::format(
        "\nasync relay ({} queue thread(s), GRPC_POLL_STRATEGY {}): p50 {} the baseline's (c=1, "
        "{}), calls/s {} of the baseline's (c=16, {})\n",
        r.async_relay_threads,
        r.async_relay_poll_strategy.empty() ? "inherited" : r.async_relay_poll_strategy,
        maybe(async_p50, "{:.2f}x"),
        async_p50 && *async_p50 <= Goals::kMaxP50Ratio ? "met" : "MISSED",
        maybe(async_rate ? std::optional(*async_rate * 100) : std::nullopt, "{:.0f}%"),
        async_rate && *async_rate >= Goals::kMinThroughputRatio ? "met" : "MISSED");
  }
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
  const FloorComparison f = compare_to_floor(r);
  auto opt_json = [](std::optional<double> v) { return v ? json(*v) : json(); };
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
      {"relay",
       {{"c1", load_json(r.relay_c1, r.baseline_c1)},
        {"c16", load_json(r.relay_c16, r.baseline_c16)}}},
      {"async_relay",
       {{"c1", load_json(r.async_relay_c1, r.baseline_c1)},
        {"c16", load_json(r.async_relay_c16, r.baseline_c16)},
        {"cq_threads", r.async_relay_threads},
        {"poll_strategy",
         r.async_relay_poll_strategy.empty() ? json() : json(r.async_relay_poll_strategy)}}},
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
          {"measured_by_round", g.throughput_ratio_rounds},
          {"met", g.throughput_met()}}}}},
      {"receipts", r.receipts ? json{{"written", r.receipts->written},
                                     {"dropped", r.receipts->dropped},
                                     {"queued", r.receipts->queued}}
                              : json()},
      {"dispatch_vs_floor",
       {{"p50_ratio_c1", opt_json(f.p50_ratio)},
        {"throughput_ratio_c16", opt_json(f.throughput_ratio)},
        {"plugvisord_p50_us_c1", opt_json(f.own_p50_us)},
        {"plugvisord_share_of_p50_gap_c1", opt_json(f.own_p50_share)},
        {"plugvisord_share_of_per_call_gap_c16", opt_json(f.own_cost_share_c16)}}},
      {"plugvisord_exit",
       r.plugvisord_wait_status ? json(describe_wait_status(*r.plugvisord_wait_status)) : json()},
      {"plugvisord_exited_cleanly", plugvisord_exited_cleanly(r)},
      {"errors", r.errors}};
  return j.dump(2) + "\n";
}

}  // namespace plugvisor::bench
