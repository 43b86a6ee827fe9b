// plugvisorctl's argument checks: --address forms and the --data JSON document.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "plugvisorctl/args.h"

using namespace plugvisor::cli;

namespace {

// A file under /tmp that is removed when the test ends.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/plugvisorctl-test-XXXXXX";
    const int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    close(fd);
    path = name;
    std::ofstream(path) << content;
  }
  ~TempFile() { std::remove(path.c_str()); }
};

}  // namespace

TEST_CASE("addresses: host:port and unix:/path are accepted") {
  CHECK(check_address("127.0.0.1:7701").empty());
  CHECK(check_address("localhost:1").empty());
  CHECK(check_address("plugvisord.internal:65535").empty());
  CHECK(check_address("[::1]:7701").empty());
  CHECK(check_address("unix:/run/plugvisor/admin.sock").empty());
  CHECK(check_address("unix:relative.sock").empty());
}

TEST_CASE("addresses: malformed ones say what is wrong") {
  CHECK_THAT(check_address("localhost"), Catch::Contains("host:port or unix:/path"));
  CHECK_THAT(check_address(":7701"), Catch::Contains("missing host"));
  CHECK_THAT(check_address("host:"), Catch::Contains("invalid port ''"));
  CHECK_THAT(check_address("host:70000"), Catch::Contains("invalid port '70000'"));
  CHECK_THAT(check_address("host:0"), Catch::Contains("invalid port"));
  CHECK_THAT(check_address("host:77x"), Catch::Contains("invalid port"));
  CHECK_THAT(check_address("::1:7701"), Catch::Contains("brackets"));
  CHECK_THAT(check_address("unix:"), Catch::Contains("socket path"));
}

TEST_CASE("--data inline JSON is passed through unchanged") {
  std::istringstream in;
  auto r = read_data_argument(R"({"tool": "shell", "args": ["ls"]})", in);
  REQUIRE(r.ok());
  CHECK(*r == R"({"tool": "shell", "args": ["ls"]})");
}

TEST_CASE("--data inline: invalid JSON is reported with its position") {
  std::istringstream in;
  auto r = read_data_argument(R"({"tool": shell})", in);
  REQUIRE_FALSE(r.ok());
  const std::string& msg = r.error().message;
  CHECK_THAT(msg, Catch::StartsWith("invalid JSON in --data (inline): parse error at line 1, "
                                    "column 10"));
  // The library's internal exception tag means nothing to an operator.
  CHECK_THAT(msg, !Catch::Contains("json.exception"));
}

TEST_CASE("--data @file reads and validates the file") {
  TempFile file("{\n  \"message\": \"hi\"\n}\n");
  std::istringstream in;
  auto r = read_data_argument("@" + file.path, in);
  REQUIRE(r.ok());
  CHECK(*r == "{\n  \"message\": \"hi\"\n}\n");
}

TEST_CASE("--data @file: invalid JSON names the file, line and column") {
  TempFile file("{\n  \"message\": \"hi\",\n}\n");
  std::istringstream in;
  auto r = read_data_argument("@" + file.path, in);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::StartsWith("invalid JSON in --data @" + file.path +
                                                  ": parse error at line 3, column 1"));
}

TEST_CASE("--data @file: a missing file is a clear error") {
  std::istringstream in;
  auto r = read_data_argument("@/nonexistent/payload.json", in);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message ==
        "cannot read --data file '/nonexistent/payload.json': No such file or directory");
  CHECK(r.error().code == ENOENT);
}

TEST_CASE("--data @ without a name asks for one") {
  std::istringstream in;
  auto r = read_data_argument("@", in);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("needs a file name"));
}

TEST_CASE("--data - reads stdin") {
  std::istringstream in(R"([1, 2, 3])");
  auto r = read_data_argument("-", in);
  REQUIRE(r.ok());
  CHECK(*r == "[1, 2, 3]");
}

TEST_CASE("--data - with empty stdin is invalid JSON") {
  std::istringstream in("");
  auto r = read_data_argument("-", in);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::StartsWith("invalid JSON in --data - (stdin): parse "
                                                  "error at line 1, column 1"));
}

TEST_CASE("--data rejects trailing garbage after the document") {
  std::istringstream in;
  auto r = read_data_argument(R"({"a": 1} x)", in);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("column 10"));
}
