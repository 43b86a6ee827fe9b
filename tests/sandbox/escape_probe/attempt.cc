// Shared helpers of the escape probe and the registry of every attempt.
#include "attempt.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "plugvisor/common/unique_fd.h"

namespace plugvisor::escape_probe {

Outcome blocked(std::string detail) { return Outcome{false, std::move(detail), false}; }
Outcome escaped(std::string detail) { return Outcome{true, std::move(detail), false}; }
Outcome inconclusive(std::string detail) { return Outcome{false, std::move(detail), true}; }

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::safe:
      return "safe";
    case Kind::may_kill:
      return "may_kill";
    case Kind::fatal:
      return "fatal";
  }
  return "?";
}

pid_t Input::target_pid(const std::string& who) const {
  auto it = data_.find("target_pids");
  if (it == data_.end() || !it->is_object()) return 0;
  return static_cast<pid_t>(it->value(who, 0));
}

std::string Input::text(const std::string& key) const {
  auto it = data_.find(key);
  return it != data_.end() && it->is_string() ? it->get<std::string>() : std::string();
}

long long Input::number(const std::string& key, long long fallback) const {
  auto it = data_.find(key);
  return it != data_.end() && it->is_number_integer() ? it->get<long long>() : fallback;
}

long long Input::limit(const std::string& key) const {
  auto it = data_.find("limits");
  return it != data_.end() && it->is_object() ? it->value(key, 0LL) : 0;
}

long long Input::cap(const std::string& key, long long fallback) const {
  auto it = data_.find("caps");
  return it != data_.end() && it->is_object() ? it->value(key, fallback) : fallback;
}

unsigned long long Input::host_ns(const std::string& type) const {
  auto it = data_.find("host_ns");
  return it != data_.end() && it->is_object() ? it->value(type, 0ULL) : 0;
}

const std::vector<Attempt>& all_attempts() {
  static const std::vector<Attempt> attempts = [] {
    std::vector<Attempt> out;
    add_fs_attempts(out);
    add_net_attempts(out);
    add_process_attempts(out);
    add_kernel_attempts(out);
    add_ns_attempts(out);
    add_resource_attempts(out);
    return out;
  }();
  return attempts;
}

const Attempt* find_attempt(const std::string& name) {
  for (const auto& a : all_attempts()) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

std::string errno_text(int err) {
  const char* name = strerrorname_np(err);
  return std::string(name != nullptr ? name : "errno " + std::to_string(err)) + " (" +
         std::strerror(err) + ")";
}

std::string failed(const std::string& what, int err) {
  std::string text = what + ": " + errno_text(err);
  if (err == ENOENT) text += " [not visible]";
  return text;
}

std::string own_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.parent_path().string();
}

const std::string& data_dir(const Input& in) {
  static const std::string dir = [&in] {
    if (const char* env = std::getenv("PLUGVISOR_DATA_DIR"); env != nullptr && *env != '\0') {
      return std::string(env);
    }
    struct stat st {};
    if (stat("/data", &st) == 0 && S_ISDIR(st.st_mode)) return std::string("/data");
    if (std::string lent = in.text("scratch_dir"); !lent.empty()) return lent;
    std::string tmpl = "/tmp/plugvisor-escape-probe-data-XXXXXX";
    return mkdtemp(tmpl.data()) != nullptr ? tmpl : std::string("/tmp");
  }();
  return dir;
}

unsigned long long own_ns(const std::string& type) {
  struct stat st {};
  return stat(("/proc/self/ns/" + type).c_str(), &st) == 0 ? st.st_ino : 0;
}

bool is_self_or_init(pid_t pid) {
  if (pid <= 1 || pid == getpid()) return true;
  // A thread of ours has its own id, and /proc/<tid>/status names our process as its Tgid.
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Tgid:", 0) == 0) return std::atoi(line.c_str() + 5) == getpid();
  }
  return false;
}

bool is_visible_other(pid_t pid) {
  struct stat st {};
  return !is_self_or_init(pid) && stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0;
}

bool read_file(const std::string& path, std::string& out, size_t max) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  out.resize(max);
  ssize_t n = ::read(fd.get(), out.data(), max);
  if (n < 0) return false;
  out.resize(static_cast<size_t>(n));
  return true;
}

long long host_uid(uid_t inside) {
  std::ifstream map("/proc/self/uid_map");
  unsigned long long in = 0, out = 0, count = 0;
  while (map >> in >> out >> count) {
    if (inside >= in && inside - in < count) return static_cast<long long>(out + (inside - in));
  }
  return -1;
}

std::string capability_summary() {
  std::ifstream status("/proc/self/status");
  std::string line, summary;
  while (std::getline(status, line)) {
    if (line.rfind("CapPrm:", 0) == 0 || line.rfind("CapEff:", 0) == 0 ||
        line.rfind("CapBnd:", 0) == 0) {
      for (char& c : line) c = c == '\t' ? ' ' : c;
      summary += (summary.empty() ? "" : ", ") + line;
    }
  }
  return summary;
}

std::string scratch_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

}  // namespace plugvisor::escape_probe
