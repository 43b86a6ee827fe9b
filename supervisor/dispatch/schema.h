// A small JSON Schema validator for hook output schemas. Debian packages no C++ JSON Schema
// library, and hooks need little, so this implements a documented subset and refuses the rest
// loudly rather than ignoring keywords it does not understand.
//
// Supported (semantics as in JSON Schema draft 2020-12 for these keywords):
//   type                  "null" | "boolean" | "object" | "array" | "number" | "string" |
//                         "integer", or an array of those. "integer" accepts 2.0 too.
//   enum, const           compared with JSON equality (1 equals 1.0).
//   minimum, maximum      inclusive bounds on numbers.
//   minLength, maxLength  string length in Unicode code points.
//   pattern               ECMAScript regex (std::regex), unanchored search.
//   properties            object of subschemas for the named members.
//   required              array of member names.
//   additionalProperties  true/false or a subschema for members not named in properties.
//   items                 one subschema applied to every array element (no tuple form).
//   minItems, maxItems    array length bounds.
// A subschema may also be the boolean true (anything) or false (nothing).
// Annotations "$schema", "$id", "title" and "description" are accepted and ignored.
// Anything else ($ref, oneOf, anyOf, allOf, not, format, exclusiveMinimum, ...) is rejected by
// check_schema, so a schema never silently checks less than its author meant.
#pragma once

#include <nlohmann/json.hpp>

#include "plugvisor/common/result.h"

namespace plugvisor::dispatch {

// Whether `schema` uses only the subset above, well-formed. The error names the offending
// keyword and its location in the schema as a JSON Pointer.
Status check_schema(const nlohmann::json& schema);

// Validates `doc` against `schema` (which is checked first). The first violation found is
// reported with its JSON Pointer in the document and the keyword that failed.
Status validate(const nlohmann::json& schema, const nlohmann::json& doc);

}  // namespace plugvisor::dispatch
