#include "plugvisor/common/host_names.h"

#include <string>

#include "plugvisor/common/utf8.h"

namespace plugvisor::hostcall {

namespace {

// Returns false on malformed UTF-8 or a control character (C0, DEL, C1).
bool clean_utf8(std::string_view s) {
  while (!s.empty()) {
    uint32_t cp = 0;
    const size_t len = utf8_sequence(s, cp);
    if (len == 0) return false;
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) return false;
    s.remove_prefix(len);
  }
  return true;
}

bool segment_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

}  // namespace

HostStatus check_state_prefix(std::string_view prefix) {
  if (prefix.size() > kMaxStateKeyBytes) {
    return invalid("state key is " + std::to_string(prefix.size()) + " bytes; the limit is " +
                   std::to_string(kMaxStateKeyBytes));
  }
  if (!clean_utf8(prefix))
    return invalid("state key is not clean UTF-8 (or has a control character)");
  return {};
}

HostStatus check_state_key(std::string_view key) {
  if (key.empty()) return invalid("state key is empty");
  return check_state_prefix(key);
}

HostStatus check_event_name(std::string_view plugin_id, std::string_view name) {
  const std::string own = "plugin." + std::string(plugin_id) + ".";
  const std::string shown(name.substr(0, kMaxEventNameBytes));
  if (name.size() > kMaxEventNameBytes) {
    return invalid("event name is " + std::to_string(name.size()) + " bytes; the limit is " +
                   std::to_string(kMaxEventNameBytes));
  }
  if (name.substr(0, own.size()) != own) {
    return denied("events", shown, "a plugin may only emit events named " + own + "*");
  }
  std::string_view rest = name.substr(own.size());
  if (rest.empty()) return invalid("event name " + shown + " has nothing after " + own);
  size_t seg = 0;
  for (char c : rest) {
    if (c == '.') {
      if (seg == 0) return invalid("event name " + shown + " has an empty segment");
      seg = 0;
    } else if (!segment_char(c)) {
      return invalid("event name " + shown + " has a character outside [A-Za-z0-9_.-]");
    } else {
      ++seg;
    }
  }
  if (seg == 0) return invalid("event name " + shown + " ends with a dot");
  return {};
}

}  // namespace plugvisor::hostcall
