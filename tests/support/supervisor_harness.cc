#include "supervisor_harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pg_cluster.h"
#include "plugvisor/common/ids.h"
#include "store/connection.h"

namespace plugvisor::testsupport {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

TempDir::TempDir() {
  std::string tmpl = "/tmp/plugvisor-test-XXXXXX";
  char* made = mkdtemp(tmpl.data());
  if (made == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = made;
  fs::permissions(path_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                             fs::perms::others_read | fs::perms::others_exec);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string build_path(const std::string& relative) {
  return std::string(PLUGVISOR_BINARY_DIR) + "/" + relative;
}

std::string plugin_binary(const std::string& name) { return build_path("plugins/" + name); }

std::unique_ptr<Supervisor> Supervisor::start(const std::string& config_yaml,
                                              const std::string& database_url,
                                              const std::string& state_dir) {
  auto s = std::make_unique<Supervisor>(Key{});
  s->address_ = "unix:" + s->dir() + "/api.sock";
  std::string config_path = s->dir() + "/plugvisor.yaml";
  {
    std::ofstream out(config_path);
    out << "listen: \"" << s->address_ << "\"\n"
        << "state_dir: \"" << (state_dir.empty() ? s->dir() + "/state" : state_dir) << "\"\n"
        << config_yaml;
  }
  std::string log_path = s->dir() + "/plugvisord.log";
  // setpriv's parent-death signal: if this test process dies mid-test (an abort, a kill from
  // CTest's timeout), its plugvisord goes too, and with it the plugins.
  std::vector<std::string> args = {"/usr/bin/setpriv", "--pdeathsig", "KILL", "--",
                                   build_path("supervisor/plugvisord"), "--config", config_path,
                                   "--log-level", "debug"};
  if (!database_url.empty()) {
    args.push_back("--database-url");
    args.push_back(database_url);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  int rc = posix_spawn(&s->pid_, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) FAIL("spawn plugvisord: " << std::strerror(rc));

  s->channel_ = grpc::CreateChannel(s->address_, grpc::InsecureChannelCredentials());
  s->admin_ = av1::Admin::NewStub(s->channel_);
  s->hooks_ = hv1::Hooks::NewStub(s->channel_);
  auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(60);
  // The socket appears only once plugvisord listens; WaitForConnected retries with backoff.
  if (!s->channel_->WaitForConnected(deadline)) {
    FAIL("plugvisord did not start listening within 60 s; its log:\n" << s->log());
  }
  return s;
}

Supervisor::~Supervisor() {
  if (pid_ > 0) kill_hard();
}

std::string Supervisor::log() const {
  std::ifstream in(dir() + "/plugvisord.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int Supervisor::terminate(milliseconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  if (!wait_process_gone(pid_, timeout)) return -1;
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

void Supervisor::kill_hard() {
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

hv1::DispatchResponse Supervisor::dispatch(const std::string& hook, const std::string& data_json,
                                           grpc::Status* status, const std::string& tenant) {
  hv1::DispatchRequest req;
  req.set_hook(hook);
  req.set_data_json(data_json);
  req.mutable_context()->set_tenant_id(tenant);
  req.mutable_context()->set_work_item_id("wi-1");
  req.mutable_context()->set_run_id("run-1");
  hv1::DispatchResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto s = hooks_->Dispatch(&ctx, req, &resp);
  if (status != nullptr) {
    *status = s;
  } else if (!s.ok()) {
    FAIL("Dispatch " << hook << " failed: " << s.error_message());
  }
  return resp;
}

av1::ListPluginsResponse Supervisor::status() {
  av1::ListPluginsResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto s = admin_->ListPlugins(&ctx, av1::ListPluginsRequest{}, &resp);
  if (!s.ok()) FAIL("ListPlugins: " << s.error_message() << "\n" << log());
  return resp;
}

std::vector<av1::PluginStatus> Supervisor::plugins() {
  auto resp = status();
  return {resp.plugins().begin(), resp.plugins().end()};
}

av1::PluginStatus Supervisor::plugin(const std::string& id) {
  av1::PluginRequest req;
  req.set_id(id);
  av1::PluginResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto s = admin_->GetPlugin(&ctx, req, &resp);
  if (!s.ok()) FAIL("GetPlugin " << id << ": " << s.error_message());
  return resp.plugin();
}

av1::PluginStatus Supervisor::wait_for(const std::string& id,
                                       const std::function<bool(const av1::PluginStatus&)>& pred,
                                       milliseconds timeout) {
  // Some conditions (call counters) have no event of their own, so poll with a deadline.
  av1::PluginStatus current;
  if (eventually([&] { return pred(current = plugin(id)); }, timeout)) return current;
  FAIL("plugin " << id << " never reached the expected condition; last state " << current.state()
                 << " (" << current.last_error() << ")\nplugvisord log:\n"
                 << log());
  return current;
}

av1::PluginStatus Supervisor::wait_for_state(const std::string& id, const std::string& state,
                                             milliseconds timeout) {
  return wait_for(id, [&](const av1::PluginStatus& p) { return p.state() == state; }, timeout);
}

bool process_alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return false;
  std::string line;
  std::getline(stat, line);
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

bool wait_process_gone(pid_t pid, milliseconds timeout) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno == ESRCH || !process_alive(pid);
  pollfd p{fd, POLLIN, 0};
  int rc = poll(&p, 1, static_cast<int>(timeout.count()));
  ::close(fd);
  return rc == 1 || !process_alive(pid);
}

}  // namespace plugvisor::testsupport

namespace plugvisor::testsupport {

std::string fresh_database(TestCluster& cluster) {
  auto conn = store::Connection::open(cluster.url());
  if (!conn) FAIL("connect to the test cluster: " << conn.error().message);
  std::string name = "t_" + random_id().substr(0, 12);
  auto r = conn->exec("CREATE DATABASE " + name);
  if (!r) FAIL("CREATE DATABASE: " << r.error().message);
  std::string url = cluster.url();
  auto at = url.find("dbname=plugvisor");
  if (at == std::string::npos) FAIL("unexpected test cluster URL " << url);
  return url.replace(at, std::string("dbname=plugvisor").size(), "dbname=" + name);
}

TestCluster& shared_cluster() {
  static std::unique_ptr<TestCluster> cluster = TestCluster::start();
  return *cluster;
}

}  // namespace plugvisor::testsupport

namespace plugvisor::testsupport {

CommandResult run_command(const std::string& command_line) {
  CommandResult result;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen((command_line + " 2>&1").c_str(), "r"), pclose);
  if (!pipe) FAIL("popen " << command_line);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe.get())) > 0) result.output.append(buf, n);
  int status = pclose(pipe.release());
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace plugvisor::testsupport
