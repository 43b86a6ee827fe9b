// In-process test harness: call a plugin's handlers without a supervisor, with the same
// payload and patch checks the supervisor makes for a hook's default catalog entry, and an
// in-memory host (FakeHost) that refuses what the supervisor's host services refuse.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "plugvisor/sdk/plugin.h"

namespace plugvisor::sdk::testing {

struct Invocation {
  std::string tenant_id = "tenant-test";
  std::string work_item_id = "work-item-test";
  std::string run_id = "run-test";
  std::chrono::milliseconds timeout{1500};
};

// A line logged through the host (Context::log(), Plugin::log()), as the supervisor's Log gets
// it: the plugin, tenant and invocation come from the call's token, not from the plugin. Fields
// are kept as the handler gave them (on the wire, non-string values travel as JSON text).
struct LoggedLine {
  std::string plugin_id{};
  std::string tenant_id{};      // "" outside an invocation
  std::string invocation_id{};  // "" outside an invocation
  std::string level{};          // debug, info, warn, error
  std::string message{};
  Json fields = Json::object();
};

struct Outcome {
  bool blocked = false;
  std::string reason;
  std::optional<std::string> failure;  // the handler's Result::fail message or a thrown exception
  std::optional<Json> patch;
  Json data;  // the input with the patch applied (unchanged if blocked or failed)
  // Paths the patch touched that the hook's default catalog entry does not allow.
  std::vector<std::string> forbidden_paths;
  // Set when the supervisor would reject this output as INVALID_OUTPUT (a forbidden path, a
  // block on a hook that cannot be blocked, data that fails the hook's output schema); says why.
  std::optional<std::string> invalid_output;
  // The handler ran longer than Invocation::timeout: the supervisor would report TIMEOUT.
  bool timed_out = false;
  std::chrono::microseconds duration{0};
  // What the handler logged during this invocation, in order.
  std::vector<LoggedLine> logs;
};

// What the supervisor's catalog says about a hook, for hooks outside the default catalog.
struct HookRules {
  bool blockable = false;
  std::vector<std::string> mutable_paths{};  // JSON Pointers
};

// A request a host check refused, as the supervisor records it (receipt, permission_denied
// event).
struct Denial {
  std::string plugin_id{};
  std::string permission{};  // network, secrets, ai, events, invocation_token
  std::string target{};      // e.g. "https://evil.example.com:443", a secret's name, an event name
  std::string message{};
};

// permissions.state of the operator's config: summed over all the plugin's tenants.
struct StateQuota {
  uint64_t max_keys = 10000;
  uint64_t max_bytes = 16ull << 20;       // keys + values
  uint64_t max_value_bytes = 1ull << 20;  // one value
};

// A Fetch as the upstream would have received it: {{secret:NAME}} references filled in.
struct SentFetch {
  std::string plugin_id{};
  std::string tenant_id{};
  FetchRequest request{};
};

struct SentChat {
  std::string plugin_id{};
  std::string tenant_id{};
  ChatRequest request{};
};

struct EmittedEvent {
  std::string id{};
  std::string plugin_id{};
  std::string tenant_id{};
  std::string invocation_id{};
  std::string name{};
  Json payload{};
};

// An in-memory host.v1 with the supervisor's checks: invocation tokens, state scoped by
// (plugin, tenant) with quotas and compare-and-set, the egress allowlist and secret references,
// the AI permission, and the plugin.<id>.* event namespace. Names, URLs and rules are judged by
// the supervisor's own code; nothing leaves the process (no DNS: a host name is judged by the
// rules alone, an IP literal also by its address range). The permissions configured here apply
// to every plugin connected to it.
//
// A handle: copies share one host, so two Harnesses given the same FakeHost see each other's
// state (and are still kept apart by plugin and tenant, as the supervisor keeps them).
class FakeHost {
 public:
  using FetchHandler = std::function<HostResult<FetchResponse>(const FetchRequest&)>;
  using ChatHandler = std::function<HostResult<ChatResponse>(const ChatRequest&)>;

  FakeHost();

  // --- The operator's permissions ---------------------------------------------------------
  // One permissions.network entry ("api.example.com", "*.example.com",
  // "http://127.0.0.1:8080"). Throws std::invalid_argument for a rule the supervisor's config
  // would reject: that is a bug in the test.
  FakeHost& allow_network(const std::string& rule);
  // A secret the plugin may reference as {{secret:NAME}} in header values, and its value.
  FakeHost& declare_secret(const std::string& name, std::string value);
  FakeHost& allow_ai(bool allowed = true);
  FakeHost& set_state_quota(StateQuota quota);

  // --- The upstreams ---------------------------------------------------------------------------
  // The answer to a URL (compared as the supervisor normalises it). Scripted answers win over
  // the handler; without either, a fetch is `unavailable`, like an unreachable upstream.
  // Secret values in answers reach the plugin as [secret:NAME], as from the real host.
  FakeHost& on_fetch(const std::string& url, FetchResponse response);
  FakeHost& on_fetch(FetchHandler handler);  // sees the request with secrets filled in
  // Answers to AI chats, used once each in order; then the handler; then `unavailable`.
  FakeHost& script_chat(ChatResponse response);
  FakeHost& on_chat(ChatHandler handler);
  // Moves the host's clock (state expiry) forward, so TTL tests need not sleep.
  FakeHost& advance_clock(std::chrono::milliseconds by);

  // --- What happened -------------------------------------------------------------------------
  std::vector<Denial> denials() const;
  std::vector<SentFetch> fetches() const;  // the ones that passed every check
  std::vector<SentChat> chats() const;
  std::vector<EmittedEvent> events() const;
  // Every line logged through this host, in order. Each is also written to stderr as the
  // plugin's JSON line, so a test's output shows them.
  std::vector<LoggedLine> logs() const;
  // A stored entry with its value, past every check; tenant "" is the plugin's own state.
  std::optional<StateEntry> peek_state(const std::string& plugin_id, const std::string& tenant_id,
                                       const std::string& key) const;
  void clear_records();  // denials, fetches, chats, events and logs (not state or configuration)

  // --- Connections and tokens (the Harness does this; a test driving HostApi may too) ----------
  // The host as `plugin_id` reaches it: as over fd 4, the caller is the connection.
  std::shared_ptr<HostApi> connect(const std::string& plugin_id) const;

  struct Scope {
    std::string plugin_id{};
    std::string tenant_id{};
    std::string invocation_id{};
  };
  struct Impl;
  // A token for an invocation in flight; revoked when the Ticket goes.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(std::shared_ptr<Impl> impl, std::string token);
    Ticket(Ticket&&) noexcept = default;
    Ticket& operator=(Ticket&& other) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() { reset(); }
    const std::string& token() const { return token_; }
    void reset();

   private:
    std::shared_ptr<Impl> impl_;
    std::string token_;
  };
  Ticket issue(Scope scope);

 private:
  friend class Harness;  // for one invocation's lines (Outcome::logs)
  std::vector<LoggedLine> logs_of(const std::string& invocation_id) const;

  std::shared_ptr<Impl> impl_;
};

class Harness {
 public:
  // Configures the plugin with `settings` (an object; null counts as {}) as the handshake
  // would; whatever the plugin's configure callback throws reaches the test. While the Harness
  // lives, the plugin's host is `host` (Plugin::own_state() works in on_configure, too).
  explicit Harness(Plugin& plugin, Json settings = Json::object(), FakeHost host = FakeHost());
  ~Harness();
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;
  // Runs the plugin's handler for `hook` on `data` (a JSON object), as `invocation`'s tenant,
  // with a token the host accepts until the handler returns. Throws
  // std::invalid_argument if the plugin has no handler for it, the hook is in neither the
  // default catalog nor set_rules(), or data is not an object (test bugs, not plugin outcomes).
  Outcome invoke(const std::string& hook, const Json& data, const Invocation& invocation = {});
  // Declares (or overrides) a hook the way an operator's catalog would.
  Harness& set_rules(const std::string& hook, HookRules rules);
  // The host the handlers reach; each invoke() runs under a fresh token, revoked after it.
  FakeHost& host() { return host_; }

 private:
  Plugin& plugin_;
  std::map<std::string, HookRules> rules_;
  FakeHost host_;
  std::shared_ptr<HostApi> connection_;
  std::shared_ptr<HostApi> previous_host_;
};

}  // namespace plugvisor::sdk::testing
