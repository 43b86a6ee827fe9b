#include "api/admin_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <future>
#include <set>

#include "api/convert.h"
#include "host/ai/usage_store.h"
#include "host/host_server.h"

namespace plugvisor::api {

namespace av1 = plugvisor::admin::v1;
using std::chrono::milliseconds;

namespace {

grpc::Status not_found(const std::string& id) {
  return {grpc::StatusCode::NOT_FOUND, "no plugin '" + id + "' in the config"};
}

}  // namespace

grpc::Status AdminService::ListPlugins(grpc::ServerContext*, const av1::ListPluginsRequest*,
                                       av1::ListPluginsResponse* resp) {
  for (const auto& s : deps_.plugins.snapshots()) fill(s, resp->add_plugins());
  auto* sup = resp->mutable_supervisor();
  sup->set_version(deps_.version);
  sup->set_uptime_ms(
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - deps_.started_at)
          .count());
  auto stats = deps_.receipts.stats();
  sup->set_database_connected(deps_.store.connected() && stats.connected);
  sup->set_database(deps_.database);
  sup->set_receipts_queued(stats.queued);
  sup->set_receipts_written(stats.written);
  sup->set_receipts_dropped(stats.dropped);
  sup->set_events_queued(deps_.store.pending());
  return grpc::Status::OK;
}

grpc::Status AdminService::GetPlugin(grpc::ServerContext*, const av1::PluginRequest* req,
                                     av1::PluginResponse* resp) {
  auto p = deps_.plugins.find(req->id());
  if (!p) return not_found(req->id());
  fill(p->snapshot(), resp->mutable_plugin());
  return grpc::Status::OK;
}

grpc::Status AdminService::lifecycle(const std::string& id, const char* what,
                                     std::function<Status(process::PluginRuntime&)> action,
                                     av1::PluginResponse* resp) {
  auto p = deps_.plugins.find(id);
  if (!p) return not_found(id);
  auto done = std::make_shared<std::promise<Status>>();
  auto result = done->get_future();
  boost::asio::post(deps_.io, [p, action, done] {
    try {
      done->set_value(action(*p));
    } catch (const std::exception& e) {
      done->set_value(Error{e.what()});
    }
  });
  if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    return {grpc::StatusCode::DEADLINE_EXCEEDED, std::string(what) + " did not complete in 10 s"};
  }
  auto status = result.get();
  if (!status) return {grpc::StatusCode::FAILED_PRECONDITION, status.error().message};
  spdlog::info("operator: {} {}", what, id);
  fill(p->snapshot(), resp->mutable_plugin());
  return grpc::Status::OK;
}

grpc::Status AdminService::Enable(grpc::ServerContext*, const av1::PluginRequest* req,
                                  av1::PluginResponse* resp) {
  return lifecycle(
      req->id(), "enable", [](auto& p) { return p.enable(); }, resp);
}

grpc::Status AdminService::Disable(grpc::ServerContext*, const av1::PluginRequest* req,
                                   av1::PluginResponse* resp) {
  return lifecycle(
      req->id(), "disable", [](auto& p) { return p.disable(); }, resp);
}

grpc::Status AdminService::Restart(grpc::ServerContext*, const av1::PluginRequest* req,
                                   av1::PluginResponse* resp) {
  return lifecycle(
      req->id(), "restart", [](auto& p) { return p.restart(); }, resp);
}

grpc::Status AdminService::WatchEvents(grpc::ServerContext* ctx, const av1::WatchEventsRequest* req,
                                       grpc::ServerWriter<av1::Event>* writer) {
  // Subscribe before reading history, so nothing falls between the two; ids dedupe the overlap.
  auto sub = deps_.events.subscribe(req->plugin_id(), req->kind_prefix());
  struct Unsubscribe {
    events::EventLog& log;
    std::shared_ptr<events::Subscription> sub;
    ~Unsubscribe() { log.unsubscribe(sub); }
  } unsubscribe{deps_.events, sub};

  std::set<std::string> replayed;
  if (req->replay() > 0) {
    store::EventFilter filter{req->plugin_id(), req->kind_prefix(),
                              std::min(req->replay(), 10000u)};
    auto history = deps_.store.recent_events(filter);
    if (!history) {
      if (!req->follow()) return {grpc::StatusCode::UNAVAILABLE, history.error().message};
      spdlog::warn("WatchEvents: no history while the database is away: {}",
                   history.error().message);
    } else {
      for (const auto& e : *history) {
        av1::Event out;
        to_proto(e, &out);
        if (!writer->Write(out)) return grpc::Status::OK;
        replayed.insert(e.id);
      }
    }
  }
  if (!req->follow()) return grpc::Status::OK;
  while (!ctx->IsCancelled() && !deps_.shutting_down.load()) {
    auto e = sub->next(milliseconds(250));
    if (!e || replayed.contains(e->id)) continue;
    av1::Event out;
    to_proto(*e, &out);
    if (!writer->Write(out)) break;
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::ListReceipts(grpc::ServerContext*, const av1::ListReceiptsRequest* req,
                                        av1::ListReceiptsResponse* resp) {
  store::ReceiptFilter filter;
  filter.plugin_id = req->plugin_id();
  filter.hook = req->hook();
  filter.dispatch_id = req->dispatch_id();
  filter.limit = req->limit() == 0 ? 50 : std::min(req->limit(), 1000u);
  if (!req->cursor().empty()) {
    try {
      filter.before_id = std::stoll(req->cursor());
    } catch (const std::exception&) {
      return {grpc::StatusCode::INVALID_ARGUMENT,
              "cursor '" + req->cursor() + "' is not one of ours"};
    }
  }
  auto rows = deps_.store.list_receipts(filter);
  if (!rows) return {grpc::StatusCode::UNAVAILABLE, rows.error().message};
  for (const auto& r : *rows) {
    auto* out = resp->add_receipts();
    to_proto(r.receipt, out);
    out->set_id(r.id);
  }
  if (rows->size() == filter.limit && !rows->empty()) {
    resp->set_next_cursor(std::to_string(rows->back().id));
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::Doctor(grpc::ServerContext*, const av1::DoctorRequest*,
                                  av1::DoctorResponse* resp) {
  const auto& sb = deps_.sandbox;
  const auto& required = sb.config.require;
  for (const auto& name : config::all_sandbox_mechanisms()) {
    auto* m = resp->add_mechanisms();
    m->set_name(name);
    m->set_available(sb.mechanisms.has(name));
    m->set_required(std::find(required.begin(), required.end(), name) != required.end());
    if (auto it = sb.mechanisms.detail.find(name); it != sb.mechanisms.detail.end()) {
      m->set_detail(it->second);
    }
    if (m->required() && !m->available()) {
      resp->add_problems("sandbox mechanism " + name +
                         " is required by the config but missing here: sandboxed plugins will "
                         "not start");
    }
  }
  if (deps_.landlock_audit != nullptr) {
    // Not a mechanism (nothing is stopped by it) but how the operator learns what Landlock
    // stopped, so it is listed with them and never required.
    const auto audit = deps_.landlock_audit->status();
    auto* m = resp->add_mechanisms();
    m->set_name("landlock_audit");
    m->set_available(audit.observable);
    m->set_detail(audit.detail);
  }
  resp->set_probe_json(sb.mechanisms.raw.dump());
  for (const auto& p : deps_.plugins.snapshots()) {
    if (p.sandbox == "off") {
      resp->add_problems("plugin " + p.id + " runs without a sandbox (sandbox: off)");
    }
    if (p.state == process::State::failed) {
      resp->add_problems("plugin " + p.id + " failed: " + p.last_error);
    }
    if (!p.enabled && p.disabled_reason == "crash_loop") {
      resp->add_problems("plugin " + p.id + " was auto-disabled after crash-looping: " +
                         p.last_error + " (plugvisorctl enable " + p.id + ")");
    }
  }
  auto stats = deps_.receipts.stats();
  if (!deps_.store.connected() || !stats.connected) {
    resp->add_problems("the database (" + deps_.database +
                       ") is not reachable; receipts and events are queued");
  }
  if (stats.dropped > 0) {
    resp->add_problems(
        std::to_string(stats.dropped) +
        " receipts were dropped (queue full or rejected); raise receipts.queue_capacity");
  }
  return grpc::Status::OK;
}

void AdminService::fill(const process::PluginSnapshot& s, av1::PluginStatus* out) const {
  to_proto(s, out);
  if (deps_.host == nullptr) return;
  auto counters = deps_.host->counters(s.id);
  out->set_permission_denied(counters.permission_denied);
  for (const auto& [method, n] : counters.calls) (*out->mutable_host_calls())[method] = n;
}

grpc::Status AdminService::Usage(grpc::ServerContext*, const av1::UsageRequest* req,
                                 av1::UsageResponse* resp) {
  if (deps_.usage == nullptr) return {grpc::StatusCode::UNAVAILABLE, "usage is not recorded here"};
  host::UsageQuery q;
  q.group_by.assign(req->group_by().begin(), req->group_by().end());
  q.plugin_id = req->plugin_id();
  q.tenant_id = req->tenant_id();
  q.since_unix_ms = req->since_unix_ms();
  auto summary = deps_.usage->summarise(q);
  if (!summary) {
    return {static_cast<grpc::StatusCode>(static_cast<int>(summary.error().code)),
            summary.error().message};
  }
  auto add = [](const host::UsageRow& r, av1::UsageRow* out) {
    out->set_plugin_id(r.plugin_id);
    out->set_tenant_id(r.tenant_id);
    out->set_hook(r.hook);
    out->set_model(r.model);
    out->set_calls(static_cast<uint64_t>(r.calls));
    out->set_prompt_tokens(static_cast<uint64_t>(r.prompt_tokens));
    out->set_completion_tokens(static_cast<uint64_t>(r.completion_tokens));
    out->set_total_tokens(static_cast<uint64_t>(r.total_tokens));
  };
  for (const auto& r : summary->rows) add(r, resp->add_rows());
  add(summary->total, resp->mutable_total());
  return grpc::Status::OK;
}

}  // namespace plugvisor::api
