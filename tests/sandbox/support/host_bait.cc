#include "host_bait.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

namespace plugvisor::sandboxtest {

namespace fs = std::filesystem;

namespace {

void write_file(const std::string& path, const std::string& content, fs::perms mode) {
  std::ofstream(path) << content;
  fs::permissions(path, mode);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void make_open_dir(const std::string& path) {
  fs::create_directory(path);
  fs::permissions(path, fs::perms::all);  // 0777: see HostBait
}

int bound_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

UniqueFd loopback_socket(int type, int& port) {
  UniqueFd fd(::socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  if (type == SOCK_STREAM) REQUIRE(::listen(fd.get(), 16) == 0);
  port = bound_port(fd.get());
  return fd;
}

std::set<std::string> entries(const std::string& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.insert(e.path().filename().string());
  return names;
}

// Whatever else showed up in a directory the probe must not be able to write to.
void unexpected_entries(const std::string& dir, const std::set<std::string>& expected,
                        std::vector<std::string>& found) {
  for (const auto& name : entries(dir)) {
    if (!expected.contains(name)) found.push_back("new file " + dir + "/" + name);
  }
  for (const auto& name : expected) {
    if (!fs::exists(fs::symlink_status(dir + "/" + name))) {
      found.push_back("missing file " + dir + "/" + name);
    }
  }
}

}  // namespace

std::string host_name() {
  char name[256] = {};
  return ::gethostname(name, sizeof name - 1) == 0 ? name : "";
}

unsigned long long host_ns_inode(const std::string& type) {
  struct stat st {};
  return ::stat(("/proc/self/ns/" + type).c_str(), &st) == 0 ? st.st_ino : 0;
}

HostBait::MsgQueue::MsgQueue() {
  // A key of our own; another run's leftover queue (a killed test) only moves us along.
  for (long k = 0x50560000L | (::getpid() & 0xffff); id < 0 && k < 0x50570000L + 0xffff;
       k += 0x10000) {
    id = ::msgget(static_cast<key_t>(k), IPC_CREAT | IPC_EXCL | 0600);
    if (id >= 0) key = k;
  }
  REQUIRE(id >= 0);
}

HostBait::MsgQueue::~MsgQueue() {
  if (id >= 0) ::msgctl(id, IPC_RMID, nullptr);
}

HostBait::HostBait() {
  make_open_dir(plugin_dir());
  make_open_dir(probe_dir());
  make_open_dir(ro_dir());
  make_open_dir(scratch_dir());
  const std::string built = ts::plugin_binary("plugvisor-escape-probe");
  REQUIRE(fs::exists(built));
  // The probe runs from a copy: its "own files" are then the test's to check and to lose.
  fs::copy_file(built, probe_executable());
  fs::permissions(probe_executable(), fs::perms::owner_all | fs::perms::group_read |
                                          fs::perms::group_exec | fs::perms::others_read |
                                          fs::perms::others_exec);
  write_file(plugin_dir() + "/canary.txt", "canary\n", fs::perms(0666));
  fs::create_symlink(probe_dir() + "/secret.txt", plugin_dir() + "/outside-link");
  const std::string suid = plugin_dir() + "/escape-probe-suid";
  fs::copy_file(built, suid);
  REQUIRE(::chown(suid.c_str(), 0, 0) == 0);
  REQUIRE(::chmod(suid.c_str(), 04755) == 0);

  write_file(probe_dir() + "/secret.txt", "plugvisor-escape-secret\n", fs::perms(0644));
  write_file(probe_dir() + "/host-tmp-canary", "canary\n", fs::perms(0666));
  write_file(ro_dir() + "/granted.txt", "granted\n", fs::perms(0666));

  tcp_ = loopback_socket(SOCK_STREAM, tcp_port_);
  udp_ = loopback_socket(SOCK_DGRAM, udp_port_);
  abstract_name_ = "plugvisor-escape-test-" + std::to_string(::getpid()) + "-" +
                   std::to_string(std::random_device{}());
  abstract_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  REQUIRE(abstract_);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, abstract_name_.data(), abstract_name_.size());
  const auto len =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + abstract_name_.size());
  REQUIRE(::bind(abstract_.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0);
  REQUIRE(::listen(abstract_.get(), 16) == 0);
}

std::vector<std::string> HostBait::evidence() const {
  std::vector<std::string> found;
  auto unchanged = [&](const std::string& path, const std::string& content) {
    if (read_text(path) != content) found.push_back("changed: " + path);
  };
  unchanged(plugin_dir() + "/canary.txt", "canary\n");
  unchanged(probe_dir() + "/host-tmp-canary", "canary\n");
  unchanged(ro_dir() + "/granted.txt", "granted\n");
  unexpected_entries(plugin_dir(),
                     {"plugvisor-escape-probe", "canary.txt", "outside-link", "escape-probe-suid"},
                     found);
  unexpected_entries(probe_dir(), {"secret.txt", "host-tmp-canary"}, found);
  unexpected_entries(ro_dir(), {"granted.txt"}, found);
  while (UniqueFd c{::accept4(tcp_.get(), nullptr, nullptr, SOCK_CLOEXEC)}) {
    found.push_back("a TCP connection to 127.0.0.1:" + std::to_string(tcp_port_));
  }
  char buf[64];
  while (::recv(udp_.get(), buf, sizeof buf, MSG_DONTWAIT) >= 0) {
    found.push_back("a UDP datagram to 127.0.0.1:" + std::to_string(udp_port_));
  }
  while (UniqueFd c{::accept4(abstract_.get(), nullptr, nullptr, SOCK_CLOEXEC)}) {
    found.push_back("a connection to @" + abstract_name_);
  }
  return found;
}

}  // namespace plugvisor::sandboxtest
