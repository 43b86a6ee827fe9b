// The suite's table: for every attempt of the escape probe, the mechanism(s) expected to stop
// it (first line of defence first) and the deaths that count as "stopped". The probe's own
// list (attempt "list") must match it exactly, so a new attempt cannot go untested.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace plugvisor::sandboxtest {

using Json = nlohmann::json;

struct Expectation {
  std::string attempt;
  std::string mechanisms;
  // Ways for the probe to die that count as blocked, besides answering escaped=false:
  // "oom", "pids_limit", "cpu_limit", "exit_code:N". A seccomp kill always counts.
  std::vector<std::string> deaths;
  // For a seccomp kill: the syscall(s) the exit event may name. Empty: any (the x32 and i386
  // ABIs have numbers of their own, which may not resolve to a name).
  std::vector<std::string> syscalls;
};

const std::vector<Expectation>& expectations();
const Expectation* find_expectation(const std::string& attempt);

// What one invocation of the probe came to.
struct Invocation {
  std::string attempt;
  bool answered = false;      // the probe returned a result...
  Json result;                // ...this one ({"attempt", "escaped", "detail", ...})
  Json exit;                  // otherwise the detail of its exit event
  std::string receipt_error;  // and the receipt's error
};

struct Verdict {
  bool blocked = false;
  std::string how;      // "EACCES ..." or "killed: seccomp (ptrace)"
  std::string problem;  // empty when blocked as expected
};

// Judges an invocation of the sandboxed probe against its expectation.
Verdict judge(const Invocation& inv, const Expectation& expected);

// One line per attempt: attempt | outcome | expected mechanism(s).
std::string report_table(const std::vector<std::pair<Invocation, Verdict>>& rows);

}  // namespace plugvisor::sandboxtest
