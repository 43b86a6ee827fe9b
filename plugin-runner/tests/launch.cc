#include "launch.h"

#include <fcntl.h>
#include <grpcpp/create_channel_posix.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace plugvisor::runner_test {

namespace fs = std::filesystem;

std::string g_runner = PLUGVISOR_RUNNER_PATH;
std::string runner_path() { return g_runner; }
void set_runner_path(const std::string& path) { g_runner = path; }
std::string g_netns;
void set_netns(const std::string& path) { g_netns = path; }
std::string plugin_dir() { return PLUGVISOR_PLUGIN_DIR; }
std::string self_path() { return fs::read_symlink("/proc/self/exe").string(); }

namespace {

UniqueFd above_10(int fd) {
  UniqueFd low(fd);
  return UniqueFd(::fcntl(low.get(), F_DUPFD_CLOEXEC, 10));
}

std::pair<UniqueFd, UniqueFd> socket_pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    throw std::runtime_error("socketpair");
  }
  return {above_10(fds[0]), above_10(fds[1])};
}

std::pair<UniqueFd, UniqueFd> pipe_pair() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
  return {above_10(fds[0]), above_10(fds[1])};
}

std::string next_line(int fd, std::string& buf) {
  for (;;) {
    auto nl = buf.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      return line;
    }
    char chunk[4096];
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::exchange(buf, "");
    buf.append(chunk, static_cast<size_t>(n));
  }
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream(path) << content;
}

}  // namespace

Scratch::Scratch(bool cgroups) {
  char tmpl[] = "/tmp/plugvisor-runner-test-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp");
  data_dir = tmpl;
  if (::chown(data_dir.c_str(), kPluginUid, kPluginUid) != 0) throw std::runtime_error("chown");
  if (!cgroups) return;
  const std::string name = "plugvisor-runner-test-" + std::to_string(::getpid());
  for (const char* controller : {"memory", "pids"}) {
    const std::string dir = std::string("/sys/fs/cgroup/") + controller + "/" + name;
    if (::mkdir(dir.c_str(), 0755) != 0) throw std::runtime_error("mkdir " + dir);
    cgroup_dirs.push_back(dir);
  }
  write_file(cgroup_dirs[0] + "/memory.limit_in_bytes", "268435456");
  write_file(cgroup_dirs[1] + "/pids.max", "64");
}

Scratch::~Scratch() {
  std::error_code ec;
  fs::remove_all(data_dir, ec);
  for (const auto& dir : cgroup_dirs) ::rmdir(dir.c_str());
}

std::vector<std::string> Scratch::cgroup_procs() const {
  std::vector<std::string> out;
  for (const auto& dir : cgroup_dirs) out.push_back(dir + "/cgroup.procs");
  return out;
}

Json make_spec(const std::string& exec_path, const std::vector<std::string>& argv,
               const Scratch& scratch) {
  const std::string tools = fs::path(self_path()).parent_path().string();
  Json spec =
      Json{{"plugin_id", "runner-test"},
           {"host_uid", kPluginUid},
           {"host_gid", kPluginUid},
           {"namespaces",
            {{"user", true},
             {"pid", true},
             {"mount", true},
             {"net", true},
             {"ipc", true},
             {"uts", true},
             {"cgroup", true}}},
           {"hostname", "plugin-runner-test"},
           {"root",
            {{"binds", Json::array({{{"host", plugin_dir()}, {"inside", "/plugin"}, {"rw", false}},
                                    {{"host", tools}, {"inside", "/tools"}, {"rw", false}},
                                    {{"host", scratch.data_dir}, {"inside", "/data"}, {"rw", true}},
                                    {{"host", "/usr"}, {"inside", "/usr"}, {"rw", false}},
                                    {{"host", "/etc/ld.so.cache"},
                                     {"inside", "/etc/ld.so.cache"},
                                     {"rw", false},
                                     {"optional", true}}})},
             {"symlinks", Json::array({{{"target", "usr/lib"}, {"link", "/lib"}},
                                       {{"target", "usr/lib64"}, {"link", "/lib64"}},
                                       {{"target", "usr/bin"}, {"link", "/bin"}}})},
             {"devices", {"/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"}},
             {"tmp_bytes", 64 << 20},
             {"proc", true}}},
           {"cgroup_procs", scratch.cgroup_procs()},
           {"rlimits",
            {{"nofile", 256}, {"core", 0}, {"nproc", 0}, {"cpu_seconds", 0}, {"fsize_bytes", 0}}},
           {"landlock",
            {{"ro", {"/usr", "/plugin", "/tools", "/proc", "/dev", "/etc"}},
             {"rw", {"/data", "/tmp"}},
             {"exec", {"/plugin", "/tools", "/usr/lib", "/usr/bin"}},
             {"deny_tcp", true},
             {"scope_signals", true},
             {"scope_abstract_unix", true}}},
           {"seccomp", {{"allow_spawn", false}}},
           {"exec",
            {{"path", exec_path},
             {"argv", argv},
             {"env", {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "PLUGVISOR_PLUGIN_ID=runner-test"}}}},
           {"mechanisms",
            {{"landlock", true}, {"seccomp", true}, {"cgroups", true}, {"rlimits", true}}}};
  if (!g_netns.empty()) spec["netns"] = g_netns;
  return spec;
}

Launched Launched::start(const std::optional<Json>& spec,
                         const std::vector<std::string>& legacy_argv, bool capture_stdout) {
  Launched l;
  auto [mine, theirs] = socket_pair();
  auto [host_mine, host_theirs] = socket_pair();
  std::vector<std::string> args = {runner_path(), "--expect-parent", std::to_string(::getpid())};
  UniqueFd spec_r, status_w, out_w;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, theirs.get(), 3);
  posix_spawn_file_actions_adddup2(&actions, host_theirs.get(), 4);
  if (spec) {
    auto [sr, sw] = pipe_pair();
    const std::string text = spec->dump();
    if (::write(sw.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      throw std::runtime_error("spec does not fit the pipe");
    }
    spec_r = std::move(sr);
    auto [str, stw] = pipe_pair();
    l.status_ = std::move(str);
    status_w = std::move(stw);
    posix_spawn_file_actions_adddup2(&actions, spec_r.get(), 5);
    posix_spawn_file_actions_adddup2(&actions, status_w.get(), 6);
    args.insert(args.end(), {"--spec-fd", "5", "--status-fd", "6", "--", (*spec)["exec"]["path"]});
  } else {
    args.push_back("--");
    args.insert(args.end(), legacy_argv.begin(), legacy_argv.end());
  }
  if (capture_stdout) {
    auto [r, w] = pipe_pair();
    l.stdout_ = std::move(r);
    out_w = std::move(w);
    posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
                                    "PLUGVISOR_PLUGIN_ID=runner-test",
                                    "PLUGVISOR_PROTOCOL_VERSIONS=1"};
  std::vector<char*> env;
  for (auto& e : env_s) env.push_back(e.data());
  env.push_back(nullptr);
  const int rc = ::posix_spawn(&l.pid_, argv[0], &actions, nullptr, argv.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("posix_spawn runner");
  l.host_ = std::move(host_mine);
  l.channel_ = grpc::CreateInsecureChannelFromFd("plugin", mine.release());
  l.stub_ = pb::Plugin::NewStub(l.channel_);
  return l;
}

Launched::~Launched() {
  stub_.reset();
  channel_.reset();
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

grpc::Status Launched::describe(std::chrono::seconds deadline) {
  pb::DescribeRequest req;
  req.add_supported_protocol_versions(1);
  req.set_settings_json("{}");
  pb::DescribeResponse resp;
  grpc::ClientContext ctx;
  ctx.set_wait_for_ready(true);  // the plugin is still loading its libraries
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  return stub_->Describe(&ctx, req, &resp);
}

grpc::Status Launched::invoke(const std::string& data_json) {
  pb::InvokeRequest req;
  req.set_hook("tool.pre_exec");
  req.set_data_json(data_json);
  req.set_timeout_ms(5000);
  req.mutable_context()->set_invocation_id("inv-1");
  pb::InvokeResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return stub_->Invoke(&ctx, req, &resp);
}

grpc::Status Launched::shutdown() {
  pb::ShutdownRequest req;
  req.set_grace_ms(1000);
  pb::ShutdownResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return stub_->Shutdown(&ctx, req, &resp);
}

std::string Launched::status_line() { return next_line(status_.get(), status_buf_); }

std::vector<std::string> Launched::status_rest() {
  std::vector<std::string> out;
  for (std::string line; !(line = status_line()).empty();) out.push_back(line);
  return out;
}

std::string Launched::stdout_line() { return next_line(stdout_.get(), stdout_buf_); }

std::optional<int> Launched::wait(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      reaped_ = true;
      return status;
    }
    if (std::chrono::steady_clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace plugvisor::runner_test
