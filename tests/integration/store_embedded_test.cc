// The embedded default database: initdb as a non-root user, unix socket only, adoption of a
// cluster left running, clear errors.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "pg_cluster.h"
#include "store/connection.h"
#include "store/embedded_postgres.h"

using plugvisor::store::Connection;
using plugvisor::store::EmbeddedPostgres;
using plugvisor::store::EmbeddedPostgresOptions;
using plugvisor::testsupport::TestCluster;

namespace {

std::string postmaster_pid(const std::string& data_dir) {
  std::ifstream in(data_dir + "/postmaster.pid");
  std::string pid;
  std::getline(in, pid);
  return pid;
}

// A temporary directory the test removes on every path out.
struct TempDir {
  std::string path;
  explicit TempDir(mode_t mode) {
    std::string tmpl = "/tmp/plugvisor-t-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
    REQUIRE(::chmod(path.c_str(), mode) == 0);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("a second EmbeddedPostgres on a running cluster adopts it") {
  auto cluster = TestCluster::start();
  const std::string pid_before = postmaster_pid(cluster->data_dir());
  REQUIRE_FALSE(pid_before.empty());

  // What a restarted plugvisord sees after the previous one was SIGKILLed.
  EmbeddedPostgresOptions options;
  options.data_dir = cluster->data_dir();
  options.fast_unsafe = true;
  auto second = EmbeddedPostgres::start(std::move(options));
  REQUIRE(second.ok());
  CHECK((*second)->adopted());
  CHECK(postmaster_pid(cluster->data_dir()) == pid_before);
  CHECK((*second)->url() == cluster->url());
  auto conn = Connection::open((*second)->url());
  REQUIRE(conn.ok());
  CHECK(conn->exec("SELECT 1").ok());

  // Its owner stops it; the first owner's stop then finds it down, which is fine.
  REQUIRE((*second)->stop().ok());
  CHECK(cluster->stop().ok());
}

TEST_CASE("the embedded cluster listens on its unix socket only and survives stop/restart") {
  auto cluster = TestCluster::start();
  const std::string data = cluster->data_dir();
  CHECK(cluster->url() == "host=" + data + "/run port=5432 user=plugvisor dbname=plugvisor");
  CHECK(std::filesystem::exists(data + "/run/.s.PGSQL.5432"));
  CHECK(std::filesystem::exists(cluster->dir() + "/postgres.log"));

  auto conn = Connection::open(cluster->url());
  REQUIRE(conn.ok());
  auto listen = conn->exec("SHOW listen_addresses");
  REQUIRE(listen.ok());
  CHECK(listen->text(0, 0).empty());
  auto fsync = conn->exec("SHOW fsync");
  REQUIRE(fsync.ok());
  CHECK(fsync->text(0, 0) == "off");  // fast_unsafe
  // exec() is one statement only (extended protocol); scripts go through exec_script().
  CHECK_FALSE(conn->exec("CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)").ok());
  REQUIRE(conn->exec_script("CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)").ok());

  REQUIRE(cluster->stop().ok());
  CHECK_FALSE(Connection::open(cluster->url()).ok());
  REQUIRE(cluster->restart().ok());
  auto again = Connection::open(cluster->url());
  REQUIRE(again.ok());
  auto kept = again->exec("SELECT x FROM kept");
  REQUIRE(kept.ok());
  CHECK(kept->int64(0, 0) == 7);

  // The include line is appended to postgresql.conf once, however often the cluster starts.
  std::ifstream conf(data + "/postgresql.conf");
  const std::string text((std::istreambuf_iterator<char>(conf)), std::istreambuf_iterator<char>());
  size_t includes = 0;
  for (size_t pos = 0;
       (pos = text.find("include_if_exists = 'plugvisor.conf'", pos)) != std::string::npos; ++pos) {
    ++includes;
  }
  CHECK(includes == 1);

  if (geteuid() == 0) {
    // initdb refuses root: the cluster belongs to the postgres user (or nobody).
    struct stat st {};
    REQUIRE(::stat(data.c_str(), &st) == 0);
    CHECK(st.st_uid != 0);
  }
}

TEST_CASE("every child process goes through the CommandRunner") {
  TempDir dir(0711);
  std::mutex mu;
  std::vector<std::string> commands;
  EmbeddedPostgresOptions options;
  options.data_dir = dir.path + "/data";
  options.fast_unsafe = true;
  options.run = [&](const std::vector<std::string>& argv) {
    {
      std::lock_guard lock(mu);
      std::string line;
      for (const auto& a : argv) line += a + " ";
      commands.push_back(line);
    }
    return plugvisor::store::direct_command_runner()(argv);
  };
  {
    auto pg = EmbeddedPostgres::start(options);
    REQUIRE(pg.ok());
  }  // destroyed: stops the cluster
  std::lock_guard lock(mu);
  auto ran = [&](const std::string& what) {
    return std::any_of(commands.begin(), commands.end(),
                       [&](const std::string& c) { return c.find(what) != std::string::npos; });
  };
  CHECK(ran("/initdb -D"));
  CHECK(ran("/pg_ctl start"));
  CHECK(ran("/pg_ctl stop"));
  if (geteuid() == 0) CHECK(commands.front().find("runuser -u ") != std::string::npos);
  // Absolute: a runner may spawn without a PATH search.
  for (const auto& c : commands) CHECK(c.starts_with("/"));
}

TEST_CASE("a stop that fails is not retried when the EmbeddedPostgres is destroyed") {
  // plugvisord stops the cluster through its reaper, then stops the reaper's loop; a retry from
  // the destructor would wait for a child nobody reaps (seen: a hang at shutdown after the
  // cluster's data dir had been removed under it).
  TempDir dir(0711);
  std::mutex mu;
  int stops = 0;
  bool refuse_stop = false;
  EmbeddedPostgresOptions options;
  options.data_dir = dir.path + "/data";
  options.fast_unsafe = true;
  options.run = [&](const std::vector<std::string>& argv) -> plugvisor::Result<int> {
    const bool is_stop = std::any_of(argv.begin(), argv.end(), [](const std::string& a) { return a == "stop"; });
    {
      std::lock_guard lock(mu);
      if (is_stop) ++stops;
      if (is_stop && refuse_stop) return plugvisor::Error{"pg_ctl stop: refused by the test"};
    }
    return plugvisor::store::direct_command_runner()(argv);
  };
  auto pg = EmbeddedPostgres::start(options);
  REQUIRE(pg.ok());
  const std::string data_dir = options.data_dir;
  {
    std::lock_guard lock(mu);
    refuse_stop = true;
  }
  CHECK_FALSE((*pg)->stop().ok());
  pg->reset();  // the destructor: no second attempt
  {
    std::lock_guard lock(mu);
    CHECK(stops == 1);
  }
  // Stop the cluster the test left running, without the refusing runner.
  EmbeddedPostgresOptions cleanup = options;
  cleanup.run = plugvisor::store::direct_command_runner();
  auto adopted = EmbeddedPostgres::start(cleanup);
  REQUIRE(adopted.ok());
  CHECK((*adopted)->stop().ok());
}

TEST_CASE("embedded postgres explains what is wrong") {
  SECTION("a socket path too long for sun_path") {
    TempDir dir(0711);
    EmbeddedPostgresOptions options;
    options.data_dir = dir.path + "/" + std::string(100, 'x');
    auto pg = EmbeddedPostgres::start(options);
    REQUIRE_FALSE(pg.ok());
    CHECK(pg.error().message.find("socket path") != std::string::npos);
  }

  SECTION("no such tools: the error carries the log's last lines") {
    TempDir dir(0711);
    EmbeddedPostgresOptions options;
    options.data_dir = dir.path + "/data";
    options.bindir = "/nonexistent/bin";
    auto pg = EmbeddedPostgres::start(options);
    REQUIRE_FALSE(pg.ok());
    INFO(pg.error().message);
    CHECK(pg.error().message.find("initdb failed") != std::string::npos);
    CHECK(pg.error().message.find("/nonexistent/bin/initdb") != std::string::npos);
  }

  SECTION("as root, a parent the cluster's user cannot enter is named") {
    if (geteuid() != 0) return;
    TempDir dir(0700);  // root only
    EmbeddedPostgresOptions options;
    options.data_dir = dir.path + "/state/data";
    auto pg = EmbeddedPostgres::start(options);
    REQUIRE_FALSE(pg.ok());
    INFO(pg.error().message);
    CHECK(pg.error().message.find("cannot enter directory " + dir.path) != std::string::npos);
  }
}
