// RFC 7386 JSON Merge Patch, seen through the hook catalog's allowlist: which JSON Pointers a
// patch would change, and whether a pointer lies inside an allowlist. Applying is left to
// nlohmann::json::merge_patch; this only decides whether a patch may be applied at all.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace plugvisor::dispatch {

// The JSON Pointers (escaped with ~0/~1) that `patch` would set, replace or delete when merged
// into `target`. The walk follows the patch only as deep as both sides are objects: a patch
// object that meets a non-object (or a missing key) replaces the whole value, so its pointer is
// the leaf. Deleting (null) a key counts as touching it. A patch that is not an object replaces
// the whole document and yields the root pointer "".
std::vector<std::string> touched_paths(const nlohmann::json& target, const nlohmann::json& patch);

// True iff `pointer` equals an allowlist entry or lies below one ("/content" allows
// "/content/0" but not "/contents"). The root pointer "" in the allowlist allows everything.
bool path_allowed(const std::string& pointer, const std::vector<std::string>& allowlist);

}  // namespace plugvisor::dispatch
