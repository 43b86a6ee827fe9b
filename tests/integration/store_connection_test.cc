// Connection: URIs and key=value strings, parameters, errors with redacted URLs.
#include <catch2/catch.hpp>

#include "pg_cluster.h"
#include "store/connection.h"

using plugvisor::store::Connection;
using plugvisor::store::is_data_error;
using plugvisor::store::redact_url;
using plugvisor::testsupport::TestCluster;

TEST_CASE("redact_url masks passwords in URIs and key=value strings") {
  CHECK(redact_url("postgresql://bob:s3cret@db.example:5432/app") ==
        "postgresql://bob:***@db.example:5432/app");
  CHECK(redact_url("postgres://bob@db/app") == "postgres://bob@db/app");
  CHECK(redact_url("postgresql://db/app?user=bob&password=s3cret&sslmode=require") ==
        "postgresql://db/app?user=bob&password=***&sslmode=require");
  CHECK(redact_url("host=db user=bob password=s3cret dbname=app") ==
        "host=db user=bob password=*** dbname=app");
  CHECK(redact_url("host=db password = s3cret dbname=app") == "host=db password = *** dbname=app");
  CHECK(redact_url("host=db password='a \\' b' dbname=app") == "host=db password=*** dbname=app");
  CHECK(redact_url("host=/run/pg dbname=app") == "host=/run/pg dbname=app");
}

TEST_CASE("a failed connect says where and why, without the password") {
  auto conn = Connection::open("host=/nonexistent/dir port=5432 user=bob password=hunter2", 2);
  REQUIRE_FALSE(conn.ok());
  const std::string& message = conn.error().message;
  CHECK(message.find("connect to") != std::string::npos);
  CHECK(message.find("/nonexistent/dir") != std::string::npos);
  CHECK(message.find("hunter2") == std::string::npos);
  CHECK(message.find("password=***") != std::string::npos);
}

TEST_CASE("connection against a real server") {
  auto cluster = TestCluster::start();

  SECTION("key=value string, parameters, NULL and integers") {
    auto conn = Connection::open(cluster->url());
    REQUIRE(conn.ok());
    CHECK(conn->healthy());
    auto rows = conn->exec("SELECT $1::bigint * 2, $2::text IS NULL, $3::text",
                           {"4611686018427387903", std::nullopt, "it's"});
    REQUIRE(rows.ok());
    CHECK(rows->int64(0, 0) == 9223372036854775806);
    CHECK(rows->boolean(0, 1));
    CHECK(rows->text(0, 2) == "it's");
    CHECK(rows->is_null(0, 1) == false);
  }

  SECTION("URI form") {
    const std::string run_dir = cluster->data_dir() + "/run";
    auto conn = Connection::open("postgresql://plugvisor@/plugvisor?host=" + run_dir);
    REQUIRE(conn.ok());
    auto rows = conn->exec("SELECT current_database()");
    REQUIRE(rows.ok());
    CHECK(rows->text(0, 0) == "plugvisor");
  }

  SECTION("errors carry the SQLSTATE; scripts run several statements") {
    auto conn = Connection::open(cluster->url());
    REQUIRE(conn.ok());
    auto bad = conn->exec("SELECT 1 / $1::int", {"0"});
    REQUIRE_FALSE(bad.ok());
    CHECK(conn->last_sqlstate() == "22012");
    CHECK(is_data_error(conn->last_sqlstate()));
    CHECK(bad.error().message.find("division by zero") != std::string::npos);
    CHECK(conn->healthy());

    REQUIRE(conn->exec_script("CREATE TEMP TABLE t(x int); INSERT INTO t VALUES (1), (2);").ok());
    auto count = conn->exec("SELECT count(*) FROM t");
    REQUIRE(count.ok());
    CHECK(count->int64(0, 0) == 2);
    CHECK_FALSE(conn->exec_script("SELECT * FROM no_such_table").ok());
    CHECK(conn->last_sqlstate() == "42P01");
    CHECK_FALSE(is_data_error(conn->last_sqlstate()));
  }

  SECTION("a connection whose server went away is no longer healthy") {
    auto conn = Connection::open(cluster->url());
    REQUIRE(conn.ok());
    REQUIRE(cluster->stop().ok());
    CHECK_FALSE(conn->exec("SELECT 1").ok());
    CHECK_FALSE(conn->healthy());
    CHECK_FALSE(is_data_error(conn->last_sqlstate()));
  }
}
