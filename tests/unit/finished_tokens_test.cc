// common/finished_tokens: how long a revoked invocation token stays good for Log, and how many
// are kept, on explicit time points.
#include "plugvisor/common/finished_tokens.h"

#include <catch2/catch.hpp>
#include <string>

using plugvisor::FinishedTokens;
using Tokens = FinishedTokens<std::string>;
using namespace std::chrono_literals;

TEST_CASE("A finished token is found for the grace, and not after it", "[unit][tokens]") {
  Tokens tokens;
  const auto t0 = Tokens::Clock::now();
  tokens.add("it_a", "scope a", t0);
  REQUIRE(tokens.find("it_a", t0) != nullptr);
  CHECK(*tokens.find("it_a", t0 + Tokens::kGrace - 1s) == "scope a");
  // Past the grace it misses at once, without waiting for a later add to prune it.
  CHECK(tokens.find("it_a", t0 + Tokens::kGrace + 1s) == nullptr);
  CHECK(tokens.find("it_never_added", t0) == nullptr);
}

TEST_CASE("Adding prunes what is past the grace and keeps at most kMax", "[unit][tokens]") {
  Tokens tokens;
  const auto t0 = Tokens::Clock::now();
  tokens.add("it_old", "old", t0);
  // A later add drops the expired entry for good: even a lookup "back in time" misses it.
  tokens.add("it_new", "new", t0 + Tokens::kGrace + 1s);
  CHECK(tokens.find("it_old", t0) == nullptr);
  CHECK(tokens.find("it_new", t0 + Tokens::kGrace + 1s) != nullptr);

  Tokens full;
  for (size_t i = 0; i <= Tokens::kMax; ++i) full.add("it_" + std::to_string(i), "s", t0);
  CHECK(full.find("it_0", t0) == nullptr);  // the oldest went when kMax + 1 were there
  CHECK(full.find("it_1", t0) != nullptr);
  CHECK(full.find("it_" + std::to_string(Tokens::kMax), t0) != nullptr);
}

TEST_CASE("A token added again outlives its first entry's slot", "[unit][tokens]") {
  Tokens tokens;
  const auto t0 = Tokens::Clock::now();
  tokens.add("it_a", "first", t0);
  tokens.add("it_a", "second", t0 + 20s);
  tokens.add("it_b", "b", t0 + 40s);  // prunes the first slot of it_a, not its second entry
  REQUIRE(tokens.find("it_a", t0 + 40s) != nullptr);
  CHECK(*tokens.find("it_a", t0 + 40s) == "second");
}
