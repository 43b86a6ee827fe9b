#include "host/egress/resolver.h"

#include <ares.h>
#include <netdb.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace plugvisor::host {

namespace {

using hostcall::HostResult;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using Addresses = std::vector<sockaddr_storage>;

struct AddrinfoDeleter {
  void operator()(addrinfo* a) const { freeaddrinfo(a); }
};
struct AresAddrinfoDeleter {
  void operator()(ares_addrinfo* a) const { ares_freeaddrinfo(a); }
};
struct ChannelDeleter {
  void operator()(ares_channeldata* c) const { ares_destroy(c); }
};
using Channel = std::unique_ptr<ares_channeldata, ChannelDeleter>;

// What the channel's callbacks report back to the poll loop.
struct Query {
  std::vector<pollfd> fds;  // the sockets c-ares wants watched, and for what
  bool done = false;
  int status = ARES_SUCCESS;
  std::unique_ptr<ares_addrinfo, AresAddrinfoDeleter> result;
};

void on_socket_state(void* data, ares_socket_t fd, int readable, int writable) {
  auto& fds = static_cast<Query*>(data)->fds;
  auto it = std::find_if(fds.begin(), fds.end(), [fd](const pollfd& p) { return p.fd == fd; });
  if (readable == 0 && writable == 0) {
    if (it != fds.end()) fds.erase(it);
    return;
  }
  const short events =
      static_cast<short>((readable != 0 ? POLLIN : 0) | (writable != 0 ? POLLOUT : 0));
  if (it == fds.end()) {
    fds.push_back({fd, events, 0});
  } else {
    it->events = events;
  }
}

void on_done(void* arg, int status, int /*timeouts*/, ares_addrinfo* result) {
  auto* q = static_cast<Query*>(arg);
  q->done = true;
  q->status = status;
  q->result.reset(result);
}

// c-ares keeps no process-wide state on Linux today, but the API requires this before the
// first channel; never cleaned up because channels may be in use until the process exits.
bool library_ready() {
  static const int rc = ares_library_init(ARES_LIB_INIT_ALL);
  return rc == ARES_SUCCESS;
}

std::string ms_text(steady_clock::duration d) {
  return std::to_string(std::chrono::ceil<milliseconds>(d).count()) + " ms";
}

void append(Addresses& out, const sockaddr* addr, size_t len) {
  sockaddr_storage s{};
  std::memcpy(&s, addr, std::min(len, sizeof s));
  out.push_back(s);
}

HostResult<Addresses> convert_literal(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;  // never touches the network
  addrinfo* raw = nullptr;
  const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &raw);
  std::unique_ptr<addrinfo, AddrinfoDeleter> list(raw);
  if (rc != 0) {
    return hostcall::unavailable("cannot resolve " + host + ": " +
                                 (rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc)));
  }
  Addresses out;
  for (const addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
    append(out, ai->ai_addr, ai->ai_addrlen);
  }
  return out;
}

// Waits for the query's sockets until it completes (0) or `deadline` passes (ETIMEDOUT), or
// poll fails (its errno). c-ares's own retry timers are honoured by never sleeping past
// ares_timeout().
int drive(ares_channel channel, Query& q, steady_clock::time_point deadline) {
  while (!q.done) {
    const auto now = steady_clock::now();
    if (now >= deadline) return ETIMEDOUT;
    const auto left = std::chrono::ceil<std::chrono::microseconds>(deadline - now).count();
    timeval limit{static_cast<time_t>(left / 1000000), static_cast<suseconds_t>(left % 1000000)};
    timeval next{};
    const timeval* wait = ares_timeout(channel, &limit, &next);
    const long wait_ms = wait->tv_sec * 1000 + (wait->tv_usec + 999) / 1000;
    const int n = poll(q.fds.data(), q.fds.size(), static_cast<int>(wait_ms));
    if (n < 0 && errno != EINTR) return errno;
    if (n <= 0) {
      ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // retries and timeouts
      continue;
    }
    // A copy: processing one socket may open or close others, which edits q.fds.
    const std::vector<pollfd> ready = q.fds;
    for (const pollfd& p : ready) {
      if (p.revents == 0) continue;
      const bool in = (p.revents & (POLLIN | POLLERR | POLLHUP)) != 0;
      const bool out = (p.revents & POLLOUT) != 0;
      ares_process_fd(channel, in ? p.fd : ARES_SOCKET_BAD, out ? p.fd : ARES_SOCKET_BAD);
    }
  }
  return 0;
}

}  // namespace

Resolver::Resolver(ResolverOptions options) {
  for (const std::string& s : options.servers) {
    servers_csv_ += (servers_csv_.empty() ? "" : ",") + s;
  }
}

HostResult<Addresses> Resolver::resolve(const std::string& host, uint16_t port, bool is_ip,
                                        steady_clock::time_point deadline) const {
  if (is_ip) return convert_literal(host, port);
  const auto start = steady_clock::now();
  if (start >= deadline) return hostcall::deadline("no time left to resolve " + host);
  if (!library_ready()) return hostcall::internal("ares_library_init failed");

  // Declared before the channel, which reports to it until ares_destroy has run.
  Query q;
  ares_options opts{};
  opts.sock_state_cb = on_socket_state;
  opts.sock_state_cb_data = &q;
  ares_channel raw = nullptr;
  if (int rc = ares_init_options(&raw, &opts, ARES_OPT_SOCK_STATE_CB); rc != ARES_SUCCESS) {
    return hostcall::unavailable("cannot resolve " + host +
                                 ": resolver setup failed: " + ares_strerror(rc));
  }
  Channel channel(raw);
  if (!servers_csv_.empty()) {
    if (int rc = ares_set_servers_ports_csv(channel.get(), servers_csv_.c_str());
        rc != ARES_SUCCESS) {
      return hostcall::internal("name servers '" + servers_csv_ + "': " + ares_strerror(rc));
    }
  }

  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = ARES_AI_NUMERICSERV;
  // May call on_done before returning (an /etc/hosts entry needs no network).
  ares_getaddrinfo(channel.get(), host.c_str(), std::to_string(port).c_str(), &hints, on_done, &q);
  if (const int err = drive(channel.get(), q, deadline); err == ETIMEDOUT) {
    return hostcall::deadline("cannot resolve " + host +
                              ": no answer from the name server within " +
                              ms_text(deadline - start));
  } else if (err != 0) {
    return hostcall::internal("cannot resolve " + host + ": poll: " + std::strerror(err));
  }
  if (q.status != ARES_SUCCESS) {
    return hostcall::unavailable("cannot resolve " + host + ": " + ares_strerror(q.status));
  }
  Addresses out;
  for (const ares_addrinfo_node* n = q.result ? q.result->nodes : nullptr; n != nullptr;
       n = n->ai_next) {
    append(out, n->ai_addr, n->ai_addrlen);
  }
  return out;
}

}  // namespace plugvisor::host
