#include "dispatch/merge_patch.h"

namespace plugvisor::dispatch {
namespace {

void walk(const nlohmann::json* target, const nlohmann::json& patch,
          const nlohmann::json::json_pointer& at, std::vector<std::string>& out) {
  for (const auto& [key, value] : patch.items()) {
    const nlohmann::json::json_pointer here = at / key;
    const nlohmann::json* sub = nullptr;
    if (target != nullptr && target->is_object()) {
      auto it = target->find(key);
      if (it != target->end()) sub = &*it;
    }
    // Only object-into-object merges recursively; anything else overwrites the value at
    // `here` as a whole, so the whole of `here` must be allowed.
    if (value.is_object() && sub != nullptr && sub->is_object()) {
      walk(sub, value, here, out);
    } else {
      out.push_back(here.to_string());
    }
  }
}

}  // namespace

std::vector<std::string> touched_paths(const nlohmann::json& target, const nlohmann::json& patch) {
  std::vector<std::string> out;
  if (!patch.is_object()) {
    out.emplace_back("");
    return out;
  }
  if (!target.is_object()) {
    // Merging an object into a non-object first replaces it with {}: the whole document.
    out.emplace_back("");
    return out;
  }
  walk(&target, patch, nlohmann::json::json_pointer(), out);
  return out;
}

bool path_allowed(const std::string& pointer, const std::vector<std::string>& allowlist) {
  for (const std::string& allowed : allowlist) {
    if (pointer == allowed) return true;
    if (pointer.size() > allowed.size() && pointer.compare(0, allowed.size(), allowed) == 0 &&
        pointer[allowed.size()] == '/') {
      return true;
    }
  }
  return false;
}

}  // namespace plugvisor::dispatch
