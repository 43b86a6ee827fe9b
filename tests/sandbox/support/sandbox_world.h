// The world the escape suite builds around the probe: the host-side bait it must not reach
// (files, directories, listening sockets), the config that runs it next to a neighbouring
// plugin, and a session that invokes one attempt at a time and follows the probe's deaths.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attempt_table.h"
#include "plugvisor/common/unique_fd.h"
#include "supervisor_harness.h"

namespace plugvisor::sandboxtest {

namespace ts = plugvisor::testsupport;
namespace av1 = plugvisor::admin::v1;
namespace hv1 = plugvisor::hooks::v1;

// The probe's permissions.resources (and what it is told as data.limits).
struct Limits {
  int memory_mb = 128;
  int pids = 32;
  int cpu_seconds =
      2;  // CPU time, not wall time: on a loaded 2-core machine 2 s can take 20 s of wall time
  int tmp_mb = 8;
  int open_files = 64;
};

// Host-side files and sockets. Everything is world-readable/-writable on purpose: file modes
// must not be what stops the probe, the sandbox must.
//   <root>/plugin/   the probe's own files: a copy of it, canary.txt, outside-link -> secret,
//                    escape-probe-suid (a setuid-root copy of the probe)
//   <root>/probe/    "the host's /tmp": secret.txt, host-tmp-canary
//   <root>/granted/  granted to the probe read-only: granted.txt
//   <root>/scratch/  lent to a probe run without a sandbox as its data dir (it has none)
class HostBait {
 public:
  HostBait();
  HostBait(const HostBait&) = delete;
  HostBait& operator=(const HostBait&) = delete;

  std::string probe_executable() const { return plugin_dir() + "/plugvisor-escape-probe"; }
  std::string plugin_dir() const { return dir_.path() + "/plugin"; }
  std::string probe_dir() const { return dir_.path() + "/probe"; }
  std::string ro_dir() const { return dir_.path() + "/granted"; }
  std::string scratch_dir() const { return dir_.path() + "/scratch"; }
  int tcp_port() const { return tcp_port_; }
  int udp_port() const { return udp_port_; }
  const std::string& abstract_name() const { return abstract_name_; }
  // A SysV message queue of the test's (the host's ipc namespace), by key.
  long msg_key() const { return msg_queue_.key; }

  // Every trace of an escape found on the host side (changed or new files, a connection or
  // datagram that arrived). Empty when nothing got through.
  std::vector<std::string> evidence() const;

 private:
  ts::TempDir dir_;
  UniqueFd tcp_, udp_, abstract_;
  struct MsgQueue {
    MsgQueue();
    ~MsgQueue();
    MsgQueue(const MsgQueue&) = delete;
    MsgQueue& operator=(const MsgQueue&) = delete;
    long key = 0;
    int id = -1;
  } msg_queue_;
  int tcp_port_ = 0, udp_port_ = 0;
  std::string abstract_name_;
};

struct SandboxOptions {
  std::string mode = "enforce";  // or "off"
  std::string probe_id = "probe";
  bool spawn = false;
  Limits limits;
  int hook_timeout_ms =
      60000;  // generous: the CPU-limit attempt must end by RLIMIT_CPU, not by our timeout
  // A second, identical probe as "peer" on tool.post_exec, sandboxed the same way: the other
  // end of the cross-plugin attempts.
  bool peer = false;
};

// plugvisord's config: the probe (bait granted as needed), plugvisor-fixture-echo as
// "neighbour" on message.enrich and, with options.peer, the peer probe.
std::string sandbox_config(const HostBait& bait, const SandboxOptions& options);

// A running plugvisord with the probe and its neighbour, both ready.
class ProbeSession {
 public:
  ProbeSession(const HostBait& bait, SandboxOptions options, const std::string& database_url);

  ts::Supervisor& supervisor() { return *sup_; }
  const SandboxOptions& options() const { return options_; }

  // The invocation data for `attempt`: every input the probe's attempts read (`overrides`
  // replaces some of them).
  Json inputs(const std::string& attempt, const Json& caps = Json::object(),
              const Json& overrides = Json::object());
  // One tool.pre_exec call. If the probe dies instead of answering, waits for its exit event
  // and then for its next incarnation to be ready.
  Invocation invoke(const std::string& attempt, const Json& caps = Json::object(),
                    const Json& overrides = Json::object());
  // Has the peer probe (options.peer) listen on the abstract unix socket @name; its answer.
  Json peer_listen(const std::string& name);
  // The attempts the probe knows ({"name", "family", "kind"}).
  std::vector<Json> list();

  // CHECKs that the neighbour answers message.enrich and the supervisor its admin API.
  void check_still_serving();
  // The host pid of a plugin's own process (the deepest descendant of its runner).
  pid_t plugin_pid(const std::string& id);
  pid_t neighbour_pid() { return plugin_pid("neighbour"); }
  long supervisor_rss_kib() const;

 private:
  std::vector<Json> exit_events();
  const HostBait& bait_;
  SandboxOptions options_;
  std::string database_url_;
  std::unique_ptr<ts::Supervisor> sup_;
};

// Inode of the test's own namespace of a type ("net", "cgroup", ...).
unsigned long long host_ns_inode(const std::string& type);
// The test's hostname (the host's uts namespace).
std::string host_name();

}  // namespace plugvisor::sandboxtest
