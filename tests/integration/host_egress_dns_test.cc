// Name resolution for host.v1 Fetch against a real name server that never answers: a UDP
// socket on loopback that takes the queries and replies to none. The lookup (c-ares, reading
// the real /etc/resolv.conf options and /etc/hosts, only its servers replaced) must give up
// at the fetch's deadline instead of glibc's 10 s and more, and a name in /etc/hosts must
// still resolve without the name server.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include "egress_rule.h"
#include "fake_http_server.h"
#include "host/egress/egress.h"
#include "host/egress/resolver.h"
#include "plugvisor/common/unique_fd.h"

using namespace plugvisor;
using namespace plugvisor::host;
using namespace std::chrono_literals;
using hostcall::Code;
using testsupport::FakeHttpServer;
using Steady = std::chrono::steady_clock;

namespace {

constexpr const char* kSilentName = "nothing-answers.example";

// Queries queue up in the socket's buffer; nothing ever reads them until queried_names().
class SilentNameServer {
 public:
  SilentNameServer() : fd_(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    REQUIRE(fd_.valid());
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // The names asked so far (each query's QNAME), drained from the socket without waiting.
  std::vector<std::string> queried_names() {
    std::vector<std::string> names;
    unsigned char buf[1500];
    ssize_t n;
    while ((n = recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT)) > 12) {
      std::string name;
      for (ssize_t i = 12; i < n && buf[i] != 0 && i + buf[i] < n; i += buf[i] + 1) {
        name.append(name.empty() ? "" : ".").append(reinterpret_cast<char*>(buf + i + 1), buf[i]);
      }
      names.push_back(name);
    }
    return names;
  }

 private:
  UniqueFd fd_;
  uint16_t port_ = 0;
};

std::string text_of(const sockaddr_storage& s) {
  char buf[INET6_ADDRSTRLEN] = {0};
  const void* bytes =
      s.ss_family == AF_INET6
          ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6&>(s).sin6_addr)
          : static_cast<const void*>(&reinterpret_cast<const sockaddr_in&>(s).sin_addr);
  return inet_ntop(s.ss_family, bytes, buf, sizeof buf) != nullptr ? buf : "?";
}

uint16_t port_of(const sockaddr_storage& s) {
  return ntohs(s.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6&>(s).sin6_port
                                       : reinterpret_cast<const sockaddr_in&>(s).sin_port);
}

long ms_since(Steady::time_point t0) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - t0).count());
}

}  // namespace

TEST_CASE("the resolver gives up at the deadline when the name server never answers") {
  SilentNameServer dns;
  const Resolver resolver({{dns.address()}});
  const auto t0 = Steady::now();
  auto r = resolver.resolve(kSilentName, 443, false, t0 + 500ms);
  const long elapsed = ms_since(t0);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::deadline_exceeded);
  // The time it had: 500 ms less what passed before the call, so not asserted exactly.
  CHECK_THAT(r.error().message, Catch::Contains(kSilentName) &&
                                    Catch::Contains("no answer from the name server within"));
  INFO("elapsed " << elapsed << " ms");
  CHECK(elapsed >= 450);  // it waited for an answer until the deadline...
  CHECK(elapsed < 3000);  // ...and not for c-ares's or glibc's own timeouts
  // It really asked this server (a failure before any query would also be "fast").
  const auto names = dns.queried_names();
  REQUIRE_FALSE(names.empty());
  CHECK(std::find(names.begin(), names.end(), kSilentName) != names.end());
}

TEST_CASE("the resolver reads /etc/hosts before asking a name server") {
  SilentNameServer dns;
  const Resolver resolver({{dns.address()}});
  auto r = resolver.resolve("localhost", 8080, false, Steady::now() + 10s);
  REQUIRE(r.ok());
  REQUIRE_FALSE(r->empty());
  std::vector<std::string> texts;
  for (const auto& a : *r) {
    texts.push_back(text_of(a));
    CHECK(port_of(a) == 8080);
  }
  const bool loopback = std::find(texts.begin(), texts.end(), "127.0.0.1") != texts.end() ||
                        std::find(texts.begin(), texts.end(), "::1") != texts.end();
  CHECK(loopback);
}

TEST_CASE("IP literals are converted without a lookup, and a passed deadline is refused") {
  SilentNameServer dns;
  const Resolver resolver({{dns.address()}});
  // An IP literal needs no time at all: even a passed deadline does not matter.
  auto v4 = resolver.resolve("192.0.2.7", 80, true, Steady::now() - 1s);
  REQUIRE(v4.ok());
  REQUIRE(v4->size() == 1);
  CHECK(text_of(v4->front()) == "192.0.2.7");
  CHECK(port_of(v4->front()) == 80);
  auto v6 = resolver.resolve("2001:db8::1", 8443, true, Steady::now() + 1s);
  REQUIRE(v6.ok());
  REQUIRE(v6->size() == 1);
  CHECK(text_of(v6->front()) == "2001:db8::1");
  CHECK(port_of(v6->front()) == 8443);
  CHECK_FALSE(resolver.resolve("not-an-ip", 80, true, Steady::now() + 1s).ok());

  auto late = resolver.resolve(kSilentName, 80, false, Steady::now() - 1ms);
  REQUIRE_FALSE(late.ok());
  CHECK(late.error().code == Code::deadline_exceeded);
  CHECK(dns.queried_names().empty());
}

TEST_CASE("Fetch: a name server that never answers costs the fetch's timeout, no more") {
  SilentNameServer dns;
  auto http = make_curl_client();
  SecretVault vault;
  config::FetchLimits limits;
  const Egress egress(*http, vault, limits, Resolver({{dns.address()}}));
  config::Permissions perms;
  perms.network = {rule(std::string("http://") + kSilentName)};
  const std::string url = std::string("http://") + kSilentName + "/status";

  SECTION("the call's timeout") {
    const auto t0 = Steady::now();
    auto r = egress.fetch(perms, {"GET", url, {}, "", 500ms}, t0 + 30s);
    const long elapsed = ms_since(t0);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Code::deadline_exceeded);
    CHECK_THAT(r.error().message, Catch::StartsWith("fetch ran out of its 500 ms: cannot resolve " +
                                                    std::string(kSilentName)));
    INFO("elapsed " << elapsed << " ms");
    CHECK(elapsed >= 450);
    CHECK(elapsed < 3000);
  }
  SECTION("the invocation's deadline, sooner than the default timeout") {
    const auto t0 = Steady::now();
    auto r = egress.fetch(perms, {"GET", url, {}, "", 0ms}, t0 + 300ms);
    const long elapsed = ms_since(t0);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Code::deadline_exceeded);
    INFO("elapsed " << elapsed << " ms");
    CHECK(elapsed < 3000);
  }
  CHECK_FALSE(dns.queried_names().empty());
}

TEST_CASE("Fetch: a name in /etc/hosts still resolves, is checked and pinned") {
  SilentNameServer dns;
  FakeHttpServer server;
  server.on("GET", "/hi", FakeHttpServer::reply(200, "hello"));
  auto http = make_curl_client();
  SecretVault vault;
  const Egress egress(*http, vault, config::FetchLimits{}, Resolver({{dns.address()}}));
  config::Permissions perms;
  const std::string origin = "http://localhost:" + std::to_string(server.port());

  // localhost is loopback: the address check still refuses it without allow_private.
  perms.network = {rule(origin)};
  auto r = egress.fetch(perms, {"GET", origin + "/hi", {}, "", 5000ms}, Steady::now() + 30s);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::permission_denied);
  CHECK(server.request_count() == 0);

  perms.network = {rule(origin, true)};
  r = egress.fetch(perms, {"GET", origin + "/hi", {}, "", 5000ms}, Steady::now() + 30s);
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(r->body == "hello");
}
