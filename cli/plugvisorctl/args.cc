#include "plugvisorctl/args.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <iterator>
#include <nlohmann/json.hpp>

#include "plugvisor/common/unique_fd.h"

namespace plugvisor::cli {

namespace {

Result<std::string> read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::errno_error("cannot read --data file '" + path + "'", errno);
  std::string text;
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::errno_error("cannot read --data file '" + path + "'", errno);
    }
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

// nlohmann prefixes every message with "[json.exception.parse_error.101] ", which means
// nothing to an operator; the rest already says "parse error at line L, column C: ...".
std::string without_exception_tag(std::string_view what) {
  if (!what.empty() && what.front() == '[') {
    if (auto end = what.find("] "); end != std::string_view::npos) what.remove_prefix(end + 2);
  }
  return std::string(what);
}

bool valid_port(std::string_view port) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  return ec == std::errc() && end == port.data() + port.size() && value >= 1 && value <= 65535;
}

}  // namespace

std::string check_address(std::string_view address) {
  constexpr std::string_view kUnix = "unix:";
  if (address.starts_with(kUnix)) {
    if (address.size() == kUnix.size()) return "unix: needs a socket path, e.g. unix:/run/x.sock";
    return {};
  }
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos) {
    return "expected host:port or unix:/path, got '" + std::string(address) + "'";
  }
  const std::string_view host = address.substr(0, colon);
  const std::string_view port = address.substr(colon + 1);
  if (host.empty()) return "missing host in '" + std::string(address) + "'";
  if (host.find(':') != std::string_view::npos && !(host.front() == '[' && host.back() == ']')) {
    return "an IPv6 host needs brackets, e.g. [::1]:7701";
  }
  if (!valid_port(port)) return "invalid port '" + std::string(port) + "' (1-65535)";
  return {};
}

Status validate_json(std::string_view text, std::string_view origin) {
  try {
    // Parsed only to check it; the text is sent as the user wrote it.
    [[maybe_unused]] const auto doc = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    return Error{"invalid JSON in --data " + std::string(origin) + ": " +
                 without_exception_tag(e.what())};
  }
  return ok_status();
}

Result<std::string> read_data_argument(std::string_view arg, std::istream& in) {
  std::string text;
  std::string origin;
  if (arg == "-") {
    origin = "- (stdin)";
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) return Error{"cannot read --data from stdin"};
  } else if (arg.starts_with('@')) {
    const std::string path(arg.substr(1));
    if (path.empty()) return Error{"--data @ needs a file name, e.g. --data @payload.json"};
    origin = std::string(arg);
    auto file = read_file(path);
    if (!file) return file.error();
    text = std::move(file).value();
  } else {
    origin = "(inline)";
    text = std::string(arg);
  }
  if (auto valid = validate_json(text, origin); !valid) return valid.error();
  return text;
}

}  // namespace plugvisor::cli
