// policy-guard: on tool.pre_exec, blocks shell tools whose command line matches a deny list of
// regular expressions (RE2 syntax).
#pragma once

#include <plugvisor/sdk/plugin.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace re2 {
class RE2;
}

namespace plugvisor::examples::policy_guard {

class Policy {
 public:
  // Throws std::invalid_argument naming the setting or the pattern that is wrong.
  static Policy from_settings(const sdk::Json& settings);
  ~Policy();
  Policy(Policy&&) noexcept;
  Policy& operator=(Policy&&) noexcept;

  struct Verdict {
    std::string tool;
    std::string pattern;  // the deny pattern that matched
    std::string command;  // the command line it matched in
  };
  // The first deny pattern that matches any command line of a shell tool call, if any.
  std::optional<Verdict> check(const sdk::Json& data) const;

  static const std::vector<std::string>& default_shell_tools();
  static const std::vector<std::string>& default_deny();

 private:
  Policy();
  std::set<std::string> shell_tools_;
  std::vector<std::unique_ptr<re2::RE2>> deny_;
};

// The command lines a tool call's arguments carry: every string, every array of strings joined
// with spaces, and command/cmd joined with args/argv.
std::vector<std::string> command_lines(const sdk::Json& arguments);

// Registers tool.pre_exec (priority 100, fail_closed) and the settings parser.
void install(sdk::Plugin& plugin);

}  // namespace plugvisor::examples::policy_guard
