// Landlock denials in a plugin's events: with the kernel's audit on, a denial the probe runs into
// is recorded as a landlock_denied event of that plugin, saying what was denied and by which
// syscall, and of no other plugin. The test turns audit on for its run and restores it after.
#include "sandbox/landlock_audit.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <optional>

#include "pg_cluster.h"
#include "sandbox/kernel_audit.h"
#include "sandbox_world.h"

using namespace plugvisor::sandboxtest;
namespace sb = plugvisor::sandbox;

namespace {

// The kernel's audit on for the scope, then back to how it was.
class KernelAuditOn {
 public:
  KernelAuditOn() {
    auto was = sb::kernel_audit_status();
    if (!was) {
      why_not = was.error().message;
      return;
    }
    if (was->failure == sb::kAuditFailPanic) {
      why_not = "a lost audit record panics this machine, so denials are not logged";
      return;
    }
    if (was->enabled != 0) {
      on = true;
      return;
    }
    auto set = sb::set_kernel_audit_enabled(1);
    if (!set) {
      why_not = set.error().message;
      return;
    }
    on = restore_ = true;
  }
  ~KernelAuditOn() {
    if (restore_ && !sb::set_kernel_audit_enabled(0)) {
      WARN("could not turn the kernel's audit back off");
    }
  }
  KernelAuditOn(const KernelAuditOn&) = delete;
  KernelAuditOn& operator=(const KernelAuditOn&) = delete;

  bool on = false;
  std::string why_not;

 private:
  bool restore_ = false;
};

// The Landlock ABI plugvisord will see, from the runner's probe.
int landlock_abi(ProbeSession& session) {
  plugvisor::admin::v1::DoctorResponse doctor;
  grpc::ClientContext ctx;
  REQUIRE(session.supervisor().admin().Doctor(&ctx, {}, &doctor).ok());
  auto probe = Json::parse(doctor.probe_json(), nullptr, false);
  if (probe.is_object() && probe.contains("landlock") && probe["landlock"].is_object()) {
    return probe["landlock"].value("abi", 0);
  }
  return probe.is_object() ? probe.value("landlock_abi", 0) : 0;
}

std::optional<plugvisor::admin::v1::Mechanism> audit_row(ProbeSession& session) {
  plugvisor::admin::v1::DoctorResponse doctor;
  grpc::ClientContext ctx;
  REQUIRE(session.supervisor().admin().Doctor(&ctx, {}, &doctor).ok());
  for (const auto& m : doctor.mechanisms()) {
    if (m.name() == "landlock_audit") return m;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("a Landlock denial becomes a landlock_denied event of the plugin it stopped",
          "[sandbox]") {
  REQUIRE(::geteuid() == 0);
  KernelAuditOn audit;
  if (!audit.on) {
    WARN("not run: cannot turn the kernel's audit on here (" << audit.why_not << ")");
    return;
  }
  HostBait bait;
  ProbeSession session(bait, {}, ts::fresh_database(ts::shared_cluster()));
  const int abi = landlock_abi(session);
  auto row = audit_row(session);
  REQUIRE(row.has_value());
  INFO("doctor: landlock_audit " << row->available() << ": " << row->detail());
  if (abi < sb::kLandlockAbiAudit) {
    CHECK_FALSE(row->available());
    WARN("not run: Landlock ABI " << abi << " logs no denials after exec");
    return;
  }
  CHECK(row->available());

  // exec of /bin/sh: the new root has it, only Landlock's execute rule refuses it.
  Invocation inv = session.invoke("exec_sh");
  REQUIRE(inv.answered);
  CHECK_FALSE(inv.result.value("escaped", true));

  std::vector<Json> denials;
  const bool seen = ts::eventually(
      [&] {
        denials = session.events("probe", "landlock_denied");
        for (const auto& d : denials) {
          if (d.value("blockers", "") == "fs.execute") return true;
        }
        return false;
      },
      std::chrono::seconds(20));
  INFO("the probe's landlock_denied events: " << Json(denials).dump());
  REQUIRE(seen);
  Json exec;
  for (const auto& d : denials) {
    if (d.value("blockers", "") == "fs.execute") exec = d;
  }
  CHECK_THAT(exec.value("path", ""), Catch::EndsWith("sh"));  // /usr/bin/dash behind /bin/sh
  CHECK_THAT(exec.value("syscall", ""), Catch::StartsWith("execve"));
  CHECK(exec.value("result", 0) == -13);  // EACCES, what the probe got
  CHECK(exec.value("pid", 0) == session.plugin_pid("probe"));

  // The neighbour ran into nothing, and gets nobody else's denials.
  CHECK(session.events("neighbour", "landlock_denied").empty());
  session.check_still_serving();
}
