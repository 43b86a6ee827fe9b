// Plain-text building blocks of plugvisorctl's output: tables, aligned key/value lines and
// humanised durations. Nothing here knows about protobuf or gRPC, so all of it is unit-tested.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plugvisor::cli {

// Terminal columns a UTF-8 string occupies. Counting code points rather than bytes keeps
// "812µs" (6 bytes, 5 columns) aligned; every glyph we print is single-width.
std::size_t display_width(std::string_view s);

// Shortens s to at most max_width columns, marking the cut with "…".
std::string truncate_display(std::string_view s, std::size_t max_width);

enum class Align { kLeft, kRight };

struct Column {
  std::string header;
  Align align = Align::kLeft;
};

// A table whose column widths come from its content. Columns are separated by two spaces and
// the last column is not padded, so no line carries trailing blanks.
class Table {
 public:
  explicit Table(std::vector<Column> columns);

  // Rows shorter than the header are padded with empty cells; longer ones are cut.
  void add_row(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }
  std::size_t size() const { return rows_.size(); }

  // The header line followed by one line per row, each ending in '\n'.
  std::string render() const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// "key:   value" lines with the values aligned one column after the longest key.
std::string render_fields(const std::vector<std::pair<std::string, std::string>>& fields);

// Durations for humans: "850ms", "45s", "3m12s", "2h05m", "3d04h". Negative means unknown: "-".
std::string format_duration_ms(int64_t ms);

// Latencies: "812µs", "12.3ms", "250ms", "1.50s"; a minute or more falls back to
// format_duration_ms. Negative means unknown: "-".
std::string format_latency_us(int64_t us);

// Local time as ISO 8601 with milliseconds and the UTC offset: 2024-05-01T14:03:04.123+02:00.
// The zone is the process's (TZ), which is what an operator reading a terminal expects.
std::string format_local_time(int64_t unix_ms);

// "-" for an empty value, so that an unknown cell never collapses a table column.
std::string or_dash(std::string_view s);

}  // namespace plugvisor::cli
