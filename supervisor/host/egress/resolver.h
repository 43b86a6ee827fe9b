// Name resolution for host.v1 Fetch that gives up at the fetch's deadline. getaddrinfo() cannot
// be bounded: against a name server that never answers it blocks for glibc's own
// timeout x attempts x servers (10 s and more) whatever timeout the plugin asked for, holding a
// host-services thread. c-ares reads the same /etc/resolv.conf and /etc/hosts, and is driven
// here by a poll loop that stops at the deadline and abandons the query.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "plugvisor/common/host_error.h"

namespace plugvisor::host {

struct ResolverOptions {
  // Name servers, "IP" or "IP:port" ("[IPv6]:port"); empty: those of /etc/resolv.conf.
  std::vector<std::string> servers;
};

class Resolver {
 public:
  explicit Resolver(ResolverOptions options = {});

  // Every address of `host` for a TCP connection to `port`, in the resolver's order. An IP
  // literal (`is_ip`) is converted without any lookup. A lookup still unanswered at `deadline`
  // is abandoned with deadline_exceeded naming the host and the time it had; any other failure
  // is unavailable. Safe to call from many threads at once: each call has a channel of its own.
  hostcall::HostResult<std::vector<sockaddr_storage>> resolve(
      const std::string& host, uint16_t port, bool is_ip,
      std::chrono::steady_clock::time_point deadline) const;

 private:
  std::string servers_csv_;  // for ares_set_servers_ports_csv; empty: resolv.conf's
};

}  // namespace plugvisor::host
