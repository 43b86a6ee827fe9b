#include "sandbox/spec.h"

#include <sys/stat.h>

#include <filesystem>

namespace plugvisor::sandbox {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Debian's merged /usr makes /lib, /lib64, /bin and /sbin symlinks into /usr; elsewhere they
// may be real directories, which are then bound read-only like /usr.
void add_top_level(json& binds, json& symlinks, const std::string& name) {
  std::string host = "/" + name;
  struct stat st {};
  if (lstat(host.c_str(), &st) != 0) return;
  if (S_ISLNK(st.st_mode)) {
    std::error_code ec;
    auto target = fs::read_symlink(host, ec);
    if (!ec) symlinks.push_back({{"target", target.string()}, {"link", host}});
  } else if (S_ISDIR(st.st_mode)) {
    binds.push_back({{"host", host}, {"inside", host}, {"rw", false}});
  }
}

}  // namespace

json build_spec(const SpecInputs& in) {
  const auto& p = in.plugin;
  const auto& m = in.mechanisms;
  fs::path exe(p.executable);
  const std::string plugin_dir = exe.parent_path().string();

  json binds = json::array();
  json symlinks = json::array();
  binds.push_back({{"host", plugin_dir}, {"inside", "/plugin"}, {"rw", false}});
  binds.push_back({{"host", in.data_dir}, {"inside", "/data"}, {"rw", true}});
  // Libraries (read-only); /usr holds no secrets. The dynamic loader's cache lives in /etc.
  binds.push_back({{"host", "/usr"}, {"inside", "/usr"}, {"rw", false}});
  for (const char* top : {"lib", "lib64", "lib32", "bin", "sbin"})
    add_top_level(binds, symlinks, top);
  binds.push_back({{"host", "/etc/ld.so.cache"},
                   {"inside", "/etc/ld.so.cache"},
                   {"rw", false},
                   {"optional", true}});

  json ro = {"/usr", "/etc", "/plugin", "/proc", "/dev"};
  json rw = {"/data", "/tmp"};
  for (const auto& b : binds) {
    std::string inside = b["inside"];
    if (inside.rfind("/lib", 0) == 0 || inside == "/bin" || inside == "/sbin") ro.push_back(inside);
  }
  for (const auto& g : p.permissions.filesystem) {
    binds.push_back({{"host", g.path}, {"inside", g.path}, {"rw", g.writable}});
    (g.writable ? rw : ro).push_back(g.path);
  }
  // Only the plugin's own files and the dynamic loader may be executed: not /usr/bin/sh.
  std::error_code ec;
  auto loader = fs::canonical("/lib64/ld-linux-x86-64.so.2", ec);
  json exec_paths = {"/plugin"};
  if (!ec) exec_paths.push_back(loader.string());

  json argv = json::array({exe.filename().string()});
  for (const auto& a : p.args) argv.push_back(a);

  const auto& r = p.permissions.resources;
  json spec{
      {"plugin_id", p.id},
      {"host_uid", in.host_uid},
      {"host_gid", in.host_uid},
      {"namespaces",
       {{"user", m.has("user_ns")},
        {"pid", m.has("pid_ns")},
        {"mount", m.has("mount_ns")},
        {"net", m.has("net_ns")},
        {"ipc", m.has("ipc_ns")},
        {"uts", m.has("uts_ns")},
        {"cgroup", m.has("cgroup_ns")}}},
      {"hostname", "plugin-" + p.id},
      {"root",
       {{"binds", binds},
        {"symlinks", symlinks},
        {"devices", {"/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"}},
        {"tmp_bytes", r.tmp_mb << 20},
        {"proc", true}}},
      {"cgroup_procs", in.cgroup_procs},
      {"rlimits",
       {{"nofile", r.open_files},
        {"core", 0},
        {"nproc", r.pids},
        {"cpu_seconds", r.cpu_seconds},
        {"fsize_bytes", 0}}},
      {"landlock",
       {{"ro", ro},
        {"rw", rw},
        {"exec", exec_paths},
        {"deny_tcp", true},
        {"scope_signals", true},
        {"scope_abstract_unix", true},
        {"log_denials", in.log_landlock_denials}}},
      {"seccomp", {{"allow_spawn", p.permissions.spawn}}},
      {"exec", {{"path", "/plugin/" + exe.filename().string()}, {"argv", argv}, {"env", in.env}}},
      {"mechanisms",
       {{"landlock", m.has("landlock")},
        {"seccomp", m.has("seccomp")},
        {"cgroups", !in.cgroup_procs.empty()},
        {"rlimits", true}}},
  };
  if (!in.netns.empty()) spec["netns"] = in.netns;
  return spec;
}

}  // namespace plugvisor::sandbox
