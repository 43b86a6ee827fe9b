-- 0003_state_usage: per-plugin totals of plugin_state, so that a put checks its quota without
-- summing the plugin's rows (supervisor/host/state/pg_kv_store.cc).

-- Every row of the plugin counts, expired or not: expiry needs no write, so a counter that
-- excluded expired rows could not be kept. The store therefore treats these totals as an upper
-- bound of the live use, and subtracts the plugin's expired rows only when a put does not fit.
CREATE TABLE plugin_state_usage (
  plugin_id text PRIMARY KEY,
  keys      bigint NOT NULL DEFAULT 0,
  bytes     bigint NOT NULL DEFAULT 0  -- octet_length(key) + octet_length(value), as the quota
);

-- Finds one plugin's expired rows (the exact check above) without reading its live ones.
CREATE INDEX plugin_state_plugin_expiry ON plugin_state (plugin_id, expires_at)
  WHERE expires_at IS NOT NULL;

-- Statement-level, with transition tables: purge_expired deletes many rows in one statement,
-- and this way it costs one update per plugin instead of one per row. Totals are applied in
-- plugin_id order so that two statements touching the same plugins lock them in the same
-- order and cannot deadlock. PostgreSQL allows transition tables only on single-event
-- triggers, hence three triggers sharing this function.
CREATE FUNCTION plugin_state_usage_apply() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO plugin_state_usage AS u (plugin_id, keys, bytes)
    SELECT plugin_id, count(*), sum(octet_length(key) + octet_length(value))
      FROM new_rows GROUP BY plugin_id ORDER BY plugin_id
    ON CONFLICT (plugin_id) DO UPDATE
      SET keys = u.keys + EXCLUDED.keys, bytes = u.bytes + EXCLUDED.bytes;
  ELSIF TG_OP = 'UPDATE' THEN
    -- A put that replaces a row changes only its value's size; the plugin_id and key columns
    -- are compared anyway so that a hand-written UPDATE cannot skew the totals either.
    INSERT INTO plugin_state_usage AS u (plugin_id, keys, bytes)
    SELECT plugin_id, sum(k), sum(b) FROM (
        SELECT plugin_id, 1 AS k, octet_length(key) + octet_length(value) AS b FROM new_rows
        UNION ALL
        SELECT plugin_id, -1, -(octet_length(key) + octet_length(value)) FROM old_rows) d
      GROUP BY plugin_id HAVING sum(k) <> 0 OR sum(b) <> 0 ORDER BY plugin_id
    ON CONFLICT (plugin_id) DO UPDATE
      SET keys = u.keys + EXCLUDED.keys, bytes = u.bytes + EXCLUDED.bytes;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO plugin_state_usage AS u (plugin_id, keys, bytes)
    SELECT plugin_id, -count(*), -sum(octet_length(key) + octet_length(value))
      FROM old_rows GROUP BY plugin_id ORDER BY plugin_id
    ON CONFLICT (plugin_id) DO UPDATE
      SET keys = u.keys + EXCLUDED.keys, bytes = u.bytes + EXCLUDED.bytes;
  ELSE  -- TRUNCATE
    DELETE FROM plugin_state_usage;
  END IF;
  RETURN NULL;
END
$fn$;

-- No put may slip in between the backfill and the triggers.
LOCK TABLE plugin_state IN SHARE ROW EXCLUSIVE MODE;

CREATE TRIGGER plugin_state_usage_insert AFTER INSERT ON plugin_state
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION plugin_state_usage_apply();
CREATE TRIGGER plugin_state_usage_update AFTER UPDATE ON plugin_state
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION plugin_state_usage_apply();
CREATE TRIGGER plugin_state_usage_delete AFTER DELETE ON plugin_state
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION plugin_state_usage_apply();
CREATE TRIGGER plugin_state_usage_truncate AFTER TRUNCATE ON plugin_state
  FOR EACH STATEMENT EXECUTE FUNCTION plugin_state_usage_apply();

INSERT INTO plugin_state_usage (plugin_id, keys, bytes)
SELECT plugin_id, count(*), sum(octet_length(key) + octet_length(value))
  FROM plugin_state GROUP BY plugin_id;
