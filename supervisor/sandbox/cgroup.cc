#include "sandbox/cgroup.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace plugvisor::sandbox {

namespace fs = std::filesystem;

namespace {

Status write_file(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  if (!out) return Error::errno_error("open " + path, errno);
  out << value;
  out.flush();
  if (!out) return Error::errno_error("write '" + value + "' to " + path, errno);
  return {};
}

// For settings that refine a limit already set (swap, the cpu period) or that may already be in
// place (subtree controllers): a failure is logged, not fatal.
void try_write(const std::string& path, const std::string& value) {
  if (auto s = write_file(path, value); !s) spdlog::debug("cgroup: {}", s.error().message);
}

// "key value" lines (memory.events, pids.events, memory.oom_control).
uint64_t read_key(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string k;
  uint64_t v;
  while (in >> k >> v) {
    if (k == key) return v;
  }
  return 0;
}

Status make_dir(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return Error{"create cgroup " + path + ": " + ec.message()};
  return {};
}

}  // namespace

Result<std::unique_ptr<PluginCgroup>> PluginCgroup::create(const Mechanisms& m,
                                                           const std::string& parent_name,
                                                           const std::string& leaf_name,
                                                           const config::Resources& r) {
  auto cg = std::make_unique<PluginCgroup>();
  const std::string memory = std::to_string(r.memory_mb << 20);
  const std::string quota = std::to_string(r.cpu_percent * 1000ULL);
  std::set<std::string> v2_dirs;
  for (const auto& [name, c] : {std::pair{"memory", m.memory}, {"pids", m.pids}, {"cpu", m.cpu}}) {
    if (c.version == 0) continue;
    std::string parent = c.path + "/" + parent_name;
    std::string dir = parent + "/" + leaf_name;
    if (auto s = make_dir(dir); !s) return s.error();
    if (c.version == 2) {
      // Controllers must be enabled on every level above the leaf.
      std::string level = c.path;
      try_write(level + "/cgroup.subtree_control", std::string("+") + name);
      for (const auto& part : fs::path(parent_name)) {
        level += "/" + part.string();
        try_write(level + "/cgroup.subtree_control", std::string("+") + name);
      }
    }
    Status s;
    if (std::string(name) == "memory") {
      if (c.version == 1) {
        s = write_file(dir + "/memory.limit_in_bytes", memory);
        if (fs::exists(dir + "/memory.memsw.limit_in_bytes")) {
          try_write(dir + "/memory.memsw.limit_in_bytes", memory);
        }
      } else {
        s = write_file(dir + "/memory.max", memory);
        if (fs::exists(dir + "/memory.swap.max")) try_write(dir + "/memory.swap.max", "0");
      }
    } else if (std::string(name) == "pids") {
      s = write_file(dir + "/pids.max", std::to_string(r.pids));
    } else if (c.version == 1) {
      try_write(dir + "/cpu.cfs_period_us", "100000");
      s = write_file(dir + "/cpu.cfs_quota_us", quota);
    } else {
      s = write_file(dir + "/cpu.max", quota + " 100000");
    }
    if (!s) return s.error();
    if (c.version == 1 || v2_dirs.insert(dir).second) {
      cg->dirs_.push_back({dir, c.version, c.version == 1 ? name : ""});
    }
  }
  return cg;
}

PluginCgroup::~PluginCgroup() {
  kill_all();
  for (const auto& d : dirs_) {
    // The kernel empties a cgroup only once its processes are reaped; a busy one is removed by
    // the next plugvisord start (remove_stale_cgroups).
    if (rmdir(d.path.c_str()) != 0 && errno != ENOENT) {
      spdlog::debug("cgroup {} not removed yet: {}", d.path, std::strerror(errno));
    }
  }
}

std::vector<std::string> PluginCgroup::procs_files() const {
  std::vector<std::string> out;
  for (const auto& d : dirs_) out.push_back(d.path + "/cgroup.procs");
  return out;
}

Status PluginCgroup::join(pid_t pid) const {
  for (const auto& d : dirs_) {
    if (auto s = write_file(d.path + "/cgroup.procs", std::to_string(pid)); !s) return s;
  }
  return {};
}

CgroupCounters PluginCgroup::counters() const {
  CgroupCounters c;
  for (const auto& d : dirs_) {
    if (d.version == 1 && d.controller == "memory") {
      c.oom_kills += read_key(d.path + "/memory.oom_control", "oom_kill");
    } else if (d.version == 1 && d.controller == "pids") {
      c.pids_max_hits += read_key(d.path + "/pids.events", "max");
    } else if (d.version == 2) {
      c.oom_kills += read_key(d.path + "/memory.events", "oom_kill");
      c.pids_max_hits += read_key(d.path + "/pids.events", "max");
    }
  }
  return c;
}

void PluginCgroup::kill_all() const {
  for (const auto& d : dirs_) {
    std::ifstream in(d.path + "/cgroup.procs");
    pid_t pid;
    while (in >> pid) ::kill(pid, SIGKILL);
  }
}

std::string instance_cgroup(const std::string& parent_name) {
  return parent_name + "/sup-" + std::to_string(::getpid());
}

namespace {

void kill_and_remove(const fs::path& dir) {
  std::ifstream in(dir / "cgroup.procs");
  pid_t pid;
  while (in >> pid) ::kill(pid, SIGKILL);
  rmdir(dir.c_str());
}

// The pid in "sup-<pid>", or 0 if the name is not an instance subtree.
pid_t instance_pid(const std::string& name) {
  if (name.rfind("sup-", 0) != 0) return 0;
  try {
    return static_cast<pid_t>(std::stol(name.substr(4)));
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

void remove_instance_cgroup(const Mechanisms& m, const std::string& parent_name) {
  for (const auto& c : {m.memory, m.pids, m.cpu}) {
    if (c.version == 0) continue;
    const fs::path mine = c.path + "/" + instance_cgroup(parent_name);
    std::error_code ec;
    for (const auto& leaf : fs::directory_iterator(mine, ec)) {
      if (leaf.is_directory()) rmdir(leaf.path().c_str());
    }
    rmdir(mine.c_str());
  }
}

void remove_stale_cgroups(const Mechanisms& m, const std::string& parent_name) {
  for (const auto& c : {m.memory, m.pids, m.cpu}) {
    if (c.version == 0) continue;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(c.path + "/" + parent_name, ec)) {
      if (!entry.is_directory()) continue;
      const pid_t owner = instance_pid(entry.path().filename().string());
      if (owner == 0) {
        // A plugin cgroup of the layout before instance subtrees: its supervisor is gone.
        kill_and_remove(entry.path());
        continue;
      }
      if (owner == ::getpid() || ::kill(owner, 0) == 0 || errno == EPERM) continue;  // alive
      std::error_code ec2;
      for (const auto& leaf : fs::directory_iterator(entry.path(), ec2)) {
        if (leaf.is_directory()) kill_and_remove(leaf.path());
      }
      rmdir(entry.path().c_str());
    }
  }
}

}  // namespace plugvisor::sandbox
