#include "process_cpu.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>

namespace plugvisor::bench {
namespace {

struct ProcStat {
  pid_t ppid = 0;
  long long ticks = 0;  // utime + stime + cutime + cstime
};

// /proc/PID/stat: "pid (comm) state ppid ..." where comm may hold spaces and parentheses, so
// the fields are counted from the last ')'.
std::optional<ProcStat> read_stat(const std::filesystem::path& dir) {
  std::ifstream in(dir / "stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;  // the process has just exited
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 2));
  std::vector<std::string> f;
  for (std::string s; fields >> s;) f.push_back(std::move(s));
  // After comm: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
  if (f.size() < 15) return std::nullopt;
  ProcStat st;
  st.ppid = static_cast<pid_t>(std::stol(f[1]));
  for (size_t i = 11; i <= 14; ++i) st.ticks += std::stoll(f[i]);
  return st;
}

}  // namespace

Result<std::chrono::nanoseconds> tree_cpu_time(const std::vector<pid_t>& roots) {
  std::map<pid_t, ProcStat> all;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    pid_t pid = 0;
    const auto [end, err] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (err != std::errc{} || end != name.data() + name.size()) continue;
    if (auto st = read_stat(entry.path())) all.emplace(pid, *st);
  }
  if (ec) return Error{"cannot list /proc: " + ec.message()};

  std::multimap<pid_t, pid_t> children;
  for (const auto& [pid, st] : all) children.emplace(st.ppid, pid);
  long long ticks = 0;
  std::vector<pid_t> todo(roots.begin(), roots.end());
  while (!todo.empty()) {
    const pid_t pid = todo.back();
    todo.pop_back();
    if (auto it = all.find(pid); it != all.end()) ticks += it->second.ticks;
    const auto [first, last] = children.equal_range(pid);
    for (auto it = first; it != last; ++it) todo.push_back(it->second);
  }
  static const long hz = sysconf(_SC_CLK_TCK);
  return std::chrono::nanoseconds(ticks * 1'000'000'000LL / hz);
}

Result<uint64_t> machine_context_switches() {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "ctxt") {
      uint64_t n = 0;
      if (in >> n) return n;
      break;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return Error{"no ctxt line in /proc/stat"};
}

}  // namespace plugvisor::bench
