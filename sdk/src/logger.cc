// Logger: a record goes to the plugin's host (host.v1 Log) when it has one that takes it, else
// to stderr as one JSON object per line. plugvisord reads the plugin's stderr line by line, so a
// line must reach the pipe whole: it is built in memory and handed to one write() call (the
// kernel keeps writes up to PIPE_BUF atomic; longer ones are finished by the loop below).
//
// The host is never waited on here: the fd-4 client queues the record and returns (see
// log_sender.h), and a host that refuses it, or none at all, costs one write to stderr.
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include <string>

#include "log_line.h"
#include "plugvisor/sdk/plugin.h"

namespace plugvisor::sdk {
namespace detail {

std::string format_log_line(const LogRecord& record) noexcept {
  try {
    Json line = Json::object();
    if (record.fields.is_object()) {
      line = record.fields;
    } else if (!record.fields.is_null()) {
      line["fields"] = record.fields;
    }
    line["level"] = record.level;
    line["msg"] = record.message;
    if (!record.invocation_id.empty()) line["invocation_id"] = record.invocation_id;
    // Invalid UTF-8 from a handler is replaced rather than thrown about.
    std::string text = line.dump(-1, ' ', false, Json::error_handler_t::replace);
    text.push_back('\n');
    return text;
  } catch (...) {
    return "{\"level\":\"error\",\"msg\":\"plugvisor sdk: could not format a log line\"}\n";
  }
}

void write_stderr_line(const std::string& line) noexcept {
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

}  // namespace detail

namespace {

// Set while this thread is inside a host's log(): a host implementation that logs through a
// Logger itself (a test's HostApi, say) gets stderr instead of a loop back into itself.
thread_local bool in_host_log = false;

class HostLogScope {
 public:
  HostLogScope() { in_host_log = true; }
  ~HostLogScope() { in_host_log = false; }
  HostLogScope(const HostLogScope&) = delete;
  HostLogScope& operator=(const HostLogScope&) = delete;
};

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
  // Logging must never take a handler down, whatever it is given and whatever the host does.
  try {
    if (host_ && !in_host_log) {
      HostLogScope scope;
      try {
        if (host_->log(call_, LogRecord{level, message, fields, invocation_id_})) return;
      } catch (...) {
        // A host implementation that throws is treated as one that did not take the record.
      }
    }
    detail::write_stderr_line(
        detail::format_log_line(LogRecord{level, message, fields, invocation_id_}));
  } catch (...) {
    detail::write_stderr_line(
        "{\"level\":\"error\",\"msg\":\"plugvisor sdk: could not format a log line\"}\n");
  }
}

}  // namespace plugvisor::sdk
