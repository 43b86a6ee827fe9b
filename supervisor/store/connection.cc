#include "store/connection.h"

#include <spdlog/spdlog.h>

#include <array>
#include <cctype>
#include <charconv>

namespace plugvisor::store {
namespace {

std::string trimmed(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return text;
}

// The server's NOTICEs ("relation already exists, skipping", ...) would otherwise go to stderr.
void log_notice(void* /*arg*/, const char* message) {
  spdlog::debug("postgres: {}", trimmed(message));
}

constexpr bool is_uri(const std::string& url) {
  return url.starts_with("postgresql://") || url.starts_with("postgres://");
}

std::string redact_uri(const std::string& url) {
  std::string out = url;
  const size_t start = out.find("://") + 3;
  size_t end = out.find_first_of("/?", start);
  if (end == std::string::npos) end = out.size();
  const size_t at = out.rfind('@', end);
  if (at != std::string::npos && at >= start) {
    const size_t colon = out.find(':', start);
    if (colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // password=... may also appear among the query parameters.
  const size_t query = out.find('?');
  if (query == std::string::npos) return out;
  size_t pos = query + 1;
  while (pos < out.size()) {
    size_t amp = out.find('&', pos);
    if (amp == std::string::npos) amp = out.size();
    if (out.compare(pos, 9, "password=") == 0) {
      out.replace(pos + 9, amp - pos - 9, "***");
      amp = pos + 9 + 3;
    }
    pos = amp + 1;
  }
  return out;
}

std::string redact_keywords(const std::string& conninfo) {
  std::string out;
  size_t pos = 0;
  const size_t n = conninfo.size();
  auto skip_space = [&] {
    while (pos < n && std::isspace(static_cast<unsigned char>(conninfo[pos]))) ++pos;
  };
  while (pos < n) {
    const size_t token_start = pos;
    skip_space();
    const size_t key_start = pos;
    while (pos < n && conninfo[pos] != '=' &&
           !std::isspace(static_cast<unsigned char>(conninfo[pos]))) {
      ++pos;
    }
    const std::string key = conninfo.substr(key_start, pos - key_start);
    skip_space();
    if (pos < n && conninfo[pos] == '=') ++pos;
    skip_space();
    const size_t value_start = pos;
    if (pos < n && conninfo[pos] == '\'') {
      for (++pos; pos < n && conninfo[pos] != '\''; ++pos) {
        if (conninfo[pos] == '\\') ++pos;
      }
      if (pos < n) ++pos;  // the closing quote
    } else {
      for (; pos < n && !std::isspace(static_cast<unsigned char>(conninfo[pos])); ++pos) {
        if (conninfo[pos] == '\\') ++pos;
      }
    }
    pos = std::min(pos, n);
    out.append(conninfo, token_start, value_start - token_start);
    out.append(key == "password" ? std::string("***")
                                 : conninfo.substr(value_start, pos - value_start));
  }
  return out;
}

}  // namespace

int64_t QueryResult::int64(int row, int col) const {
  const char* text = PQgetvalue(res_.get(), row, col);
  const char* end = text + PQgetlength(res_.get(), row, col);
  int64_t value = 0;
  std::from_chars(text, end, value);
  return value;
}

bool QueryResult::ok() const {
  if (!res_) return false;
  const ExecStatusType status = PQresultStatus(res_.get());
  return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

Result<Connection> Connection::open(const std::string& url, int connect_timeout_s) {
  const std::string timeout = std::to_string(connect_timeout_s);
  // dbname comes first and is expanded (expand_dbname=1), so URIs and key=value strings both
  // work; the keywords after it override what the string says.
  const std::array<const char*, 4> keys = {"dbname", "connect_timeout", "application_name",
                                           nullptr};
  const std::array<const char*, 4> values = {url.c_str(), timeout.c_str(), "plugvisord", nullptr};
  PGconn* raw = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
  if (raw == nullptr) return Error{"connect to " + redact_url(url) + ": out of memory"};
  Connection conn(raw);
  if (PQstatus(raw) != CONNECTION_OK) {
    return Error{"connect to " + redact_url(url) + ": " + trimmed(PQerrorMessage(raw))};
  }
  PQsetNoticeProcessor(raw, &log_notice, nullptr);
  return conn;
}

Error Connection::query_error(const PGresult* res, const std::string& what) {
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  last_sqlstate_ = state != nullptr ? state : "";
  std::string message = res != nullptr ? trimmed(PQresultErrorMessage(res)) : "";
  if (message.empty() && conn_) message = trimmed(PQerrorMessage(conn_.get()));
  if (message.empty()) message = "no result";
  if (!last_sqlstate_.empty()) message += " (SQLSTATE " + last_sqlstate_ + ")";
  return Error{what + ": " + message};
}

Result<QueryResult> Connection::exec(const std::string& sql,
                                     const std::vector<std::optional<std::string>>& params) {
  last_sqlstate_.clear();
  if (!conn_) return Error{"query on a closed connection"};
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  QueryResult result(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()),
                                  /*paramTypes=*/nullptr, values.data(), /*lengths=*/nullptr,
                                  /*formats=*/nullptr, /*resultFormat=text*/ 0));
  if (!result.ok()) return query_error(result.raw(), "query failed");
  return result;
}

Status Connection::exec_script(const std::string& sql) {
  last_sqlstate_.clear();
  if (!conn_) return Error{"query on a closed connection"};
  // PQexec (simple protocol) is the only way to send several statements at once.
  QueryResult result(PQexec(conn_.get(), sql.c_str()));
  if (!result.ok()) return query_error(result.raw(), "script failed");
  return ok_status();
}

Status Connection::copy_in(const std::string& copy_sql, const std::string& data) {
  last_sqlstate_.clear();
  if (!conn_) return Error{"COPY on a closed connection"};
  {
    QueryResult started(PQexec(conn_.get(), copy_sql.c_str()));
    if (PQresultStatus(started.raw()) != PGRES_COPY_IN) {
      return query_error(started.raw(), "COPY failed to start");
    }
  }
  // libpq buffers and sends; in blocking mode these return -1 only when the connection broke.
  const bool sent = PQputCopyData(conn_.get(), data.data(), static_cast<int>(data.size())) == 1 &&
                    PQputCopyEnd(conn_.get(), nullptr) == 1;
  // The server's verdict on the whole COPY, then the end of the command's results.
  std::optional<Error> failed;
  while (PGresult* raw = PQgetResult(conn_.get())) {
    QueryResult result(raw);
    if (!failed && !result.ok()) failed = query_error(result.raw(), "COPY failed");
  }
  if (failed) return *failed;
  if (!sent) return Error{"COPY failed: " + std::string(PQerrorMessage(conn_.get()))};
  return ok_status();
}

bool Connection::healthy() const { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK; }

std::string redact_url(const std::string& url) {
  return is_uri(url) ? redact_uri(url) : redact_keywords(url);
}

bool is_data_error(const std::string& sqlstate) {
  return sqlstate.starts_with("22") || sqlstate.starts_with("23");
}

}  // namespace plugvisor::store
