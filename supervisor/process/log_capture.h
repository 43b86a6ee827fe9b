// Turns a plugin's stdout or stderr pipe into supervisor log lines tagged with the plugin id.
// A plugin that floods cannot hurt the supervisor: lines are capped in length and rate-limited
// by a token bucket, and what is cut or dropped is counted and reported.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "config/config.h"
#include "plugvisor/common/unique_fd.h"

namespace plugvisor::process {

class LogCapture : public std::enable_shared_from_this<LogCapture> {
 public:
  static std::shared_ptr<LogCapture> start(boost::asio::io_context& io, std::string plugin_id,
                                           std::string stream, UniqueFd fd,
                                           config::LogLimits limits);
  LogCapture(boost::asio::io_context& io, std::string plugin_id, std::string stream, UniqueFd fd,
             config::LogLimits limits);
  void close();

  uint64_t lines() const { return lines_; }
  uint64_t dropped() const { return dropped_; }
  uint64_t truncated() const { return truncated_; }

 private:
  void read_more();
  void consume(const char* data, size_t n);
  void emit_line();
  bool take_token();

  boost::asio::posix::stream_descriptor pipe_;
  std::string plugin_id_;
  std::string stream_;
  config::LogLimits limits_;
  std::array<char, 16384> buf_{};
  std::string line_;
  bool in_overlong_line_ = false;
  double tokens_;
  std::chrono::steady_clock::time_point refilled_at_;
  uint64_t lines_ = 0;
  uint64_t dropped_ = 0;
  uint64_t dropped_unreported_ = 0;
  uint64_t truncated_ = 0;
};

}  // namespace plugvisor::process
