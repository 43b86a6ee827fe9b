// redactor: masks credentials and e-mail addresses in what tools return (tool.post_exec,
// /output) and in what is delivered to users (response.pre_deliver, /content).
#pragma once

#include <plugvisor/sdk/plugin.h>

#include <map>
#include <optional>
#include <string>

namespace plugvisor::examples::redactor {

// How many of each kind ("email", "jwt", ...) were masked; never the values themselves.
using Counts = std::map<std::string, int>;

// `text` with every secret replaced by "[REDACTED:<kind>]". Idempotent: redacting the result
// again changes nothing.
std::string redact_text(const std::string& text, Counts* counts = nullptr);

// The merge-patch value that redacts every string inside `value` (object keys are kept), or
// nullopt if nothing changed. Objects are patched member by member, so the patch never carries
// a null (which a merge patch would read as "delete"); arrays are replaced whole.
std::optional<sdk::Json> redact_patch(const sdk::Json& value, Counts* counts = nullptr);

// Registers tool.post_exec and response.pre_deliver (priority 50, fail_open).
void install(sdk::Plugin& plugin);

}  // namespace plugvisor::examples::redactor
