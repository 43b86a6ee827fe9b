#include "dispatch/schema.h"

#include <catch2/catch.hpp>

using namespace plugvisor::dispatch;
using json = nlohmann::json;

namespace {

std::string error_of(const plugvisor::Status& s) { return s ? "" : s.error().message; }

}  // namespace

TEST_CASE("check_schema accepts the documented subset") {
  const json schema = json::parse(R"({
    "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "x", "title": "t",
    "description": "d", "type": "object", "required": ["content"],
    "additionalProperties": {"type": ["string", "null"]},
    "properties": {
      "content": {"type": "string", "minLength": 1, "maxLength": 10, "pattern": "^[a-z]+$"},
      "n": {"type": "integer", "minimum": 0, "maximum": 5.5},
      "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 0, "maxItems": 3},
      "k": {"const": {"x": 1}}, "any": true, "never": false
    }})");
  CHECK(check_schema(schema));
  CHECK(check_schema(true));
}

TEST_CASE("check_schema names unsupported keywords and where they are") {
  CHECK_THAT(error_of(check_schema({{"oneOf", json::array()}})),
             Catch::Contains("unsupported keyword 'oneOf'") && Catch::Contains("(root)"));
  CHECK_THAT(error_of(check_schema(json::parse(R"({"properties": {"a/b": {"format": "email"}}})"))),
             Catch::Contains("'format'") && Catch::Contains("/properties/a~1b"));
  CHECK_THAT(error_of(check_schema({{"type", "text"}})), Catch::Contains("'type'"));
  CHECK_THAT(error_of(check_schema({{"pattern", "("}})), Catch::Contains("'pattern'"));
  CHECK_THAT(error_of(check_schema({{"minLength", -1}})), Catch::Contains("'minLength'"));
  CHECK_THAT(error_of(check_schema({{"required", {1}}})), Catch::Contains("'required'"));
  CHECK_THAT(error_of(check_schema(json::parse(R"({"items": {"$ref": "#"}})"))),
             Catch::Contains("'$ref'") && Catch::Contains("/items"));
  CHECK_FALSE(check_schema(3));
}

TEST_CASE("validate reports the document pointer and the failed keyword") {
  const json schema = json::parse(R"({
    "type": "object", "required": ["content"], "additionalProperties": false,
    "properties": {
      "content": {"type": "string", "minLength": 2, "maxLength": 4, "pattern": "^[a-z]+$"},
      "n": {"type": "integer", "minimum": 1, "maximum": 3},
      "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
      "k": {"const": 7}
    }})");
  CHECK(validate(schema, {{"content", "abc"}, {"n", 2}, {"tags", {"a"}}, {"k", 7.0}}));
  CHECK(validate({{"maxLength", 3}}, "äöü"));  // three characters, six bytes
  CHECK_FALSE(validate({{"maxLength", 2}}, "äöü"));

  struct Case {
    json doc;
    std::string pointer;
    std::string keyword;
  };
  const std::vector<Case> cases = {
      {json::array(), "(root)", "type"},
      {json::object(), "(root)", "required"},
      {{{"content", 5}}, "/content", "type"},
      {{{"content", "a"}}, "/content", "minLength"},
      {{{"content", "abcde"}}, "/content", "maxLength"},
      {{{"content", "AB"}}, "/content", "pattern"},
      {{{"content", "ab"}, {"n", 1.5}}, "/n", "type"},
      {{{"content", "ab"}, {"n", 0}}, "/n", "minimum"},
      {{{"content", "ab"}, {"n", 4}}, "/n", "maximum"},
      {{{"content", "ab"}, {"tags", {"a", "c"}}}, "/tags/1", "enum"},
      {{{"content", "ab"}, {"tags", {"a", "a", "b"}}}, "/tags", "maxItems"},
      {{{"content", "ab"}, {"k", 8}}, "/k", "const"},
      {{{"content", "ab"}, {"extra", 1}}, "/extra", "additionalProperties"},
  };
  for (const Case& c : cases) {
    INFO(c.doc.dump());
    const std::string err = error_of(validate(schema, c.doc));
    CHECK_THAT(err,
               Catch::Contains("at " + c.pointer + ":") && Catch::Contains("'" + c.keyword + "'"));
  }
}

TEST_CASE("integer accepts integral floats; type arrays; additionalProperties schema") {
  CHECK(validate({{"type", "integer"}}, 2.0));
  CHECK_FALSE(validate({{"type", "integer"}}, "2"));
  CHECK(validate({{"type", {"string", "null"}}}, nullptr));
  CHECK_FALSE(validate({{"type", {"string", "null"}}}, 1));
  const json s = {{"additionalProperties", {{"type", "number"}}}};
  CHECK(validate(s, {{"a", 1}}));
  CHECK_THAT(error_of(validate(s, {{"a", "x"}})), Catch::Contains("at /a:"));
  CHECK_FALSE(validate(false, 1));
}

TEST_CASE("validate refuses an invalid schema instead of guessing") {
  CHECK_THAT(error_of(validate({{"anyOf", json::array()}}, 1)), Catch::Contains("anyOf"));
}
