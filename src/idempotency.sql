-------------------------------------------------------------------------------
-- Idempotency keys
-------------------------------------------------------------------------------

-- One row per (role, key).  Rows are written by idempotent() with the caller's
-- rights; row-level security (forced, so it binds the table owner too) keeps
-- each role to its own keys.  Superusers and BYPASSRLS roles see every row,
-- which is what an operator purging from cron wants.
CREATE TABLE resilience.idempotency_store (
    role_id     oid         NOT NULL,
    key         text        NOT NULL,
    fingerprint bytea       NOT NULL,
    result      jsonb,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (role_id, key)
);
CREATE INDEX idempotency_store_expires_at ON resilience.idempotency_store (expires_at);
COMMENT ON TABLE resilience.idempotency_store IS
'idempotency records of resilience.idempotent(), one per (role, key); read them through resilience.idempotency_keys';

ALTER TABLE resilience.idempotency_store ENABLE ROW LEVEL SECURITY;
ALTER TABLE resilience.idempotency_store FORCE ROW LEVEL SECURITY;
CREATE POLICY own_keys ON resilience.idempotency_store
    USING (role_id = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user))
    WITH CHECK (role_id = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user));
GRANT SELECT, INSERT, UPDATE, DELETE ON resilience.idempotency_store TO PUBLIC;

-- One row per replay.  Counting replays in the record itself would make
-- every later claimer of the key wait for the replaying transaction (its
-- unique check sees the uncommitted new row version); appending here never
-- blocks anyone.
CREATE TABLE resilience.idempotency_replays (
    role_id     oid         NOT NULL,
    key         text        NOT NULL,
    replayed_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    FOREIGN KEY (role_id, key) REFERENCES resilience.idempotency_store ON DELETE CASCADE
);
CREATE INDEX idempotency_replays_key ON resilience.idempotency_replays (role_id, key);
COMMENT ON TABLE resilience.idempotency_replays IS
'one row per replay by resilience.idempotent(); counted by resilience.idempotency_keys';

ALTER TABLE resilience.idempotency_replays ENABLE ROW LEVEL SECURITY;
ALTER TABLE resilience.idempotency_replays FORCE ROW LEVEL SECURITY;
CREATE POLICY own_keys ON resilience.idempotency_replays
    USING (role_id = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user))
    WITH CHECK (role_id = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user));
GRANT SELECT, INSERT, DELETE ON resilience.idempotency_replays TO PUBLIC;
CREATE FUNCTION resilience.idempotent(
    key text,
    sql text,
    params anycompatiblearray DEFAULT NULL::text[],
    ttl interval DEFAULT '24 hours')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'idempotency_run'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.idempotent(text, text, anycompatiblearray, interval) IS
'run sql once per (role, key) in the caller''s transaction; later calls with the same key replay the recorded result';

CREATE FUNCTION resilience.idempotency_settled(xmin xid)
RETURNS boolean
AS 'MODULE_PATHNAME', 'idempotency_settled'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION resilience.idempotency_settled(xid) IS
'internal: whether every running transaction began after xmin ended, so idempotency_purge() may delete a record version xmin wrote';

CREATE FUNCTION resilience.idempotency_purge()
RETURNS bigint
LANGUAGE sql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
    -- a record some transaction has locked (a call replaying or taking it
    -- over, or any role's SELECT ... FOR KEY SHARE) is left for the next
    -- purge: waiting for it would let any role stall or fail the purge
    --
    -- nor a record written by a transaction that some transaction running
    -- now overlapped: a call that waited for that writer may be about to
    -- replay it (idempotency_settled())
    WITH doomed AS (
        SELECT s.ctid FROM resilience.idempotency_store s
        WHERE s.expires_at <= pg_catalog.clock_timestamp()
        AND resilience.idempotency_settled(s.xmin)
        FOR UPDATE SKIP LOCKED),
    gone AS (
        DELETE FROM resilience.idempotency_store s
        USING doomed d
        WHERE s.ctid = d.ctid
        RETURNING 1)
    SELECT pg_catalog.count(*) FROM gone
$$;

COMMENT ON FUNCTION resilience.idempotency_purge() IS
'delete the expired idempotency records the caller can see (all of them for a superuser or BYPASSRLS role); returns how many';

CREATE VIEW resilience.idempotency_keys
WITH (security_barrier, security_invoker) AS
SELECT s.key,
       pg_catalog.pg_get_userbyid(s.role_id) AS role,
       s.created_at,
       s.expires_at,
       (SELECT pg_catalog.count(*) FROM resilience.idempotency_replays r
        WHERE r.role_id OPERATOR(pg_catalog.=) s.role_id
          AND r.key OPERATOR(pg_catalog.=) s.key) AS replays,
       s.expires_at <= pg_catalog.clock_timestamp() AS expired
FROM resilience.idempotency_store s
-- security_invoker: the caller's row-level security applies to both tables;
-- the view states the same rule itself as well, so it holds even where an
-- operator disables the policy
WHERE s.role_id = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
   OR (SELECT rolsuper OR rolbypassrls FROM pg_catalog.pg_roles WHERE rolname = current_user);

GRANT SELECT ON resilience.idempotency_keys TO PUBLIC;

COMMENT ON VIEW resilience.idempotency_keys IS
'idempotency keys visible to the caller: key, role, created_at, expires_at, replay count, expired';

