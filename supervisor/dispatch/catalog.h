#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "dispatch/types.h"

namespace plugvisor::dispatch {

// The hooks a host application may dispatch. Anything else is refused.
class HookCatalog {
 public:
  // The eleven hooks of DESIGN.md with their blockability and mutable paths.
  static HookCatalog defaults();

  // Adds or replaces an entry.
  void put(HookSpec spec);
  const HookSpec* find(std::string_view name) const;
  std::vector<const HookSpec*> all() const;

 private:
  std::map<std::string, HookSpec, std::less<>> hooks_;
};

}  // namespace plugvisor::dispatch
