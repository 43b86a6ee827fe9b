// Network escapes. A plugin has no network of its own: it gets an empty network namespace and
// reaches the outside only through the host's services on fd 4. The test listens on the host
// (tcp_port and udp_port on 127.0.0.1, an abstract unix socket, the supervisor's api.sock) and
// passes the inode of its own network namespace as host_ns.net.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "attempt.h"
#include "plugvisor/common/unique_fd.h"

namespace plugvisor::escape_probe {
namespace {

// Where a socket that worked actually lives: in the host's network namespace it is an escape,
// in an empty one of its own it reaches nothing.
std::string netns_note(const Input& in, bool& host_net) {
  const unsigned long long mine = own_ns("net"), host = in.host_ns("net");
  // Without the host's inode, assume the worst.
  host_net = host == 0 || mine == host;
  if (host == 0) return " (the test passed no host_ns.net)";
  return host_net ? " in the host's network namespace"
                  : " but in an isolated network namespace (" + std::to_string(mine) + ", host " +
                        std::to_string(host) + ")";
}

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// connect() with a bound on the wait, so a filtered port cannot hang the probe.
int connect_within(int fd, const sockaddr* addr, socklen_t len) {
  if (::connect(fd, addr, len) == 0) return 0;
  if (errno != EINPROGRESS) return errno;
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, 3000) != 1) return ETIMEDOUT;
  int err = 0;
  socklen_t err_len = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len);
  return err;
}

Outcome tcp_connect(const Input& in) {
  const long long port = in.number("tcp_port", 0);
  if (port <= 0) return inconclusive("the test passed no tcp_port");
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return blocked(failed("socket(AF_INET, SOCK_STREAM)", errno));
  sockaddr_in a = loopback(static_cast<int>(port));
  int err = connect_within(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  std::string where = "127.0.0.1:" + std::to_string(port);
  if (err != 0) return blocked(failed("connect " + where, err));
  return escaped("connected to the test's listener on " + where);
}

Outcome tcp_bind_listen(const Input& in) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return blocked(failed("socket(AF_INET, SOCK_STREAM)", errno));
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_addr.s_addr = htonl(INADDR_ANY);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&any), sizeof any) != 0) {
    return blocked(failed("bind 0.0.0.0:0", errno));
  }
  if (::listen(fd.get(), 1) != 0) return blocked(failed("listen", errno));
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len);
  bool host_net = false;
  std::string detail =
      "listening on 0.0.0.0:" + std::to_string(ntohs(bound.sin_port)) + netns_note(in, host_net);
  return host_net ? escaped(detail) : blocked(detail);
}

Outcome udp_send(const Input& in) {
  const long long port = in.number("udp_port", 0);
  if (port <= 0) return inconclusive("the test passed no udp_port");
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return blocked(failed("socket(AF_INET, SOCK_DGRAM)", errno));
  sockaddr_in a = loopback(static_cast<int>(port));
  const char message[] = "escape-probe";
  std::string where = "127.0.0.1:" + std::to_string(port);
  if (::sendto(fd.get(), message, sizeof message - 1, 0, reinterpret_cast<sockaddr*>(&a),
               sizeof a) < 0) {
    return blocked(failed("sendto " + where, errno));
  }
  bool host_net = false;
  std::string detail = "sent a datagram to " + where + netns_note(in, host_net);
  return host_net ? escaped(detail) : blocked(detail);
}

// Raw and packet sockets need CAP_NET_RAW; in the host's namespace they see all its traffic.
Outcome privileged_socket(const Input& in, int domain, int type, int protocol,
                          const std::string& what) {
  UniqueFd fd(::socket(domain, type | SOCK_CLOEXEC, protocol));
  if (!fd) return blocked(failed("socket(" + what + ")", errno));
  bool host_net = false;
  std::string detail = "created a " + what + " socket" + netns_note(in, host_net);
  if (!host_net) detail += "; CAP_NET_RAW was not dropped";
  return host_net ? escaped(detail) : blocked(detail);
}

Outcome raw_socket(const Input& in) {
  return privileged_socket(in, AF_INET, SOCK_RAW, IPPROTO_ICMP, "AF_INET, SOCK_RAW");
}

Outcome packet_socket(const Input& in) {
  return privileged_socket(in, AF_PACKET, SOCK_RAW, htons(ETH_P_ALL), "AF_PACKET, SOCK_RAW");
}

// Connects a unix stream socket to `addr`; escaped if that works.
Outcome unix_connect(const sockaddr_un& addr, socklen_t len, const std::string& what) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return inconclusive(failed("socket(AF_UNIX)", errno));
  int err = connect_within(fd.get(), reinterpret_cast<const sockaddr*>(&addr), len);
  if (err != 0) return blocked(failed("connect " + what, err));
  return escaped("connected to " + what);
}

Outcome abstract_unix_connect(const Input& in) {
  std::string name = in.text("abstract_socket");
  if (name.empty()) return inconclusive("the test passed no abstract_socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (name.size() + 1 > sizeof addr.sun_path) return inconclusive("abstract_socket is too long");
  std::memcpy(addr.sun_path + 1, name.data(), name.size());  // sun_path[0] = 0: abstract
  return unix_connect(addr,
                      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size()),
                      "abstract socket @" + name);
}

Outcome unix_pathname_connect(const Input& in) {
  auto it = in.data().find("unix_sockets");
  if (it == in.data().end() || !it->is_array() || it->empty()) {
    return inconclusive("the test passed no unix_sockets");
  }
  std::string detail;
  for (const auto& entry : *it) {
    std::string path = entry.is_string() ? entry.get<std::string>() : "";
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path) {
      return inconclusive("unusable unix_sockets entry " + entry.dump());
    }
    std::memcpy(addr.sun_path, path.data(), path.size());
    Outcome o = unix_connect(addr, sizeof addr, path);
    if (o.escaped || o.inconclusive) return o;
    detail += o.detail + "; ";
  }
  return blocked(detail);
}

// Reads a whole (proc) file; false with errno set if it cannot be opened or read.
bool read_all(const std::string& path, std::string& out) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  out.clear();
  char buffer[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) return false;
    if (n == 0) return true;
    out.append(buffer, static_cast<size_t>(n));
  }
}

// Looking, not touching: which network namespace the plugin is in shows in what it can see.
// /proc/net is the reader's own network namespace, whatever pid namespace /proc belongs to, so
// in the host's it lists the test's TCP listener and the host's interfaces; an empty one has
// only `lo` and no sockets. Binding the test's abstract unix name (Landlock scopes connect and
// send, not bind) fails with EADDRINUSE only in the host's namespace; the name is let go at
// once. Seccomp and Landlock allow all of this (reading /proc, bind on an AF_UNIX socket): only
// the network namespace hides the host's network.
Outcome host_network_visible(const Input& in) {
  std::string detail;
  bool seen = false;
  if (const long long port = in.number("tcp_port", 0); port > 0) {
    std::string table;
    if (!read_all("/proc/net/tcp", table)) {
      detail += failed("read /proc/net/tcp", errno) + "; ";
    } else {
      char local[32];
      std::snprintf(local, sizeof local, "0100007F:%04llX", port);
      std::istringstream lines(table);
      std::string line, slot, address, remote, state;
      bool listed = false;
      while (std::getline(lines, line)) {
        std::istringstream fields(line);
        if (fields >> slot >> address >> remote >> state && address == local && state == "0A") {
          listed = true;
        }
      }
      seen |= listed;
      detail +=
          listed ? "/proc/net/tcp lists the test's listener on 127.0.0.1:" + std::to_string(port) +
                       "; "
                 : "/proc/net/tcp does not list 127.0.0.1:" + std::to_string(port) + "; ";
    }
  }
  std::string dev;
  if (!read_all("/proc/net/dev", dev)) {
    detail += failed("read /proc/net/dev", errno) + "; ";
  } else {
    std::istringstream lines(dev);
    std::string line, others;
    while (std::getline(lines, line)) {
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;  // the two header lines
      std::string name = line.substr(0, colon);
      name.erase(0, name.find_first_not_of(' '));
      if (name != "lo") others += (others.empty() ? "" : ",") + name;
    }
    seen |= !others.empty();
    detail += others.empty() ? "/proc/net/dev: only lo; " : "/proc/net/dev shows " + others + "; ";
  }
  if (std::string name = in.text("abstract_socket"); !name.empty()) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (name.size() + 1 <= sizeof addr.sun_path) {
      std::memcpy(addr.sun_path + 1, name.data(), name.size());
      const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
      UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!fd) {
        detail += failed("socket(AF_UNIX)", errno) + "; ";
      } else if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
        const int err = errno;
        seen |= err == EADDRINUSE;
        detail += err == EADDRINUSE
                      ? "bind @" + name + ": EADDRINUSE (the test's socket is there); "
                      : failed("bind @" + name, err) + "; ";
      } else {
        detail += "bind @" + name + " worked (the name is free here); ";
      }
    }
  }
  return seen ? escaped("the host's network is visible: " + detail) : blocked(detail);
}

}  // namespace

Outcome listen_abstract(const Input& in) {
  static std::vector<UniqueFd> kept;  // listening until the process ends
  const std::string name = in.text("name");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (name.empty() || name.size() + 1 > sizeof addr.sun_path) {
    return inconclusive("listen_abstract needs a short data.name");
  }
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return inconclusive(failed("socket(AF_UNIX)", errno));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(fd.get(), 4) != 0) {
    return inconclusive(failed("bind/listen @" + name, errno));
  }
  kept.push_back(std::move(fd));
  return blocked("listening on @" + name);
}

void add_net_attempts(std::vector<Attempt>& out) {
  const std::string f = "net";
  out.push_back({"tcp_connect", f, Kind::may_kill, tcp_connect});
  out.push_back({"tcp_bind_listen", f, Kind::may_kill, tcp_bind_listen});
  out.push_back({"udp_send", f, Kind::may_kill, udp_send});
  out.push_back({"raw_socket", f, Kind::may_kill, raw_socket});
  out.push_back({"packet_socket", f, Kind::may_kill, packet_socket});
  out.push_back({"abstract_unix_connect", f, Kind::safe, abstract_unix_connect});
  out.push_back({"unix_pathname_connect", f, Kind::safe, unix_pathname_connect});
  out.push_back({"host_network_visible", f, Kind::safe, host_network_visible});
}

}  // namespace plugvisor::escape_probe
