// PostgreSQL's COPY text format, for the receipt writer's bulk load. COPY skips the per-row
// planning and expression work of INSERT ... SELECT: about 13 instead of 21 us of PostgreSQL CPU
// per receipt, measured with 500-row batches on the receipts table.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "plugvisor/common/utf8.h"

namespace plugvisor::store::copy_text {

// A plugin's bytes end up in receipts, and one invalid byte would make PostgreSQL refuse the
// whole batch: Row::value() passes every value through this first (plugvisor/common/utf8.h).
using plugvisor::valid_utf8;

// One row of COPY data, appended to `out` column by column; end() closes it.
class Row {
 public:
  explicit Row(std::string& out) : out_(out) {}
  // A text value: valid UTF-8, NUL dropped (text cannot hold it), and backslash, tab, newline
  // and carriage return escaped as COPY's text format requires.
  Row& value(std::string_view text);
  Row& null();  // SQL NULL
  void end() { out_ += '\n'; }

 private:
  void separate();
  std::string& out_;
  bool first_ = true;
};
// A timestamptz value for `unix_ms` milliseconds since the epoch, in UTC.
std::string timestamp(int64_t unix_ms);

}  // namespace plugvisor::store::copy_text
