// The egress allowlist: rule and URL parsing, matching, and the address ranges that count as
// "inside". Most cases are SSRF tricks that must be refused.
#include "plugvisor/common/egress_rules.h"

#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <cstring>

using namespace plugvisor;
using namespace plugvisor::egress;
using hostcall::Code;

namespace {

NetworkRule rule(const std::string& text) {
  auto r = parse_rule(text);
  INFO(text);
  REQUIRE(r.ok());
  return *r;
}

Target target(const std::string& url) {
  auto t = parse_target(url);
  INFO(url << ": " << (t.ok() ? "" : t.error().message));
  REQUIRE(t.ok());
  return *t;
}

// The error message parse_target gives for `url`; fails the test if it parses.
std::string refused(const std::string& url) {
  auto t = parse_target(url);
  INFO(url);
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().code == Code::invalid_argument);
  return t.error().message;
}

bool allowed(const std::vector<std::string>& rules, const std::string& url) {
  std::vector<NetworkRule> parsed;
  for (const auto& r : rules) parsed.push_back(rule(r));
  auto m = match(parsed, target(url));
  if (!m.ok()) {
    CHECK(m.error().code == Code::permission_denied);
    CHECK(m.error().permission == "network");
  }
  return m.ok();
}

// special_range for an address written as text.
std::optional<std::string> range_of(const std::string& address) {
  sockaddr_storage ss{};
  if (address.find(':') != std::string::npos) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    REQUIRE(inet_pton(AF_INET6, address.c_str(), &a->sin6_addr) == 1);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    REQUIRE(inet_pton(AF_INET, address.c_str(), &a->sin_addr) == 1);
  }
  return special_range(reinterpret_cast<const sockaddr*>(&ss));
}

}  // namespace

TEST_CASE("parse_rule: forms, defaults and normalisation") {
  auto r = rule("api.example.com");
  CHECK(r.scheme == "https");
  CHECK(r.host == "api.example.com");
  CHECK_FALSE(r.port.has_value());
  CHECK(r.text == "api.example.com");

  r = rule("HTTP://API.Example.COM:8080");
  CHECK(r.scheme == "http");
  CHECK(r.host == "api.example.com");
  CHECK(r.port == 8080);

  CHECK(rule("*.example.org:8443").host == "*.example.org");
  CHECK(rule("[::1]:9000").host == "::1");
  CHECK(rule("[0:0:0:0:0:0:0:1]").host == "::1");
  CHECK(rule("http://127.0.0.1:80").host == "127.0.0.1");
  // inet_aton forms name the address they denote.
  CHECK(rule("2130706433").host == "127.0.0.1");
  CHECK(rule("0x7f.1").host == "127.0.0.1");
}

TEST_CASE("parse_rule: malformed rules are errors naming the rule") {
  for (const char* bad :
       {"", "ftp://example.com", "https://", "example.com/path", "user@example.com",
        "example.com:0", "example.com:65536", "example.com:http", "*", "*.", "a.*.example.com",
        "*.127.0.0.1", "exa mple.com", "::1", "[::1", "bad_%host", "-bad.example.com",
        "1.2.3.999"}) {
    auto r = parse_rule(bad);
    INFO(bad);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Contains("network rule '" + std::string(bad) + "'"));
  }
}

TEST_CASE("parse_target: normalises scheme, host, port and path") {
  auto t = target("HTTPS://Api.Example.COM/v1/x?q=1#frag");
  CHECK(t.scheme == "https");
  CHECK(t.host == "api.example.com");
  CHECK(t.port == 443);
  CHECK_FALSE(t.host_is_ip);
  CHECK(t.url == "https://api.example.com/v1/x?q=1");

  t = target("http://example.com");
  CHECK(t.port == 80);
  CHECK(t.url == "http://example.com/");
  CHECK(target("http://example.com:80/").url == "http://example.com/");
  CHECK(target("http://example.com:8080?x").url == "http://example.com:8080/?x");
  CHECK(target("http://example.com./").host == "example.com");

  t = target("http://[::1]:8080/a");
  CHECK(t.host == "::1");
  CHECK(t.host_is_ip);
  CHECK(t.url == "http://[::1]:8080/a");
  CHECK(target("http://[::FFFF:127.0.0.1]/").host == "::ffff:127.0.0.1");
}

TEST_CASE("parse_target: numeric IPv4 spellings become the address they denote") {
  for (const char* url :
       {"http://2130706433/", "http://0x7f.1/", "http://017700000001/", "http://127.1/",
        "http://0x7F000001/", "http://0177.0.0.01/", "http://127.0.0.1/"}) {
    auto t = target(url);
    INFO(url);
    CHECK(t.host == "127.0.0.1");
    CHECK(t.host_is_ip);
    CHECK(t.url == "http://127.0.0.1/");
  }
  CHECK(target("http://0xa9fea9fe/").host == "169.254.169.254");
  // A name whose last label is a number is an address or nothing.
  refused("http://1.2.3.256/");
  refused("http://1.2.3.4.5/");
  refused("http://08.1.2.3/");
  refused("http://example.123/");
  refused("http://0x/");
}

TEST_CASE("parse_target: SSRF-shaped and malformed URLs are refused") {
  CHECK_THAT(refused("http://user:pass@example.com/"), Catch::Contains("credentials"));
  CHECK_THAT(refused("http://user@example.com/"), Catch::Contains("credentials"));
  CHECK_THAT(refused("http://allowed.com@evil.com/"), Catch::Contains("credentials"));
  CHECK_THAT(refused("ftp://example.com/"), Catch::Contains("only http and https"));
  CHECK_THAT(refused("file:///etc/passwd"), Catch::Contains("only http and https"));
  CHECK_THAT(refused("gopher://example.com/"), Catch::Contains("only http and https"));
  CHECK_THAT(refused("//example.com/"), Catch::Contains("absolute"));
  CHECK_THAT(refused("http:///path"), Catch::Contains("no host"));
  CHECK_THAT(refused("http://:80/"), Catch::Contains("no host"));
  CHECK_THAT(refused("http://example.com:0/"), Catch::Contains("out of 1..65535"));
  CHECK_THAT(refused("http://example.com:65536/"), Catch::Contains("out of 1..65535"));
  CHECK_THAT(refused("http://example.com:/"), Catch::Contains("invalid port"));
  CHECK_THAT(refused("http://example.com:8o/"), Catch::Contains("invalid port"));
  CHECK_THAT(refused("http://::1/"), Catch::Contains("brackets"));
  CHECK_THAT(refused("http://[::1/"), Catch::Contains("IPv6"));
  CHECK_THAT(refused("http://[fe80::1%25eth0]/"), Catch::Contains("IPv6"));
  CHECK_THAT(refused("http://[::1]x/"), Catch::Contains("after the IPv6"));
  CHECK_THAT(refused("http://exa mple.com/"), Catch::Contains("space"));
  CHECK_THAT(refused("http://example.com/\r\nHost: evil"), Catch::Contains("control"));
  CHECK_THAT(refused("http://evil.com\\@allowed.com/"), Catch::Contains("backslash"));
  CHECK_THAT(refused("http://exa%6dple.com/"), Catch::Contains("invalid host name"));
  CHECK_THAT(refused("http://ex*ample.com/"), Catch::Contains("invalid host name"));
  CHECK_THAT(refused("http://xn--bcher-kva.example..com/"), Catch::Contains("invalid host name"));
  CHECK_THAT(refused("http://b\xc3\xbc"
                     "cher.example/"),
             Catch::Contains("invalid host name"));
  // The fragment is dropped, so "#@evil" cannot become the authority.
  CHECK(target("http://allowed.com#@evil.com/").host == "allowed.com");
  CHECK(target("http://allowed.com/#@evil.com/").url == "http://allowed.com/");
}

TEST_CASE("match: exact hosts, wildcards, schemes and ports") {
  CHECK(allowed({"api.example.com"}, "https://api.example.com/v1"));
  CHECK(allowed({"api.example.com"}, "https://API.example.com:443/"));
  CHECK_FALSE(allowed({"api.example.com"}, "https://example.com/"));
  CHECK_FALSE(allowed({"api.example.com"}, "https://api.example.com.evil.com/"));
  // http when only https is declared; a port other than the rule's.
  CHECK_FALSE(allowed({"api.example.com"}, "http://api.example.com/"));
  CHECK_FALSE(allowed({"api.example.com"}, "https://api.example.com:8443/"));
  CHECK(allowed({"api.example.com:8443"}, "https://api.example.com:8443/"));
  CHECK_FALSE(allowed({"api.example.com:8443"}, "https://api.example.com/"));
  CHECK(allowed({"http://api.example.com"}, "http://api.example.com:80/"));
  CHECK_FALSE(allowed({"http://api.example.com"}, "https://api.example.com/"));
  CHECK_FALSE(allowed({"http://api.example.com"}, "http://api.example.com:443/"));

  CHECK(allowed({"*.example.com"}, "https://a.example.com/"));
  CHECK(allowed({"*.example.com"}, "https://a.b.example.com/"));
  CHECK_FALSE(allowed({"*.example.com"}, "https://example.com/"));
  CHECK_FALSE(allowed({"*.example.com"}, "https://evil-example.com/"));
  CHECK_FALSE(allowed({"*.example.com"}, "https://example.com.evil.com/"));
  CHECK_FALSE(allowed({"*.example.com"}, "https://aexample.com/"));
  CHECK(allowed({"example.com", "*.example.com"}, "https://example.com/"));
  CHECK_FALSE(allowed({}, "https://example.com/"));
}

TEST_CASE("match: an IP literal is reached only when a rule names it") {
  CHECK(allowed({"http://127.0.0.1:8080"}, "http://127.0.0.1:8080/"));
  CHECK(allowed({"http://127.0.0.1:8080"}, "http://2130706433:8080/"));
  CHECK(allowed({"http://127.0.0.1:8080"}, "http://0x7f.1:8080/"));
  CHECK_FALSE(allowed({"http://127.0.0.1:8080"}, "http://127.0.0.2:8080/"));
  CHECK_FALSE(allowed({"localhost"}, "https://127.0.0.1/"));
  CHECK_FALSE(allowed({"*.example.com"}, "https://93.184.216.34/"));
  CHECK_FALSE(allowed({"example.com"}, "https://2130706433/"));
  CHECK_FALSE(allowed({"example.com"}, "https://169.254.169.254/"));
  CHECK(allowed({"[::1]:8080"}, "https://[0::1]:8080/"));
  // The IPv4-mapped spelling of a declared IPv4 address is a different literal.
  CHECK_FALSE(allowed({"https://127.0.0.1"}, "https://[::ffff:127.0.0.1]/"));
  CHECK_FALSE(allowed({"https://[::1]"}, "https://[::ffff:127.0.0.1]/"));

  std::vector<NetworkRule> rules{rule("example.com")};
  auto m = match(rules, target("https://2130706433/"));
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().target == "https://127.0.0.1:443");
  CHECK_THAT(m.error().message, Catch::Contains("IP address"));
  m = match(rules, target("http://example.com/"));
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().target == "http://example.com:80");
  CHECK_THAT(m.error().message, Catch::Contains("scheme and port must match"));
}

TEST_CASE("special_range: private, loopback, metadata and friends") {
  CHECK(range_of("127.0.0.1") == "loopback");
  CHECK(range_of("127.255.0.9") == "loopback");
  CHECK(range_of("0.0.0.0") == "this-network");
  CHECK(range_of("10.1.2.3") == "private");
  CHECK(range_of("172.16.0.1") == "private");
  CHECK(range_of("172.31.255.255") == "private");
  CHECK_FALSE(range_of("172.32.0.1").has_value());
  CHECK(range_of("192.168.1.1") == "private");
  CHECK(range_of("100.64.0.1") == "shared (CGNAT)");
  CHECK_FALSE(range_of("100.128.0.1").has_value());
  CHECK(range_of("169.254.169.254") == "metadata");
  CHECK(range_of("169.254.1.1") == "link-local");
  CHECK(range_of("192.0.0.8") == "ietf-protocol");
  CHECK(range_of("192.0.2.1") == "documentation");
  CHECK(range_of("198.51.100.1") == "documentation");
  CHECK(range_of("203.0.113.1") == "documentation");
  CHECK(range_of("198.18.0.1") == "benchmarking");
  CHECK(range_of("198.19.255.1") == "benchmarking");
  CHECK(range_of("224.0.0.1") == "multicast");
  CHECK(range_of("240.0.0.1") == "reserved");
  CHECK(range_of("255.255.255.255") == "broadcast");
  CHECK_FALSE(range_of("8.8.8.8").has_value());
  CHECK_FALSE(range_of("93.184.216.34").has_value());

  CHECK(range_of("::") == "unspecified");
  CHECK(range_of("::1") == "loopback");
  CHECK(range_of("fe80::1") == "link-local");
  CHECK(range_of("fc00::1") == "unique-local");
  CHECK(range_of("fd12:3456::1") == "unique-local");
  CHECK(range_of("ff02::1") == "multicast");
  CHECK(range_of("2001:db8::1") == "documentation");
  CHECK_FALSE(range_of("2606:4700::1111").has_value());
  // IPv6 spellings of IPv4 addresses are judged by the IPv4 address they carry.
  CHECK(range_of("::ffff:127.0.0.1") == "loopback");
  CHECK(range_of("::ffff:169.254.169.254") == "metadata");
  CHECK(range_of("::ffff:10.0.0.1") == "private");
  CHECK_FALSE(range_of("::ffff:8.8.8.8").has_value());
  CHECK(range_of("::127.0.0.1") == "loopback");      // IPv4-compatible
  CHECK(range_of("64:ff9b::7f00:1") == "loopback");  // NAT64
  CHECK(range_of("64:ff9b::a9fe:a9fe") == "metadata");
  CHECK_FALSE(range_of("64:ff9b::808:808").has_value());
  CHECK(range_of("2002:7f00:1::") == "loopback");  // 6to4
}

TEST_CASE("check_address: private addresses need allow_private or the literal itself") {
  auto sa = [](const std::string& v4) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    REQUIRE(inet_pton(AF_INET, v4.c_str(), &a.sin_addr) == 1);
    return a;
  };
  const auto loop = sa("127.0.0.1");
  const auto pub = sa("93.184.216.34");
  const auto* loop_sa = reinterpret_cast<const sockaddr*>(&loop);

  auto name_rule = rule("http://localhost:8080");
  auto t = target("http://localhost:8080/");
  CHECK(check_address(name_rule, t, reinterpret_cast<const sockaddr*>(&pub)).ok());
  auto denied = check_address(name_rule, t, loop_sa);
  REQUIRE_FALSE(denied.ok());
  CHECK(denied.error().code == Code::permission_denied);
  CHECK(denied.error().permission == "network");
  CHECK(denied.error().target == "http://localhost:8080");
  CHECK_THAT(denied.error().message, Catch::Contains("localhost resolves to 127.0.0.1"));
  CHECK_THAT(denied.error().message, Catch::Contains("loopback"));

  name_rule.allow_private = true;
  CHECK(check_address(name_rule, t, loop_sa).ok());

  CHECK(
      check_address(rule("http://127.0.0.1:8080"), target("http://127.0.0.1:8080/"), loop_sa).ok());
  // A literal rule vouches for its own address only.
  const auto other = sa("127.0.0.2");
  CHECK_FALSE(check_address(rule("http://127.0.0.1:8080"), target("http://127.0.0.1:8080/"),
                            reinterpret_cast<const sockaddr*>(&other))
                  .ok());
  const auto meta = sa("169.254.169.254");
  auto m = check_address(rule("api.example.com"), target("https://api.example.com/"),
                         reinterpret_cast<const sockaddr*>(&meta));
  REQUIRE_FALSE(m.ok());
  CHECK_THAT(m.error().message, Catch::Contains("169.254.169.254") && Catch::Contains("metadata"));
}
