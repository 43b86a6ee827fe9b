// Logger: one JSON object per line on stderr. plugvisord reads the plugin's stderr line by line,
// so a line must reach the pipe whole: it is built in memory and handed to one write() call
// (the kernel keeps writes up to PIPE_BUF atomic; longer ones are finished by the loop below).
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include <string>

#include "plugvisor/sdk/plugin.h"

namespace plugvisor::sdk {
namespace {

void write_line(const std::string& line) noexcept {
  const char* p = line.data();
  size_t left = line.size();
  int stalls = 0;
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n > 0) {
      p += n;
      left -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // stderr may be a non-blocking pipe shared with the supervisor: wait a little for room,
    // but never hang a handler on a reader that stopped reading.
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && stalls++ < 10) {
      pollfd pfd{STDERR_FILENO, POLLOUT, 0};
      ::poll(&pfd, 1, 100);
      continue;
    }
    return;  // closed or broken stderr: logging is best-effort
  }
}

}  // namespace

void Logger::debug(const std::string& message, const Json& fields) const {
  write("debug", message, fields);
}
void Logger::info(const std::string& message, const Json& fields) const {
  write("info", message, fields);
}
void Logger::warn(const std::string& message, const Json& fields) const {
  write("warn", message, fields);
}
void Logger::error(const std::string& message, const Json& fields) const {
  write("error", message, fields);
}

void Logger::write(const char* level, const std::string& message, const Json& fields) const {
  // Logging must never take a handler down, whatever it is given.
  try {
    Json line = Json::object();
    if (fields.is_object()) {
      line = fields;
    } else if (!fields.is_null()) {
      line["fields"] = fields;
    }
    // The fixed keys win over same-named fields so the supervisor can always parse them.
    line["level"] = level;
    line["msg"] = message;
    if (!invocation_id_.empty()) line["invocation_id"] = invocation_id_;
    // Invalid UTF-8 from a handler is replaced rather than thrown about.
    std::string text = line.dump(-1, ' ', false, Json::error_handler_t::replace);
    text.push_back('\n');
    write_line(text);
  } catch (...) {
    write_line("{\"level\":\"error\",\"msg\":\"plugvisor sdk: could not format a log line\"}\n");
  }
}

}  // namespace plugvisor::sdk
