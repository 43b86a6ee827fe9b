// The escape probe's vocabulary: one Attempt per way out of the sandbox, what it is given (the
// test's invocation data) and what it reports. Each family of attempts lives in its own file.
#pragma once

#include <sys/types.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace plugvisor::escape_probe {

using Json = nlohmann::json;

// What an attempt found. `inconclusive` means the attempt could not be made for a reason that
// has nothing to do with the sandbox (the test did not pass an input, a fixture file is missing):
// the suite treats that as a failure, never as "blocked".
struct Outcome {
  bool escaped = false;
  std::string detail;
  bool inconclusive = false;
};

Outcome blocked(std::string detail);
Outcome escaped(std::string detail);
Outcome inconclusive(std::string detail);

// safe:     only uses what any plugin process may use; all_safe runs it.
// may_kill: touches a syscall a seccomp allowlist may answer with a kill; run alone.
// fatal:    meant to end the process when it is blocked (a limit kill) or when it succeeds
//           (an exec replaces the process; it then exits with kExecEscapedExit or a code of
//           its own); run alone.
enum class Kind { safe, may_kill, fatal };
const char* kind_name(Kind kind);

// An exec attempt that got through replaces the probe with a program that exits with this.
constexpr int kExecEscapedExit = 93;
// The setuid helper (the probe binary, setuid root, run with --suid-check) exits with these.
constexpr int kSuidGotRoot = 94;
constexpr int kSuidNoRoot = 95;

// The invocation data, with the defaults the attempts fall back on.
class Input {
 public:
  explicit Input(const Json& data) : data_(data) {}
  const Json& data() const { return data_; }

  // A pid from data.target_pids ("supervisor", "neighbour"); 0 when the test gave none.
  pid_t target_pid(const std::string& who) const;
  // A string field; empty when absent.
  std::string text(const std::string& key) const;
  long long number(const std::string& key, long long fallback) const;
  // data.limits.<key>: the limit the test declared for this plugin (0 when absent).
  long long limit(const std::string& key) const;
  // data.caps.<key>, else `fallback`: how far an attempt goes when nothing stops it, so that a
  // probe run without a sandbox cannot take the machine down.
  long long cap(const std::string& key, long long fallback) const;
  // The inode of the test's own namespace of this type (data.host_ns.<type>), 0 when absent.
  unsigned long long host_ns(const std::string& type) const;

 private:
  const Json& data_;
};

struct Attempt {
  std::string name;
  std::string family;
  Kind kind;
  std::function<Outcome(const Input&)> run;
};

// Every attempt, in a stable order (families in file order).
const std::vector<Attempt>& all_attempts();
const Attempt* find_attempt(const std::string& name);

// Not an attempt: the peer probe's half of a cross-plugin one. Binds the abstract unix socket
// @data.name, listens and keeps it for the rest of the process's life.
Outcome listen_abstract(const Input& in);

void add_fs_attempts(std::vector<Attempt>& out);
void add_net_attempts(std::vector<Attempt>& out);
void add_process_attempts(std::vector<Attempt>& out);
void add_kernel_attempts(std::vector<Attempt>& out);
void add_ns_attempts(std::vector<Attempt>& out);
void add_resource_attempts(std::vector<Attempt>& out);

// --- helpers shared by the families ---

// "EACCES (Permission denied)".
std::string errno_text(int err);
// "<what>: EACCES (Permission denied)", with a hint when the errno usually means the path is
// simply not there in the sandbox.
std::string failed(const std::string& what, int err);
// The directory the probe's executable is in (the plugin's own files: /plugin in the sandbox).
std::string own_dir();
// The plugin's data dir: $PLUGVISOR_DATA_DIR, else /data, else data.scratch_dir (a probe run
// without a sandbox has no data dir of its own; the test lends it one), else a new directory
// under /tmp. Decided on the first call.
const std::string& data_dir(const Input& in);
// Inode of /proc/self/ns/<type>, 0 if unreadable.
unsigned long long own_ns(const std::string& type);
// True if `pid` names this very process (or one of its threads) or the pid namespace's init:
// in a pid namespace a host pid may happen to collide with one of ours, and an attempt must
// not "succeed" against itself.
bool is_self_or_init(pid_t pid);
// True if `pid` is another process that this one can see (in its /proc).
bool is_visible_other(pid_t pid);
// Reads up to `max` bytes of a file; false (errno set) if it cannot be opened or read.
bool read_file(const std::string& path, std::string& out, size_t max = 4096);
// The host uid that uid `inside` of this user namespace is (from /proc/self/uid_map); -1 if it
// is not mapped or the map is unreadable.
long long host_uid(uid_t inside);
// The capability sets of this process, as /proc/self/status shows them ("CapEff 0000...").
std::string capability_summary();
// Makes a process-unique name for a scratch file: "<prefix>-<pid>-<n>".
std::string scratch_name(const std::string& prefix);

}  // namespace plugvisor::escape_probe
