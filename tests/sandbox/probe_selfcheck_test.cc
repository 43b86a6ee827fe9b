// The probe's own check: with `sandbox: {mode: off}` the same attempts must really get out.
// Without this, a probe whose attempts had quietly stopped working (a wrong path, a typo in an
// address) would make the escape suite pass for the wrong reason. The caps are low here: the
// attempts only need to go past the declared limits to count, not to hurt the machine.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <iostream>
#include <set>

#include "pg_cluster.h"
#include "sandbox_world.h"

using namespace plugvisor::sandboxtest;

namespace {

// Escapes that work for any unsandboxed root process on Linux. The rest depend on the machine
// (a terminal for TIOCSTI, x32 and i386 support, sysctls, the filesystem type for
// open_by_handle) and are only reported.
const std::set<std::string> kMustEscape = {"read_shadow",
                                           "read_supervisor_environ",
                                           "proc_root_traversal",
                                           "path_traversal",
                                           "data_dir_symlink",
                                           "plugin_dir_symlink",
                                           "write_usr",
                                           "write_plugin_files",
                                           "write_host_tmp",
                                           "write_granted_ro",
                                           "hardlink_across",
                                           "rename_across",
                                           "dac_override",
                                           "tcp_connect",
                                           "tcp_bind_listen",
                                           "udp_send",
                                           "raw_socket",
                                           "abstract_unix_connect",
                                           "unix_pathname_connect",
                                           "host_network_visible",
                                           "kill_supervisor",
                                           "kill_neighbour",
                                           "ptrace_supervisor",
                                           "ptrace_neighbour",
                                           "process_vm_readv_supervisor",
                                           "process_vm_readv_neighbour",
                                           "setuid_root",
                                           "exec_sh",
                                           "exec_setuid",
                                           "memfd_execveat",
                                           "see_host_processes",
                                           "host_user_ns",
                                           "host_mount_ns",
                                           "host_uts_ns",
                                           "host_ipc_ns",
                                           "host_cgroup_ns",
                                           "mount",
                                           "unshare",
                                           "setns",
                                           "pivot_root",
                                           "fork_bomb",
                                           "thread_bomb",
                                           "memory_hog",
                                           "cpu_spin",
                                           "fill_tmp",
                                           "exhaust_fds"};

// An unsandboxed exec attempt replaces the probe; its exit code says how far it got.
bool escaped(const Invocation& inv) {
  if (inv.answered) return inv.result.value("escaped", false);
  const Json code =
      inv.exit.contains("exit_code") ? inv.exit["exit_code"] : inv.exit.value("code", Json());
  return code == 93 || code == 94;
}

}  // namespace

TEST_CASE("without a sandbox the probe's attempts really escape", "[sandbox][selfcheck]") {
  REQUIRE(::geteuid() == 0);
  HostBait bait;
  SandboxOptions options;
  options.mode = "off";
  options.limits.cpu_seconds = 1;
  ProbeSession session(bait, options, ts::fresh_database(ts::shared_cluster()));
  CHECK(session.supervisor().plugin("probe").sandbox() == "off");
  // Just past each declared limit.
  const Json caps = {{"processes", 64},  {"threads", 64}, {"memory_mb", 256},
                     {"cpu_seconds", 3}, {"tmp_mb", 16},  {"open_files", 128}};

  std::vector<std::pair<Invocation, Verdict>> rows;
  std::vector<std::string> escaped_list, held_list;
  for (const auto& e : expectations()) {
    Invocation inv = session.invoke(e.attempt, caps);
    Verdict v;
    v.blocked = !escaped(inv);
    v.how = inv.answered ? inv.result.value("detail", "") : "exited: " + inv.exit.dump();
    if (!v.blocked) v.problem = "escaped (as it should without a sandbox): " + v.how;
    (v.blocked ? held_list : escaped_list).push_back(e.attempt);
    if (kMustEscape.contains(e.attempt)) {
      INFO(e.attempt << " did not escape without a sandbox: " << v.how);
      CHECK_FALSE(v.blocked);
    }
    rows.emplace_back(std::move(inv), std::move(v));
  }
  std::cout << "\n## without a sandbox\n\n"
            << report_table(rows) << "\nescaped (" << escaped_list.size() << "):";
  for (const auto& a : escaped_list) std::cout << " " << a;
  std::cout << "\nheld anyway (" << held_list.size() << "):";
  for (const auto& a : held_list) std::cout << " " << a;
  std::cout << "\n" << std::flush;
  session.check_still_serving();
}
