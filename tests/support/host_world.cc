#include "host_world.h"

#include <catch2/catch.hpp>

#include "store/connection.h"

namespace plugvisor::testsupport {

std::string host_config(const std::vector<HostPlugin>& plugins, const std::string& top_yaml) {
  std::string yaml = fast_defaults_yaml() + top_yaml + "plugins:\n";
  for (const auto& p : plugins) {
    yaml += fixture(p.id, "host", {{p.hook, "timeout_ms: 20000"}});
    if (!p.permissions_yaml.empty()) yaml += "    permissions:\n" + p.permissions_yaml;
  }
  return yaml;
}

HostRun run_host_ops(Supervisor& sup, const std::string& hook, const std::vector<Json>& ops,
                     const std::string& tenant) {
  HostRun run;
  grpc::Status status;
  run.response = sup.dispatch(hook, Json{{"_host", Json(ops)}}.dump(), &status, tenant);
  if (!status.ok()) FAIL("dispatch " << hook << ": " << status.error_message() << "\n" << sup.log());
  INFO("receipts: " << run.response.ShortDebugString());
  REQUIRE(run.response.receipts_size() == 1);
  if (run.response.receipts(0).status() != "ok") FAIL("the plugin failed; plugvisord log:\n" << sup.log());
  Json data = Json::parse(run.response.data_json(), nullptr, false);
  REQUIRE(data.is_object());
  run.results = data["metadata"]["host_results"];
  REQUIRE(run.results.size() == ops.size());
  return run;
}

std::vector<std::string> table_rows(const std::string& database_url, const std::string& table) {
  auto conn = store::Connection::open(database_url);
  REQUIRE(conn.ok());
  auto r = conn->exec("SELECT row_to_json(t)::text FROM " + table + " t");
  if (!r) FAIL(table << ": " << r.error().message);
  std::vector<std::string> rows;
  for (int i = 0; i < r->rows(); ++i) rows.push_back(r->text(i, 0));
  return rows;
}

}  // namespace plugvisor::testsupport
