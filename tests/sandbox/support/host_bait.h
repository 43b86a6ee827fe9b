// The host side of the escape suite: the bait the probe must not reach (files, directories,
// listening sockets, a SysV queue) and the namespaces it is compared with.
#pragma once

#include <string>
#include <vector>

#include "plugvisor/common/unique_fd.h"
#include "supervisor_harness.h"

namespace plugvisor::sandboxtest {

namespace ts = plugvisor::testsupport;

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

// Inode of the test's own namespace of a type ("net", "cgroup", ...).
unsigned long long host_ns_inode(const std::string& type);
// The test's hostname (the host's uts namespace).
std::string host_name();

}  // namespace plugvisor::sandboxtest
