// plugvisor C++ SDK: write a plugin as a set of hook handlers.
//
//   #include <plugvisor/sdk/plugin.h>
//   namespace sdk = plugvisor::sdk;
//   int main(int argc, char** argv) {
//     sdk::define("shouter", "1.0.0")
//         .on("response.pre_deliver", [](sdk::Context& ctx, const sdk::Json& data) {
//           return sdk::Result::patch({{"content", upper(data.value("content", ""))}});
//         });
//     return sdk::run(argc, argv);
//   }
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "plugvisor/sdk/host.h"

namespace plugvisor::sdk {

using Json = nlohmann::json;

enum class FailPolicy { fail_open, fail_closed };

// Structured log lines. With a host connection they go to the supervisor as host.v1 Log
// records, which it logs tagged with the plugin's id and the invocation the token proves; without
// one (started by hand, an older supervisor), or when the host does not take a record, they are
// one JSON object per line on stderr, which plugvisord captures under the plugin's id. Never
// throws, and never keeps a handler waiting on the supervisor (see logger.cc).
class Logger {
 public:
  // stderr only.
  explicit Logger(std::string invocation_id = {}) : invocation_id_(std::move(invocation_id)) {}
  // Through `host`, for `call`: its token ties the lines to the invocation (empty: the plugin's
  // own behalf).
  Logger(std::shared_ptr<HostApi> host, HostCall call, std::string invocation_id = {})
      : host_(std::move(host)), call_(std::move(call)), invocation_id_(std::move(invocation_id)) {}
  void debug(const std::string& message, const Json& fields = Json::object()) const;
  void info(const std::string& message, const Json& fields = Json::object()) const;
  void warn(const std::string& message, const Json& fields = Json::object()) const;
  void error(const std::string& message, const Json& fields = Json::object()) const;

 private:
  void write(const char* level, const std::string& message, const Json& fields) const;
  std::shared_ptr<HostApi> host_;
  HostCall call_;
  std::string invocation_id_;
};

// What a handler sees about the invocation it is serving.
class Context {
 public:
  struct Ids {
    std::string hook;
    std::string invocation_id;
    std::string dispatch_id;
    std::string tenant_id;
    std::string work_item_id;
    std::string run_id;
    std::map<std::string, std::string> attributes;
  };

  // The host connection and the token that proves this invocation to it.
  struct Host {
    std::shared_ptr<HostApi> api;  // null: host calls are HostCode::unavailable
    std::string invocation_token;
  };

  Context(Ids ids, std::chrono::steady_clock::time_point deadline,
          std::function<bool()> cancelled_by_caller = {}, const Json* settings = nullptr,
          Host host = {});

  const Ids& ids() const { return ids_; }
  const std::string& hook() const { return ids_.hook; }
  const std::string& tenant_id() const { return ids_.tenant_id; }
  const std::string& work_item_id() const { return ids_.work_item_id; }
  const std::string& run_id() const { return ids_.run_id; }

  std::chrono::steady_clock::time_point deadline() const { return deadline_; }
  std::chrono::milliseconds remaining() const;
  // True once the deadline has passed or the supervisor gave up on this call. A long
  // handler should check this and return; one that does not is killed after a grace period.
  bool cancelled() const;

  const Logger& log() const { return log_; }
  // The plugin's settings from the operator's config ({} if none).
  const Json& settings() const;

  // Host services (see host.h). Each call is bounded by deadline() and made for this
  // invocation: the supervisor derives the tenant from it and checks the plugin's permissions.
  //
  // Key/value state of this invocation's tenant, private to this plugin.
  State& state() { return state_; }
  // HTTP through the supervisor's egress allowlist (permissions.network).
  HostResult<FetchResponse> fetch(const FetchRequest& request) const;
  // A chat completion through the supervisor's AI proxy (permissions.ai).
  HostResult<ChatResponse> ai_chat(const ChatRequest& request) const;
  // Publishes an event named plugin.<this plugin's id>.<rest>; returns its id.
  HostResult<std::string> emit(const std::string& name, const Json& payload = nullptr) const;
  // For code that talks to a HostApi directly (a test's own host, for one).
  const std::string& invocation_token() const { return call_.invocation_token; }

 private:
  Ids ids_;
  std::chrono::steady_clock::time_point deadline_;
  std::function<bool()> cancelled_by_caller_;
  const Json* settings_;
  std::shared_ptr<HostApi> host_;
  HostCall call_;
  Logger log_;  // after host_ and call_, which it is made from
  State state_;
};

// What a handler returns.
class Result {
 public:
  static Result proceed() { return Result{}; }
  // Continue, changing the data with an RFC 7386 JSON Merge Patch. The hook's catalog entry
  // decides which paths may change; any other path makes the whole patch invalid.
  static Result patch(Json merge_patch);
  // Stop the chain (only for blockable hooks).
  static Result block(std::string reason);
  // The handler failed: the supervisor records EXECUTION_ERROR and applies the fail policy.
  static Result fail(std::string message);

  bool blocked() const { return blocked_; }
  const std::optional<Json>& merge_patch() const { return patch_; }
  const std::string& reason() const { return reason_; }
  const std::optional<std::string>& failure() const { return failure_; }

 private:
  bool blocked_ = false;
  std::optional<Json> patch_;
  std::string reason_;
  std::optional<std::string> failure_;
};

using Handler = std::function<Result(Context& ctx, const Json& data)>;

struct HookOptions {
  int priority = 0;  // higher runs first
  FailPolicy fail_policy = FailPolicy::fail_open;
};

class Plugin {
 public:
  Plugin(std::string id, std::string version);
  ~Plugin();
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  Plugin& on(std::string hook, Handler handler, HookOptions options = {});
  // Called once with the operator's settings during the handshake, before any handler runs.
  Plugin& on_configure(std::function<void(const Json& settings)> configure);

  // Serves plugin.v1 on fd 3 until the supervisor asks it to shut down or SIGTERM arrives.
  // Returns the process exit code.
  int run(int argc, char** argv);

  const std::string& id() const { return id_; }
  const std::string& version() const { return version_; }

  struct Registration {
    std::string hook;
    Handler handler;
    HookOptions options;
  };
  const std::vector<Registration>& registrations() const { return registrations_; }
  const Registration* find(const std::string& hook) const;
  void configure(const Json& settings);
  const Json& settings() const { return settings_; }

  // The plugin's own, tenant-less state: for what belongs to no tenant (a shared cache, the
  // plugin's bookkeeping), and the only state reachable outside an invocation (on_configure,
  // a background thread). Usable once run() has connected to the supervisor, or inside a
  // testing::Harness; each call is bounded by kMaxHostCallTime.
  State own_state() const;
  // A Logger on the plugin's own behalf (no invocation): for on_configure and background
  // threads. Through the host when connected, as Context::log() is.
  Logger log() const;
  // The host.v1 connection: run() connects fd 4, the test harness its FakeHost. Null: every
  // host call is HostCode::unavailable.
  void set_host(std::shared_ptr<HostApi> host);
  std::shared_ptr<HostApi> host() const;

 private:
  std::string id_;
  std::string version_;
  std::vector<Registration> registrations_;
  std::function<void(const Json&)> configure_;
  Json settings_ = Json::object();
  mutable std::mutex host_mu_;
  std::shared_ptr<HostApi> host_;
};

// The process-wide plugin, for the short form: define(...).on(...); return run(argc, argv);
Plugin& define(std::string id, std::string version);
int run(int argc, char** argv);

}  // namespace plugvisor::sdk
