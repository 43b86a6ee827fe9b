// Schema migrations: the versioned SQL of schemas/sql/, compiled into the binary.
#pragma once

#include <string_view>
#include <vector>

#include "plugvisor/common/result.h"
#include "store/connection.h"

namespace plugvisor::store {

struct Migration {
  int version = 0;
  std::string_view name;  // the file's stem, e.g. "0001_init"
  std::string_view sql;   // one or more statements
};

// Every schemas/sql/NNNN_*.sql, ordered by version (generated at build time).
const std::vector<Migration>& embedded_migrations();

// Applies schemas/sql/NNNN_*.sql (compiled into the binary) in order under a session-level
// advisory lock, each in its own transaction, recording versions in plugvisor_schema_migrations.
// Safe to call concurrently from several supervisors and to replay.
Status apply_migrations(Connection& conn);

}  // namespace plugvisor::store
