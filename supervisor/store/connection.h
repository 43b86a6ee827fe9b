// RAII libpq connection with parameterised queries; errors come back as values.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "plugvisor/common/result.h"

namespace plugvisor::store {

// One query's result set, owned.
class QueryResult {
 public:
  explicit QueryResult(PGresult* res) : res_(res, &PQclear) {}
  int rows() const { return PQntuples(res_.get()); }
  bool is_null(int row, int col) const { return PQgetisnull(res_.get(), row, col) != 0; }
  std::string text(int row, int col) const { return PQgetvalue(res_.get(), row, col); }
  int64_t int64(int row, int col) const;
  bool boolean(int row, int col) const { return text(row, col) == "t"; }

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> res_;
};

class Connection {
 public:
  // connect_timeout_s is applied through libpq's connect_timeout.
  static Result<Connection> open(const std::string& url, int connect_timeout_s = 5);

  // Runs one statement with text parameters (nullopt is SQL NULL).
  Result<QueryResult> exec(const std::string& sql,
                           const std::vector<std::optional<std::string>>& params = {});
  bool healthy() const;

 private:
  explicit Connection(PGconn* conn) : conn_(conn, &PQfinish) {}
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn_;
};

// Masks the password of a URL or a key=value connection string, for logs and status.
std::string redact_url(const std::string& url);

}  // namespace plugvisor::store
