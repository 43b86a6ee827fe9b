#include "plugvisorctl/app.h"

#include <CLI/CLI.hpp>
#include <functional>

#include "plugvisorctl/args.h"

namespace plugvisor::cli {

namespace {

// Lets global options follow the subcommand too (`plugvisorctl status --json`), which is how
// people type them.
CLI::App* add_command(CLI::App& parent, const std::string& name, const std::string& help) {
  CLI::App* sub = parent.add_subcommand(name, help);
  sub->fallthrough();
  return sub;
}

}  // namespace

int run_cli(int argc, const char* const* argv, Io& io) {
  CLI::App app{"plugvisorctl: operate a running plugvisord over its admin and hooks APIs",
               "plugvisorctl"};
  app.require_subcommand(1);
  app.footer("Exit codes: 0 ok, 1 error (RPC or connection), 2 usage, 3 dispatch blocked.");
#ifdef PLUGVISORCTL_VERSION
  app.set_version_flag("--version", "plugvisorctl " PLUGVISORCTL_VERSION);
#endif

  GlobalOptions global;
  app.add_option("--address", global.address, "plugvisord's gRPC address: host:port or unix:/path")
      ->envname("PLUGVISOR_ADDRESS")
      ->capture_default_str()
      ->check(CLI::Validator([](std::string& v) { return check_address(v); }, "ADDRESS", ""));
  app.add_option("--timeout", global.timeout_s, "deadline of each unary call, in seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_flag("--json", global.json, "print the protobuf messages as JSON, one per line");

  // Each command's body runs after parsing; it is chosen through this.
  std::function<int()> run;

  add_command(app, "status", "table of plugins and the supervisor's health")->callback([&] {
    run = [&] { return cmd_status(global, io); };
  });

  add_command(app, "doctor", "sandbox mechanisms and anything that needs an operator")
      ->callback([&] { run = [&] { return cmd_doctor(global, io); }; });

  WaitOptions wait_options;
  CLI::App* wait = add_command(app, "wait", "until plugvisord answers and its plugins are ready");
  wait->add_option("--for", wait_options.for_s, "seconds to wait at most")->capture_default_str();
  wait->add_option("--plugin", wait_options.plugin_id, "wait for this plugin only");
  wait->callback([&] { run = [&] { return cmd_wait(global, io, wait_options); }; });

  std::string plugin_id;
  CLI::App* plugin = add_command(app, "plugin", "inspect one plugin");
  plugin->require_subcommand(1);
  CLI::App* get = add_command(*plugin, "get", "every field of one plugin and its hook bindings");
  get->add_option("ID", plugin_id, "plugin id")->required();
  get->callback([&] { run = [&] { return cmd_plugin_get(global, io, plugin_id); }; });

  const std::pair<const char*, PluginAction> actions[] = {{"enable", PluginAction::kEnable},
                                                          {"disable", PluginAction::kDisable},
                                                          {"restart", PluginAction::kRestart}};
  for (const auto& [name, action] : actions) {
    CLI::App* sub = add_command(app, name, std::string(name) + " a plugin, print its new state");
    sub->add_option("ID", plugin_id, "plugin id")->required();
    sub->callback([&, action = action] {
      run = [&, action] { return cmd_plugin_action(global, io, action, plugin_id); };
    });
  }

  EventsOptions events;
  CLI::App* ev = add_command(app, "events", "lifecycle events, newest last");
  ev->add_option("--plugin", events.plugin_id, "only this plugin's events");
  ev->add_option("--kind", events.kind_prefix, "only kinds starting with PREFIX")
      ->type_name("PREFIX");
  ev->add_option("--replay", events.replay, "stored events to show first")->capture_default_str();
  ev->add_flag("--follow,-f", events.follow, "keep streaming new events until Ctrl-C");
  ev->callback([&] { run = [&] { return cmd_events(global, io, events); }; });

  ReceiptsOptions receipts;
  CLI::App* rc = add_command(app, "receipts", "stored handler receipts, newest first");
  rc->add_option("--plugin", receipts.plugin_id, "only this plugin's receipts");
  rc->add_option("--hook", receipts.hook, "only this hook's receipts");
  rc->add_option("--dispatch", receipts.dispatch_id, "only this dispatch's receipts");
  rc->add_option("--limit", receipts.limit, "page size (server default 50)")
      ->check(CLI::Range(1u, 1000u));
  rc->add_option("--cursor", receipts.cursor, "continue from a previous page's next cursor");
  rc->callback([&] { run = [&] { return cmd_receipts(global, io, receipts); }; });

  UsageOptions usage;
  CLI::App* us = add_command(app, "usage", "AI token usage through the host's AI proxy (cost summaries)");
  us->add_option("--by", usage.group_by, "group by: plugin, tenant, hook, model (default: plugin tenant hook)")
      ->check(CLI::IsMember({"plugin", "tenant", "hook", "model"}))
      ->delimiter(',');
  us->add_option("--plugin", usage.plugin_id, "only this plugin's usage");
  us->add_option("--tenant", usage.tenant_id, "only this tenant's usage");
  us->callback([&] { run = [&] { return cmd_usage(global, io, usage); }; });

  DispatchOptions dispatch;
  CLI::App* dp = add_command(app, "dispatch", "run a hook through its plugins, as a host would");
  dp->add_option("HOOK", dispatch.hook, "hook name, e.g. tool.pre_exec")->required();
  dp->add_option("--data", dispatch.data, "the hook's data: @file.json, - (stdin) or JSON text")
      ->required();
  dp->add_option("--tenant", dispatch.tenant_id, "context: tenant id");
  dp->add_option("--work-item", dispatch.work_item_id, "context: work item id");
  dp->add_option("--run", dispatch.run_id, "context: run id");
  dp->add_option("--budget-ms", dispatch.budget_ms, "chain budget (default: the server's)");
  dp->callback([&] { run = [&] { return cmd_dispatch(global, io, dispatch); }; });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, io.out, io.err);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, io.out, io.err);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e, io.out, io.err);
  } catch (const CLI::ParseError& e) {
    // CLI11's own exit codes (100+) would tell a script nothing; every parse failure is usage.
    (void)app.exit(e, io.out, io.err);
    return kExitUsage;
  }
  return run ? run() : kExitUsage;
}

}  // namespace plugvisor::cli
