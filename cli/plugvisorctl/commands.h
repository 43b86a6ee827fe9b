// One function per plugvisorctl command: build the request, make the call, print the answer.
// The glue is thin on purpose; what gets printed is decided in render.h and args.h.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace plugvisor::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,    // the RPC failed or plugvisord could not be reached
  kExitUsage = 2,    // bad arguments, including a --data that is not JSON
  kExitBlocked = 3,  // dispatch: the hook was blocked
};

struct GlobalOptions {
  std::string address = "127.0.0.1:7701";
  double timeout_s = 10;  // deadline of unary calls
  bool json = false;
};

// Where a command reads stdin (dispatch --data -) and writes; tests pass string streams.
struct Io {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
};

enum class PluginAction { kEnable, kDisable, kRestart };

struct EventsOptions {
  std::string plugin_id;
  std::string kind_prefix;
  uint32_t replay = 20;
  bool follow = false;
};

struct ReceiptsOptions {
  std::string plugin_id;
  std::string hook;
  std::string dispatch_id;
  uint32_t limit = 0;  // 0: the server's default page size
  std::string cursor;
};

struct UsageOptions {
  std::vector<std::string> group_by;  // plugin, tenant, hook, model
  std::string plugin_id;
  std::string tenant_id;
};

struct DispatchOptions {
  std::string hook;
  std::string data;  // @file, - or the JSON itself
  std::string tenant_id;
  std::string work_item_id;
  std::string run_id;
  uint32_t budget_ms = 0;  // 0: the supervisor's configured chain budget
};

struct WaitOptions {
  double for_s = 60;      // give up after this long
  std::string plugin_id;  // empty: every enabled plugin
};

int cmd_status(const GlobalOptions& global, Io& io);
// Sandbox mechanisms and problems; 1 when there is a problem to act on.
int cmd_doctor(const GlobalOptions& global, Io& io);
// Until plugvisord answers and the plugins are ready (disabled ones are not waited for); 1 with
// the laggards' states on timeout or when one has failed for good.
int cmd_wait(const GlobalOptions& global, Io& io, const WaitOptions& options);
int cmd_plugin_get(const GlobalOptions& global, Io& io, const std::string& id);
int cmd_plugin_action(const GlobalOptions& global, Io& io, PluginAction action,
                      const std::string& id);
int cmd_events(const GlobalOptions& global, Io& io, const EventsOptions& options);
int cmd_receipts(const GlobalOptions& global, Io& io, const ReceiptsOptions& options);
int cmd_dispatch(const GlobalOptions& global, Io& io, const DispatchOptions& options);
int cmd_usage(const GlobalOptions& global, Io& io, const UsageOptions& options);

}  // namespace plugvisor::cli
