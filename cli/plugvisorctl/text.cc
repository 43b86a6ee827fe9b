#include "plugvisorctl/text.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>

namespace plugvisor::cli {

namespace {

bool is_continuation_byte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

void append_padded(std::string& line, std::string_view cell, std::size_t width, Align align) {
  const std::size_t pad = width - std::min(width, display_width(cell));
  if (align == Align::kRight) line.append(pad, ' ');
  line.append(cell);
  if (align == Align::kLeft) line.append(pad, ' ');
}

}  // namespace

std::size_t display_width(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return !is_continuation_byte(c); }));
}

std::string truncate_display(std::string_view s, std::size_t max_width) {
  if (display_width(s) <= max_width) return std::string(s);
  if (max_width == 0) return {};
  // Keep max_width - 1 code points, then the ellipsis takes the last column.
  std::size_t kept = 0;
  std::size_t i = 0;
  for (; i < s.size(); ++i) {
    if (!is_continuation_byte(s[i])) {
      if (kept == max_width - 1) break;
      ++kept;
    }
  }
  return std::string(s.substr(0, i)) + "…";
}

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

void Table::add_row(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::render() const {
  std::vector<std::size_t> widths(columns_.size());
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    widths[c] = display_width(columns_[c].header);
    for (const auto& row : rows_) widths[c] = std::max(widths[c], display_width(row[c]));
  }

  auto render_line = [&](auto cell_at) {
    std::string line;
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      const bool last = c + 1 == columns_.size();
      if (c > 0) line += "  ";
      // A left-aligned last column needs no padding; a right-aligned one still does.
      const Align align = columns_[c].align;
      append_padded(line, cell_at(c), last && align == Align::kLeft ? 0 : widths[c], align);
    }
    line += '\n';
    return line;
  };

  std::string out =
      render_line([&](std::size_t c) -> std::string_view { return columns_[c].header; });
  for (const auto& row : rows_) {
    out += render_line([&](std::size_t c) -> std::string_view { return row[c]; });
  }
  return out;
}

std::string render_fields(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::size_t key_width = 0;
  for (const auto& [key, value] : fields) key_width = std::max(key_width, display_width(key));
  std::string out;
  for (const auto& [key, value] : fields) {
    out += key;
    out += ':';
    // One space after the longest key's colon; empty values leave no trailing blanks.
    if (!value.empty()) {
      out.append(key_width - display_width(key) + 1, ' ');
      out += value;
    }
    out += '\n';
  }
  return out;
}

std::string format_duration_ms(int64_t ms) {
  if (ms < 0) return "-";
  if (ms < 1000) return fmt::format("{}ms", ms);
  const int64_t s = ms / 1000;
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d{:02}h", s / 86400, (s % 86400) / 3600);
}

std::string format_latency_us(int64_t us) {
  if (us < 0) return "-";
  if (us < 1000) return fmt::format("{}µs", us);
  // The thresholds sit where rounding would otherwise print "100.0ms" or "1000ms".
  if (us < 99'950) return fmt::format("{:.1f}ms", static_cast<double>(us) / 1e3);
  if (us < 999'500) return fmt::format("{:.0f}ms", static_cast<double>(us) / 1e3);
  if (us < 59'995'000) return fmt::format("{:.2f}s", static_cast<double>(us) / 1e6);
  return format_duration_ms(us / 1000);
}

std::string format_local_time(int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  const auto secs = static_cast<std::time_t>(unix_ms / 1000);
  const auto millis = static_cast<int>(unix_ms % 1000);
  std::tm tm{};
  if (localtime_r(&secs, &tm) == nullptr) return "-";
  char base[32];
  if (std::strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm) == 0) return "-";
  const long offset_min = tm.tm_gmtoff / 60;
  if (offset_min == 0) return fmt::format("{}.{:03}Z", base, millis);
  return fmt::format("{}.{:03}{}{:02}:{:02}", base, millis, offset_min < 0 ? '-' : '+',
                     std::labs(offset_min) / 60, std::labs(offset_min) % 60);
}

std::string or_dash(std::string_view s) { return s.empty() ? "-" : std::string(s); }

}  // namespace plugvisor::cli
