#include "sandbox/landlock_audit.h"

#include <linux/audit.h>
#include <linux/netlink.h>
#include <poll.h>
#include <seccomp.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "sandbox/kernel_audit.h"

namespace plugvisor::sandbox {
namespace {

using Clock = std::chrono::steady_clock;

// An event without an EOE record (the task had no audit context) is complete after this.
constexpr std::chrono::milliseconds kEventGrace{200};
// Per plugin: 20 denials at once, then one every 3 s; the rest are counted (DenialBudget).
constexpr int kBurst = 20;
constexpr std::chrono::milliseconds kRefill{3000};
// MAX_AUDIT_MESSAGE_LENGTH is 8970; room for a few records per read.
constexpr size_t kReadBuffer = 64 * 1024;

std::string syscall_name(uint32_t arch, int nr) {
  std::unique_ptr<char, decltype(&std::free)> name(seccomp_syscall_resolve_num_arch(arch, nr),
                                                   &std::free);
  return name ? std::string(name.get()) : std::string();
}

Result<UniqueFd> open_readlog() {
  UniqueFd sock(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_AUDIT));
  if (!sock) return Error::errno_error("cannot open an audit netlink socket", errno);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = 1U << (AUDIT_NLGRP_READLOG - 1);
  if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    return Error{err == EPERM ? "plugvisord lacks CAP_AUDIT_READ, so it cannot read the audit log"
                              : std::string("cannot join the audit log's read-only group: ") +
                                    std::strerror(err),
                 err};
  }
  return sock;
}

AuditStatus status_of(int landlock_abi, bool listening, const std::string& not_listening) {
  if (landlock_abi < kLandlockAbiAudit) {
    return {false, "Landlock ABI " + std::to_string(landlock_abi) +
                       " does not log denials after exec (ABI 7, Linux 6.15, does)"};
  }
  if (!listening) return {false, not_listening};
  auto kernel = kernel_audit_status();
  if (!kernel) {
    return {false, "cannot read the kernel's audit settings (" + kernel.error().message +
                       "), so plugins' denials are not logged"};
  }
  if (kernel->failure == kAuditFailPanic) {
    return {false,
            "the kernel's audit panics on a lost record (auditctl -f 2), so plugins' denials are "
            "not logged: a plugin looping on a denied call could overflow the audit backlog"};
  }
  if (kernel->enabled == 0) {
    return {false,
            "the kernel's audit is off, so it logs no denials (turn it on with `auditctl -e 1` "
            "or audit=1 on the kernel command line)"};
  }
  return {true, "denials are recorded as landlock_denied events (from the kernel's audit log)"};
}

}  // namespace

LandlockAuditWatch::LandlockAuditWatch(int landlock_abi, PluginUids uids, OnDenial on_denial)
    : landlock_abi_(landlock_abi),
      uids_(uids),
      on_denial_(std::move(on_denial)),
      assembler_(&syscall_name),
      budget_(kBurst, kRefill) {
  if (landlock_abi_ < kLandlockAbiAudit) return;
  auto sock = open_readlog();
  if (!sock) {
    not_listening_ = sock.error().message;
    return;
  }
  wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_) {
    not_listening_ = std::string("eventfd: ") + std::strerror(errno);
    return;
  }
  sock_ = std::move(*sock);
  thread_ = std::thread([this] { run(); });
}

LandlockAuditWatch::~LandlockAuditWatch() {
  if (!thread_.joinable()) return;
  const uint64_t one = 1;
  if (::write(wake_.get(), &one, sizeof one) < 0) {
    spdlog::error("landlock audit: cannot stop the reader: {}", std::strerror(errno));
  }
  thread_.join();
}

AuditStatus LandlockAuditWatch::status() const {
  return status_of(landlock_abi_, listening(), not_listening_);
}

AuditStatus LandlockAuditWatch::probe(int landlock_abi) {
  if (landlock_abi < kLandlockAbiAudit) return status_of(landlock_abi, false, "");
  auto sock = open_readlog();
  return status_of(landlock_abi, sock.ok(), sock.ok() ? "" : sock.error().message);
}

void LandlockAuditWatch::deliver(const std::vector<LandlockDenial>& denials) {
  for (const auto& d : denials) {
    if (!uids_.contains(d.uid)) continue;
    uint64_t suppressed = 0;
    if (budget_.allow(d.uid, Clock::now(), suppressed)) on_denial_(d, suppressed);
  }
}

void LandlockAuditWatch::run() {
  std::vector<char> buf(kReadBuffer);
  for (;;) {
    try {
      std::array<pollfd, 2> fds{pollfd{sock_.get(), POLLIN, 0}, pollfd{wake_.get(), POLLIN, 0}};
      const int timeout = assembler_.idle() ? -1 : static_cast<int>(kEventGrace.count());
      if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
        spdlog::error("landlock audit: poll: {}; no more denials will be recorded",
                      std::strerror(errno));
        return;
      }
      if (fds[1].revents != 0) return;
      for (;;) {
        const ssize_t n = ::recv(sock_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < 0) {
          // ENOBUFS: the kernel dropped records while we were slow; go on with the next ones.
          if (errno == ENOBUFS || errno == EINTR) continue;
          break;  // EAGAIN: drained
        }
        int left = static_cast<int>(n);
        for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, left);
             h = NLMSG_NEXT(h, left)) {
          std::string_view text(static_cast<const char*>(NLMSG_DATA(h)),
                                h->nlmsg_len - NLMSG_HDRLEN);
          while (!text.empty() && text.back() == '\0') text.remove_suffix(1);
          deliver(assembler_.add(h->nlmsg_type, text, Clock::now()));
        }
      }
      deliver(assembler_.expire(Clock::now(), kEventGrace));
    } catch (const std::exception& e) {
      spdlog::error("landlock audit: {}", e.what());  // one bad record must not end the watch
    }
  }
}

}  // namespace plugvisor::sandbox
