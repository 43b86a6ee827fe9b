// The stderr form of a log record, shared by the Logger (no host, or the host did not take the
// record) and the host.v1 Log sender (the supervisor could not be reached in time).
#pragma once

#include <string>

#include "plugvisor/sdk/host.h"

namespace plugvisor::sdk::detail {

// One JSON object and a newline: the fields, then "level", "msg" and "invocation_id" (which win
// over same-named fields, so the supervisor can always parse them). Never throws: a record that
// cannot be formatted becomes a fixed error line.
std::string format_log_line(const LogRecord& record) noexcept;

// Hands `line` to stderr with as few write() calls as it takes, so it reaches plugvisord's
// line reader whole. Best effort: a closed or stuck stderr loses the line.
void write_stderr_line(const std::string& line) noexcept;

}  // namespace plugvisor::sdk::detail
