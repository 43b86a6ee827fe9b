#pragma once

#include "plugvisor/common/result.h"
#include "store/connection.h"

namespace plugvisor::store {

// Applies schemas/sql/NNNN_*.sql (compiled into the binary) in order under a session-level
// advisory lock, each in its own transaction, recording versions in plugvisor_schema_migrations.
// Safe to call concurrently from several supervisors and to replay.
Status apply_migrations(Connection& conn);

}  // namespace plugvisor::store
