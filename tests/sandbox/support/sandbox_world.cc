#include "sandbox_world.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "pg_cluster.h"

namespace plugvisor::sandboxtest {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

void write_file(const std::string& path, const std::string& content, fs::perms mode) {
  std::ofstream(path) << content;
  fs::permissions(path, mode);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void make_open_dir(const std::string& path) {
  fs::create_directory(path);
  fs::permissions(path, fs::perms::all);  // 0777: see HostBait
}

int bound_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

UniqueFd loopback_socket(int type, int& port) {
  UniqueFd fd(::socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  if (type == SOCK_STREAM) REQUIRE(::listen(fd.get(), 16) == 0);
  port = bound_port(fd.get());
  return fd;
}

std::set<std::string> entries(const std::string& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.insert(e.path().filename().string());
  return names;
}

// Whatever else showed up in a directory the probe must not be able to write to.
void unexpected_entries(const std::string& dir, const std::set<std::string>& expected,
                        std::vector<std::string>& found) {
  for (const auto& name : entries(dir)) {
    if (!expected.contains(name)) found.push_back("new file " + dir + "/" + name);
  }
  for (const auto& name : expected) {
    if (!fs::exists(fs::symlink_status(dir + "/" + name))) {
      found.push_back("missing file " + dir + "/" + name);
    }
  }
}

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

std::string host_name() {
  char name[256] = {};
  return ::gethostname(name, sizeof name - 1) == 0 ? name : "";
}

unsigned long long host_ns_inode(const std::string& type) {
  struct stat st {};
  return ::stat(("/proc/self/ns/" + type).c_str(), &st) == 0 ? st.st_ino : 0;
}

HostBait::MsgQueue::MsgQueue() {
  // A key of our own; another run's leftover queue (a killed test) only moves us along.
  for (long k = 0x50560000L | (::getpid() & 0xffff); id < 0 && k < 0x50570000L + 0xffff;
       k += 0x10000) {
    id = ::msgget(static_cast<key_t>(k), IPC_CREAT | IPC_EXCL | 0600);
    if (id >= 0) key = k;
  }
  REQUIRE(id >= 0);
}

HostBait::MsgQueue::~MsgQueue() {
  if (id >= 0) ::msgctl(id, IPC_RMID, nullptr);
}

HostBait::HostBait() {
  make_open_dir(plugin_dir());
  make_open_dir(probe_dir());
  make_open_dir(ro_dir());
  make_open_dir(scratch_dir());
  const std::string built = ts::plugin_binary("plugvisor-escape-probe");
  REQUIRE(fs::exists(built));
  // The probe runs from a copy: its "own files" are then the test's to check and to lose.
  fs::copy_file(built, probe_executable());
  fs::permissions(probe_executable(), fs::perms::owner_all | fs::perms::group_read |
                                          fs::perms::group_exec | fs::perms::others_read |
                                          fs::perms::others_exec);
  write_file(plugin_dir() + "/canary.txt", "canary\n", fs::perms(0666));
  fs::create_symlink(probe_dir() + "/secret.txt", plugin_dir() + "/outside-link");
  const std::string suid = plugin_dir() + "/escape-probe-suid";
  fs::copy_file(built, suid);
  REQUIRE(::chown(suid.c_str(), 0, 0) == 0);
  REQUIRE(::chmod(suid.c_str(), 04755) == 0);

  write_file(probe_dir() + "/secret.txt", "plugvisor-escape-secret\n", fs::perms(0644));
  write_file(probe_dir() + "/host-tmp-canary", "canary\n", fs::perms(0666));
  write_file(ro_dir() + "/granted.txt", "granted\n", fs::perms(0666));

  tcp_ = loopback_socket(SOCK_STREAM, tcp_port_);
  udp_ = loopback_socket(SOCK_DGRAM, udp_port_);
  abstract_name_ = "plugvisor-escape-test-" + std::to_string(::getpid()) + "-" +
                   std::to_string(std::random_device{}());
  abstract_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  REQUIRE(abstract_);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, abstract_name_.data(), abstract_name_.size());
  const auto len =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + abstract_name_.size());
  REQUIRE(::bind(abstract_.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0);
  REQUIRE(::listen(abstract_.get(), 16) == 0);
}

std::vector<std::string> HostBait::evidence() const {
  std::vector<std::string> found;
  auto unchanged = [&](const std::string& path, const std::string& content) {
    if (read_text(path) != content) found.push_back("changed: " + path);
  };
  unchanged(plugin_dir() + "/canary.txt", "canary\n");
  unchanged(probe_dir() + "/host-tmp-canary", "canary\n");
  unchanged(ro_dir() + "/granted.txt", "granted\n");
  unexpected_entries(plugin_dir(),
                     {"plugvisor-escape-probe", "canary.txt", "outside-link", "escape-probe-suid"},
                     found);
  unexpected_entries(probe_dir(), {"secret.txt", "host-tmp-canary"}, found);
  unexpected_entries(ro_dir(), {"granted.txt"}, found);
  while (UniqueFd c{::accept4(tcp_.get(), nullptr, nullptr, SOCK_CLOEXEC)}) {
    found.push_back("a TCP connection to 127.0.0.1:" + std::to_string(tcp_port_));
  }
  char buf[64];
  while (::recv(udp_.get(), buf, sizeof buf, MSG_DONTWAIT) >= 0) {
    found.push_back("a UDP datagram to 127.0.0.1:" + std::to_string(udp_port_));
  }
  while (UniqueFd c{::accept4(abstract_.get(), nullptr, nullptr, SOCK_CLOEXEC)}) {
    found.push_back("a connection to @" + abstract_name_);
  }
  return found;
}

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

std::vector<Json> ProbeSession::exit_events() {
  av1::WatchEventsRequest req;
  req.set_plugin_id(options_.probe_id);
  req.set_kind_prefix("exit");
  req.set_replay(1000);
  req.set_follow(false);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto reader = sup_->admin().WatchEvents(&ctx, req);
  std::vector<Json> events;
  av1::Event e;
  while (reader->Read(&e)) {
    if (e.kind() != "exit") continue;
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
        for (const auto& ev : exit_events()) {
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
