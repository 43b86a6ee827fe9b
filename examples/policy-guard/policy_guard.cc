#include "policy_guard.h"

#include <re2/re2.h>

#include <stdexcept>
#include <utility>

namespace plugvisor::examples::policy_guard {
namespace {

using sdk::Json;

std::vector<std::string> string_list(const Json& settings, const char* key) {
  const Json& value = settings[key];
  if (!value.is_array())
    throw std::invalid_argument(std::string(key) + " must be a list of strings");
  std::vector<std::string> out;
  for (const auto& item : value) {
    if (!item.is_string())
      throw std::invalid_argument(std::string(key) + " must be a list of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

// The space-joined strings of an array, or nullopt if it holds anything else.
std::optional<std::string> joined(const Json& array) {
  if (!array.is_array() || array.empty()) return std::nullopt;
  std::string out;
  for (const auto& item : array) {
    if (!item.is_string()) return std::nullopt;
    if (!out.empty()) out += ' ';
    out += item.get_ref<const std::string&>();
  }
  return out;
}

void collect(const Json& value, std::vector<std::string>& out) {
  if (value.is_string()) {
    out.push_back(value.get<std::string>());
  } else if (value.is_array()) {
    if (auto line = joined(value)) out.push_back(std::move(*line));
    for (const auto& item : value) {
      if (!item.is_string()) collect(item, out);
    }
  } else if (value.is_object()) {
    for (const auto& [key, member] : value.items()) collect(member, out);
  }
}

}  // namespace

Policy::Policy() = default;
Policy::~Policy() = default;
Policy::Policy(Policy&&) noexcept = default;
Policy& Policy::operator=(Policy&&) noexcept = default;

const std::vector<std::string>& Policy::default_shell_tools() {
  static const std::vector<std::string> tools = {"shell", "bash", "sh", "exec"};
  return tools;
}

const std::vector<std::string>& Policy::default_deny() {
  // Destroying the machine, running code fetched from the network, and the classic fork bomb.
  static const std::vector<std::string> deny = {
      R"(rm\s+-rf\s+/)",
      R"(rm\s+-[a-zA-Z]*([rR][a-zA-Z]*f|f[a-zA-Z]*[rR])[a-zA-Z]*\s+(--\s+)?/)",
      R"(curl[^|]*\|\s*(sudo\s+)?(ba|z)?sh)",
      R"(wget[^|]*\|\s*(sudo\s+)?(ba|z)?sh)",
      R"(\bmkfs(\.\w+)?\s)",
      R"(\bdd\s[^|]*\bof=/dev/(sd|hd|vd|xvd|nvme|mmcblk))",
      R"(>\s*/dev/(sd|hd|vd|xvd|nvme|mmcblk))",
      R"(:\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:)",
      R"(\bchmod\s+(-R\s+)?0?777\s+/(\s|$))",
  };
  return deny;
}

Policy Policy::from_settings(const Json& settings) {
  if (!settings.is_object()) throw std::invalid_argument("settings must be a JSON object");
  const auto tools = settings.contains("shell_tools") ? string_list(settings, "shell_tools")
                                                      : default_shell_tools();
  const auto deny = settings.contains("deny") ? string_list(settings, "deny") : default_deny();
  Policy p;
  p.shell_tools_.insert(tools.begin(), tools.end());
  for (const auto& pattern : deny) {
    RE2::Options options;
    options.set_log_errors(false);  // the error goes into the Describe status instead
    auto re = std::make_unique<RE2>(pattern, options);
    if (!re->ok()) {
      throw std::invalid_argument("invalid deny pattern \"" + pattern + "\": " + re->error());
    }
    p.deny_.push_back(std::move(re));
  }
  return p;
}

std::vector<std::string> command_lines(const Json& arguments) {
  std::vector<std::string> out;
  collect(arguments, out);
  // {"command": "rm", "args": ["-rf", "/"]} is one command line, not two.
  if (arguments.is_object()) {
    for (const char* cmd : {"command", "cmd"}) {
      if (!arguments.contains(cmd) || !arguments[cmd].is_string()) continue;
      for (const char* args : {"args", "argv", "arguments"}) {
        if (!arguments.contains(args)) continue;
        if (auto rest = joined(arguments[args])) {
          out.push_back(arguments[cmd].get<std::string>() + " " + *rest);
        }
      }
    }
  }
  return out;
}

std::optional<Policy::Verdict> Policy::check(const Json& data) const {
  if (!data.contains("tool") || !data["tool"].is_string()) return std::nullopt;
  const std::string tool = data["tool"].get<std::string>();
  if (shell_tools_.count(tool) == 0) return std::nullopt;
  const Json empty = Json::object();
  const auto lines = command_lines(data.contains("arguments") ? data["arguments"] : empty);
  for (const auto& re : deny_) {
    for (const auto& line : lines) {
      if (RE2::PartialMatch(line, *re)) return Verdict{tool, re->pattern(), line};
    }
  }
  return std::nullopt;
}

void install(sdk::Plugin& plugin) {
  // Replaced once by the handshake before any handler runs, then only read.
  auto policy = std::make_shared<Policy>(Policy::from_settings(Json::object()));
  plugin.on_configure([policy](const Json& s) { *policy = Policy::from_settings(s); });
  plugin.on("tool.pre_exec",
            [policy](sdk::Context& ctx, const Json& data) {
              auto verdict = policy->check(data);
              if (!verdict) return sdk::Result::proceed();
              ctx.log().warn("blocked tool call",
                             {{"tool", verdict->tool}, {"pattern", verdict->pattern}});
              return sdk::Result::block("policy-guard: tool \"" + verdict->tool +
                                        "\" command matches deny pattern \"" + verdict->pattern +
                                        "\"");
            },
            // fail_closed: if the guard cannot decide, the command must not run.
            {.priority = 100, .fail_policy = sdk::FailPolicy::fail_closed});
}

}  // namespace plugvisor::examples::policy_guard
