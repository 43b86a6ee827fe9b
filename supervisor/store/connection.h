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
  // 0 for NULL or text that is not an integer.
  int64_t int64(int row, int col) const;
  bool boolean(int row, int col) const { return text(row, col) == "t"; }
  // The statement succeeded (command or rows); false also when libpq returned no result.
  bool ok() const;
  const PGresult* raw() const { return res_.get(); }

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> res_;
};

class Connection {
 public:
  // `url` is a postgresql:// URI or a key=value string. connect_timeout_s is applied through
  // libpq's connect_timeout (and wins over one in the URL). Errors name the redacted URL.
  static Result<Connection> open(const std::string& url, int connect_timeout_s = 5);

  // Runs one statement with text parameters (nullopt is SQL NULL).
  Result<QueryResult> exec(const std::string& sql,
                           const std::vector<std::optional<std::string>>& params = {});
  // Runs a script of several statements without parameters (migrations).
  Status exec_script(const std::string& sql);
  // Runs `copy_sql` (a COPY ... FROM STDIN) and sends it `data` (in the statement's format).
  // All of it is loaded or, on error, none of it.
  Status copy_in(const std::string& copy_sql, const std::string& data);
  bool healthy() const;
  // SQLSTATE of the last failed exec/exec_script ("" if none or if the connection broke
  // before the server answered). Lets callers tell bad data (class 22/23) from an outage.
  const std::string& last_sqlstate() const { return last_sqlstate_; }

 private:
  explicit Connection(PGconn* conn) : conn_(conn, &PQfinish) {}
  Error query_error(const PGresult* res, const std::string& what);
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn_;
  std::string last_sqlstate_;
};

// Masks the password of a URL or a key=value connection string, for logs and status.
std::string redact_url(const std::string& url);

// True for SQLSTATEs that mean the statement's data is at fault (data exception, integrity
// violation): retrying cannot help. Anything else may be an outage worth retrying.
bool is_data_error(const std::string& sqlstate);

}  // namespace plugvisor::store
