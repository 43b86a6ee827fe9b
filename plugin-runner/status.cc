#include "status.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace plugvisor::runner {

namespace {
int g_failure_fd = -1;
}  // namespace

void set_failure_fd(int fd) { g_failure_fd = fd; }

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    }
  }
  out += '"';
  return out;
}

std::string step_line(std::string_view step, int err, std::string_view detail) {
  std::string line = "{\"step\":" + json_string(step) + ",\"errno\":" + std::to_string(err) +
                     ",\"error\":" + json_string(err != 0 ? std::strerror(err) : "") +
                     ",\"detail\":" + json_string(detail) + "}\n";
  return line;
}

bool write_all(int fd, std::string_view data) noexcept {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void fail(std::string_view step, int err, std::string_view detail) noexcept {
  try {
    if (g_failure_fd >= 0) write_all(g_failure_fd, step_line(step, err, detail));
    std::string human = "plugvisor-runner: " + std::string(step) + ": " +
                        (err != 0 ? std::strerror(err) : "failed");
    if (!detail.empty()) human += " (" + std::string(detail) + ")";
    human += "\n";
    write_all(STDERR_FILENO, human);
  } catch (...) {
    // Out of memory while formatting: the exit code alone still says "setup failed".
  }
  std::_Exit(kExitSetupFailed);
}

}  // namespace plugvisor::runner
