#include "spec.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "status.h"

namespace plugvisor::runner {

namespace {

using Json = nlohmann::json;

// Thrown only inside read_spec(), which turns it into a "read_spec" failure.
struct Invalid : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string slurp(int fd) {
  struct stat st {};
  // A memfd that plugvisord just wrote has its offset at the end.
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) ::lseek(fd, 0, SEEK_SET);
  std::string text;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("read_spec", errno, "read --spec-fd");
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > (1u << 20)) fail("read_spec", E2BIG, "spec larger than 1 MiB");
  }
  ::close(fd);
  return text;
}

template <class T>
T value(const Json& obj, const char* key, T fallback) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  return it->get<T>();
}

const Json& object(const Json& obj, const char* key) {
  static const Json kEmpty = Json::object();
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return kEmpty;
  if (!it->is_object()) throw Invalid(std::string(key) + " must be an object");
  return *it;
}

// Absolute, no "." or ".." components, no trailing slash (except "/" itself), no NUL.
std::string checked_path(const std::string& p, const char* what) {
  if (p.empty() || p[0] != '/') throw Invalid(std::string(what) + ": not absolute: " + p);
  if (p.find('\0') != std::string::npos) throw Invalid(std::string(what) + ": NUL in path");
  if (p.size() > 1 && p.back() == '/') throw Invalid(std::string(what) + ": trailing /: " + p);
  size_t start = 1;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    const std::string_view part(p.data() + start, end - start);
    if ((part.empty() && p.size() > 1) || part == "." || part == "..") {
      throw Invalid(std::string(what) + ": not normalised: " + p);
    }
    start = end + 1;
  }
  return p;
}

std::vector<std::string> paths(const Json& obj, const char* key, const char* what) {
  std::vector<std::string> out;
  for (const auto& p : value(obj, key, std::vector<std::string>{})) {
    out.push_back(checked_path(p, what));
  }
  return out;
}

Spec parse(const std::string& text) {
  // The SPEC.md example carries // comments; accepting them costs nothing.
  const Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  if (!doc.is_object()) throw Invalid("spec must be a JSON object");
  Spec s;
  s.plugin_id = value(doc, "plugin_id", std::string());
  // The whole point of the user namespace: the plugin is never host root (nor the overflow id).
  const auto uid = value<int64_t>(doc, "host_uid", 0), gid = value<int64_t>(doc, "host_gid", 0);
  if (uid <= 0 || gid <= 0 || uid >= 0xffffffffLL || gid >= 0xffffffffLL) {
    throw Invalid("host_uid and host_gid must be non-zero ids");
  }
  s.host_uid = static_cast<uid_t>(uid);
  s.host_gid = static_cast<gid_t>(gid);

  const Json& ns = object(doc, "namespaces");
  s.ns.user = value(ns, "user", true);
  s.ns.pid = value(ns, "pid", true);
  s.ns.mount = value(ns, "mount", true);
  s.ns.net = value(ns, "net", true);
  s.ns.ipc = value(ns, "ipc", true);
  s.ns.uts = value(ns, "uts", true);
  s.ns.cgroup = value(ns, "cgroup", true);
  s.netns = value(doc, "netns", std::string());
  if (!s.netns.empty()) checked_path(s.netns, "netns");
  s.hostname = value(doc, "hostname", std::string());
  if (s.hostname.size() > 64) throw Invalid("hostname longer than 64 bytes");

  const Json& root = object(doc, "root");
  for (const auto& b : value(root, "binds", Json::array())) {
    Bind bind;
    bind.host = checked_path(b.at("host").get<std::string>(), "root.binds.host");
    bind.inside = checked_path(b.at("inside").get<std::string>(), "root.binds.inside");
    if (bind.inside == "/") throw Invalid("root.binds.inside: cannot bind over /");
    bind.rw = value(b, "rw", false);
    bind.optional = value(b, "optional", false);
    s.binds.push_back(std::move(bind));
  }
  for (const auto& l : value(root, "symlinks", Json::array())) {
    Symlink link{l.at("target").get<std::string>(),
                 checked_path(l.at("link").get<std::string>(), "root.symlinks.link")};
    if (link.target.empty()) throw Invalid("root.symlinks.target is empty");
    s.symlinks.push_back(std::move(link));
  }
  s.devices = paths(root, "devices", "root.devices");
  s.tmp_bytes = value<uint64_t>(root, "tmp_bytes", 0);
  s.proc = value(root, "proc", false);

  s.cgroup_procs = paths(doc, "cgroup_procs", "cgroup_procs");
  const Json& rl = object(doc, "rlimits");
  s.rlimits.nofile = value<uint64_t>(rl, "nofile", 0);
  s.rlimits.nproc = value<uint64_t>(rl, "nproc", 0);
  s.rlimits.cpu_seconds = value<uint64_t>(rl, "cpu_seconds", 0);
  s.rlimits.fsize_bytes = value<uint64_t>(rl, "fsize_bytes", 0);

  const Json& ll = object(doc, "landlock");
  s.landlock.ro = paths(ll, "ro", "landlock.ro");
  s.landlock.rw = paths(ll, "rw", "landlock.rw");
  s.landlock.exec = paths(ll, "exec", "landlock.exec");
  s.landlock.deny_tcp = value(ll, "deny_tcp", true);
  s.landlock.scope_signals = value(ll, "scope_signals", true);
  s.landlock.scope_abstract_unix = value(ll, "scope_abstract_unix", true);
  s.landlock.log_denials = value(ll, "log_denials", false);

  s.allow_spawn = value(object(doc, "seccomp"), "allow_spawn", false);

  const Json& ex = object(doc, "exec");
  s.exec_path = checked_path(value(ex, "path", std::string()), "exec.path");
  s.argv = value(ex, "argv", std::vector<std::string>{});
  if (s.argv.empty()) s.argv.push_back(s.exec_path);
  s.env = value(ex, "env", std::vector<std::string>{});

  const Json& m = object(doc, "mechanisms");
  s.mechanisms.landlock = value(m, "landlock", true);
  s.mechanisms.seccomp = value(m, "seccomp", true);
  s.mechanisms.cgroups = value(m, "cgroups", true);
  s.mechanisms.rlimits = value(m, "rlimits", true);
  return s;
}

}  // namespace

bool path_within(const std::string& path, const std::string& dir) {
  if (dir == "/") return true;
  return path.compare(0, dir.size(), dir) == 0 &&
         (path.size() == dir.size() || path[dir.size()] == '/');
}

Spec read_spec(int fd) {
  const std::string text = slurp(fd);
  try {
    return parse(text);
  } catch (const std::exception& e) {
    fail("read_spec", EINVAL, e.what());
  }
}

}  // namespace plugvisor::runner
