// A throwaway PostgreSQL cluster for integration tests, started the way plugvisord starts its
// embedded default (store/embedded_postgres.h), in a fresh directory under /tmp.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "plugvisor/common/result.h"
#include "store/embedded_postgres.h"

namespace plugvisor::testsupport {

class TestCluster {
 public:
  // Never returns null: if the cluster cannot start, the calling Catch2 test case fails right
  // there (FAIL), with the reason and the tail of the server log. Must be called inside a test.
  // fsync and friends are off (fast_unsafe): the data only needs to outlive a test.
  static std::unique_ptr<TestCluster> start();
  ~TestCluster();  // stops the cluster and removes its directory
  TestCluster(const TestCluster&) = delete;
  TestCluster& operator=(const TestCluster&) = delete;

  // key=value connection string for the `plugvisor` database.
  const std::string& url() const;
  // Simulate an outage and its end. restart() waits until the cluster accepts connections.
  Status stop();
  Status restart();
  // The temporary directory: the data directory is dir()/data, the server log dir()/postgres.log.
  const std::string& dir() const { return dir_; }
  const std::string& data_dir() const { return pg_->data_dir(); }

 private:
  TestCluster() = default;
  std::string dir_;
  std::unique_ptr<store::EmbeddedPostgres> pg_;
};

// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
// For waiting on background threads and servers without guessing a sleep.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

}  // namespace plugvisor::testsupport
