-- 0001_init: the tables plugvisord keeps. Applied once, in one transaction, by
-- supervisor/store/migrations.cc; never edit a released migration, add a new one instead.

-- One row per applied migration (the runner reads it to know what is left to apply).
CREATE TABLE plugvisor_schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- The last known state of each plugin. `enabled` is the operator's (or the crash-loop guard's)
-- decision and survives restarts of plugvisord; the rest is refreshed as the plugin runs.
CREATE TABLE plugins (
  id              text PRIMARY KEY,
  version         text NOT NULL DEFAULT '',
  state           text NOT NULL DEFAULT '',
  enabled         boolean NOT NULL DEFAULT true,
  disabled_reason text,
  pid             integer,
  restarts        integer NOT NULL DEFAULT 0,
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Lifecycle and audit events. `id` is assigned by the supervisor so that a write retried after
-- an ambiguous failure (the commit happened, the acknowledgement was lost) is not duplicated;
-- `seq` gives the order.
CREATE TABLE events (
  seq       bigserial PRIMARY KEY,
  id        text NOT NULL UNIQUE,
  at        timestamptz NOT NULL DEFAULT now(),
  plugin_id text NOT NULL DEFAULT '',
  kind      text NOT NULL,
  state     text,
  detail    jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX events_plugin_seq ON events (plugin_id, seq);

-- One row per handler invocation (see DESIGN.md "Hooks", point 7).
CREATE TABLE receipts (
  id             bigserial PRIMARY KEY,
  at             timestamptz NOT NULL DEFAULT now(),
  dispatch_id    text NOT NULL,
  plugin_id      text NOT NULL,
  plugin_version text NOT NULL DEFAULT '',
  hook           text NOT NULL,
  status         text NOT NULL,
  error_code     text,
  error_message  text,
  duration_us    bigint NOT NULL DEFAULT 0,
  tenant_id      text,
  work_item_id   text,
  run_id         text,
  mutated_paths  jsonb NOT NULL DEFAULT '[]'::jsonb,
  fail_policy    text NOT NULL DEFAULT 'fail_open'
);
CREATE INDEX receipts_plugin_id ON receipts (plugin_id, id DESC);
CREATE INDEX receipts_dispatch ON receipts (dispatch_id);
CREATE INDEX receipts_hook_id ON receipts (hook, id DESC);
