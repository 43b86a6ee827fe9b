#include "mounts.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "plugvisor/common/unique_fd.h"
#include "status.h"

namespace plugvisor::runner {

namespace {

// Where the new root is assembled before pivot_root. Any existing directory will do: the tmpfs
// only covers it in our private mount namespace, and bind sources are opened before it is
// mounted, so a source below /tmp is still reachable.
constexpr const char kStage[] = "/tmp";

std::string staged(const std::string& inside) { return kStage + inside; }

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// mkdir -p for the components of `path` below kStage. Only ever creates directories on the
// root tmpfs: below a bind (already read-only) it fails rather than touch the host.
void make_dirs(const std::string& path, const char* step) {
  for (size_t pos = sizeof(kStage);; ++pos) {
    pos = path.find('/', pos);
    const std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) fail(step, errno, prefix);
    if (pos == std::string::npos) return;
  }
}

// A mount point for a bind: a directory, or an empty file when the source is not one.
void make_mount_point(const std::string& target, bool dir, const char* step) {
  if (dir) return make_dirs(target, step);
  make_dirs(target.substr(0, target.rfind('/')), step);
  UniqueFd fd(::open(target.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) fail(step, errno, target);
}

// Flags a remount must keep. In a user namespace the kernel locks the flags of mounts we got
// from the host (nosuid, nodev, noexec, ro, atime), so a remount that drops one fails.
unsigned long kept_flags(const std::string& path) {
  struct statvfs sv {};
  if (::statvfs(path.c_str(), &sv) != 0) return 0;
  unsigned long flags = 0;
  if (sv.f_flag & ST_RDONLY) flags |= MS_RDONLY;
  if (sv.f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  return flags;
}

void restrict_mount(const std::string& target, unsigned long flags, const char* step) {
  const unsigned long all = MS_REMOUNT | MS_BIND | flags | kept_flags(target);
  if (::mount(nullptr, target.c_str(), nullptr, all, nullptr) != 0) fail(step, errno, target);
}

// Mount points strictly below `target`, from /proc/self/mountinfo (field 5, octal-escaped).
std::vector<std::string> submounts(const std::string& target) {
  std::vector<std::string> out;
  FILE* f = std::fopen("/proc/self/mountinfo", "re");
  if (f == nullptr) return out;
  char line[4096];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    char escaped[4096];
    if (std::sscanf(line, "%*s %*s %*s %*s %4095s", escaped) != 1) continue;
    std::string mp;
    for (const char* p = escaped; *p != '\0'; ++p) {
      if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] != '\0' && p[3] != '\0') {
        mp += static_cast<char>((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
        p += 3;
      } else {
        mp += *p;
      }
    }
    if (mp != target && path_within(mp, target)) out.push_back(mp);
  }
  std::fclose(f);
  return out;
}

// Binds the already-open `source` onto `target` and remounts it with `flags` (if any).
void bind(int source, const std::string& target, unsigned long flags, const char* step) {
  const std::string from = fd_path(source);
  bool recursive = false;
  if (::mount(from.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    // EINVAL: the source has submounts the kernel will not let us hide (locked in a user
    // namespace). Take them along, and restrict each one as well below.
    if (errno != EINVAL) fail(step, errno, target);
    if (::mount(from.c_str(), target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      fail(step, errno, target);
    }
    recursive = true;
  }
  if (flags == 0) return;
  restrict_mount(target, flags, step);
  if (recursive) {
    for (const auto& sub : submounts(target)) restrict_mount(sub, flags, step);
  }
}

// Does anything the plugin may execute live in (or contain) `inside`? Then its mount must stay
// exec; everything else is noexec (Landlock's exec list is the finer grain on top).
bool needs_exec(const Spec& spec, const std::string& inside) {
  auto covers = [&](const std::string& p) {
    return path_within(p, inside) || path_within(inside, p);
  };
  if (covers(spec.exec_path)) return true;
  for (const auto& e : spec.landlock.exec) {
    if (covers(e)) return true;
  }
  return false;
}

struct Source {
  UniqueFd fd;  // O_PATH; invalid for a missing optional bind
  bool dir = false;
};

Source open_source(const std::string& host, bool optional, bool device, const char* step) {
  Source s;
  s.fd.reset(::open(host.c_str(), O_PATH | O_CLOEXEC));
  if (!s.fd) {
    if (optional && errno == ENOENT) return s;
    fail(step, errno, host);
  }
  struct stat st {};
  if (::fstat(s.fd.get(), &st) != 0) fail(step, errno, host);
  s.dir = S_ISDIR(st.st_mode);
  if (device && !S_ISCHR(st.st_mode)) {
    fail(step, ENODEV, host + " is not a character device");
  }
  return s;
}

}  // namespace

void enter_new_root(const Spec& spec) {
  // Nothing we mount may propagate back to the host, nor host mounts into the sandbox.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    fail("mount_private", errno);
  }

  // Resolve every source on the host tree first (see kStage).
  std::vector<Source> bind_sources, device_sources;
  for (const auto& b : spec.binds)
    bind_sources.push_back(open_source(b.host, b.optional, false, "binds"));
  for (const auto& d : spec.devices)
    device_sources.push_back(open_source(d, false, true, "devices"));

  // A tiny tmpfs that only ever holds mount points and symlinks.
  if (::mount("tmpfs", kStage, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=1m,mode=0755") !=
      0) {
    fail("root_tmpfs", errno, kStage);
  }

  // /tmp before the binds: a granted path below /tmp must land on top of it, not under it.
  if (spec.tmp_bytes > 0) {
    const std::string target = staged("/tmp");
    make_dirs(target, "tmp");
    const std::string opts = "size=" + std::to_string(spec.tmp_bytes) + ",mode=1777";
    if (::mount("tmpfs", target.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts.c_str()) !=
        0) {
      fail("tmp", errno, target);
    }
  }

  for (size_t i = 0; i < spec.binds.size(); ++i) {
    const Bind& b = spec.binds[i];
    if (!bind_sources[i].fd) continue;  // optional and absent
    const std::string target = staged(b.inside);
    make_mount_point(target, bind_sources[i].dir, "binds");
    unsigned long flags = MS_NOSUID | MS_NODEV;
    if (!b.rw) flags |= MS_RDONLY;
    if (b.rw || !needs_exec(spec, b.inside)) flags |= MS_NOEXEC;
    bind(bind_sources[i].fd.get(), target, flags, "binds");
    bind_sources[i].fd.reset();
  }

  // Device nodes cannot be created in a user namespace; bind the host's. No remount: nosuid
  // and noexec only concern regular files, and a read-only mount does not stop writes to a
  // character device, so the flags would cost a remount each and change nothing.
  for (size_t i = 0; i < spec.devices.size(); ++i) {
    const std::string target = staged(spec.devices[i]);
    make_mount_point(target, false, "devices");
    bind(device_sources[i].fd.get(), target, 0, "devices");
  }
  device_sources.clear();

  // A fresh proc shows only this pid namespace; without one it would show the host's, so there
  // is no /proc then. hidepid=invisible hides processes of other uids (there are none today).
  if (spec.proc && spec.ns.pid) {
    const std::string target = staged("/proc");
    make_dirs(target, "proc");
    const unsigned long flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (::mount("proc", target.c_str(), "proc", flags, "hidepid=invisible") != 0 &&
        (errno != EINVAL || ::mount("proc", target.c_str(), "proc", flags, nullptr) != 0)) {
      fail("proc", errno, target);
    }
  }

  for (const auto& l : spec.symlinks) {
    const std::string link = staged(l.link);
    make_dirs(link.substr(0, link.rfind('/')), "symlinks");
    if (::symlink(l.target.c_str(), link.c_str()) != 0) fail("symlinks", errno, l.link);
  }

  // pivot_root(".", ".") stacks the old root on top of the new one; unmounting "." then drops
  // the whole host tree from this namespace (pivot_root(2), NOTES).
  if (::chdir(kStage) != 0) fail("pivot_root", errno, kStage);
  if (::syscall(SYS_pivot_root, ".", ".") != 0) fail("pivot_root", errno);
  if (::umount2(".", MNT_DETACH) != 0) fail("umount_old", errno);
  if (::chdir("/") != 0) fail("umount_old", errno, "chdir /");
}

void seal_root() {
  const unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (::mount(nullptr, "/", nullptr, flags, nullptr) != 0) fail("remount_root_ro", errno);
}

}  // namespace plugvisor::runner
