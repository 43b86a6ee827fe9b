#include "host/ai/usage_store.h"

#include <algorithm>
#include <array>
#include <utility>

namespace plugvisor::host {
namespace {

// Short, because record() runs on the thread answering a plugin's call.
constexpr int kConnectTimeoutSeconds = 2;
constexpr const char* kStatementTimeout = "SET statement_timeout = '5s'";

// The only column names that ever reach the SQL text: group_by picks from this list, so no
// text of the caller's is interpolated.
struct GroupColumn {
  const char* name;
  const char* column;
  std::string UsageRow::*field;
};
constexpr std::array<GroupColumn, 4> kGroupColumns = {{
    {"plugin", "plugin_id", &UsageRow::plugin_id},
    {"tenant", "tenant_id", &UsageRow::tenant_id},
    {"hook", "hook", &UsageRow::hook},
    {"model", "model", &UsageRow::model},
}};

hostcall::HostResult<std::vector<const GroupColumn*>> group_columns(
    const std::vector<std::string>& names) {
  static const std::vector<std::string> kDefault = {"plugin", "tenant", "hook"};
  std::vector<const GroupColumn*> out;
  for (const std::string& name : names.empty() ? kDefault : names) {
    const auto it = std::find_if(kGroupColumns.begin(), kGroupColumns.end(),
                                 [&](const GroupColumn& c) { return name == c.name; });
    if (it == kGroupColumns.end()) {
      return hostcall::invalid("group_by: unknown \"" + name +
                               "\" (expected plugin, tenant, hook or model)");
    }
    if (std::find(out.begin(), out.end(), &*it) == out.end()) out.push_back(&*it);
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (const std::string& part : parts) {
    if (!out.empty()) out += separator;
    out += part;
  }
  return out;
}

}  // namespace

UsageStore::UsageStore(std::string database_url) : url_(std::move(database_url)) {}

hostcall::HostResult<store::QueryResult> UsageStore::exec(
    const std::string& sql, const std::vector<std::optional<std::string>>& params) {
  std::lock_guard lock(mu_);
  // A connection kept from an earlier call may have died with a database restart since; that
  // shows only when it is used, so such a failure gets one more try on a new connection. The
  // price is a rare duplicate row when the server committed and then the link broke before it
  // answered; usage is accounting, and a lost row after every restart would be worse.
  for (int round = 0;; ++round) {
    const bool reused = conn_.has_value();
    if (!conn_) {
      auto opened = store::Connection::open(url_, kConnectTimeoutSeconds);
      if (!opened.ok()) return hostcall::unavailable("ai usage: " + opened.error().message);
      if (auto set = opened->exec(kStatementTimeout); !set.ok()) {
        return hostcall::unavailable("ai usage: " + set.error().message);
      }
      conn_.emplace(std::move(*opened));
    }
    auto result = conn_->exec(sql, params);
    if (result.ok()) return std::move(*result);
    const std::string sqlstate = conn_->last_sqlstate();
    if (store::is_data_error(sqlstate)) {
      return hostcall::internal("ai usage: the database refused the row: " +
                                result.error().message);
    }
    if (!conn_->healthy()) conn_.reset();
    if (!reused || conn_ || round > 0) {
      return hostcall::unavailable("ai usage: " + result.error().message);
    }
  }
}

hostcall::HostStatus UsageStore::record(const UsageRecord& r) {
  auto done = exec(
      "INSERT INTO ai_usage (plugin_id, plugin_version, tenant_id, hook, work_item_id, run_id, "
      "invocation_id, model, attempts, prompt_tokens, completion_tokens, total_tokens) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
      {r.plugin_id, r.plugin_version, r.tenant_id, r.hook, r.work_item_id, r.run_id,
       r.invocation_id, r.model, std::to_string(r.attempts), std::to_string(r.usage.prompt_tokens),
       std::to_string(r.usage.completion_tokens), std::to_string(r.usage.total_tokens)});
  if (!done.ok()) return done.error();
  return {};
}

hostcall::HostResult<UsageSummary> UsageStore::summarise(const UsageQuery& query) {
  auto groups = group_columns(query.group_by);
  if (!groups.ok()) return groups.error();

  std::vector<std::string> columns;
  for (const GroupColumn* g : *groups) columns.emplace_back(g->column);
  std::vector<std::string> conditions;
  std::vector<std::optional<std::string>> params;
  auto where = [&](const std::string& condition, std::string value) {
    params.emplace_back(std::move(value));
    conditions.push_back(condition + " $" + std::to_string(params.size()));
  };
  if (!query.plugin_id.empty()) where("plugin_id =", query.plugin_id);
  if (!query.tenant_id.empty()) where("tenant_id =", query.tenant_id);
  if (query.since_unix_ms > 0) {
    params.emplace_back(std::to_string(query.since_unix_ms));
    conditions.push_back("at >= 'epoch'::timestamptz + $" + std::to_string(params.size()) +
                         "::bigint * interval '1 millisecond'");
  }
  const std::string keys = join(columns, ", ");
  const std::string sql =
      "SELECT " + keys +
      ", count(*), coalesce(sum(prompt_tokens), 0)::bigint, "
      "coalesce(sum(completion_tokens), 0)::bigint, coalesce(sum(total_tokens), 0)::bigint "
      "FROM ai_usage" +
      (conditions.empty() ? "" : " WHERE " + join(conditions, " AND ")) + " GROUP BY " + keys +
      " ORDER BY " + keys;

  auto result = exec(sql, params);
  if (!result.ok()) return result.error();
  UsageSummary summary;
  const int n = static_cast<int>(groups->size());
  for (int row = 0; row < result->rows(); ++row) {
    UsageRow out;
    for (int col = 0; col < n; ++col) out.*((*groups)[col]->field) = result->text(row, col);
    out.calls = result->int64(row, n);
    out.prompt_tokens = result->int64(row, n + 1);
    out.completion_tokens = result->int64(row, n + 2);
    out.total_tokens = result->int64(row, n + 3);
    summary.total.calls += out.calls;
    summary.total.prompt_tokens += out.prompt_tokens;
    summary.total.completion_tokens += out.completion_tokens;
    summary.total.total_tokens += out.total_tokens;
    summary.rows.push_back(std::move(out));
  }
  return summary;
}

}  // namespace plugvisor::host
