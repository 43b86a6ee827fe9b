// Filesystem escapes: reading host secrets, leaving the plugin's own directories, writing where
// the plugin may only read. The test prepares the host side (see tests/sandbox/README.md):
//   probe_dir/secret.txt         world-readable: only the sandbox, not file modes, hides it
//   probe_dir/host-tmp-canary    world-writable: only the sandbox, not file modes, protects it
//   ro_dir/granted.txt           granted read-only through permissions.filesystem (mode 0666)
//   <own dir>/canary.txt         the plugin's own files, world-writable for the same reason
//   <own dir>/outside-link       a symlink shipped with the plugin, to probe_dir/secret.txt
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "attempt.h"
#include "plugvisor/common/unique_fd.h"

namespace plugvisor::escape_probe {
namespace {

constexpr const char* kMarker = "escape-probe was here\n";

// Escaped if `path` can be read: `what` names the route for the detail.
Outcome read_route(const std::string& what, const std::string& path) {
  std::string content;
  if (!read_file(path, content)) return blocked(failed("read " + path + " (" + what + ")", errno));
  return escaped("read " + std::to_string(content.size()) + " bytes of " + path + " (" + what +
                 ")");
}

// Appends the marker, so the test sees a write that got through even if this report is lost.
bool append_marker(const std::string& path, std::string& detail) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  if (!fd) {
    detail += failed("open " + path + " for writing", errno) + "; ";
    return false;
  }
  ssize_t n = ::write(fd.get(), kMarker, std::strlen(kMarker));
  detail += "opened " + path + " for writing" +
            (n < 0 ? " (write: " + errno_text(errno) + ")" : " and wrote to it") + "; ";
  return true;
}

// Creates a new file in `dir`; removes it again if that worked (unless `keep`).
bool create_in(const std::string& dir, std::string& detail, bool keep = false,
               const std::string& name = "") {
  std::string path = dir + "/" + (name.empty() ? scratch_name(".escape-probe") : name);
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) {
    detail += failed("create " + path, errno) + "; ";
    return false;
  }
  detail += "created " + path + (keep ? " (left for the test to find)" : "") + "; ";
  if (!keep) ::unlink(path.c_str());
  return true;
}

bool exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

Outcome need(const Input& in, const std::string& key, std::string& value) {
  value = in.text(key);
  return value.empty() ? inconclusive("the test passed no " + key) : Outcome{};
}

Outcome read_shadow(const Input&) { return read_route("host password hashes", "/etc/shadow"); }

Outcome read_supervisor_environ(const Input& in) {
  pid_t pid = in.target_pid("supervisor");
  if (pid <= 0) return inconclusive("the test passed no target_pids.supervisor");
  if (is_self_or_init(pid)) {
    return blocked("pid " + std::to_string(pid) +
                   " is this process or its init here: the supervisor is not visible");
  }
  std::string path = "/proc/" + std::to_string(pid) + "/environ", content;
  if (!read_file(path, content)) return blocked(failed("read " + path, errno));
  if (content.empty()) return blocked("read " + path + ": empty");
  return escaped("read " + std::to_string(content.size()) + " bytes of " + path);
}

Outcome proc_root_traversal(const Input& in) {
  std::string probe_dir;
  if (auto o = need(in, "probe_dir", probe_dir); o.inconclusive) return o;
  pid_t pid = in.target_pid("supervisor");
  if (pid <= 0) return inconclusive("the test passed no target_pids.supervisor");
  if (is_self_or_init(pid)) {
    return blocked("pid " + std::to_string(pid) +
                   " is this process or its init here: the supervisor is not visible");
  }
  return read_route("through the supervisor's /proc/PID/root",
                    "/proc/" + std::to_string(pid) + "/root" + probe_dir + "/secret.txt");
}

Outcome path_traversal(const Input& in) {
  std::string probe_dir;
  if (auto o = need(in, "probe_dir", probe_dir); o.inconclusive) return o;
  const std::string up = "/../../../../../../../../../../..";
  std::string detail;
  for (const auto& base : {data_dir(in), own_dir()}) {
    Outcome o = read_route("../ out of " + base, base + up + probe_dir + "/secret.txt");
    if (o.escaped) return o;
    detail += o.detail + "; ";
  }
  return blocked(detail);
}

Outcome data_dir_symlink(const Input& in) {
  std::string probe_dir;
  if (auto o = need(in, "probe_dir", probe_dir); o.inconclusive) return o;
  std::string link = data_dir(in) + "/" + scratch_name(".escape-link");
  std::string target = probe_dir + "/secret.txt";
  if (::symlink(target.c_str(), link.c_str()) != 0) {
    return blocked(failed("symlink " + link + " -> " + target, errno));
  }
  Outcome o = read_route("symlink made in the data dir", link);
  ::unlink(link.c_str());
  return o;
}

Outcome plugin_dir_symlink(const Input&) {
  std::string link = own_dir() + "/outside-link";
  if (!exists(link)) return inconclusive(link + " is missing: the test did not set it up");
  return read_route("symlink shipped in the plugin dir", link);
}

Outcome write_usr(const Input&) {
  std::string detail;
  return create_in("/usr", detail) ? escaped(detail) : blocked(detail);
}

Outcome write_plugin_files(const Input&) {
  const std::string dir = own_dir();
  if (!exists(dir + "/canary.txt")) {
    return inconclusive(dir + "/canary.txt is missing: the test did not set it up");
  }
  std::string detail;
  bool wrote = append_marker(dir + "/canary.txt", detail);
  bool made = create_in(dir, detail);
  return wrote || made ? escaped(detail) : blocked(detail);
}

Outcome write_host_tmp(const Input& in) {
  std::string probe_dir;
  if (auto o = need(in, "probe_dir", probe_dir); o.inconclusive) return o;
  std::string detail;
  bool wrote = append_marker(probe_dir + "/host-tmp-canary", detail);
  bool made = create_in(probe_dir, detail, /*keep=*/true, "created-by-probe");
  return wrote || made ? escaped(detail) : blocked(detail);
}

Outcome write_granted_ro(const Input& in) {
  std::string ro_dir;
  if (auto o = need(in, "ro_dir", ro_dir); o.inconclusive) return o;
  // The grant must work before its limits mean anything: a path that is not there at all
  // would "block" every write for the wrong reason.
  std::string content;
  if (!read_file(ro_dir + "/granted.txt", content)) {
    return inconclusive(
        failed("the read-only grant does not work: read " + ro_dir + "/granted.txt", errno));
  }
  std::string detail;
  bool wrote = append_marker(ro_dir + "/granted.txt", detail);
  bool made = create_in(ro_dir, detail);
  return wrote || made ? escaped(detail) : blocked(detail);
}

Outcome hardlink_across(const Input& in) {
  std::string probe_dir, ro_dir;
  if (auto o = need(in, "probe_dir", probe_dir); o.inconclusive) return o;
  if (auto o = need(in, "ro_dir", ro_dir); o.inconclusive) return o;
  // A second name in a writable directory for a file the plugin may only read (or not see)
  // would let it write to, or keep, the original.
  const std::vector<std::pair<std::string, std::string>> links = {
      {ro_dir + "/granted.txt", data_dir(in) + "/" + scratch_name(".escape-hardlink")},
      {probe_dir + "/secret.txt", data_dir(in) + "/" + scratch_name(".escape-hardlink")},
      {probe_dir + "/host-tmp-canary", data_dir(in) + "/" + scratch_name(".escape-hardlink")}};
  std::string detail;
  bool any = false;
  for (const auto& [from, to] : links) {
    if (::link(from.c_str(), to.c_str()) == 0) {
      any = true;
      detail += "linked " + from + " as " + to + "; ";
      ::unlink(to.c_str());
    } else {
      detail += failed("link " + from + " -> " + to, errno) + "; ";
    }
  }
  return any ? escaped(detail) : blocked(detail);
}

Outcome rename_across(const Input& in) {
  std::string ro_dir;
  if (auto o = need(in, "ro_dir", ro_dir); o.inconclusive) return o;
  std::string detail;
  bool any = false;
  // Every successful rename is undone at once, so a probe run without a sandbox leaves the
  // test's fixtures as they were.
  auto move = [&](const std::string& from, const std::string& to) {
    if (::rename(from.c_str(), to.c_str()) == 0) {
      any = true;
      detail += "renamed " + from + " to " + to + "; ";
      ::rename(to.c_str(), from.c_str());
    } else {
      detail += failed("rename " + from + " -> " + to, errno) + "; ";
    }
  };
  // A file of the data dir into the plugin's own (read-only) files.
  std::string own = data_dir(in) + "/" + scratch_name(".escape-rename");
  if (UniqueFd fd(::open(own.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755)); fd) {
    move(own, own_dir() + "/" + scratch_name(".escape-planted"));
    ::unlink(own.c_str());
  } else {
    detail += failed("create " + own, errno) + "; ";
  }
  // A read-only grant's file, within its directory and out into the data dir.
  move(ro_dir + "/granted.txt", ro_dir + "/" + scratch_name(".escape-renamed"));
  move(ro_dir + "/granted.txt", data_dir(in) + "/" + scratch_name(".escape-stolen"));
  return any ? escaped(detail) : blocked(detail);
}

// "Shocker": a file handle for the root inode of the filesystem the plugin's files live on
// (ext4: inode 2, generation 0) opens the whole host filesystem, bypassing every bind mount.
Outcome open_by_handle(const Input&) {
  UniqueFd mount_fd(::open(own_dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!mount_fd) return inconclusive(failed("open " + own_dir(), errno));
  // struct file_handle ends in a flexible array: build it in a buffer of the right size.
  alignas(file_handle) unsigned char buffer[sizeof(file_handle) + 2 * sizeof(uint32_t)] = {};
  auto* handle = reinterpret_cast<file_handle*>(buffer);
  handle->handle_bytes = 2 * sizeof(uint32_t);
  handle->handle_type = 1;             // FILEID_INO32_GEN
  const uint32_t ino_gen[2] = {2, 0};  // ext4's root inode, generation 0
  std::memcpy(handle->f_handle, ino_gen, sizeof ino_gen);
  UniqueFd root(::open_by_handle_at(mount_fd.get(), handle, O_RDONLY | O_DIRECTORY));
  if (!root) return blocked(failed("open_by_handle_at(root inode of the plugin dir's fs)", errno));
  std::string detail = "opened the filesystem's root directory by handle";
  if (UniqueFd etc(::openat(root.get(), "etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC)); etc) {
    detail += " (and its etc/)";
  }
  return escaped(detail);
}

// CAP_DAC_OVERRIDE: a file of the plugin's own with mode 0000 can be opened for reading only
// with that capability. In the sandbox the plugin is root of its user namespace and its host
// uid and gid (the file's owner) are mapped there, so nothing but the capability drop stands
// between it and the override: Landlock grants reading /data, seccomp allows open, and the
// file is its own. An unsandboxed root has the capability.
Outcome dac_override(const Input& in) {
  const std::string path = data_dir(in) + "/" + scratch_name(".escape-mode0");
  // Creating the file needs no permission on the file itself; mode 0 survives any umask.
  UniqueFd made(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0));
  if (!made) return inconclusive(failed("create " + path, errno));
  struct stat st {};
  if (::fstat(made.get(), &st) != 0 || (st.st_mode & 07777) != 0) {
    ::unlink(path.c_str());
    return inconclusive("created " + path + " but its mode is not 0000");
  }
  UniqueFd again(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  const int err = errno;
  ::unlink(path.c_str());
  const std::string caps = capability_summary();
  if (!again) {
    return blocked(failed("open " + path + " (its own file, mode 0000) for reading", err) +
                   (caps.empty() ? "" : "; " + caps));
  }
  return escaped("opened " + path + " (mode 0000) for reading: CAP_DAC_OVERRIDE" +
                 (caps.empty() ? "" : "; " + caps));
}

}  // namespace

void add_fs_attempts(std::vector<Attempt>& out) {
  const std::string f = "fs";
  out.push_back({"read_shadow", f, Kind::safe, read_shadow});
  out.push_back({"read_supervisor_environ", f, Kind::safe, read_supervisor_environ});
  out.push_back({"proc_root_traversal", f, Kind::safe, proc_root_traversal});
  out.push_back({"path_traversal", f, Kind::safe, path_traversal});
  out.push_back({"data_dir_symlink", f, Kind::safe, data_dir_symlink});
  out.push_back({"plugin_dir_symlink", f, Kind::safe, plugin_dir_symlink});
  out.push_back({"write_usr", f, Kind::safe, write_usr});
  out.push_back({"write_plugin_files", f, Kind::safe, write_plugin_files});
  out.push_back({"write_host_tmp", f, Kind::safe, write_host_tmp});
  out.push_back({"write_granted_ro", f, Kind::safe, write_granted_ro});
  out.push_back({"hardlink_across", f, Kind::safe, hardlink_across});
  out.push_back({"rename_across", f, Kind::safe, rename_across});
  out.push_back({"open_by_handle", f, Kind::may_kill, open_by_handle});
  out.push_back({"dac_override", f, Kind::safe, dac_override});
}

}  // namespace plugvisor::escape_probe
