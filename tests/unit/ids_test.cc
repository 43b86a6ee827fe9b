// common/ids: the shapes of the ids plugvisord mints, and the order of the time-ordered ones.
#include "plugvisor/common/ids.h"

#include <catch2/catch.hpp>
#include <set>
#include <string>

using namespace plugvisor;

namespace {

bool lower_hex(const std::string& s) {
  return s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

TEST_CASE("time_ordered_id: 32 hex digits, led by the time, unique, sorting by creation") {
  const int64_t before = unix_millis();
  const std::string first = time_ordered_id();
  REQUIRE(first.size() == 32);
  CHECK(lower_hex(first));
  const int64_t stamped = std::stoll(first.substr(0, 12), nullptr, 16);
  CHECK(stamped >= before);
  CHECK(stamped <= unix_millis());

  // Within one millisecond the order is random, so compare across a millisecond boundary.
  const int64_t t = unix_millis();
  while (unix_millis() == t) {
  }
  const std::string later = time_ordered_id();
  CHECK(later > first);

  std::set<std::string> many;
  for (int i = 0; i < 10000; ++i) many.insert(time_ordered_id());
  CHECK(many.size() == 10000);  // 80 random bits per millisecond
}

TEST_CASE("random_id and secure_token keep their shapes") {
  const std::string id = random_id();
  CHECK(id.size() == 32);
  CHECK(lower_hex(id));
  CHECK(random_id() != id);
  const std::string token = secure_token();
  CHECK(token.size() == 64);
  CHECK(lower_hex(token));
}
