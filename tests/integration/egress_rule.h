// A network permission rule for the egress tests, from its config text. A test cannot go on
// with a rule that does not parse, so that is a REQUIRE.
#pragma once

#include <catch2/catch.hpp>
#include <string>

#include "host/egress/egress.h"

namespace plugvisor::host {

inline egress::NetworkRule rule(const std::string& text, bool allow_private = false) {
  auto r = egress::parse_rule(text);
  INFO(text);
  REQUIRE(r.ok());
  r->allow_private = allow_private;
  return *r;
}

}  // namespace plugvisor::host
