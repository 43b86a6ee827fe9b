#include "process/log_capture.h"

#include <boost/asio/read.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace plugvisor::process {

std::shared_ptr<LogCapture> LogCapture::start(boost::asio::io_context& io, std::string plugin_id,
                                              std::string stream, UniqueFd fd,
                                              config::LogLimits limits) {
  auto capture = std::make_shared<LogCapture>(io, std::move(plugin_id), std::move(stream),
                                              std::move(fd), limits);
  capture->read_more();
  return capture;
}

LogCapture::LogCapture(boost::asio::io_context& io, std::string plugin_id, std::string stream,
                       UniqueFd fd, config::LogLimits limits)
    : pipe_(io, fd.release()),
      plugin_id_(std::move(plugin_id)),
      stream_(std::move(stream)),
      limits_(limits),
      tokens_(limits.burst),
      refilled_at_(std::chrono::steady_clock::now()) {}

void LogCapture::close() {
  boost::system::error_code ignored;
  pipe_.close(ignored);
}

void LogCapture::read_more() {
  pipe_.async_read_some(boost::asio::buffer(buf_),
                        [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
                          if (n > 0) self->consume(self->buf_.data(), n);
                          if (ec) {
                            // EOF: the plugin closed its end (usually: it exited).
                            if (!self->line_.empty()) self->emit_line();
                            return;
                          }
                          self->read_more();
                        });
}

void LogCapture::consume(const char* data, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    char c = data[i];
    if (c == '\n') {
      if (!in_overlong_line_) emit_line();
      in_overlong_line_ = false;
      line_.clear();
      continue;
    }
    if (in_overlong_line_) continue;
    line_.push_back(c);
    if (line_.size() >= limits_.line_max_bytes) {
      // Emit what fits and skip the rest of the line, so one endless line costs bounded memory.
      line_ += " [truncated]";
      ++truncated_;
      emit_line();
      line_.clear();
      in_overlong_line_ = true;
    }
  }
}

bool LogCapture::take_token() {
  auto now = std::chrono::steady_clock::now();
  double elapsed = std::chrono::duration<double>(now - refilled_at_).count();
  refilled_at_ = now;
  tokens_ = std::min<double>(limits_.burst, tokens_ + elapsed * limits_.lines_per_second);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

void LogCapture::emit_line() {
  if (!take_token()) {
    ++dropped_;
    ++dropped_unreported_;
    line_.clear();
    return;
  }
  if (dropped_unreported_ > 0) {
    spdlog::warn("plugin={} stream={} | dropped {} log lines over the rate limit ({}/s)",
                 plugin_id_, stream_, dropped_unreported_, limits_.lines_per_second);
    dropped_unreported_ = 0;
  }
  ++lines_;
  // The SDK logs JSON objects with a level; honour it so plugin errors show as errors.
  auto level = stream_ == "stderr" ? spdlog::level::warn : spdlog::level::info;
  std::string_view text = line_;
  if (!line_.empty() && line_.front() == '{') {
    auto parsed = nlohmann::json::parse(line_, nullptr, false);
    if (parsed.is_object() && parsed.contains("level") && parsed["level"].is_string()) {
      level = spdlog::level::from_str(parsed["level"].get<std::string>());
      if (level == spdlog::level::off) level = spdlog::level::info;
    }
  }
  spdlog::log(level, "plugin={} stream={} | {}", plugin_id_, stream_, text);
  line_.clear();
}

}  // namespace plugvisor::process
