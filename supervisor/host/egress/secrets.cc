#include "host/egress/secrets.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>

#include "plugvisor/common/unique_fd.h"

namespace plugvisor::host {

namespace {

constexpr std::string_view kOpen = "{{secret:";
constexpr std::string_view kClose = "}}";
// A secret is a token or a key, not a document; a larger file is almost certainly the wrong one.
constexpr size_t kMaxSecretFileBytes = 1 << 20;

Result<std::string> read_secret_file(const std::string& name, const std::string& path) {
  auto fail = [&](const std::string& why) {
    return Error{"secret " + name + ": file " + path + " " + why};
  };
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail(std::string("cannot be opened: ") + std::strerror(errno));
  std::string out;
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(std::string("cannot be read: ") + std::strerror(errno));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxSecretFileBytes) {
      return fail("is larger than " + std::to_string(kMaxSecretFileBytes) + " bytes");
    }
  }
  // Editors and `echo` add a newline that is not part of the secret.
  if (!out.empty() && out.back() == '\n') out.pop_back();
  if (!out.empty() && out.back() == '\r') out.pop_back();
  if (out.empty()) return fail("is empty");
  return out;
}

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 128 || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace

Result<std::string> read_secret(const std::string& name, const config::SecretSource& source) {
  if (!source.env.empty()) {
    const char* v = std::getenv(source.env.c_str());
    if (v == nullptr || *v == '\0') {
      return Error{"secret " + name + ": environment variable " + source.env +
                   (v == nullptr ? " is not set" : " is empty")};
    }
    return std::string(v);
  }
  if (!source.file.empty()) return read_secret_file(name, source.file);
  return Error{"secret " + name + ": has neither env nor file"};
}

Result<SecretVault> SecretVault::load(const std::map<std::string, config::SecretSource>& sources) {
  SecretVault vault;
  for (const auto& [name, source] : sources) {
    auto v = read_secret(name, source);
    if (!v) return v.error();
    vault.values_[name] = std::move(*v);
  }
  return vault;
}

void SecretVault::add_hidden(const std::string& name, std::string value) {
  hidden_[name] = std::move(value);
}

const std::string* SecretVault::find(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? nullptr : &it->second;
}

hostcall::HostResult<std::string> SecretVault::fill(const std::string& text,
                                                    const std::vector<std::string>& allowed) const {
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t open = text.find(kOpen, pos);
    if (open == std::string::npos) break;
    const size_t name_at = open + kOpen.size();
    const size_t close = text.find(kClose, name_at);
    if (close == std::string::npos) {
      return hostcall::invalid("unterminated {{secret:...}} reference (missing '}}')");
    }
    const std::string name = text.substr(name_at, close - name_at);
    if (!valid_name(name)) {
      // The text may be a value the plugin got from elsewhere; do not echo it back whole.
      return hostcall::invalid(
          "malformed {{secret:NAME}} reference: NAME must match "
          "[A-Za-z_][A-Za-z0-9_]*");
    }
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return hostcall::denied("secrets", name, "the plugin does not declare this secret");
    }
    const std::string* value = find(name);
    if (value == nullptr) {
      return hostcall::denied("secrets", name, "the supervisor has no such secret");
    }
    out.append(text, pos, open - pos);
    out += *value;
    pos = close + kClose.size();
  }
  // Filled values are never rescanned, so a secret containing "{{secret:" cannot pull in another.
  out.append(text, pos, std::string::npos);
  return out;
}

std::string SecretVault::scrub(std::string text) const {
  std::vector<std::pair<std::string_view, std::string_view>> secrets;  // value, name
  for (const auto* m : {&values_, &hidden_}) {
    for (const auto& [name, value] : *m) {
      if (!value.empty()) secrets.emplace_back(value, name);
    }
  }
  if (secrets.empty()) return text;
  // Longest first, so a secret that contains another is replaced whole. One left-to-right
  // pass: markers already written are never matched again, and any occurrence that overlaps
  // a replaced one has lost part of its bytes, so no full value survives.
  std::stable_sort(secrets.begin(), secrets.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  std::string out;
  size_t copied = 0;
  size_t i = 0;
  const std::string_view view(text);
  while (i < view.size()) {
    bool hit = false;
    for (const auto& [value, name] : secrets) {
      if (view[i] == value[0] && view.substr(i, value.size()) == value) {
        out.append(view.substr(copied, i - copied));
        out += "[secret:";
        out += name;
        out += ']';
        i += value.size();
        copied = i;
        hit = true;
        break;
      }
    }
    if (!hit) ++i;
  }
  if (copied == 0) return text;
  out.append(view.substr(copied));
  return out;
}

}  // namespace plugvisor::host
