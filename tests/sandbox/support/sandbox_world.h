// The escape suite's session around the probe: the config that runs it next to a neighbouring
// plugin (and a peer probe), and a session that invokes one attempt at a time and follows the
// probe's deaths. The host-side bait is in host_bait.h.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attempt_table.h"
#include "host_bait.h"
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
  // A plugin's stored events of one kind, oldest first: each one's detail, plus its time as
  // "_at_unix_ms".
  std::vector<Json> events(const std::string& plugin_id, const std::string& kind);

 private:
  const HostBait& bait_;
  SandboxOptions options_;
  std::string database_url_;
  std::unique_ptr<ts::Supervisor> sup_;
};

}  // namespace plugvisor::sandboxtest
