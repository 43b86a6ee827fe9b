// Resource escapes: taking more than the plugin's declared limits (data.limits, the numbers of
// its permissions.resources) or leaving the cgroup that enforces them. Every attempt stops on
// its own at data.caps (or a default), and gives back what it took, so a probe run without a
// sandbox cannot take the machine down; reaching a cap past the declared limit is an escape.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <vector>

#include "attempt.h"
#include "plugvisor/common/unique_fd.h"

namespace plugvisor::escape_probe {
namespace {

constexpr long long kMiB = 1 << 20;

Outcome over_limit(long long got, long long limit, const std::string& what,
                   const std::string& stop) {
  std::string detail = what + ": " + std::to_string(got) + " (declared limit " +
                       std::to_string(limit) + "), then " + stop;
  return limit > 0 && got > limit ? escaped(detail) : blocked(detail);
}

// Children that wait for the end of a pipe: closing our write end lets every one of them go.
Outcome fork_bomb(const Input& in) {
  const long long limit = in.limit("pids"), cap = in.cap("processes", 2000);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return inconclusive(failed("pipe", errno));
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  std::vector<pid_t> children;
  std::string stop = "stopped at the cap";
  while (static_cast<long long>(children.size()) < cap) {
    // The raw syscall skips gRPC's atfork handlers; the child only calls close/read/_exit.
    long pid = ::syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, nullptr);
    if (pid == 0) {
      ::close(fds[1]);
      char c;
      while (::read(fds[0], &c, 1) < 0 && errno == EINTR) {
      }
      ::_exit(0);
    }
    if (pid < 0) {
      stop = failed("fork", errno);
      break;
    }
    children.push_back(static_cast<pid_t>(pid));
  }
  write_end.reset();
  for (pid_t child : children) ::waitpid(child, nullptr, 0);
  return over_limit(static_cast<long long>(children.size()), limit, "processes forked", stop);
}

void* wait_for_pipe(void* arg) {
  char c;
  while (::read(*static_cast<int*>(arg), &c, 1) < 0 && errno == EINTR) {
  }
  return nullptr;
}

Outcome thread_bomb(const Input& in) {
  const long long limit = in.limit("pids"), cap = in.cap("threads", 2000);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return inconclusive(failed("pipe", errno));
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  int read_fd = fds[0];
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 << 10);  // it is the count that matters, not the memory
  std::vector<pthread_t> threads;
  std::string stop = "stopped at the cap";
  while (static_cast<long long>(threads.size()) < cap) {
    pthread_t t;
    if (int err = pthread_create(&t, &attr, wait_for_pipe, &read_fd); err != 0) {
      stop = failed("pthread_create", err);
      break;
    }
    threads.push_back(t);
  }
  pthread_attr_destroy(&attr);
  write_end.reset();
  for (pthread_t t : threads) pthread_join(t, nullptr);
  return over_limit(static_cast<long long>(threads.size()), limit, "threads started", stop);
}

long long available_mib() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  long long kib = 0;
  while (meminfo >> key >> kib) {
    if (key == "MemAvailable:") return kib / 1024;
    meminfo.ignore(64, '\n');
  }
  return 1024;
}

Outcome memory_hog(const Input& in) {
  const long long limit = in.limit("memory_mb");
  // Never more than half of what the machine has free, whatever the cap says.
  const long long cap = std::min(in.cap("memory_mb", 4096), available_mib() / 2);
  constexpr size_t kStep = 16 * kMiB;
  struct Held {
    std::vector<void*> maps;
    ~Held() {
      for (void* at : maps) ::munmap(at, kStep);
    }
  } held;
  std::string stop = "stopped at the cap";
  while (static_cast<long long>(held.maps.size() * kStep / kMiB) < cap) {
    void* at = ::mmap(nullptr, kStep, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (at == MAP_FAILED) {
      stop = failed("mmap", errno);
      break;
    }
    held.maps.push_back(at);
    // Touch every page: only resident memory counts against a memory limit.
    for (size_t off = 0; off < kStep; off += 4096) static_cast<volatile char*>(at)[off] = 1;
  }
  return over_limit(static_cast<long long>(held.maps.size() * kStep / kMiB), limit,
                    "MiB allocated and touched", stop);
}

double cpu_seconds_used() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

Outcome cpu_spin(const Input& in) {
  const long long limit = in.limit("cpu_seconds"), cap = in.cap("cpu_seconds", 30);
  const auto wall_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2 * cap);
  // SIGXCPU (RLIMIT_CPU) or a kill ends this; a CPU quota only slows it down.
  volatile unsigned long long spins = 0;
  while (cpu_seconds_used() < static_cast<double>(cap) &&
         std::chrono::steady_clock::now() < wall_deadline) {
    for (int i = 0; i < 1'000'000; ++i) spins = spins + 1;
  }
  const auto used = static_cast<long long>(cpu_seconds_used());
  return over_limit(used, limit, "CPU seconds used by the process", "stopped at the cap");
}

Outcome fill_tmp(const Input& in) {
  const long long limit = in.limit("tmp_mb");
  const long long cap = in.cap("tmp_mb", std::max(64LL, 4 * limit));
  std::string path = "/tmp/" + scratch_name(".escape-fill");
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return blocked(failed("create " + path, errno));
  ::unlink(path.c_str());  // the space is given back when fd closes
  const std::string chunk(static_cast<size_t>(kMiB), 'x');
  long long written = 0;
  std::string stop = "stopped at the cap";
  while (written < cap * kMiB) {
    ssize_t n = ::write(fd.get(), chunk.data(), chunk.size());
    if (n <= 0) {
      stop = failed("write", n < 0 ? errno : ENOSPC);
      break;
    }
    written += n;
  }
  return over_limit(written / kMiB, limit, "MiB written to /tmp", stop);
}

Outcome exhaust_fds(const Input& in) {
  const long long limit = in.limit("open_files");
  const long long cap = in.cap("open_files", std::max(4096LL, 4 * limit));
  std::vector<UniqueFd> held;
  std::string stop = "stopped at the cap";
  while (static_cast<long long>(held.size()) < cap) {
    UniqueFd fd(::fcntl(0, F_DUPFD_CLOEXEC, 0));
    if (!fd) {
      stop = failed("dup", errno);
      break;
    }
    held.push_back(std::move(fd));
  }
  // Count what was open before too: the limit is on the highest descriptor number.
  const long long highest = held.empty() ? 0 : held.back().get() + 1;
  return over_limit(highest, limit, "file descriptors open", stop);
}

Outcome cgroup_escape(const Input& in) {
  // Moving itself into the root cgroup would leave every limit behind. Opening cgroup.procs for
  // writing is the test: a probe without a sandbox must not really move (the machine's own
  // cgroups are not ours to disturb).
  std::string detail;
  bool any = false;
  for (const std::string dir : {"", "/memory", "/pids", "/cpu"}) {
    std::string path = "/sys/fs/cgroup" + dir + "/cgroup.procs";
    if (UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC)); fd) {
      any = true;
      detail += "opened " + path + " for writing (did not write); ";
    } else {
      detail += failed("open " + path + " for writing", errno) + "; ";
    }
  }
  const unsigned long long mine = own_ns("cgroup"), host = in.host_ns("cgroup");
  if (any && host != 0 && mine != host) {
    return blocked(detail + "but inside its own cgroup namespace");
  }
  return any ? escaped(detail) : blocked(detail);
}

Outcome raise_rlimit(const Input&) {
  // Raising a hard limit takes CAP_SYS_RESOURCE in the initial user namespace.
  std::string detail;
  bool any = false;
  for (auto [resource, name] :
       {std::pair{RLIMIT_NOFILE, "RLIMIT_NOFILE"}, std::pair{RLIMIT_NPROC, "RLIMIT_NPROC"},
        std::pair{RLIMIT_CPU, "RLIMIT_CPU"}}) {
    rlimit old{};
    ::getrlimit(resource, &old);
    if (old.rlim_max == RLIM_INFINITY) {
      detail += std::string(name) + " has no hard limit to raise; ";
      continue;
    }
    rlimit raised = old;
    raised.rlim_max = old.rlim_max + 1;
    if (::setrlimit(resource, &raised) == 0) {
      any = true;
      detail += "raised the hard " + std::string(name) + "; ";
      ::setrlimit(resource, &old);
    } else {
      detail += failed(std::string("raise the hard ") + name, errno) + "; ";
    }
  }
  return any ? escaped(detail) : blocked(detail);
}

}  // namespace

void add_resource_attempts(std::vector<Attempt>& out) {
  const std::string f = "resources";
  out.push_back({"fork_bomb", f, Kind::fatal, fork_bomb});
  out.push_back({"thread_bomb", f, Kind::fatal, thread_bomb});
  out.push_back({"memory_hog", f, Kind::fatal, memory_hog});
  out.push_back({"cpu_spin", f, Kind::fatal, cpu_spin});
  out.push_back({"fill_tmp", f, Kind::safe, fill_tmp});
  out.push_back({"exhaust_fds", f, Kind::safe, exhaust_fds});
  out.push_back({"cgroup_escape", f, Kind::safe, cgroup_escape});
  out.push_back({"raise_rlimit", f, Kind::may_kill, raise_rlimit});
}

}  // namespace plugvisor::escape_probe
