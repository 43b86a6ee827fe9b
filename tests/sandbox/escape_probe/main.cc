// plugvisor-escape-probe: a plugin that tries to break out of its sandbox, one attempt per
// tool.pre_exec invocation, and reports what happened as a patch of /metadata:
//   {"attempt": "read_shadow", ...inputs}  -> {"metadata": {"attempt", "escaped", "detail"}}
//   {"attempt": "all_safe", ...inputs}     -> {"metadata": {"results": [...]}}  (Kind::safe only)
//   {"attempt": "list"}                    -> {"metadata": {"attempts": [{name, family, kind}]}}
// The inputs are described in tests/sandbox/README.md.
//
// Without a supervisor, for development and for checking a sandbox by hand:
//   plugvisor-escape-probe --run NAME|all_safe|list [--data JSON]   prints the patch
// and, as the setuid helper the test installs next to it:
//   escape-probe-suid --suid-check   exits kSuidGotRoot if it runs as host root, else kSuidNoRoot
#include <plugvisor/sdk/plugin.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <exception>
#include <iostream>
#include <string>

#include "attempt.h"

namespace sdk = plugvisor::sdk;
namespace probe = plugvisor::escape_probe;
using probe::Json;

namespace {

Json to_json(const std::string& name, const probe::Outcome& o) {
  Json j = {{"attempt", name}, {"escaped", o.escaped}, {"detail", o.detail}};
  if (o.inconclusive) j["inconclusive"] = true;
  return j;
}

// Runs one attempt; an exception is an inconclusive outcome, never a crash of the probe.
Json run_one(const probe::Attempt& attempt, const probe::Input& input, const sdk::Logger& log) {
  // Logged first: if the attempt gets the process killed, the log says which one it was.
  log.info("attempt", {{"attempt", attempt.name}, {"kind", probe::kind_name(attempt.kind)}});
  probe::Outcome outcome;
  try {
    outcome = attempt.run(input);
  } catch (const std::exception& e) {
    outcome = probe::inconclusive(std::string("exception: ") + e.what());
  }
  Json result = to_json(attempt.name, outcome);
  log.info("outcome", result);
  return result;
}

// The /metadata answer for `data`, or {"error": ...} for a request the probe does not know.
Json answer(const Json& data, const sdk::Logger& log) {
  const std::string name = data.is_object() ? data.value("attempt", "") : "";
  const probe::Input input(data);
  if (name == "list") {
    Json list = Json::array();
    for (const auto& a : probe::all_attempts()) {
      list.push_back({{"name", a.name}, {"family", a.family}, {"kind", probe::kind_name(a.kind)}});
    }
    return {{"attempts", list}};
  }
  if (name == "all_safe") {
    Json results = Json::array();
    for (const auto& a : probe::all_attempts()) {
      if (a.kind == probe::Kind::safe) results.push_back(run_one(a, input, log));
    }
    return {{"results", results}};
  }
  const probe::Attempt* attempt = probe::find_attempt(name);
  if (attempt == nullptr) return {{"error", "unknown attempt '" + name + "'"}};
  return run_one(*attempt, input, log);
}

int suid_check() {
  return probe::host_uid(::geteuid()) == 0 ? probe::kSuidGotRoot : probe::kSuidNoRoot;
}

int run_standalone(int argc, char** argv) {
  Json data = Json::object();
  std::string name;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--run") == 0) name = argv[i + 1];
    if (std::strcmp(argv[i], "--data") == 0) data = Json::parse(argv[i + 1], nullptr, false);
  }
  if (data.is_discarded() || !data.is_object()) {
    std::cerr << "--data must be a JSON object\n";
    return 64;
  }
  data["attempt"] = name;
  Json result = answer(data, sdk::Logger{});
  std::cout << Json{{"metadata", result}}.dump(2) << "\n";
  return result.contains("error") ? 64 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "--suid-check") == 0) return suid_check();
  // A file-size limit then shows up as EFBIG in fill_tmp's report instead of killing the probe.
  ::signal(SIGXFSZ, SIG_IGN);
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--run") == 0) return run_standalone(argc, argv);
  }
  std::string id = "escape-probe";
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--id") == 0) id = argv[i + 1];
  }
  sdk::Plugin plugin(id, "0.0.0-escape-probe");
  plugin.on("tool.pre_exec", [](sdk::Context& ctx, const Json& data) {
    Json result = answer(data, ctx.log());
    if (result.contains("error")) return sdk::Result::fail(result["error"].get<std::string>());
    return sdk::Result::patch({{"metadata", result}});
  });
  // As the peer of a cross-plugin attempt: the other end, inside its own sandbox.
  plugin.on("tool.post_exec", [](sdk::Context&, const Json& data) {
    if (data.value("attempt", "") != "listen_abstract") {
      return sdk::Result::fail("tool.post_exec only serves listen_abstract");
    }
    const probe::Outcome o = probe::listen_abstract(probe::Input(data));
    if (o.inconclusive) return sdk::Result::fail(o.detail);
    return sdk::Result::patch({{"metadata", {{"listening", data.value("name", "")}}}});
  });
  return plugin.run(argc, argv);
}
