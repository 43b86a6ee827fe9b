// The secrets plugins may reference as {{secret:NAME}}, loaded from plugvisord's environment or
// files at start. The only place their values exist; scrub() removes every one of them from
// text about to reach a plugin.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "plugvisor/common/result.h"

namespace plugvisor::host {

// One secret's value from plugvisord's environment or a file (trailing newline stripped); an
// unset or empty variable, or an unreadable, empty or oversized file, is an error naming both.
Result<std::string> read_secret(const std::string& name, const config::SecretSource& source);

class SecretVault {
 public:
  SecretVault() = default;
  // Fails naming the secret and its source when a variable is unset/empty or a file unreadable.
  static Result<SecretVault> load(const std::map<std::string, config::SecretSource>& sources);
  // Adds a value to scrub that no plugin may reference (the AI proxy's API key).
  void add_hidden(const std::string& name, std::string value);

  const std::string* find(const std::string& name) const;
  // Replaces every {{secret:NAME}} in `text` with the value; a NAME not in `allowed` or not
  // known is permission_denied (permission "secrets", target NAME).
  hostcall::HostResult<std::string> fill(const std::string& text,
                                         const std::vector<std::string>& allowed) const;
  // Replaces every occurrence of every secret value with [secret:NAME].
  std::string scrub(std::string text) const;

 private:
  std::map<std::string, std::string> values_;  // referencable by plugins that declare them
  std::map<std::string, std::string> hidden_;  // scrubbed only, never filled
};

}  // namespace plugvisor::host
