// SecretVault: loading from the environment and files, {{secret:NAME}} filling under the
// plugin's declared secrets, and scrubbing values out of text bound for a plugin.
#include "host/egress/secrets.h"

#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

using namespace plugvisor;
using namespace plugvisor::host;
using hostcall::Code;

namespace {

// A file in a fresh temporary directory, removed with it.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char tmpl[] = "/tmp/pv-secrets-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/secret";
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { std::filesystem::remove_all(dir_); }
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

SecretVault vault_with(const std::map<std::string, std::string>& env_values) {
  std::map<std::string, config::SecretSource> sources;
  for (const auto& [name, value] : env_values) {
    const std::string var = "PV_SECRETS_TEST_" + name;
    REQUIRE(setenv(var.c_str(), value.c_str(), 1) == 0);
    sources[name] = config::SecretSource{var, ""};
  }
  auto v = SecretVault::load(sources);
  REQUIRE(v.ok());
  return std::move(v).value();
}

}  // namespace

TEST_CASE("load reads variables and files, stripping one trailing newline") {
  TempFile file("from-file\n");
  TempFile crlf("crlf-value\r\n");
  REQUIRE(setenv("PV_SECRETS_TEST_ENV", "from-env", 1) == 0);
  auto v = SecretVault::load(
      {{"A", {"PV_SECRETS_TEST_ENV", ""}}, {"B", {"", file.path()}}, {"C", {"", crlf.path()}}});
  REQUIRE(v.ok());
  REQUIRE(v->find("A") != nullptr);
  CHECK(*v->find("A") == "from-env");
  CHECK(*v->find("B") == "from-file");
  CHECK(*v->find("C") == "crlf-value");
  CHECK(v->find("D") == nullptr);
  CHECK(SecretVault::load({}).ok());
}

TEST_CASE("load fails naming the secret and its source") {
  unsetenv("PV_SECRETS_TEST_UNSET");
  auto v = SecretVault::load({{"TOKEN", {"PV_SECRETS_TEST_UNSET", ""}}});
  REQUIRE_FALSE(v.ok());
  CHECK_THAT(v.error().message, Catch::Contains("TOKEN") &&
                                    Catch::Contains("PV_SECRETS_TEST_UNSET") &&
                                    Catch::Contains("not set"));

  REQUIRE(setenv("PV_SECRETS_TEST_EMPTY", "", 1) == 0);
  v = SecretVault::load({{"TOKEN", {"PV_SECRETS_TEST_EMPTY", ""}}});
  REQUIRE_FALSE(v.ok());
  CHECK_THAT(v.error().message,
             Catch::Contains("PV_SECRETS_TEST_EMPTY") && Catch::Contains("empty"));

  v = SecretVault::load({{"KEY", {"", "/nonexistent/pv/secret"}}});
  REQUIRE_FALSE(v.ok());
  CHECK_THAT(v.error().message, Catch::Contains("KEY") &&
                                    Catch::Contains("/nonexistent/pv/secret") &&
                                    Catch::Contains("No such file"));

  TempFile empty("\n");
  v = SecretVault::load({{"KEY", {"", empty.path()}}});
  REQUIRE_FALSE(v.ok());
  CHECK_THAT(v.error().message, Catch::Contains(empty.path()) && Catch::Contains("empty"));
}

TEST_CASE("fill replaces references to declared secrets") {
  auto v = vault_with({{"TOKEN", "t0ken"}, {"OTHER", "o"}});
  auto r = v.fill("Bearer {{secret:TOKEN}}", {"TOKEN"});
  REQUIRE(r.ok());
  CHECK(*r == "Bearer t0ken");
  r = v.fill("{{secret:TOKEN}}:{{secret:OTHER}}!", {"OTHER", "TOKEN"});
  REQUIRE(r.ok());
  CHECK(*r == "t0ken:o!");
  r = v.fill("no references {{ here }}", {});
  REQUIRE(r.ok());
  CHECK(*r == "no references {{ here }}");
}

TEST_CASE("fill refuses undeclared, unknown and malformed references") {
  auto v = vault_with({{"TOKEN", "t0ken"}, {"OTHER", "o"}});
  auto r = v.fill("Bearer {{secret:TOKEN}}", {"OTHER"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::permission_denied);
  CHECK(r.error().permission == "secrets");
  CHECK(r.error().target == "TOKEN");

  r = v.fill("{{secret:MISSING}}", {"MISSING"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::permission_denied);
  CHECK(r.error().target == "MISSING");

  for (const char* bad : {"{{secret:", "x {{secret:TOKEN", "{{secret:}}", "{{secret:TO KEN}}",
                          "{{secret:1ABC}}", "{{secret:A-B}}"}) {
    r = v.fill(bad, {"TOKEN"});
    INFO(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Code::invalid_argument);
  }
}

TEST_CASE("fill does not rescan filled values") {
  auto v = vault_with({{"OUTER", "{{secret:INNER}}"}, {"INNER", "inner-value"}});
  auto r = v.fill("{{secret:OUTER}}", {"OUTER"});
  REQUIRE(r.ok());
  CHECK(*r == "{{secret:INNER}}");
}

TEST_CASE("scrub replaces every value, longest first, hidden ones too") {
  auto v = vault_with({{"SHORT", "abc"}, {"LONG", "abcdef"}});
  v.add_hidden("API_KEY", "sk-hidden");
  CHECK(v.scrub("x abcdef y abc z") == "x [secret:LONG] y [secret:SHORT] z");
  CHECK(v.scrub("abcabc") == "[secret:SHORT][secret:SHORT]");
  CHECK(v.scrub("key=sk-hidden;") == "key=[secret:API_KEY];");
  CHECK(v.scrub("nothing here") == "nothing here");
  CHECK(v.scrub("") == "");
  // A hidden value is never fillable, nor findable.
  CHECK(v.find("API_KEY") == nullptr);
  auto r = v.fill("{{secret:API_KEY}}", {"API_KEY"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::permission_denied);
}

TEST_CASE("scrub leaves no whole value behind, even overlapping or in binary text") {
  auto v = vault_with({{"REP", "abab"}, {"S", "secret"}});
  const std::string out = v.scrub("ababab");
  CHECK(out.find("abab") == std::string::npos);
  // A short value that occurs inside the marker text is not applied to markers.
  auto w = vault_with({{"X", "ecre"}, {"S", "s3cr3t"}});
  CHECK(w.scrub("s3cr3t ecre") == "[secret:S] [secret:X]");
  std::string binary("\0s3cr3t\0", 8);
  CHECK(w.scrub(binary) == std::string("\0[secret:S]\0", 12));
  v.add_hidden("EMPTY", "");
  CHECK(v.scrub("plain") == "plain");
}
