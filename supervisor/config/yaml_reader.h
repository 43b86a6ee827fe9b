// Typed, path-aware reading of a yaml-cpp tree for config.cc. Every accessor reports problems
// as "<file>: <key path>: <what> (line N)" into the Reader and returns nullopt, so the parser
// can keep going and show the operator every mistake at once instead of one per restart.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plugvisor/common/result.h"

namespace plugvisor::config {

// Looks a variable up; returns nullptr when unset. Injectable so tests need no setenv.
using EnvLookup = std::function<const char*(const char*)>;

// Expands ${VAR} and ${VAR:-default} (default used when VAR is unset or empty, as in sh).
// "$${" is a literal "${". An unset VAR without a default is an error naming it.
Result<std::string> expand_env(std::string_view text, const EnvLookup& lookup);

// One value in the tree together with where it is: its key path and the line to blame.
struct Entry {
  std::string path;  // e.g. plugins[1].guards.breaker_open_ms
  YAML::Mark mark;   // the key's mark for mapping values (a null value has no useful mark)
  YAML::Node node;
};

// The members of one mapping, keyed by name.
class Fields {
 public:
  const Entry* get(std::string_view key) const;
  void add(std::string key, Entry entry) { entries_.emplace(std::move(key), std::move(entry)); }

 private:
  std::map<std::string, Entry, std::less<>> entries_;
};

class Reader {
 public:
  Reader(std::string source, EnvLookup lookup);

  void fail(const std::string& path, const YAML::Mark& mark, const std::string& what);
  void fail(const Entry& at, const std::string& what) { fail(at.path, at.mark, what); }
  bool ok() const { return errors_.empty(); }
  // All errors, one per line.
  std::string error_text() const;

  // A mapping whose keys are all in `allowed` (unknown and repeated keys are errors: a typo
  // must not silently fall back to a default). A null value reads as an empty mapping.
  std::optional<Fields> map(const Entry& at, std::initializer_list<std::string_view> allowed);
  // A sequence; null reads as empty. Items get paths like "plugins[2]".
  std::optional<std::vector<Entry>> seq(const Entry& at);

  // Scalars, with ${VAR} expanded first.
  std::optional<std::string> str(const Entry& at);
  std::optional<int64_t> integer(const Entry& at, int64_t min, int64_t max);
  std::optional<double> number(const Entry& at);
  std::optional<bool> boolean(const Entry& at);
  std::optional<std::vector<std::string>> str_list(const Entry& at);
  std::optional<std::map<std::string, std::string>> str_map(const Entry& at);
  // Free-form YAML as JSON. Quoted scalars, and plain ones that used ${...}, are strings (a
  // secret that happens to look like a number stays a string); other plain scalars follow the
  // YAML core schema (null, true/false, integers, floats).
  std::optional<nlohmann::json> to_json(const Entry& at);

  static std::string child(const std::string& path, std::string_view key);
  static std::string item(const std::string& path, size_t index);

 private:
  std::optional<std::string> scalar(const Entry& at, bool* expanded = nullptr);
  std::optional<nlohmann::json> to_json_at(const Entry& at, int depth);

  std::string source_;
  EnvLookup lookup_;
  std::vector<std::string> errors_;
};

}  // namespace plugvisor::config
