-- 0002_host_services: what the host services (host.v1) keep.

-- host.v1 State*: one row per key, scoped by plugin and tenant ('' is the plugin's own,
-- tenant-less state). The scope comes from the caller's identity, never from the key.
CREATE TABLE plugin_state (
  plugin_id  text NOT NULL,
  tenant_id  text NOT NULL DEFAULT '',
  key        text NOT NULL,
  value      bytea NOT NULL,
  version    bigint NOT NULL DEFAULT 1,
  expires_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (plugin_id, tenant_id, key)
);
CREATE INDEX plugin_state_expiry ON plugin_state (expires_at) WHERE expires_at IS NOT NULL;

-- host.v1 AiChat: the token usage the upstream reported for each successful call.
CREATE TABLE ai_usage (
  id                bigserial PRIMARY KEY,
  at                timestamptz NOT NULL DEFAULT now(),
  plugin_id         text NOT NULL,
  plugin_version    text NOT NULL DEFAULT '',
  tenant_id         text NOT NULL DEFAULT '',
  hook              text NOT NULL DEFAULT '',
  work_item_id      text NOT NULL DEFAULT '',
  run_id            text NOT NULL DEFAULT '',
  invocation_id     text NOT NULL DEFAULT '',
  model             text NOT NULL DEFAULT '',
  attempts          integer NOT NULL DEFAULT 1,
  prompt_tokens     bigint NOT NULL DEFAULT 0,
  completion_tokens bigint NOT NULL DEFAULT 0,
  total_tokens      bigint NOT NULL DEFAULT 0
);
CREATE INDEX ai_usage_plugin_tenant ON ai_usage (plugin_id, tenant_id, at);
