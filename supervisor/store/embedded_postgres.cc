#include "store/embedded_postgres.h"

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "plugvisor/common/unique_fd.h"
#include "store/connection.h"

namespace plugvisor::store {
namespace {

namespace fs = std::filesystem;

constexpr int kPort = 5432;
constexpr const char* kStartTimeoutSeconds = "60";
constexpr auto kReadyTimeout = std::chrono::seconds(60);

// Newest /usr/lib/postgresql/<major>/bin that has initdb.
Result<std::string> find_bindir() {
  int best = -1;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    if (!fs::exists(entry.path() / "bin" / "initdb")) continue;
    best = std::max(best, std::stoi(name));
  }
  if (best < 0) {
    return Error{
        "embedded postgres: no /usr/lib/postgresql/*/bin/initdb found; install the "
        "postgresql package or set the bindir"};
  }
  return "/usr/lib/postgresql/" + std::to_string(best) + "/bin";
}

// Absolute, because a CommandRunner may use posix_spawn (no PATH search).
std::string runuser_path() {
  for (const char* path : {"/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "runuser";
}

// Whether `uid` (with primary group `gid`, named `user`) may search directory `st`.
bool can_traverse(const struct stat& st, const std::string& user, uid_t uid, gid_t gid) {
  if (st.st_uid == uid) return (st.st_mode & S_IXUSR) != 0;
  int count = 64;
  std::vector<gid_t> groups(count);
  if (getgrouplist(user.c_str(), gid, groups.data(), &count) < 0) {
    groups.resize(count);
    getgrouplist(user.c_str(), gid, groups.data(), &count);
  }
  groups.resize(std::max(count, 0));
  if (std::find(groups.begin(), groups.end(), st.st_gid) != groups.end()) {
    return (st.st_mode & S_IXGRP) != 0;
  }
  return (st.st_mode & S_IXOTH) != 0;
}

// Quotes a value for a libpq key=value string when it needs it.
std::string conninfo_value(const std::string& value) {
  if (!value.empty() && value.find_first_of(" '\\\t\n") == std::string::npos) return value;
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// A value for postgresql.conf, in single quotes.
std::string conf_string(const std::string& value) {
  std::string out = "'";
  for (char c : value) out += (c == '\'') ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string last_lines(const std::string& path, size_t count) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const std::streamoff size = in.tellg();
  const std::streamoff from = std::max<std::streamoff>(0, size - 8192);
  in.seekg(from);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  for (size_t n = 0; n < count && pos != std::string::npos && pos > 0; ++n) {
    pos = text.rfind('\n', pos - 1);
  }
  return (pos == std::string::npos) ? text : text.substr(pos + 1);
}

Status write_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out.flush()) return Error{"embedded postgres: cannot write " + tmp};
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Error{"embedded postgres: rename " + tmp + ": " + ec.message()};
  return ok_status();
}

Status chown_to(const std::string& path, uid_t uid, gid_t gid) {
  if (::chown(path.c_str(), uid, gid) != 0) return Error::errno_error("chown " + path, errno);
  return ok_status();
}

}  // namespace

Result<std::unique_ptr<EmbeddedPostgres>> EmbeddedPostgres::start(EmbeddedPostgresOptions options) {
  if (options.data_dir.empty()) return Error{"embedded postgres: no data directory given"};
  if (!options.run) options.run = direct_command_runner();
  std::unique_ptr<EmbeddedPostgres> pg(new EmbeddedPostgres(std::move(options)));
  if (auto prepared = pg->prepare(); !prepared.ok()) return prepared.error();
  if (auto up = pg->bring_up(); !up.ok()) return up.error();
  return pg;
}

EmbeddedPostgres::~EmbeddedPostgres() {
  if (!running_) return;
  if (auto stopped = stop(); !stopped.ok()) {
    spdlog::error("embedded postgres: stop: {}", stopped.error().message);
  }
}

Status EmbeddedPostgres::prepare() {
  if (options_.bindir.empty()) {
    auto found = find_bindir();
    if (!found.ok()) return found.error();
    bindir_ = *found;
  } else {
    bindir_ = options_.bindir;
  }
  data_dir_ = fs::absolute(options_.data_dir).lexically_normal().string();
  while (data_dir_.size() > 1 && data_dir_.back() == '/') data_dir_.pop_back();
  run_dir_ = data_dir_ + "/run";
  log_path_ = fs::path(data_dir_).parent_path().string() + "/postgres.log";

  const std::string socket = run_dir_ + "/.s.PGSQL." + std::to_string(kPort);
  if (socket.size() >= sizeof(sockaddr_un::sun_path)) {
    return Error{"embedded postgres: the socket path " + socket + " is " +
                 std::to_string(socket.size()) + " bytes, more than a unix socket allows (" +
                 std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
                 "); choose a shorter state directory"};
  }

  if (geteuid() == 0) {
    // initdb refuses root: the cluster belongs to an unprivileged user.
    user_ = options_.run_as_user;
    if (user_.empty()) user_ = getpwnam("postgres") != nullptr ? "postgres" : "nobody";
    const struct passwd* pw = getpwnam(user_.c_str());
    if (pw == nullptr) return Error{"embedded postgres: no such user: " + user_};
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
  }

  std::error_code ec;
  fs::create_directories(data_dir_, ec);
  if (ec) return Error{"embedded postgres: create " + data_dir_ + ": " + ec.message()};
  if (!user_.empty()) {
    // The user must reach the data directory and the log beside it through every parent.
    for (fs::path dir = fs::path(data_dir_).parent_path();; dir = dir.parent_path()) {
      struct stat st {};
      if (::stat(dir.c_str(), &st) != 0) return Error::errno_error("stat " + dir.string(), errno);
      if (!can_traverse(st, user_, uid_, gid_)) {
        return Error{"embedded postgres: user " + user_ + " cannot enter directory " +
                     dir.string() + " (on the way to " + data_dir_ +
                     "); allow it (e.g. chmod o+x) or choose another state directory"};
      }
      if (dir == dir.parent_path()) break;
    }
    struct stat st {};
    if (::stat(data_dir_.c_str(), &st) == 0 && st.st_uid != uid_) {
      // A data directory restored or created as root: hand all of it to the cluster's user.
      if (auto owned = chown_to(data_dir_, uid_, gid_); !owned.ok()) return owned;
      for (const auto& entry : fs::recursive_directory_iterator(data_dir_, ec)) {
        if (::lchown(entry.path().c_str(), uid_, gid_) != 0) {
          return Error::errno_error("chown " + entry.path().string(), errno);
        }
      }
    }
  }

  // Created here, owned by the cluster's user, so that user can append to it even when it may
  // not create files in the state directory.
  UniqueFd log(::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!log) return Error::errno_error("embedded postgres: open " + log_path_, errno);
  if (!user_.empty() && ::fchown(log.get(), uid_, gid_) != 0) {
    return Error::errno_error("chown " + log_path_, errno);
  }

  if (!fs::exists(data_dir_ + "/PG_VERSION")) {
    spdlog::info("embedded postgres: initdb {}", data_dir_);
    std::vector<std::string> args = {"-D",    data_dir_, "-U",   "plugvisor", "-A",
                                     "trust", "-E",      "UTF8", "--locale=C"};
    if (options_.fast_unsafe) args.push_back("--no-sync");
    auto rc = run_tool("initdb", args, log_path_);
    if (!rc.ok()) return rc.error();
    if (*rc != 0) return with_log_tail("initdb failed (exit " + std::to_string(*rc) + ")");
  }

  // Our settings live in their own file, rewritten on every start so a changed option takes
  // effect; postgresql.conf gets the include line appended once.
  const std::string conf = data_dir_ + "/postgresql.conf";
  std::ifstream conf_in(conf);
  const std::string current((std::istreambuf_iterator<char>(conf_in)),
                            std::istreambuf_iterator<char>());
  if (current.find("include_if_exists = 'plugvisor.conf'") == std::string::npos) {
    std::ofstream out(conf, std::ios::app);
    out << "\n# Added by plugvisord: its settings for the embedded cluster.\n"
        << "include_if_exists = 'plugvisor.conf'\n";
    if (!out.flush()) return Error{"embedded postgres: cannot append to " + conf};
  }
  std::ostringstream settings;
  settings
      << "# Written by plugvisord on every start; edits are overwritten.\n"
      << "listen_addresses = ''\n"  // unix socket only
      << "unix_socket_directories = " << conf_string(run_dir_) << "\n"
      << "unix_socket_permissions = 0700\n"  // trust auth: only the owner (and root) may connect
      << "port = " << kPort << "\n";
  if (options_.fast_unsafe) {
    settings << "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n";
  }
  const std::string settings_path = data_dir_ + "/plugvisor.conf";
  if (auto written = write_file(settings_path, settings.str()); !written.ok()) return written;
  fs::create_directories(run_dir_, ec);
  if (ec) return Error{"embedded postgres: create " + run_dir_ + ": " + ec.message()};
  fs::permissions(run_dir_, fs::perms::owner_all, ec);
  if (!user_.empty()) {
    if (auto owned = chown_to(settings_path, uid_, gid_); !owned.ok()) return owned;
    if (auto owned = chown_to(run_dir_, uid_, gid_); !owned.ok()) return owned;
  }
  url_ = "host=" + conninfo_value(run_dir_) + " port=" + std::to_string(kPort) +
         " user=plugvisor dbname=plugvisor";
  return ok_status();
}

Result<int> EmbeddedPostgres::run_tool(const std::string& tool,
                                       const std::vector<std::string>& args,
                                       const std::string& log) {
  std::vector<std::string> argv;
  if (!user_.empty()) argv = {runuser_path(), "-u", user_, "--"};
  // The tools' chatter goes to the log, where it helps diagnose a failure, not to our stdout;
  // cwd "/" because the cluster's user may not enter ours, whatever the runner does.
  argv.insert(argv.end(),
              {"/bin/sh", "-c", "cd / && log=$1 && shift && exec \"$@\" >>\"$log\" 2>&1", "sh", log,
               bindir_ + "/" + tool});
  argv.insert(argv.end(), args.begin(), args.end());
  auto rc = options_.run(argv);
  if (!rc.ok()) return Error{"embedded postgres: " + tool + ": " + rc.error().message};
  return rc;
}

Result<int> EmbeddedPostgres::server_status() {
  auto rc = run_tool("pg_ctl", {"status", "-D", data_dir_}, "/dev/null");
  if (!rc.ok()) return rc;
  if (*rc != 0 && *rc != 3) {
    return with_log_tail("pg_ctl status failed (exit " + std::to_string(*rc) + ")");
  }
  return rc;
}

Status EmbeddedPostgres::bring_up() {
  auto status = server_status();
  if (!status.ok()) return status.error();
  adopted_ = (*status == 0);
  if (adopted_) {
    // Left running by an earlier plugvisord (e.g. one that was SIGKILLed): use it as it is.
    spdlog::info("embedded postgres: adopting the cluster already running on {}", data_dir_);
  } else {
    spdlog::info("embedded postgres: starting {} (log {})", data_dir_, log_path_);
    auto rc = run_tool(
        "pg_ctl", {"start", "-w", "-t", kStartTimeoutSeconds, "-D", data_dir_, "-l", log_path_},
        log_path_);
    if (!rc.ok()) return rc.error();
    if (*rc != 0) return with_log_tail("pg_ctl start failed (exit " + std::to_string(*rc) + ")");
  }
  running_ = true;

  const std::string admin_url = "host=" + conninfo_value(run_dir_) +
                                " port=" + std::to_string(kPort) +
                                " user=plugvisor dbname=postgres";
  // pg_ctl -w has waited already, but an adopted cluster may still be starting up.
  const auto deadline = std::chrono::steady_clock::now() + kReadyTimeout;
  while (PQping(admin_url.c_str()) != PQPING_OK) {
    if (std::chrono::steady_clock::now() > deadline) {
      return with_log_tail("the cluster does not accept connections on " + run_dir_);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto admin = Connection::open(admin_url);
  if (!admin.ok()) return with_log_tail(admin.error().message);
  auto exists = admin->exec("SELECT 1 FROM pg_database WHERE datname = 'plugvisor'");
  if (!exists.ok()) return Error{"embedded postgres: " + exists.error().message};
  if (exists->rows() == 0) {
    auto created = admin->exec("CREATE DATABASE plugvisor");
    // 42P04: someone else created it between our check and now.
    if (!created.ok() && admin->last_sqlstate() != "42P04") {
      return Error{"embedded postgres: create database plugvisor: " + created.error().message};
    }
  }
  return ok_status();
}

Status EmbeddedPostgres::stop() {
  if (!running_) return ok_status();
  // One attempt only: the destructor must not try again, because by then the supervisor's
  // loop (which reaps the command runner's children) may be gone and a second pg_ctl would be
  // waited for forever. A cluster we failed to stop is adopted at the next start.
  running_ = false;
  auto rc =
      run_tool("pg_ctl", {"stop", "-D", data_dir_, "-m", "fast", "-w", "-t", kStartTimeoutSeconds},
               log_path_);
  if (!rc.ok()) return rc.error();
  if (*rc != 0) {
    // Already down (another owner stopped it) is what we wanted.
    auto status = server_status();
    if (!status.ok() || *status != 3) {
      return with_log_tail("pg_ctl stop failed (exit " + std::to_string(*rc) + ")");
    }
  }
  spdlog::info("embedded postgres: stopped {}", data_dir_);
  return ok_status();
}

Status EmbeddedPostgres::restart() {
  if (auto prepared = prepare(); !prepared.ok()) return prepared;
  return bring_up();
}

Error EmbeddedPostgres::with_log_tail(const std::string& message) const {
  return Error{"embedded postgres: " + message + "; last lines of " + log_path_ + ":\n" +
               last_lines(log_path_, 20)};
}

}  // namespace plugvisor::store
