#include "dispatch/merge_patch.h"

#include <catch2/catch.hpp>

using namespace plugvisor::dispatch;
using json = nlohmann::json;
using Paths = std::vector<std::string>;

TEST_CASE("touched_paths follows RFC 7386") {
  const json target = {{"a", {{"b", 1}, {"c", 2}}}, {"s", "x"}, {"n", 5}};

  SECTION("a top-level set") { CHECK(touched_paths(target, {{"s", "y"}}) == Paths{"/s"}); }
  SECTION("nested objects recurse to the leaf") {
    CHECK(touched_paths(target, {{"a", {{"b", 3}}}}) == Paths{"/a/b"});
  }
  SECTION("null deletes and counts as touched") {
    CHECK(touched_paths(target, {{"a", {{"c", nullptr}}}}) == Paths{"/a/c"});
    CHECK(touched_paths(target, {{"a", nullptr}}) == Paths{"/a"});
  }
  SECTION("an object replacing a non-object is a leaf") {
    CHECK(touched_paths(target, {{"n", {{"x", 1}}}}) == Paths{"/n"});
  }
  SECTION("an object for a missing key is a leaf") {
    CHECK(touched_paths(target, {{"new", {{"x", 1}}}}) == Paths{"/new"});
  }
  SECTION("arrays replace as a whole") {
    CHECK(touched_paths(json{{"l", {1, 2}}}, {{"l", {3}}}) == Paths{"/l"});
  }
  SECTION("an empty object into an object touches nothing") {
    CHECK(touched_paths(target, {{"a", json::object()}}).empty());
    CHECK(touched_paths(target, json::object()).empty());
  }
  SECTION("several keys") {
    CHECK(touched_paths(target, {{"a", {{"b", 0}, {"c", 0}}}, {"s", nullptr}}) ==
          Paths{"/a/b", "/a/c", "/s"});
  }
  SECTION("keys are escaped as JSON Pointer tokens") {
    CHECK(touched_paths(json::object(), {{"a/b", 1}, {"m~n", 2}}) == Paths{"/a~1b", "/m~0n"});
  }
  SECTION("a non-object patch replaces the whole document") {
    CHECK(touched_paths(target, json::array()) == Paths{""});
    CHECK(touched_paths(target, 3) == Paths{""});
  }
}

TEST_CASE("path_allowed matches an entry or what lies below it") {
  const Paths allow{"/content", "/metadata", "/response/content", "/a~1b"};
  CHECK(path_allowed("/content", allow));
  CHECK(path_allowed("/content/0/text", allow));
  CHECK(path_allowed("/metadata/x", allow));
  CHECK(path_allowed("/response/content", allow));
  CHECK(path_allowed("/a~1b/c", allow));
  CHECK_FALSE(path_allowed("/contents", allow));
  CHECK_FALSE(path_allowed("/content~1x", allow));
  CHECK_FALSE(path_allowed("/response", allow));
  CHECK_FALSE(path_allowed("/response/contentx", allow));
  CHECK_FALSE(path_allowed("", allow));
  CHECK_FALSE(path_allowed("/x", {}));
  CHECK(path_allowed("/anything", {""}));
}
