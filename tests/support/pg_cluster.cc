#include "pg_cluster.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

namespace plugvisor::testsupport {

std::unique_ptr<TestCluster> TestCluster::start() {
  std::unique_ptr<TestCluster> cluster(new TestCluster());
  std::string tmpl = "/tmp/plugvisor-pg-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) FAIL("mkdtemp: " << std::strerror(errno));
  cluster->dir_ = buf.data();
  // mkdtemp makes it 0700; as root the cluster runs as another user, who must get through it.
  if (::chmod(cluster->dir_.c_str(), 0711) != 0) FAIL("chmod: " << std::strerror(errno));

  store::EmbeddedPostgresOptions options;
  options.data_dir = cluster->dir_ + "/data";
  options.fast_unsafe = true;
  auto pg = store::EmbeddedPostgres::start(std::move(options));
  if (!pg.ok()) FAIL("test cluster in " << cluster->dir_ << ": " << pg.error().message);
  cluster->pg_ = std::move(*pg);
  return cluster;
}

TestCluster::~TestCluster() {
  pg_.reset();  // stops the server before its files go
  if (dir_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

const std::string& TestCluster::url() const { return pg_->url(); }

Status TestCluster::stop() { return pg_->stop(); }

Status TestCluster::restart() { return pg_->restart(); }

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace plugvisor::testsupport
