#include "sandbox/kernel_audit.h"

#include <linux/audit.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>

#include "plugvisor/common/unique_fd.h"

namespace plugvisor::sandbox {
namespace {

// Sends one request and reads until its ack; returns the audit_status if the kernel sent one.
Result<std::optional<audit_status>> request(uint16_t type, const audit_status* payload) {
  const char* what = type == AUDIT_GET ? "AUDIT_GET" : "AUDIT_SET";
  UniqueFd sock(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT));
  if (!sock) return Error::errno_error("audit netlink socket", errno);
  timeval tv{1, 0};
  ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  alignas(nlmsghdr) std::array<char, NLMSG_SPACE(sizeof(audit_status))> msg{};
  auto* req = reinterpret_cast<nlmsghdr*>(msg.data());
  req->nlmsg_len = NLMSG_LENGTH(payload ? sizeof *payload : 0);
  req->nlmsg_type = type;
  req->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  req->nlmsg_seq = 1;
  if (payload) std::memcpy(NLMSG_DATA(req), payload, sizeof *payload);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(sock.get(), msg.data(), req->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof kernel) < 0) {
    return Error::errno_error(what, errno);
  }

  std::optional<audit_status> status;
  bool acked = false;
  alignas(nlmsghdr) std::array<char, 8192> buf{};
  for (int reads = 0; reads < 4 && !(acked && (status || type != AUDIT_GET)); ++reads) {
    const ssize_t n = ::recv(sock.get(), buf.data(), buf.size(), 0);
    if (n < 0) return Error::errno_error(std::string(what) + " reply", errno);
    int left = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, left);
         h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        if (e->error != 0) return Error::errno_error(what, -e->error);
        acked = true;
      } else if (h->nlmsg_type == AUDIT_GET &&
                 h->nlmsg_len >= NLMSG_LENGTH(offsetof(audit_status, enabled) + 4)) {
        audit_status st{};  // older kernels send a shorter struct
        std::memcpy(&st, NLMSG_DATA(h), std::min<size_t>(sizeof st, h->nlmsg_len - NLMSG_HDRLEN));
        status = st;
      }
    }
  }
  return status;
}

}  // namespace

Result<KernelAuditStatus> kernel_audit_status() {
  auto reply = request(AUDIT_GET, nullptr);
  if (!reply) return reply.error();
  if (!*reply) return Error{"AUDIT_GET: no status in the kernel's reply"};
  return KernelAuditStatus{(*reply)->enabled, (*reply)->failure};
}

bool landlock_denials_loggable(const Result<KernelAuditStatus>& status) {
  return status && status->failure != kAuditFailPanic;
}

bool landlock_denials_loggable() { return landlock_denials_loggable(kernel_audit_status()); }

Status set_kernel_audit_enabled(uint32_t enabled) {
  audit_status st{};
  st.mask = AUDIT_STATUS_ENABLED;
  st.enabled = enabled;
  auto reply = request(AUDIT_SET, &st);
  if (!reply) return reply.error();
  return {};
}

}  // namespace plugvisor::sandbox
