#include "dispatch/schema.h"

#include <array>
#include <cmath>
#include <regex>
#include <string>
#include <string_view>

namespace plugvisor::dispatch {
namespace {

using json = nlohmann::json;
using Pointer = json::json_pointer;

constexpr std::array<std::string_view, 7> kTypes = {"null",   "boolean", "object", "array",
                                                    "number", "string",  "integer"};

std::string where(const Pointer& p) {
  const std::string s = p.to_string();
  return s.empty() ? "(root)" : s;
}

Error schema_error(const Pointer& at, std::string_view keyword, const std::string& what) {
  return Error{"schema at " + where(at) + ": '" + std::string(keyword) + "' " + what};
}

bool is_known_type(const json& t) {
  if (!t.is_string()) return false;
  for (std::string_view k : kTypes) {
    if (t.get_ref<const std::string&>() == k) return true;
  }
  return false;
}

bool is_count(const json& v) {
  return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
}

Status check_at(const json& schema, const Pointer& at) {
  if (schema.is_boolean()) return ok_status();
  if (!schema.is_object()) {
    return Error{"schema at " + where(at) + ": must be an object or a boolean"};
  }
  for (const auto& [key, value] : schema.items()) {
    const Pointer here = at / key;
    if (key == "$schema" || key == "$id" || key == "title" || key == "description") continue;
    if (key == "type") {
      bool ok = is_known_type(value);
      if (value.is_array() && !value.empty()) {
        ok = true;
        for (const json& t : value) ok = ok && is_known_type(t);
      }
      if (!ok) return schema_error(at, key, "must be a type name or an array of type names");
    } else if (key == "properties") {
      if (!value.is_object()) return schema_error(at, key, "must be an object");
      for (const auto& [name, sub] : value.items()) {
        if (Status s = check_at(sub, here / name); !s) return s;
      }
    } else if (key == "required") {
      bool ok = value.is_array();
      if (ok) {
        for (const json& n : value) ok = ok && n.is_string();
      }
      if (!ok) return schema_error(at, key, "must be an array of strings");
    } else if (key == "additionalProperties" || key == "items") {
      if (Status s = check_at(value, here); !s) return s;
    } else if (key == "enum") {
      if (!value.is_array()) return schema_error(at, key, "must be an array");
    } else if (key == "const") {
      // any value
    } else if (key == "minimum" || key == "maximum") {
      if (!value.is_number()) return schema_error(at, key, "must be a number");
    } else if (key == "minLength" || key == "maxLength" || key == "minItems" || key == "maxItems") {
      if (!is_count(value)) return schema_error(at, key, "must be a non-negative integer");
    } else if (key == "pattern") {
      if (!value.is_string()) return schema_error(at, key, "must be a string");
      try {
        std::regex re(value.get<std::string>(), std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        return schema_error(at, key, std::string("is not a valid regex: ") + e.what());
      }
    } else {
      return Error{"schema at " + where(at) + ": unsupported keyword '" + key + "'"};
    }
  }
  return ok_status();
}

Error doc_error(const Pointer& at, std::string_view keyword, const std::string& what) {
  return Error{"at " + where(at) + ": fails '" + std::string(keyword) + "': " + what};
}

std::string_view type_of(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::object:
      return "object";
    case json::value_t::array:
      return "array";
    case json::value_t::string:
      return "string";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    default:
      return "number";
  }
}

bool has_type(const json& v, std::string_view type) {
  if (type == "number") return v.is_number();
  if (type == "integer") {
    if (v.is_number_integer()) return true;  // includes unsigned
    if (v.is_number_float()) {
      const double d = v.get<double>();
      return std::isfinite(d) && std::floor(d) == d;
    }
    return false;
  }
  return type_of(v) == type;
}

// Characters, not bytes: the payload is UTF-8 (nlohmann rejects anything else when parsing).
size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

Status validate_at(const json& schema, const json& doc, const Pointer& at) {
  if (schema.is_boolean()) {
    if (schema.get<bool>()) return ok_status();
    return doc_error(at, "false schema", "no value is allowed here");
  }
  if (auto t = schema.find("type"); t != schema.end()) {
    bool ok = false;
    if (t->is_string()) {
      ok = has_type(doc, t->get_ref<const std::string&>());
    } else {
      for (const json& one : *t) ok = ok || has_type(doc, one.get_ref<const std::string&>());
    }
    if (!ok)
      return doc_error(at, "type", "expected " + t->dump() + ", got " + std::string(type_of(doc)));
  }
  if (auto e = schema.find("enum"); e != schema.end()) {
    bool found = false;
    for (const json& v : *e) found = found || v == doc;
    if (!found) return doc_error(at, "enum", "value is not one of " + e->dump());
  }
  if (auto c = schema.find("const"); c != schema.end() && *c != doc) {
    return doc_error(at, "const", "value is not " + c->dump());
  }
  if (doc.is_number()) {
    const double d = doc.get<double>();
    if (auto m = schema.find("minimum"); m != schema.end() && d < m->get<double>()) {
      return doc_error(at, "minimum", doc.dump() + " is less than " + m->dump());
    }
    if (auto m = schema.find("maximum"); m != schema.end() && d > m->get<double>()) {
      return doc_error(at, "maximum", doc.dump() + " is greater than " + m->dump());
    }
  }
  if (doc.is_string()) {
    const auto& s = doc.get_ref<const std::string&>();
    const size_t len = code_points(s);
    if (auto m = schema.find("minLength"); m != schema.end() && len < m->get<uint64_t>()) {
      return doc_error(at, "minLength",
                       "length " + std::to_string(len) + " is less than " + m->dump());
    }
    if (auto m = schema.find("maxLength"); m != schema.end() && len > m->get<uint64_t>()) {
      return doc_error(at, "maxLength",
                       "length " + std::to_string(len) + " is more than " + m->dump());
    }
    if (auto p = schema.find("pattern"); p != schema.end()) {
      bool matched = false;
      try {
        matched = std::regex_search(s, std::regex(p->get<std::string>(), std::regex::ECMAScript));
      } catch (const std::regex_error& e) {
        // std::regex gives up on pathological input (error_complexity / error_stack).
        return doc_error(at, "pattern", std::string("could not be evaluated: ") + e.what());
      }
      if (!matched) return doc_error(at, "pattern", "does not match " + p->dump());
    }
  }
  if (doc.is_array()) {
    if (auto m = schema.find("minItems"); m != schema.end() && doc.size() < m->get<uint64_t>()) {
      return doc_error(at, "minItems",
                       std::to_string(doc.size()) + " items, fewer than " + m->dump());
    }
    if (auto m = schema.find("maxItems"); m != schema.end() && doc.size() > m->get<uint64_t>()) {
      return doc_error(at, "maxItems",
                       std::to_string(doc.size()) + " items, more than " + m->dump());
    }
    if (auto items = schema.find("items"); items != schema.end()) {
      for (size_t i = 0; i < doc.size(); ++i) {
        if (Status s = validate_at(*items, doc[i], at / i); !s) return s;
      }
    }
  }
  if (doc.is_object()) {
    if (auto r = schema.find("required"); r != schema.end()) {
      for (const json& name : *r) {
        if (!doc.contains(name.get<std::string>())) {
          return doc_error(at, "required", "missing member " + name.dump());
        }
      }
    }
    const auto props = schema.find("properties");
    const auto extra = schema.find("additionalProperties");
    for (const auto& [key, value] : doc.items()) {
      const json* sub = nullptr;
      if (props != schema.end()) {
        if (auto p = props->find(key); p != props->end()) sub = &*p;
      }
      if (sub == nullptr && extra != schema.end()) {
        if (extra->is_boolean() && !extra->get<bool>()) {
          return doc_error(at / key, "additionalProperties", "member is not allowed");
        }
        sub = &*extra;
      }
      if (sub == nullptr) continue;
      if (Status s = validate_at(*sub, value, at / key); !s) return s;
    }
  }
  return ok_status();
}

}  // namespace

Status check_schema(const json& schema) {
  try {
    return check_at(schema, Pointer());
  } catch (const std::exception& e) {
    return Error{std::string("schema could not be checked: ") + e.what()};
  }
}

Status validate(const json& schema, const json& doc) {
  if (Status s = check_schema(schema); !s) return s;
  try {
    return validate_at(schema, doc, Pointer());
  } catch (const std::exception& e) {
    return Error{std::string("validation failed: ") + e.what()};
  }
}

}  // namespace plugvisor::dispatch
