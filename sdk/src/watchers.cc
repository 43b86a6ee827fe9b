#include "watchers.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "plugvisor/sdk/plugin.h"
#include "service.h"

namespace plugvisor::sdk::detail {

SignalWatcher::SignalWatcher(const sigset_t& signals, Lifecycle& lifecycle)
    : signals_(signals), lifecycle_(lifecycle), thread_([this] { loop(); }) {}

SignalWatcher::~SignalWatcher() {
  done_.store(true);
  // The signal is blocked in the watcher too, so it stays pending for that thread and wakes
  // its sigwait(); done_ tells the loop it was us.
  pthread_kill(thread_.native_handle(), SIGTERM);
  thread_.join();
}

void SignalWatcher::loop() {
  int received = 0;
  for (;;) {
    int sig = 0;
    if (sigwait(&signals_, &sig) != 0) continue;
    if (done_.load()) return;
    // Nothing may escape this thread; a failed log line must not lose the signal either.
    try {
      const std::string name = sig == SIGINT ? "SIGINT" : "SIGTERM";
      if (++received > 1) {
        // Someone insists (a second Ctrl-C or SIGTERM): stop waiting for handlers.
        Logger{}.warn("received " + name + " again, exiting now");
        std::fflush(stdout);
        std::_Exit(128 + sig);
      }
      Logger{}.info("received " + name + ", draining in-flight invocations",
                    {{"grace_ms", kDefaultGrace.count()}});
      lifecycle_.request_stop(kDefaultGrace, name);
    } catch (...) {
      lifecycle_.request_stop(kDefaultGrace, {});
    }
  }
}

HangupWatcher::HangupWatcher(int fd, Lifecycle& lifecycle)
    : watched_(::fcntl(fd, F_DUPFD_CLOEXEC, 0)),
      wake_(::eventfd(0, EFD_CLOEXEC)),
      lifecycle_(lifecycle) {
  if (watched_ && wake_) thread_ = std::thread([this] { loop(); });
}

HangupWatcher::~HangupWatcher() {
  if (!thread_.joinable()) return;
  const uint64_t one = 1;
  // An eventfd write of 8 bytes cannot be partial; a failure would mean a broken eventfd.
  if (::write(wake_.get(), &one, sizeof one) == sizeof one)
    thread_.join();
  else
    thread_.detach();
}

bool HangupWatcher::wait_until_read(std::chrono::steady_clock::time_point deadline) const {
  using namespace std::chrono;
  if (!watched_) return true;
  // The kernel signals write space each time the peer consumes some of what we sent, so an
  // edge-triggered EPOLLOUT wakes us per read. It can come a moment before the count below
  // drops, and the count is what is exact, so it is also re-read every 2 ms.
  UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  epoll_event want{};
  want.events = EPOLLOUT | EPOLLRDHUP | EPOLLET;
  if (ep && ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, watched_.get(), &want) != 0) ep.reset();
  for (;;) {
    // For AF_UNIX, SIOCOUTQ counts what we sent that the peer has not read yet. (Frames gRPC
    // sends after the answers, such as a ping's ack, may stay unread; that only costs the wait.)
    int unread = 0;
    if (::ioctl(watched_.get(), SIOCOUTQ, &unread) != 0 || unread == 0) return true;
    const auto left = duration_cast<milliseconds>(deadline - steady_clock::now());
    if (left <= milliseconds::zero()) return false;
    const int step = static_cast<int>(std::min<milliseconds::rep>(left.count() + 1, 2));
    // A hang-up ends the wait too: nobody is left to read.
    if (ep) {
      epoll_event got{};
      if (::epoll_wait(ep.get(), &got, 1, step) > 0 &&
          (got.events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0)
        return true;
    } else {
      pollfd pfd{watched_.get(), POLLRDHUP, 0};
      if (::poll(&pfd, 1, step) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0)
        return true;
    }
  }
}

void HangupWatcher::loop() {
  pollfd fds[2] = {{watched_.get(), POLLRDHUP, 0}, {wake_.get(), POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;  // cannot watch; the supervisor still has the Shutdown RPC and signals
    }
    if (fds[1].revents != 0) return;
    if (fds[0].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) {
      // During a shutdown the hang-up is usually our own server closing the socket.
      if (!lifecycle_.stopping()) Logger{}.warn("the supervisor closed fd 3; stopping");
      try {
        lifecycle_.request_stop(std::chrono::milliseconds{0}, "fd 3 hung up");
      } catch (...) {  // only the reason string can fail to allocate; never leave the thread
        lifecycle_.request_stop(std::chrono::milliseconds{0}, {});
      }
      return;
    }
  }
}

}  // namespace plugvisor::sdk::detail
