// Checks of plugvisorctl's arguments that go beyond what CLI11 knows: the --address form and
// the --data JSON document. Pure functions, so every message is unit-tested.
#pragma once

#include <istream>
#include <string>
#include <string_view>

#include "plugvisor/common/result.h"

namespace plugvisor::cli {

// Empty when address is host:port ([v6]:port too) or unix:/path; otherwise what is wrong.
// Shaped for a CLI11 validator, which reports a non-empty string as a usage error.
std::string check_address(std::string_view address);

// Resolves a --data argument to the JSON text to send: "@path" reads a file, "-" reads in, and
// anything else is the document itself. The text is parsed locally first so that a typo is
// reported with its line and column instead of as an opaque server-side INVALID_ARGUMENT.
Result<std::string> read_data_argument(std::string_view arg, std::istream& in);

// Ok when text is one JSON document; the error names origin (e.g. "@x.json") and the position.
Status validate_json(std::string_view text, std::string_view origin);

}  // namespace plugvisor::cli
