// The egress allowlist: which URLs a plugin's Fetch may reach, and which resolved addresses
// count as "inside" (loopback, private, link-local, metadata, ...). Pure logic, shared by the
// supervisor's egress proxy and the SDK's in-memory test host, so both refuse the same URLs.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plugvisor/common/host_error.h"

namespace plugvisor::egress {

// One entry of permissions.network. String form: "[scheme://]host[:port]" where host is a DNS
// name (lower-cased), "*.domain" (any name strictly below domain, not domain itself), or an IP
// literal ("[::1]" for IPv6). Scheme defaults to https; port defaults to the scheme's default.
// Object form: {host, scheme, port, allow_private}.
struct NetworkRule {
  std::string scheme = "https";  // https or http
  std::string host;              // lower-case name, "*.domain", or an IP literal
  std::optional<uint16_t> port;  // unset: the scheme's default port only
  // Resolved addresses in private/loopback/link-local/metadata ranges are refused unless this
  // is set, or the rule's host is itself an IP literal (which names the address explicitly).
  bool allow_private = false;
  std::string text;  // as written, for messages
};

Result<NetworkRule> parse_rule(std::string_view text);

// A URL taken apart, after the checks that need no rule: scheme http/https only, no
// user:password@, no fragment-only tricks, a host present, port in range.
struct Target {
  std::string scheme;  // lower-case
  std::string host;    // lower-case; IPv6 without brackets
  uint16_t port = 0;   // explicit or the scheme's default
  bool host_is_ip = false;
  std::string url;  // normalised, as handed to the HTTP client
};
hostcall::HostResult<Target> parse_target(std::string_view url);

// The rule that allows `target`, or a permission_denied HostError (permission "network",
// target "scheme://host:port") saying why none does.
hostcall::HostResult<const NetworkRule*> match(const std::vector<NetworkRule>& rules,
                                              const Target& target);

// The range an address falls in, or nullopt for an ordinary public address. Covers loopback,
// RFC 1918, CGNAT 100.64/10, link-local (169.254/16 incl. 169.254.169.254 metadata, fe80::/10),
// unique-local fc00::/7, unspecified, multicast, broadcast, benchmarking, documentation and
// reserved ranges, and IPv4-mapped/compatible/NAT64 IPv6 forms of all the IPv4 ones.
std::optional<std::string> special_range(const sockaddr* addr);

// Whether a resolved address may be connected to under `rule`; permission_denied (permission
// "network") naming the address and its range otherwise.
hostcall::HostStatus check_address(const NetworkRule& rule, const Target& target,
                                   const sockaddr* addr);

}  // namespace plugvisor::egress
