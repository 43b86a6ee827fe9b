// Hand-written URL and host parsing: common/ must not depend on libcurl, and the parser has to
// be strict where curl is lenient. Everything that is not obviously one host is refused, so the
// host we check is the host curl connects to.
#include "plugvisor/common/egress_rules.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace plugvisor::egress {

namespace {

using hostcall::HostError;

struct Host {
  std::string name;  // lower-case name, dotted-quad IPv4 or canonical IPv6 (no brackets)
  bool is_ip = false;
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

uint16_t default_port(std::string_view scheme) { return scheme == "http" ? 80 : 443; }

// One part of an inet_aton-style address: decimal, 0-prefixed octal or 0x-prefixed hex.
std::optional<uint64_t> ipv4_part(std::string_view s) {
  uint64_t base = 10;
  if (s.size() >= 2 && s[0] == '0' && s[1] == 'x') {
    base = 16;
    s.remove_prefix(2);
  } else if (s.size() >= 2 && s[0] == '0') {
    base = 8;
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > 12) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    const uint64_t d = is_digit(c) ? static_cast<uint64_t>(c - '0')
                       : is_hex(c) ? 10u + (c - 'a')
                                   : 99;
    if (d >= base) return std::nullopt;
    v = v * base + d;
  }
  return v;
}

// Accepts every form inet_aton (and so getaddrinfo) accepts: "2130706433", "0x7f.1",
// "017700000001", "127.1". Such a host must be treated as the address it denotes, or it would
// pass as a name that no rule names while curl connects to the address.
std::optional<std::string> parse_ipv4_any(std::string_view s) {
  std::vector<uint64_t> parts;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    auto part = ipv4_part(s.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (!part || parts.size() == 4) return std::nullopt;
    parts.push_back(*part);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  uint64_t v = 0;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i] > 255) return std::nullopt;
    v |= parts[i] << (8 * (3 - i));
  }
  const uint64_t last_max = (uint64_t{1} << (8 * (5 - parts.size()))) - 1;
  if (parts.back() > last_max) return std::nullopt;
  v |= parts.back();
  return std::to_string(v >> 24) + "." + std::to_string((v >> 16) & 255) + "." +
         std::to_string((v >> 8) & 255) + "." + std::to_string(v & 255);
}

// WHATWG's "ends in a number": such a host is an IPv4 address or nothing, never a name.
bool ends_in_number(std::string_view host) {
  const size_t dot = host.rfind('.');
  std::string_view last = dot == std::string_view::npos ? host : host.substr(dot + 1);
  if (last.size() >= 2 && last[0] == '0' && last[1] == 'x') {
    return std::all_of(last.begin() + 2, last.end(), is_hex);
  }
  return !last.empty() && std::all_of(last.begin(), last.end(), is_digit);
}

std::optional<std::string> canonical_ipv6(std::string_view s) {
  in6_addr a{};
  char buf[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET6, std::string(s).c_str(), &a) != 1) return std::nullopt;
  if (inet_ntop(AF_INET6, &a, buf, sizeof buf) == nullptr) return std::nullopt;
  return std::string(buf);
}

bool valid_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  size_t start = 0;
  while (start <= host.size()) {
    size_t dot = host.find('.', start);
    if (dot == std::string_view::npos) dot = host.size();
    const std::string_view label = host.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!(is_digit(c) || (c >= 'a' && c <= 'z') || c == '-' || c == '_')) return false;
    }
    start = dot + 1;
  }
  return true;
}

// A host as written in a URL or a rule, brackets included for IPv6. Errors are plain text;
// the callers wrap them in their own error type.
Result<Host, std::string> parse_host(std::string_view raw) {
  if (raw.empty()) return std::string("has no host");
  if (raw.front() == '[') {
    if (raw.back() != ']') return std::string("has an unterminated IPv6 literal");
    auto v6 = canonical_ipv6(raw.substr(1, raw.size() - 2));
    if (!v6) return "has an invalid IPv6 literal " + std::string(raw);
    return Host{*v6, true};
  }
  std::string host;
  host.reserve(raw.size());
  for (char c : raw) host.push_back(lower(c));
  // "example.com." is the same host as "example.com"; one trailing dot only.
  if (host.size() > 1 && host.back() == '.') host.pop_back();
  if (ends_in_number(host)) {
    auto v4 = parse_ipv4_any(host);
    if (!v4) return "has an invalid IPv4 address " + std::string(raw);
    return Host{*v4, true};
  }
  if (!valid_name(host)) {
    return "has an invalid host name '" + std::string(raw) +
           "' (letters, digits, '-', '_' and dots only; IPv6 in brackets)";
  }
  return Host{host, false};
}

// Splits "host[:port]" (host possibly "[v6]"). Port 0 means "not given".
Result<std::pair<std::string_view, uint16_t>, std::string> split_port(std::string_view hp) {
  size_t colon = std::string_view::npos;
  if (!hp.empty() && hp.front() == '[') {
    const size_t close = hp.find(']');
    if (close == std::string_view::npos) return std::string("has an unterminated IPv6 literal");
    if (close + 1 < hp.size()) {
      if (hp[close + 1] != ':') return std::string("has text after the IPv6 literal");
      colon = close + 1;
    }
  } else {
    colon = hp.find(':');
    if (colon != std::string_view::npos && hp.find(':', colon + 1) != std::string_view::npos) {
      return std::string("has more than one ':' (IPv6 literals need brackets)");
    }
  }
  if (colon == std::string_view::npos) return std::pair{hp, uint16_t{0}};
  const std::string_view digits = hp.substr(colon + 1);
  uint32_t port = 0;
  if (digits.empty() || digits.size() > 5 || !std::all_of(digits.begin(), digits.end(), is_digit)) {
    return "has an invalid port '" + std::string(digits) + "'";
  }
  for (char c : digits) port = port * 10 + static_cast<uint32_t>(c - '0');
  if (port < 1 || port > 65535) return "has port " + std::string(digits) + " out of 1..65535";
  return std::pair{hp.substr(0, colon), static_cast<uint16_t>(port)};
}

std::string bracketed(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

std::string origin(const std::string& scheme, const std::string& host, uint16_t port) {
  return scheme + "://" + bracketed(host) + ":" + std::to_string(port);
}

bool is_ip_literal(const std::string& host) {
  in6_addr a6{};
  in_addr a4{};
  return inet_pton(AF_INET6, host.c_str(), &a6) == 1 || inet_pton(AF_INET, host.c_str(), &a4) == 1;
}

// ---- address ranges -------------------------------------------------------------------------

struct V4Range {
  uint32_t base;
  int bits;
  const char* name;
};

// Most specific first: the first hit names the range.
constexpr V4Range kV4Ranges[] = {
    {0xA9FEA9FE, 32, "metadata"},  // 169.254.169.254, cloud instance metadata
    {0xFFFFFFFF, 32, "broadcast"},      {0x00000000, 8, "this-network"},
    {0x7F000000, 8, "loopback"},        {0x0A000000, 8, "private"},
    {0xAC100000, 12, "private"},        {0xC0A80000, 16, "private"},
    {0x64400000, 10, "shared (CGNAT)"}, {0xA9FE0000, 16, "link-local"},
    {0xC0000000, 24, "ietf-protocol"},  {0xC0000200, 24, "documentation"},
    {0xC6336400, 24, "documentation"},  {0xCB007100, 24, "documentation"},
    {0xC6120000, 15, "benchmarking"},   {0xC0586300, 24, "6to4-relay"},
    {0xE0000000, 4, "multicast"},       {0xF0000000, 4, "reserved"},
};

std::optional<std::string> v4_range(uint32_t a) {
  for (const V4Range& r : kV4Ranges) {
    const uint32_t mask = ~uint32_t{0} << (32 - r.bits);
    if ((a & mask) == r.base) return std::string(r.name);
  }
  return std::nullopt;
}

uint32_t v4_at(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

bool zero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

std::optional<std::string> v6_range(const uint8_t* b) {
  if (zero(b, 16)) return "unspecified";
  if (zero(b, 15) && b[15] == 1) return "loopback";
  // Forms that carry an IPv4 address, which the kernel or a NAT64 gateway turns into a
  // connection to that address: classify the address they carry.
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static constexpr uint8_t kNat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(b, kMapped, 12) == 0 || zero(b, 12) || std::memcmp(b, kNat64, 12) == 0) {
    return v4_range(v4_at(b + 12));
  }
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 && b[5] == 1) {
    return "nat64-local";  // 64:ff9b:1::/48, RFC 8215: embedding is operator-defined
  }
  if (b[0] == 0x20 && b[1] == 0x02) return v4_range(v4_at(b + 2));  // 6to4 2002::/16
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "link-local";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return "site-local";
  if ((b[0] & 0xfe) == 0xfc) return "unique-local";
  if (b[0] == 0xff) return "multicast";
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return "documentation";
  if (b[0] == 0x01 && zero(b + 1, 7)) return "discard";  // 100::/64
  return std::nullopt;
}

std::string address_text(const sockaddr* addr) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (addr->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, buf, sizeof buf);
  } else if (addr->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

}  // namespace

Result<NetworkRule> parse_rule(std::string_view text) {
  auto fail = [&](const std::string& why) {
    return Error{"network rule '" + std::string(text) + "' " + why};
  };
  NetworkRule rule;
  rule.text = std::string(text);
  std::string_view rest = text;
  if (const size_t sep = rest.find("://"); sep != std::string_view::npos) {
    std::string scheme;
    for (char c : rest.substr(0, sep)) scheme.push_back(lower(c));
    if (scheme != "http" && scheme != "https")
      return fail("has scheme '" + scheme + "'; only http and https");
    rule.scheme = scheme;
    rest.remove_prefix(sep + 3);
  }
  if (rest.find_first_of("/?#@\\ \t\r\n") != std::string_view::npos) {
    return fail("must be [scheme://]host[:port]: no path, query, credentials or spaces");
  }
  auto hp = split_port(rest);
  if (!hp) return fail(hp.error());
  if (hp->second != 0) rule.port = hp->second;
  std::string_view host = hp->first;
  const bool wildcard = host.substr(0, 2) == "*.";
  if (wildcard) host.remove_prefix(2);
  auto parsed = parse_host(host);
  if (!parsed) return fail(parsed.error());
  if (wildcard && parsed->is_ip) return fail("puts a wildcard on an IP address");
  rule.host = wildcard ? "*." + parsed->name : parsed->name;
  return rule;
}

hostcall::HostResult<Target> parse_target(std::string_view url) {
  auto fail = [&](const std::string& why) {
    return hostcall::invalid("URL '" + std::string(url) + "' " + why);
  };
  for (char c : url) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return fail("contains a space or control character");
    if (c == '\\') return fail("contains a backslash");
  }
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos) return fail("is not absolute (scheme://host/...)");
  Target t;
  for (char c : url.substr(0, sep)) t.scheme.push_back(lower(c));
  if (t.scheme != "http" && t.scheme != "https")
    return fail("has scheme '" + t.scheme + "'; only http and https");
  std::string_view rest = url.substr(sep + 3);
  const size_t end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, end);
  std::string_view tail = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  if (authority.find('@') != std::string_view::npos) {
    return fail("contains credentials (user:password@); pass them as a header or a secret");
  }
  auto hp = split_port(authority);
  if (!hp) return fail(hp.error());
  auto host = parse_host(hp->first);
  if (!host) return fail(host.error());
  t.host = host->name;
  t.host_is_ip = host->is_ip;
  t.port = hp->second != 0 ? hp->second : default_port(t.scheme);
  // The fragment never reaches the server; dropping it keeps "#@other" out of curl's hands.
  tail = tail.substr(0, tail.find('#'));
  std::string path =
      tail.empty() || tail.front() != '/' ? "/" + std::string(tail) : std::string(tail);
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string escaped;
  for (char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80) {
      escaped.push_back(c);
    } else {  // raw UTF-8: curl would send it as is, servers disagree on what it means
      escaped += {'%', kHex[u >> 4], kHex[u & 15]};
    }
  }
  t.url = t.scheme + "://" + bracketed(t.host) +
          (t.port == default_port(t.scheme) ? "" : ":" + std::to_string(t.port)) + escaped;
  return t;
}

hostcall::HostResult<const NetworkRule*> match(const std::vector<NetworkRule>& rules,
                                               const Target& target) {
  const std::string what = origin(target.scheme, target.host, target.port);
  const NetworkRule* same_host = nullptr;
  for (const NetworkRule& r : rules) {
    bool host_ok = false;
    if (target.host_is_ip) {
      // An address is reached only when a rule names that very address.
      host_ok = is_ip_literal(r.host) && r.host == target.host;
    } else if (r.host.rfind("*.", 0) == 0) {
      const std::string_view domain = std::string_view(r.host).substr(1);  // ".domain"
      host_ok = target.host.size() > domain.size() && target.host.ends_with(domain);
    } else {
      host_ok = r.host == target.host;
    }
    if (!host_ok) continue;
    if (r.scheme == target.scheme && r.port.value_or(default_port(r.scheme)) == target.port) {
      return &r;
    }
    same_host = same_host != nullptr ? same_host : &r;
  }
  if (same_host != nullptr) {
    return hostcall::denied("network", what,
                            "the rule '" + same_host->text + "' allows " +
                                origin(same_host->scheme, target.host,
                                       same_host->port.value_or(default_port(same_host->scheme))) +
                                " only (scheme and port must match)");
  }
  if (target.host_is_ip) {
    return hostcall::denied("network", what,
                            "an IP address is reachable only when a network rule names it");
  }
  return hostcall::denied("network", what, "no network rule allows this host");
}

std::optional<std::string> special_range(const sockaddr* addr) {
  if (addr == nullptr) return std::string("unknown");
  if (addr->sa_family == AF_INET) {
    return v4_range(ntohl(reinterpret_cast<const sockaddr_in*>(addr)->sin_addr.s_addr));
  }
  if (addr->sa_family == AF_INET6) {
    return v6_range(reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr.s6_addr);
  }
  return std::string("non-IP");  // an address family we cannot judge is never "public"
}

hostcall::HostStatus check_address(const NetworkRule& rule, const Target& target,
                                   const sockaddr* addr) {
  const auto range = special_range(addr);
  if (!range || rule.allow_private) return {};
  const std::string text = addr != nullptr ? address_text(addr) : "?";
  if (is_ip_literal(rule.host) && rule.host == text) return {};
  return hostcall::denied("network", origin(target.scheme, target.host, target.port),
                          target.host + " resolves to " + text + ", which is in the " + *range +
                              " range; set allow_private on the rule '" + rule.text +
                              "' or name the address as an IP literal");
}

}  // namespace plugvisor::egress
