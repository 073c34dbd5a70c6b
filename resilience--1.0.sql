/* resilience--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION resilience" to load this file. \quit

-- Every object below is schema-qualified; functions that run SQL pin
-- search_path.  No function is SECURITY DEFINER: everything runs with the
-- caller's rights, so grants and row-level security hold.

-- The schema is created by CREATE EXTENSION and owned by the installer; every
-- role may use what is in it (objects that must stay private say so).
GRANT USAGE ON SCHEMA resilience TO PUBLIC;


-------------------------------------------------------------------------------
-- Backoff
-------------------------------------------------------------------------------

CREATE FUNCTION resilience.backoff_delay(
    attempt integer,
    base interval DEFAULT '10ms',
    cap interval DEFAULT '10s',
    jitter text DEFAULT 'full')
RETURNS interval
AS 'MODULE_PATHNAME', 'backoff_delay'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION resilience.backoff_delay(integer, interval, interval, text) IS
'delay before retry attempt n: min(cap, base * 2^(n-1)) with none, full or equal jitter';


-------------------------------------------------------------------------------
-- Keyset pagination
-------------------------------------------------------------------------------

-- The keys that sign cursors.  No ordinary role can read them: page() and
-- friends read them from C without a permission check (they only feed them to
-- HMAC), and only the extension owner (granted here) or a superuser can
-- rotate them.  Not marked with pg_extension_config_dump: secrets stay out of
-- dumps, and a restored database gets a fresh key from CREATE EXTENSION.
CREATE TABLE resilience.cursor_keys (
    id bigint PRIMARY KEY,
    key bytea NOT NULL CHECK (pg_catalog.length(key) OPERATOR(pg_catalog.=) 32),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON TABLE resilience.cursor_keys FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON TABLE resilience.cursor_keys TO @extowner@;

COMMENT ON TABLE resilience.cursor_keys IS
'HMAC-SHA256 keys signing pagination cursors: the newest signs, it and the previous one verify; readable by no ordinary role';

CREATE FUNCTION resilience.rotate_cursor_key()
RETURNS void
AS 'MODULE_PATHNAME', 'cursor_rotate_key'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.rotate_cursor_key() IS
'make a new cursor signing key; cursors signed with the previous key stay valid until the next rotation (extension owner or superuser)';

-- the first key
SELECT resilience.rotate_cursor_key();

CREATE FUNCTION resilience.page(
    rel anyelement,
    order_by text,
    after text DEFAULT NULL,
    before text DEFAULT NULL,
    page_size integer DEFAULT 50,
    filter text DEFAULT NULL,
    params text[] DEFAULT NULL,
    assume_unique boolean DEFAULT false)
RETURNS SETOF anyelement
AS 'MODULE_PATHNAME', 'keyset_page'
LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 50;

COMMENT ON FUNCTION resilience.page(anyelement, text, text, text, integer, text, text[], boolean) IS
'one page of rows of a table or view in a total sort order, after or before a cursor, read by index at any depth';

CREATE FUNCTION resilience.page_json(
    rel regclass,
    order_by text,
    after text DEFAULT NULL,
    before text DEFAULT NULL,
    page_size integer DEFAULT 50,
    filter text DEFAULT NULL,
    params text[] DEFAULT NULL,
    assume_unique boolean DEFAULT false)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'keyset_page_json'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.page_json(regclass, text, text, text, integer, text, text[], boolean) IS
'one page as {"rows", "next", "prev", "has_next", "has_prev"}, with signed cursors for the neighbouring pages';

CREATE FUNCTION resilience.page_sql(
    rel regclass,
    order_by text,
    after text DEFAULT NULL,
    before text DEFAULT NULL,
    page_size integer DEFAULT 50,
    filter text DEFAULT NULL,
    params text[] DEFAULT NULL,
    assume_unique boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'keyset_page_sql'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.page_sql(regclass, text, text, text, integer, text, text[], boolean) IS
'the query page() runs for these arguments, values as typed literals, for EXPLAIN';

CREATE FUNCTION resilience.cursor_of(
    "row" anyelement,
    order_by text,
    assume_unique boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'keyset_cursor_of'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.cursor_of(anyelement, text, boolean) IS
'the signed cursor of a row of a table or view for a sort order, to pass as after or before';



-------------------------------------------------------------------------------
-- Guards (advisory locks)
-------------------------------------------------------------------------------


-------------------------------------------------------------------------------
-- Leases with fencing tokens
-------------------------------------------------------------------------------


-------------------------------------------------------------------------------
-- Retryable transactions
-------------------------------------------------------------------------------

-- No SET search_path here: a procedure with a SET clause cannot COMMIT.  The
-- C code runs only the caller's SQL and uses no names of its own.
CREATE PROCEDURE resilience.retry_transaction(
    sql text,
    params text[] DEFAULT NULL,
    max_attempts integer DEFAULT 10,
    isolation text DEFAULT 'serializable',
    base_delay interval DEFAULT '2ms',
    max_delay interval DEFAULT '1s',
    retry_on text[] DEFAULT '{40001,40P01}',
    timeout interval DEFAULT NULL,
    INOUT result jsonb DEFAULT NULL,
    INOUT attempts integer DEFAULT NULL)
AS 'MODULE_PATHNAME', 'retry_transaction'
LANGUAGE C;

COMMENT ON PROCEDURE resilience.retry_transaction(text, text[], integer, text, interval, interval, text[], interval, jsonb, integer) IS
'run sql as its own transaction at the given isolation level and commit it, retrying serialization failures and deadlocks (or any SQLSTATE in retry_on) with jittered exponential backoff; CALL in autocommit mode only';

CREATE FUNCTION resilience.retry_statement(
    sql text,
    params text[] DEFAULT NULL,
    max_attempts integer DEFAULT 5,
    base_delay interval DEFAULT '2ms',
    max_delay interval DEFAULT '200ms',
    retry_on text[] DEFAULT '{40P01,55P03}')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'retry_statement'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.retry_statement(text, text[], integer, interval, interval, text[]) IS
'run sql in a savepoint of the current transaction, retrying deadlocks and lock timeouts (never serialization failures under REPEATABLE READ or SERIALIZABLE); returns the rows of its last row-returning statement as jsonb';


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
    params text[] DEFAULT NULL,
    ttl interval DEFAULT '24 hours')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'idempotency_run'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.idempotent(text, text, text[], interval) IS
'run sql once per (role, key) in the caller''s transaction; later calls with the same key replay the recorded result';

CREATE FUNCTION resilience.idempotency_purge()
RETURNS bigint
LANGUAGE sql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH gone AS (
        DELETE FROM resilience.idempotency_store
        WHERE expires_at <= pg_catalog.clock_timestamp()
        RETURNING 1)
    SELECT pg_catalog.count(*) FROM gone
$$;

COMMENT ON FUNCTION resilience.idempotency_purge() IS
'delete the expired idempotency records the caller can see (all of them for a superuser or BYPASSRLS role); returns how many';

CREATE VIEW resilience.idempotency_keys
WITH (security_barrier) AS
SELECT s.key,
       pg_catalog.pg_get_userbyid(s.role_id) AS role,
       s.created_at,
       s.expires_at,
       (SELECT pg_catalog.count(*) FROM resilience.idempotency_replays r
        WHERE r.role_id OPERATOR(pg_catalog.=) s.role_id
          AND r.key OPERATOR(pg_catalog.=) s.key) AS replays,
       s.expires_at <= pg_catalog.clock_timestamp() AS expired
FROM resilience.idempotency_store s
-- a view runs with its owner's rights, which bypass row-level security, so
-- it applies the same rule itself
WHERE s.role_id = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
   OR (SELECT rolsuper OR rolbypassrls FROM pg_catalog.pg_roles WHERE rolname = current_user);

GRANT SELECT ON resilience.idempotency_keys TO PUBLIC;

COMMENT ON VIEW resilience.idempotency_keys IS
'idempotency keys visible to the caller: key, role, created_at, expires_at, replay count, expired';

