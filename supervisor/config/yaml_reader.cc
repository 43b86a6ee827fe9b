#include "config/yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <utility>

namespace plugvisor::config {
namespace {

bool is_var_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// The allowed key the operator most likely meant: a small typo, or a missing unit suffix
// ("breaker_open" for "breaker_open_ms").
std::optional<std::string> closest(std::string_view name,
                                   std::initializer_list<std::string_view> allowed) {
  std::optional<std::string> best;
  size_t best_score = 3;
  for (std::string_view candidate : allowed) {
    const bool prefix = name.size() >= 3 && candidate.substr(0, name.size()) == name;
    const size_t score = prefix ? 1 : edit_distance(name, candidate);
    if (score < best_score) {
      best_score = score;
      best = std::string(candidate);
    }
  }
  return best;
}

std::string node_kind(const YAML::Node& n) {
  if (n.IsMap()) return "a mapping";
  if (n.IsSequence()) return "a list";
  if (n.IsNull()) return "empty";
  return "a scalar";
}

template <typename T>
std::optional<T> parse_full(std::string_view s) {
  T v{};
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, v);
  if (ec != std::errc() || p != end) return std::nullopt;
  return v;
}

bool one_of(std::string_view s, std::initializer_list<std::string_view> words) {
  return std::find(words.begin(), words.end(), s) != words.end();
}

// YAML 1.2 core schema for a plain scalar; anything unrecognised (and .inf/.nan, which JSON
// cannot carry) stays a string.
nlohmann::json infer_scalar(const std::string& s) {
  if (one_of(s, {"~", "null", "Null", "NULL"})) return nullptr;
  if (one_of(s, {"true", "True", "TRUE"})) return true;
  if (one_of(s, {"false", "False", "FALSE"})) return false;
  std::string_view digits = s;
  if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
  if (auto i = parse_full<int64_t>(digits)) return *i;
  if (auto u = parse_full<uint64_t>(digits)) return *u;
  const bool looks_numeric =
      !digits.empty() && std::all_of(digits.begin(), digits.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == 'E' ||
               c == '-' || c == '+';
      });
  if (looks_numeric) {
    if (auto d = parse_full<double>(digits); d && std::isfinite(*d)) return *d;
  }
  return s;
}

}  // namespace

Result<std::string> expand_env(std::string_view text, const EnvLookup& lookup) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      out += text[i++];
      continue;
    }
    const size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos)
      return Error{"unterminated '${' (write $${ for a literal)"};
    std::string_view inner = text.substr(i + 2, close - i - 2);
    std::optional<std::string_view> fallback;
    if (size_t sep = inner.find(":-"); sep != std::string_view::npos) {
      fallback = inner.substr(sep + 2);
      inner = inner.substr(0, sep);
    }
    if (!is_var_name(inner)) return Error{"invalid variable name '" + std::string(inner) + "'"};
    const std::string name(inner);
    const char* value = lookup ? lookup(name.c_str()) : nullptr;
    if (value != nullptr && (*value != '\0' || !fallback)) {
      out += value;
    } else if (fallback) {
      out += *fallback;
    } else {
      return Error{"environment variable " + name + " is not set (use ${" + name +
                   ":-default} to give a default)"};
    }
    i = close + 1;
  }
  return out;
}

const Entry* Fields::get(std::string_view key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

Reader::Reader(std::string source, EnvLookup lookup)
    : source_(std::move(source)), lookup_(std::move(lookup)) {}

void Reader::fail(const std::string& path, const YAML::Mark& mark, const std::string& what) {
  std::string msg = source_ + ": " + (path.empty() ? "(top level)" : path) + ": " + what;
  if (!mark.is_null()) msg += " (line " + std::to_string(mark.line + 1) + ")";
  errors_.push_back(std::move(msg));
}

std::string Reader::error_text() const {
  // A wrong indentation can produce dozens of follow-on errors; the first few say enough.
  constexpr size_t kShown = 20;
  std::string out;
  for (size_t i = 0; i < errors_.size() && i < kShown; ++i) {
    if (i > 0) out += '\n';
    out += errors_[i];
  }
  if (errors_.size() > kShown) {
    out += "\n... and " + std::to_string(errors_.size() - kShown) + " more errors";
  }
  return out;
}

std::string Reader::child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string Reader::item(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

std::optional<Fields> Reader::map(const Entry& at,
                                  std::initializer_list<std::string_view> allowed) {
  Fields fields;
  if (at.node.IsNull()) return fields;
  if (!at.node.IsMap()) {
    fail(at, "must be a mapping, not " + node_kind(at.node));
    return std::nullopt;
  }
  bool good = true;
  std::set<std::string, std::less<>> seen;
  for (auto it = at.node.begin(); it != at.node.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: it->first lives in a temporary proxy
    if (!key.IsScalar()) {
      fail(at.path, key.Mark(), "keys must be plain names");
      good = false;
      continue;
    }
    const std::string& name = key.Scalar();
    const std::string path = child(at.path, name);
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::string what = "unknown key '" + name + "'";
      if (auto guess = closest(name, allowed)) what += " (did you mean '" + *guess + "'?)";
      fail(path, key.Mark(), what);
      good = false;
      continue;
    }
    if (!seen.insert(name).second) {
      fail(path, key.Mark(), "repeated key");
      good = false;
      continue;
    }
    fields.add(name, Entry{path, key.Mark(), it->second});
  }
  if (!good) return std::nullopt;
  return fields;
}

std::optional<std::vector<Entry>> Reader::seq(const Entry& at) {
  std::vector<Entry> items;
  if (at.node.IsNull()) return items;
  if (!at.node.IsSequence()) {
    fail(at, "must be a list, not " + node_kind(at.node));
    return std::nullopt;
  }
  for (size_t i = 0; i < at.node.size(); ++i) {
    const YAML::Node n = at.node[i];
    items.push_back(Entry{item(at.path, i), n.Mark(), n});
  }
  return items;
}

std::optional<std::string> Reader::scalar(const Entry& at, bool* expanded) {
  if (!at.node.IsScalar()) {
    fail(at, "must be a single value, not " + node_kind(at.node));
    return std::nullopt;
  }
  const std::string& raw = at.node.Scalar();
  if (expanded != nullptr) *expanded = raw.find("${") != std::string::npos;
  Result<std::string> value = expand_env(raw, lookup_);
  if (!value) {
    fail(at, value.error().message);
    return std::nullopt;
  }
  return std::move(value).value();
}

std::optional<std::string> Reader::str(const Entry& at) {
  if (at.node.IsNull()) return std::string();  // `key:` with nothing after it
  return scalar(at);
}

std::optional<int64_t> Reader::integer(const Entry& at, int64_t min, int64_t max) {
  if (at.node.IsNull()) {
    fail(at, "must be an integer, not empty");
    return std::nullopt;
  }
  auto text = scalar(at);
  if (!text) return std::nullopt;
  auto v = parse_full<int64_t>(*text);
  if (!v) {
    fail(at, "must be an integer, not '" + *text + "'");
    return std::nullopt;
  }
  if (*v < min || *v > max) {
    if (min == 1 && *v < 1) {
      fail(at, "must be greater than 0");
    } else if (min == 0 && *v < 0) {
      fail(at, "must not be negative");
    } else {
      fail(at, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", not " +
                   std::to_string(*v));
    }
    return std::nullopt;
  }
  return v;
}

std::optional<double> Reader::number(const Entry& at) {
  auto text = at.node.IsNull() ? std::optional<std::string>("") : scalar(at);
  if (!text) return std::nullopt;
  auto v = parse_full<double>(*text);
  if (!v || !std::isfinite(*v)) {
    fail(at, "must be a number, not '" + *text + "'");
    return std::nullopt;
  }
  return v;
}

std::optional<bool> Reader::boolean(const Entry& at) {
  auto text = at.node.IsNull() ? std::optional<std::string>("") : scalar(at);
  if (!text) return std::nullopt;
  if (one_of(*text, {"true", "True", "TRUE"})) return true;
  if (one_of(*text, {"false", "False", "FALSE"})) return false;
  fail(at, "must be true or false, not '" + *text + "'");
  return std::nullopt;
}

std::optional<std::vector<std::string>> Reader::str_list(const Entry& at) {
  auto items = seq(at);
  if (!items) return std::nullopt;
  std::vector<std::string> out;
  bool good = true;
  for (const Entry& e : *items) {
    auto s = scalar(e);
    good = good && s.has_value();
    if (s) out.push_back(std::move(*s));
  }
  if (!good) return std::nullopt;
  return out;
}

std::optional<std::map<std::string, std::string>> Reader::str_map(const Entry& at) {
  if (at.node.IsNull()) return std::map<std::string, std::string>();
  if (!at.node.IsMap()) {
    fail(at, "must be a mapping, not " + node_kind(at.node));
    return std::nullopt;
  }
  std::map<std::string, std::string> out;
  bool good = true;
  for (auto it = at.node.begin(); it != at.node.end(); ++it) {
    const std::string key = it->first.IsScalar() ? it->first.Scalar() : std::string();
    const Entry e{child(at.path, key), it->first.Mark(), it->second};
    if (key.empty()) {
      fail(e, "keys must be non-empty names");
      good = false;
      continue;
    }
    auto v = str(e);
    if (v && !out.emplace(key, *v).second) {
      fail(e, "repeated key");
      v.reset();
    }
    good = good && v.has_value();
  }
  if (!good) return std::nullopt;
  return out;
}

std::optional<nlohmann::json> Reader::to_json(const Entry& at) { return to_json_at(at, 0); }

std::optional<nlohmann::json> Reader::to_json_at(const Entry& at, int depth) {
  constexpr int kMaxDepth = 64;
  if (depth > kMaxDepth) {
    fail(at, "nests deeper than " + std::to_string(kMaxDepth) + " levels");
    return std::nullopt;
  }
  const YAML::Node& n = at.node;
  if (n.IsNull()) return nlohmann::json(nullptr);
  if (n.IsScalar()) {
    bool expanded = false;
    auto s = scalar(at, &expanded);
    if (!s) return std::nullopt;
    // yaml-cpp tags plain scalars "?"; quoted, block and !!str ones are strings as written.
    if (n.Tag() != "?" || expanded) return nlohmann::json(std::move(*s));
    return infer_scalar(*s);
  }
  if (n.IsSequence()) {
    nlohmann::json arr = nlohmann::json::array();
    bool good = true;
    for (size_t i = 0; i < n.size(); ++i) {
      auto v = to_json_at(Entry{item(at.path, i), n[i].Mark(), n[i]}, depth + 1);
      good = good && v.has_value();
      if (v) arr.push_back(std::move(*v));
    }
    if (!good) return std::nullopt;
    return arr;
  }
  nlohmann::json obj = nlohmann::json::object();
  bool good = true;
  for (auto it = n.begin(); it != n.end(); ++it) {
    if (!it->first.IsScalar()) {
      fail(at.path, it->first.Mark(), "keys must be plain names");
      good = false;
      continue;
    }
    const std::string& key = it->first.Scalar();
    const Entry e{child(at.path, key), it->first.Mark(), it->second};
    if (obj.contains(key)) {
      fail(e, "repeated key");
      good = false;
      continue;
    }
    auto v = to_json_at(e, depth + 1);
    good = good && v.has_value();
    if (v) obj[key] = std::move(*v);
  }
  if (!good) return std::nullopt;
  return obj;
}

}  // namespace plugvisor::config
