// Status lines from the runner to plugvisord (SPEC.md, "Status pipe"): one JSON object per line.
// The runner is single-threaded and every process it creates reports through one fd, so the
// failure path is a pair of globals rather than an object threaded through every step.
#pragma once

#include <string>
#include <string_view>

namespace plugvisor::runner {

// Exit code of a runner whose sandbox could not be built (before the plugin's execve).
constexpr int kExitSetupFailed = 126;

// Where fail() writes its line: the status fd in the runner, the internal startup pipe in the
// init and the plugin (the runner forwards what arrives there). -1: stderr only.
void set_failure_fd(int fd);

// `s` as a quoted JSON string. Bytes outside printable ASCII are \u00XX-escaped, so the line is
// valid JSON whatever a path contains.
std::string json_string(std::string_view s);

// {"step":..,"errno":..,"error":..,"detail":..} and a newline.
std::string step_line(std::string_view step, int err, std::string_view detail);

// Writes all of `data`, retrying short writes and EINTR. False on any other error.
bool write_all(int fd, std::string_view data) noexcept;

// Reports that `step` failed with `err` (an errno value; 0 when no syscall failed) on the failure
// fd and, for humans reading the plugin's log, on stderr; then _exits 126. Safe in every process
// the runner creates: no exceptions escape, nothing is unwound.
[[noreturn]] void fail(std::string_view step, int err, std::string_view detail = {}) noexcept;

}  // namespace plugvisor::runner
