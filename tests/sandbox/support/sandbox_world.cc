#include "sandbox_world.h"

#include <dirent.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "pg_cluster.h"

namespace plugvisor::sandboxtest {

using std::chrono::milliseconds;

namespace {

pid_t parent_of(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  auto close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 2));
  char state;
  pid_t ppid = 0;
  rest >> state >> ppid;
  return ppid;
}

std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> kids;
  std::unique_ptr<DIR, int (*)(DIR*)> proc(::opendir("/proc"), ::closedir);
  if (!proc) return kids;
  while (dirent* e = ::readdir(proc.get())) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid > 0 && parent_of(pid) == parent) kids.push_back(pid);
  }
  return kids;
}

// The unix socket of the test's PostgreSQL, from "host=<dir> port=<n> ...".
std::string postgres_socket(const std::string& url) {
  std::istringstream words(url);
  std::string word, host, port;
  while (words >> word) {
    if (word.rfind("host=", 0) == 0) host = word.substr(5);
    if (word.rfind("port=", 0) == 0) port = word.substr(5);
  }
  if (host.empty() || host.front() != '/' || port.empty()) return "";
  return host + "/.s.PGSQL." + port;
}

}  // namespace

std::string sandbox_config(const HostBait& bait, const SandboxOptions& o) {
  const Limits& l = o.limits;
  std::ostringstream y;
  y << ts::fast_defaults_yaml()
    // Attempts run for seconds (the CPU spin); the chain budget must not cut them short.
    << "dispatch: {budget_ms: 120000}\n"
    << "sandbox:\n  mode: " << o.mode << "\n";
  if (o.mode == "enforce") {
    y << "  require: [user_ns, pid_ns, mount_ns, net_ns, seccomp, landlock, no_new_privs, "
         "cgroups]\n";
  }
  y << "plugins:\n"
    << "  - id: " << o.probe_id << "\n"
    << "    executable: " << bait.probe_executable() << "\n"
    << "    args: [--id, " << o.probe_id << "]\n"
    << "    hooks: [{hook: tool.pre_exec, timeout_ms: " << o.hook_timeout_ms << "}]\n"
    << "    permissions:\n"
    << "      filesystem: [{path: " << bait.ro_dir() << ", mode: ro}]\n"
    << "      spawn: " << (o.spawn ? "true" : "false") << "\n"
    << "      resources: {memory_mb: " << l.memory_mb << ", pids: " << l.pids
    << ", cpu_seconds: " << l.cpu_seconds << ", tmp_mb: " << l.tmp_mb
    << ", open_files: " << l.open_files << "}\n"
    << ts::fixture("neighbour", "echo", {{"message.enrich", ""}});
  if (o.peer) {
    y << "  - id: peer\n"
      << "    executable: " << bait.probe_executable() << "\n"
      << "    args: [--id, peer]\n"
      << "    hooks: [{hook: tool.post_exec}]\n";
  }
  return y.str();
}

ProbeSession::ProbeSession(const HostBait& bait, SandboxOptions options,
                           const std::string& database_url)
    : bait_(bait), options_(std::move(options)), database_url_(database_url) {
  sup_ = ts::Supervisor::start(sandbox_config(bait_, options_), database_url);
  std::vector<std::string> ids = {options_.probe_id, "neighbour"};
  if (options_.peer) ids.push_back("peer");
  for (const std::string& id : ids) {
    // "failed" is permanent (e.g. a required mechanism is missing): say so at once.
    auto p = sup_->wait_for(
        id,
        [](const av1::PluginStatus& s) { return s.state() == "ready" || s.state() == "failed"; },
        std::chrono::seconds(60));
    INFO("plugin " << id << ": " << p.last_error());
    REQUIRE(p.state() == "ready");
  }
}

pid_t ProbeSession::plugin_pid(const std::string& id) {
  // Runner, then (sandboxed) its pid-namespace init, then the plugin: take the deepest.
  pid_t pid = sup_->plugin(id).pid();
  for (std::vector<pid_t> kids; !(kids = children_of(pid)).empty();) pid = kids.front();
  return pid;
}

long ProbeSession::supervisor_rss_kib() const {
  std::ifstream status("/proc/" + std::to_string(sup_->pid()) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

Json ProbeSession::inputs(const std::string& attempt, const Json& caps, const Json& overrides) {
  const Limits& l = options_.limits;
  // How far an attempt goes when nothing stops it (see the probe's resource attempts).
  Json all_caps = {{"processes", 2000}, {"threads", 2000}, {"memory_mb", 4096},
                   {"cpu_seconds", 30}, {"tmp_mb", 64},    {"open_files", 4096}};
  all_caps.update(caps);
  Json sockets = Json::array({sup_->dir() + "/api.sock"});
  if (auto pg = postgres_socket(database_url_); !pg.empty()) sockets.push_back(pg);
  Json in = {{"tool", "escape-probe"},
             {"attempt", attempt},
             {"target_pids", {{"supervisor", sup_->pid()}, {"neighbour", neighbour_pid()}}},
             {"probe_dir", bait_.probe_dir()},
             {"ro_dir", bait_.ro_dir()},
             {"scratch_dir", bait_.scratch_dir()},
             {"tcp_port", bait_.tcp_port()},
             {"udp_port", bait_.udp_port()},
             {"abstract_socket", bait_.abstract_name()},
             {"unix_sockets", sockets},
             {"host_ns",
              {{"net", host_ns_inode("net")},
               {"cgroup", host_ns_inode("cgroup")},
               {"user", host_ns_inode("user")},
               {"mnt", host_ns_inode("mnt")},
               {"uts", host_ns_inode("uts")},
               {"ipc", host_ns_inode("ipc")}}},
             {"host_hostname", host_name()},
             {"host_msg_key", std::to_string(bait_.msg_key())},
             {"limits",
              {{"memory_mb", l.memory_mb},
               {"pids", l.pids},
               {"cpu_seconds", l.cpu_seconds},
               {"tmp_mb", l.tmp_mb},
               {"open_files", l.open_files}}},
             {"caps", all_caps}};
  in.update(overrides);
  return in;
}

Json ProbeSession::peer_listen(const std::string& name) {
  grpc::Status status;
  auto resp = sup_->dispatch("tool.post_exec",
                             Json{{"attempt", "listen_abstract"}, {"name", name}}.dump(), &status);
  if (!status.ok()) FAIL("dispatch to the peer: " << status.error_message());
  Json data = Json::parse(resp.data_json(), nullptr, false);
  if (data.is_discarded() || !data.contains("metadata")) {
    FAIL("the peer answered without metadata: " << resp.data_json());
  }
  return data["metadata"];
}

std::vector<Json> ProbeSession::events(const std::string& plugin_id, const std::string& kind) {
  av1::WatchEventsRequest req;
  req.set_plugin_id(plugin_id);
  req.set_kind_prefix(kind);
  req.set_replay(1000);
  req.set_follow(false);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto reader = sup_->admin().WatchEvents(&ctx, req);
  std::vector<Json> events;
  av1::Event e;
  while (reader->Read(&e)) {
    if (e.kind() != kind) continue;
    Json detail = Json::parse(e.detail_json(), nullptr, false);
    if (detail.is_discarded() || !detail.is_object()) detail = Json::object();
    detail["_at_unix_ms"] = e.at_unix_ms();
    events.push_back(std::move(detail));
  }
  reader->Finish();
  return events;
}

Invocation ProbeSession::invoke(const std::string& attempt, const Json& caps,
                                const Json& overrides) {
  const std::string& id = options_.probe_id;
  const pid_t before = sup_->wait_for_state(id, "ready", std::chrono::seconds(60)).pid();
  const auto started_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  Invocation inv;
  inv.attempt = attempt;
  grpc::Status status;
  auto resp = sup_->dispatch("tool.pre_exec", inputs(attempt, caps, overrides).dump(), &status);
  if (!status.ok()) FAIL("dispatch of " << attempt << ": " << status.error_message());
  const hv1::Receipt* receipt = nullptr;
  for (const auto& r : resp.receipts()) {
    if (r.plugin_id() == id) receipt = &r;
  }
  if (receipt == nullptr) FAIL("no receipt of " << id << " for " << attempt);
  if (receipt->status() == "ok") {
    Json data = Json::parse(resp.data_json(), nullptr, false);
    if (data.is_discarded() || !data.contains("metadata")) {
      FAIL(attempt << ": the probe answered without metadata: " << resp.data_json());
    }
    inv.answered = true;
    inv.result = data["metadata"];
    return inv;
  }
  inv.receipt_error = receipt->error_code() + ": " + receipt->error_message();
  // It did not answer: it should have died. Find that incarnation's exit event.
  const bool died = ts::eventually(
      [&] {
        for (const auto& ev : events(options_.probe_id, "exit")) {
          const bool same_pid = ev.contains("pid") && ev["pid"] == before;
          const bool recent =
              !ev.contains("pid") && ev["_at_unix_ms"].get<long long>() >= started_ms;
          if (same_pid || recent) {
            inv.exit = ev;
            return true;
          }
        }
        return false;
      },
      std::chrono::seconds(30));
  if (!died) {
    FAIL(attempt << ": the probe neither answered nor died (" << inv.receipt_error
                 << ")\nplugvisord log:\n"
                 << sup_->log());
  }
  sup_->wait_for(
      id, [&](const av1::PluginStatus& p) { return p.state() == "ready" && p.pid() != before; },
      std::chrono::seconds(60));
  return inv;
}

std::vector<Json> ProbeSession::list() {
  Invocation inv = invoke("list");
  REQUIRE(inv.answered);
  REQUIRE(inv.result.contains("attempts"));
  return inv.result["attempts"].get<std::vector<Json>>();
}

void ProbeSession::check_still_serving() {
  auto resp = sup_->dispatch("message.enrich",
                             R"({"text": "still there?", "_patch": {"enrichments": ["alive"]}})");
  bool neighbour_ok = false;
  for (const auto& r : resp.receipts()) {
    if (r.plugin_id() == "neighbour") neighbour_ok = r.status() == "ok";
  }
  CHECK(neighbour_ok);
  CHECK_THAT(resp.data_json(), Catch::Contains("alive"));
  CHECK(sup_->plugin("neighbour").state() == "ready");
  CHECK(sup_->status().plugins_size() == (options_.peer ? 3 : 2));
  CHECK(ts::process_alive(sup_->pid()));
}

}  // namespace plugvisor::sandboxtest
