// host.v1 Fetch end to end: Egress with the real curl client against a real HTTP server on
// loopback. Loopback is a "private" range, so these tests also show when it is reachable:
// only through a rule naming the IP literal, or a name rule with allow_private.
#include <stdlib.h>

#include <catch2/catch.hpp>

#include "egress_rule.h"
#include "fake_http_server.h"
#include "host/egress/egress.h"

using namespace plugvisor;
using namespace plugvisor::host;
using namespace std::chrono_literals;
using hostcall::Code;
using testsupport::FakeHttpServer;
using Steady = std::chrono::steady_clock;

namespace {

constexpr const char* kToken = "s3cr3t-t0ken-value";

std::string literal(const FakeHttpServer& s) {
  return "http://" + s.address() + ":" + std::to_string(s.port());
}

struct Fixture {
  Fixture() {
    REQUIRE(setenv("PV_EGRESS_TEST_TOKEN", kToken, 1) == 0);
    auto v = SecretVault::load({{"TOKEN", {"PV_EGRESS_TEST_TOKEN", ""}}});
    REQUIRE(v.ok());
    vault = std::move(v).value();
    perms.network = {rule(literal(server))};
    perms.secrets = {"TOKEN"};
  }

  hostcall::HostResult<FetchResult> fetch(FetchCall call, Steady::duration budget = 30s) {
    Egress egress(*http, vault, limits);
    return egress.fetch(perms, call, Steady::now() + budget);
  }
  hostcall::HostResult<FetchResult> get(const std::string& url, HeaderList headers = {}) {
    return fetch({"GET", url, std::move(headers), "", 0ms});
  }

  FakeHttpServer server;
  std::unique_ptr<HttpClient> http = make_curl_client();
  SecretVault vault;
  config::Permissions perms;
  config::FetchLimits limits;
};

std::string header(const FetchResult& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "<missing>";
}

}  // namespace

TEST_CASE_METHOD(Fixture, "a URL allowed by an IP-literal rule is fetched") {
  server.on("GET", "/hello", FakeHttpServer::reply(200, "hi there", {{"X-Test", "yes"}}));
  auto r = get(server.url("/hello?q=1"), {{"X-Custom", "v"}});
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(r->body == "hi there");
  CHECK(header(*r, "x-test") == "yes");
  CHECK(r->final_url == server.url("/hello?q=1"));
  CHECK(r->redirects == 0);
  auto reqs = server.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].method == "GET");
  CHECK(reqs[0].target == "/hello?q=1");
  CHECK(reqs[0].header("x-custom") == "v");
  CHECK_FALSE(reqs[0].header("expect").has_value());
}

TEST_CASE_METHOD(Fixture, "methods, bodies and error statuses pass through") {
  server.on("*", "/echo", [](const FakeHttpServer::Request& q) {
    return FakeHttpServer::Response{201, {}, q.method + ":" + q.body, {}, false};
  });
  server.on("GET", "/missing", FakeHttpServer::reply(404, "nope"));
  auto r = fetch({"POST", server.url("/echo"), {{"Content-Type", "text/plain"}}, "payload", 0ms});
  REQUIRE(r.ok());
  CHECK(r->status == 201);
  CHECK(r->body == "POST:payload");
  CHECK(server.requests().back().header("content-type") == "text/plain");
  r = fetch({"PUT", server.url("/echo"), {}, "", 0ms});
  REQUIRE(r.ok());
  CHECK(r->body == "PUT:");
  CHECK(server.requests().back().header("content-length") == "0");
  r = fetch({"HEAD", server.url("/echo"), {}, "", 0ms});
  REQUIRE(r.ok());
  CHECK(r->body.empty());
  r = get(server.url("/missing"));
  REQUIRE(r.ok());
  CHECK(r->status == 404);

  r = fetch({"TRACE", server.url("/echo"), {}, "", 0ms});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::invalid_argument);
  for (const char* name : {"Host", "content-length", "Transfer-Encoding", "Connection",
                           "Proxy-Authorization", "Bad Name", ""}) {
    r = get(server.url("/echo"), {{name, "x"}});
    INFO(name);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Code::invalid_argument);
  }
  r = get(server.url("/echo"), {{"X-Injected", "a\r\nHost: evil"}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::invalid_argument);
  CHECK(server.request_count() == 4);
}

TEST_CASE_METHOD(Fixture, "a name resolving to loopback is refused unless allow_private") {
  server.on("GET", "/", FakeHttpServer::reply(200, "local"));
  const std::string url = "http://localhost:" + std::to_string(server.port()) + "/";
  perms.network = {rule("http://localhost:" + std::to_string(server.port()))};
  auto r = get(url);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::permission_denied);
  CHECK(r.error().permission == "network");
  CHECK_THAT(r.error().message,
             Catch::Contains("localhost resolves to") && Catch::Contains("loopback"));
  CHECK(server.request_count() == 0);

  perms.network = {rule("http://localhost:" + std::to_string(server.port()), true)};
  r = get(url);
  REQUIRE(r.ok());
  CHECK(r->body == "local");
}

TEST_CASE_METHOD(Fixture, "URLs with credentials or undeclared IP literals are refused") {
  server.on("*", "*", FakeHttpServer::reply(200, "should not be reached"));
  auto r = get("http://user:pw@127.0.0.1:" + std::to_string(server.port()) + "/");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::invalid_argument);
  CHECK_THAT(r.error().message, Catch::Contains("credentials"));

  perms.network = {rule("http://localhost:" + std::to_string(server.port()), true)};
  for (const std::string host : {"127.0.0.1", "2130706433", "0x7f.1", "[::ffff:127.0.0.1]"}) {
    r = get("http://" + host + ":" + std::to_string(server.port()) + "/");
    INFO(host);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Code::permission_denied);
    CHECK_THAT(r.error().message, Catch::Contains("IP address"));
  }
  CHECK(server.request_count() == 0);
}

TEST_CASE_METHOD(Fixture, "redirects are re-checked hop by hop") {
  FakeHttpServer other("127.0.0.2");
  other.on("*", "*", [](const FakeHttpServer::Request& q) {
    return FakeHttpServer::Response{200, {}, "other:" + q.method + ":" + q.body, {}, false};
  });

  SECTION("to an undeclared host: denied, naming the redirect target") {
    server.on("GET", "/go", FakeHttpServer::reply(302, "", {{"Location", other.url("/x")}}));
    auto r = get(server.url("/go"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Code::permission_denied);
    CHECK(r.error().target == literal(other));
    CHECK_THAT(r.error().message,
               Catch::Contains("redirect from") && Catch::Contains(other.url("/x")));
    CHECK(other.request_count() == 0);
  }
  SECTION("to an undeclared name: denied before any lookup") {
    server.on("GET", "/go",
              FakeHttpServer::reply(301, "", {{"Location", "http://metadata.google.internal/"}}));
    auto r = get(server.url("/go"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().target == "http://metadata.google.internal:80");
  }
  SECTION("to a declared host: followed, reported and counted") {
    perms.network.push_back(rule(literal(other)));
    server.on("GET", "/go", FakeHttpServer::reply(302, "", {{"Location", other.url("/x")}}));
    auto r = get(server.url("/go"));
    REQUIRE(r.ok());
    CHECK(r->status == 200);
    CHECK(r->body == "other:GET:");
    CHECK(r->final_url == other.url("/x"));
    CHECK(r->redirects == 1);
  }
  SECTION("to the same URL, then an answer: each hop is a new request") {
    server.on("GET", "/retry",
              FakeHttpServer::sequence({{302, {{"Location", "/retry"}}, "", 0ms, false},
                                        {200, {}, "second", 0ms, false}}));
    auto r = get(server.url("/retry"));
    REQUIRE(r.ok());
    CHECK(r->body == "second");
    CHECK(r->redirects == 1);
    CHECK(server.request_count() == 2);
  }
  SECTION("to a declared name that resolves to loopback: the address check runs again") {
    perms.network.push_back(rule("http://localhost:" + std::to_string(other.port())));
    const std::string to = "http://localhost:" + std::to_string(other.port()) + "/x";
    server.on("GET", "/go", FakeHttpServer::reply(307, "", {{"Location", to}}));
    auto r = get(server.url("/go"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Code::permission_denied);
    CHECK_THAT(r.error().message, Catch::Contains("loopback"));
  }
  SECTION("relative Location, 303 turns POST into GET, 307 keeps it") {
    server.on("POST", "/a/see-other", FakeHttpServer::reply(303, "", {{"Location", "../b?x=1"}}));
    server.on("POST", "/a/temp", FakeHttpServer::reply(307, "", {{"Location", "/b"}}));
    server.on("*", "/b", [](const FakeHttpServer::Request& q) {
      return FakeHttpServer::Response{200, {}, q.method + ":" + q.body + ":" + q.query, {}, false};
    });
    auto r =
        fetch({"POST", server.url("/a/see-other"), {{"Content-Type", "text/plain"}}, "data", 0ms});
    REQUIRE(r.ok());
    CHECK(r->body == "GET::x=1");
    CHECK(r->final_url == server.url("/b?x=1"));
    CHECK_FALSE(server.requests().back().header("content-type").has_value());
    r = fetch({"POST", server.url("/a/temp"), {}, "data", 0ms});
    REQUIRE(r.ok());
    CHECK(r->body == "POST:data:");
  }
  SECTION("too many redirects is an error naming the limit") {
    limits.max_redirects = 3;
    server.on("GET", "/loop", FakeHttpServer::reply(302, "", {{"Location", "/loop"}}));
    auto r = get(server.url("/loop"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Code::resource_exhausted);
    CHECK_THAT(r.error().message,
               Catch::Contains("too many redirects") && Catch::Contains("limit is 3"));
    CHECK(server.request_count() == 4);
  }
}

TEST_CASE_METHOD(Fixture, "secrets are filled host-side and scrubbed from what comes back") {
  server.on("GET", "/echo", [](const FakeHttpServer::Request& q) {
    const std::string auth = q.header("authorization").value_or("");
    return FakeHttpServer::Response{200, {{"X-Echo", auth}}, "you sent " + auth, {}, false};
  });
  auto r = get(server.url("/echo"), {{"Authorization", "Bearer {{secret:TOKEN}}"}});
  REQUIRE(r.ok());
  CHECK(server.requests().back().header("authorization") == std::string("Bearer ") + kToken);
  CHECK(r->body == "you sent Bearer [secret:TOKEN]");
  CHECK(header(*r, "x-echo") == "Bearer [secret:TOKEN]");

  perms.secrets = {};
  r = get(server.url("/echo"), {{"Authorization", "Bearer {{secret:TOKEN}}"}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::permission_denied);
  CHECK(r.error().permission == "secrets");
  CHECK(r.error().target == "TOKEN");
  r = get(server.url("/echo"), {{"Authorization", "Bearer {{secret:TOKEN"}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::invalid_argument);
  CHECK(server.request_count() == 1);
}

TEST_CASE_METHOD(Fixture, "secret-bearing headers do not follow a redirect to another host") {
  FakeHttpServer other("127.0.0.2");
  other.on("*", "*", FakeHttpServer::reply(200, "other"));
  perms.network.push_back(rule(literal(other)));
  server.on("GET", "/same", FakeHttpServer::reply(302, "", {{"Location", "/final"}}));
  server.on("GET", "/final", FakeHttpServer::reply(200, "same"));
  server.on("GET", "/away", FakeHttpServer::reply(302, "", {{"Location", other.url("/")}}));
  const HeaderList headers = {{"X-Key", "{{secret:TOKEN}}"}, {"X-Plain", "p"}};

  auto r = get(server.url("/same"), headers);
  REQUIRE(r.ok());
  CHECK(server.requests().back().header("x-key") == kToken);

  r = get(server.url("/away"), headers);
  REQUIRE(r.ok());
  CHECK(r->body == "other");
  REQUIRE(other.request_count() == 1);
  CHECK_FALSE(other.requests()[0].header("x-key").has_value());
  CHECK(other.requests()[0].header("x-plain") == "p");
}

TEST_CASE_METHOD(Fixture, "error messages never carry a secret value") {
  server.on("GET", "/leak",
            FakeHttpServer::reply(302, "",
                                  {{"Location", std::string("http://evil.example/?k=") + kToken}}));
  auto r = get(server.url("/leak"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::permission_denied);
  CHECK(r.error().message.find(kToken) == std::string::npos);
  CHECK_THAT(r.error().message, Catch::Contains("[secret:TOKEN]"));
}

TEST_CASE_METHOD(Fixture, "size caps apply both ways") {
  limits.max_response_bytes = 1024;
  limits.max_request_bytes = 16;
  server.on("GET", "/big", FakeHttpServer::reply(200, std::string(4096, 'x')));
  server.on("GET", "/big-chunked",
            FakeHttpServer::reply(200, std::string(4096, 'x'), {{"Transfer-Encoding", "chunked"}}));
  server.on("GET", "/fits", FakeHttpServer::reply(200, std::string(1024, 'y')));
  for (const char* path : {"/big", "/big-chunked"}) {
    auto r = get(server.url(path));
    INFO(path);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Code::resource_exhausted);
    CHECK_THAT(r.error().message, Catch::Contains("1024"));
  }
  auto r = get(server.url("/fits"));
  REQUIRE(r.ok());
  CHECK(r->body.size() == 1024);

  const size_t before = server.request_count();
  r = fetch({"POST", server.url("/fits"), {}, std::string(17, 'z'), 0ms});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::resource_exhausted);
  CHECK(server.request_count() == before);
}

TEST_CASE_METHOD(Fixture, "timeouts: the call's, and the invocation's deadline") {
  FakeHttpServer::Response slow{200, {}, "late", 5000ms, false};
  server.on("GET", "/slow", [slow](const FakeHttpServer::Request&) { return slow; });

  auto t0 = Steady::now();
  auto r = fetch({"GET", server.url("/slow"), {}, "", 300ms});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::deadline_exceeded);
  CHECK(Steady::now() - t0 < 3s);

  t0 = Steady::now();
  r = fetch({"GET", server.url("/slow"), {}, "", 0ms}, 300ms);  // the deadline is sooner
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::deadline_exceeded);
  CHECK(Steady::now() - t0 < 3s);

  r = fetch({"GET", server.url("/slow"), {}, "", 0ms}, -1ms);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::deadline_exceeded);
}

TEST_CASE_METHOD(Fixture, "a dropped connection is unavailable") {
  server.on("GET", "/drop", [](const FakeHttpServer::Request&) {
    return FakeHttpServer::Response{200, {}, "", 0ms, true};
  });
  auto r = get(server.url("/drop"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::unavailable);
}
