// The sandbox escape suite: plugvisord runs plugvisor-escape-probe, sandboxed, next to a
// neighbouring plugin (plugvisor-fixture-echo on message.enrich); the probe tries every escape
// it knows, one invocation at a time, and each one must be blocked: the probe reports
// escaped=false, or the sandbox kills it for the right reason (attempt_table.cc says which and
// by what mechanism). Afterwards nothing may have changed on the host side, and the supervisor
// and the neighbour must still serve. See README.md.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <iostream>
#include <set>

#include "pg_cluster.h"
#include "sandbox_world.h"

using namespace plugvisor::sandboxtest;

namespace {

// Attempts with a test case of their own below: each ends in a resource kill.
const std::set<std::string> kResourceKills = {"memory_hog", "cpu_spin", "fork_bomb", "thread_bomb"};

std::string database() { return ts::fresh_database(ts::shared_cluster()); }

void report(const std::string& title, const std::vector<std::pair<Invocation, Verdict>>& rows) {
  const std::string table = report_table(rows);
  std::cout << "\n## " << title << "\n\n" << table << std::flush;
  // Kept next to the build, for docs/sandbox.md and for a look after a red run.
  std::ofstream(ts::build_path("sandbox-escape-report.md"), std::ios::app)
      << "\n## " << title << "\n\n"
      << table;
}

// Runs `attempt` alone and CHECKs that it was blocked as the table expects.
std::pair<Invocation, Verdict> run_blocked(ProbeSession& session, const std::string& attempt) {
  const Expectation* expected = find_expectation(attempt);
  REQUIRE(expected != nullptr);
  Invocation inv = session.invoke(attempt);
  Verdict verdict = judge(inv, *expected);
  INFO("attempt " << attempt << " (expected to be stopped by " << expected->mechanisms << ")");
  INFO("outcome: " << (inv.answered ? inv.result.dump() : inv.exit.dump()));
  CHECK(verdict.problem.empty());
  return {inv, verdict};
}

void check_no_evidence(const HostBait& bait) {
  for (const auto& trace : bait.evidence()) {
    FAIL_CHECK("found on the host side after the attempts: " << trace);
  }
}

}  // namespace

TEST_CASE("the probe runs sandboxed and knows exactly the attempts of the suite's table",
          "[sandbox]") {
  REQUIRE(::geteuid() == 0);  // the sandbox (and this suite's setuid helper) need root
  HostBait bait;
  ProbeSession session(bait, {}, database());
  CHECK(session.supervisor().plugin("probe").sandbox() == "enforced");
  CHECK(session.supervisor().plugin("neighbour").sandbox() == "enforced");

  std::set<std::string> known;
  for (const auto& a : session.list()) {
    const std::string name = a.value("name", "");
    known.insert(name);
    INFO("the probe's attempt " << name << " has no row in attempt_table.cc");
    CHECK(find_expectation(name) != nullptr);
  }
  for (const auto& e : expectations()) {
    INFO("attempt_table.cc names " << e.attempt << ", which the probe does not know");
    CHECK(known.contains(e.attempt));
  }
  CHECK(known.size() >= 25);
}

TEST_CASE("every safe attempt in one all_safe call is blocked", "[sandbox]") {
  HostBait bait;
  ProbeSession session(bait, {}, database());
  Invocation inv = session.invoke("all_safe");
  // A kill here means some "safe" attempt is not safe under this sandbox: the probe's Kind
  // for it must change (the exit event names the syscall).
  if (!inv.answered) FAIL("the probe died during all_safe: " << inv.exit.dump());
  std::vector<std::pair<Invocation, Verdict>> rows;
  for (const auto& result : inv.result.value("results", Json::array())) {
    Invocation one;
    one.attempt = result.value("attempt", "");
    one.answered = true;
    one.result = result;
    const Expectation* expected = find_expectation(one.attempt);
    REQUIRE(expected != nullptr);
    Verdict verdict = judge(one, *expected);
    INFO("attempt " << one.attempt << ": " << result.dump());
    CHECK(verdict.problem.empty());
    rows.emplace_back(one, verdict);
  }
  CHECK(rows.size() >= 15);
  report("safe attempts (one all_safe call)", rows);
  check_no_evidence(bait);
  session.check_still_serving();
}

TEST_CASE(
    "every attempt run alone is blocked or ends in a sandbox kill while the supervisor "
    "and a neighbour keep serving",
    "[sandbox]") {
  HostBait bait;
  ProbeSession session(bait, {}, database());
  std::vector<std::pair<Invocation, Verdict>> rows;
  for (const auto& e : expectations()) {
    if (kResourceKills.contains(e.attempt)) continue;
    rows.push_back(run_blocked(session, e.attempt));
  }
  report("every attempt, one per invocation", rows);
  check_no_evidence(bait);
  session.check_still_serving();
  CHECK(session.supervisor().plugin("probe").state() == "ready");
}

TEST_CASE(
    "memory far past the limit ends in an OOM kill and a restart and leaves the "
    "supervisor's RSS alone",
    "[sandbox]") {
  HostBait bait;
  ProbeSession session(bait, {}, database());
  const long rss_before = session.supervisor_rss_kib();
  const auto restarts = session.supervisor().plugin("probe").restarts();
  auto [inv, verdict] = run_blocked(session, "memory_hog");
  INFO("outcome: " << (inv.answered ? inv.result.dump() : inv.exit.dump()));
  REQUIRE_FALSE(inv.answered);
  CHECK(inv.exit.value("reason", "") == "oom");
  // invoke() waited for the next incarnation to be ready.
  CHECK(session.supervisor().plugin("probe").restarts() > restarts);
  const long rss_after = session.supervisor_rss_kib();
  INFO("supervisor VmRSS " << rss_before << " kB -> " << rss_after << " kB");
  CHECK(rss_after - rss_before < 50 * 1024);
  session.check_still_serving();
  report("memory", {{inv, verdict}});
}

TEST_CASE("a CPU spin is killed at the CPU limit and restarted", "[sandbox]") {
  HostBait bait;
  ProbeSession session(bait, {}, database());
  auto [inv, verdict] = run_blocked(session, "cpu_spin");
  INFO("outcome: " << (inv.answered ? inv.result.dump() : inv.exit.dump()));
  REQUIRE_FALSE(inv.answered);
  CHECK(inv.exit.value("reason", "") == "cpu_limit");
  session.check_still_serving();
  report("CPU", {{inv, verdict}});
}

TEST_CASE("a fork bomb is refused when the plugin may not spawn", "[sandbox]") {
  HostBait bait;
  ProbeSession session(bait, {}, database());
  auto row = run_blocked(session, "fork_bomb");
  const Invocation& inv = row.first;
  if (inv.answered) {
    // Refused with an errno: not one child may have been made.
    CHECK_THAT(inv.result.value("detail", ""), Catch::StartsWith("processes forked: 0 "));
  } else {
    INFO("exit: " << inv.exit.dump());
    CHECK((inv.exit.value("reason", "") == "seccomp" ||
           inv.exit.value("reason", "") == "pids_limit"));
  }
  session.check_still_serving();
  report("fork bomb (spawn: false)", {row});
}

TEST_CASE("a fork bomb with spawn allowed stops at the pids limit", "[sandbox]") {
  HostBait bait;
  SandboxOptions options;
  options.spawn = true;
  ProbeSession session(bait, options, database());
  auto row = run_blocked(session, "fork_bomb");
  const Invocation& inv = row.first;
  if (!inv.answered) CHECK(inv.exit.value("reason", "") == "pids_limit");
  session.check_still_serving();
  report("fork bomb (spawn: true)", {row});
}

TEST_CASE("a thread bomb stops at the pids limit", "[sandbox]") {
  HostBait bait;
  ProbeSession session(bait, {}, database());
  auto row = run_blocked(session, "thread_bomb");
  session.check_still_serving();
  report("thread bomb", {row});
}

TEST_CASE("a plugin cannot connect to another plugin's abstract unix socket", "[sandbox]") {
  HostBait bait;
  SandboxOptions options;
  options.peer = true;
  ProbeSession session(bait, options, database());
  const std::string name = "plugvisor-peer-" + std::to_string(::getpid());
  REQUIRE(session.peer_listen(name).value("listening", "") == name);

  // Where Landlock scopes abstract sockets, plugins share one empty network namespace
  // (supervisor/sandbox/netns.h): the name is then visible to the probe, and only Landlock's
  // scope stands between them. Elsewhere each has its own namespace and the name is not there.
  auto ns_of = [](pid_t pid) {
    struct stat st {};
    return ::stat(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), &st) == 0 ? st.st_ino : 0;
  };
  const auto probe_ns = ns_of(session.plugin_pid("probe"));
  const auto peer_ns = ns_of(session.plugin_pid("peer"));
  REQUIRE(probe_ns != 0);
  CHECK(probe_ns != host_ns_inode("net"));
  const bool shared = probe_ns == peer_ns;
  INFO("probe netns " << probe_ns << ", peer netns " << peer_ns);

  Invocation inv =
      session.invoke("abstract_unix_connect", Json::object(), {{"abstract_socket", name}});
  REQUIRE(inv.answered);
  INFO("outcome: " << inv.result.dump());
  CHECK_FALSE(inv.result.value("escaped", true));
  const std::string detail = inv.result.value("detail", "");
  if (shared) {
    // Same namespace, the name exists: the refusal is Landlock's (EPERM), not ECONNREFUSED.
    CHECK_THAT(detail, Catch::Contains("EPERM"));
  }
  session.check_still_serving();
  report("cross-plugin abstract socket (" + std::string(shared ? "shared" : "separate") +
             " network namespace)",
         {{inv, judge(inv, *find_expectation("abstract_unix_connect"))}});
}
