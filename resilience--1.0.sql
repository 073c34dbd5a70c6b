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

-- A guard is an advisory lock in resilience's own lock space: locktag
-- field4 = 29287 (pg_locks.objsubid), which the built-in pg_advisory_*
-- functions never use (they use 1 and 2).  classid/objid hold the high and
-- low 32 bits of lock_key(name).

CREATE FUNCTION resilience.lock_key(name text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'guard_lock_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION resilience.lock_key(text) IS
'the key of a guard: first 8 bytes of SHA-256 of the name''s UTF-8 bytes, big-endian, as a signed bigint';

CREATE FUNCTION resilience.lock(
    name text,
    timeout interval DEFAULT NULL,
    shared boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'guard_xact_lock'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.lock(text, interval, boolean) IS
'take a guard until the end of the transaction, waiting at most timeout (NULL: like any lock); 55P03 naming the holders on timeout';

CREATE FUNCTION resilience.try_lock(
    name text,
    timeout interval DEFAULT '0',
    shared boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'guard_try_xact_lock'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.try_lock(text, interval, boolean) IS
'take a guard until the end of the transaction if it is free within timeout (default: no wait); false otherwise';

CREATE FUNCTION resilience.lock_many(
    names text[],
    timeout interval DEFAULT NULL,
    shared boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'guard_lock_many'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.lock_many(text[], interval, boolean) IS
'take several guards until the end of the transaction, in key order (no deadlocks between callers), timeout bounding the whole call';

CREATE FUNCTION resilience.session_lock(
    name text,
    timeout interval DEFAULT NULL,
    shared boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'guard_session_lock'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.session_lock(text, interval, boolean) IS
'take a guard until session_unlock or the end of the session; 55P03 naming the holders on timeout';

CREATE FUNCTION resilience.try_session_lock(
    name text,
    timeout interval DEFAULT '0',
    shared boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'guard_try_session_lock'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.try_session_lock(text, interval, boolean) IS
'take a guard until session_unlock or the end of the session if it is free within timeout; false otherwise';

CREATE FUNCTION resilience.session_unlock(
    name text,
    shared boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'guard_session_unlock'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.session_unlock(text, boolean) IS
'release one session-level hold of a guard; false if this session holds none';

CREATE FUNCTION resilience.session_unlock_all()
RETURNS void
AS 'MODULE_PATHNAME', 'guard_session_unlock_all'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.session_unlock_all() IS
'release every session-level guard of this session (never the application''s own advisory locks)';

CREATE VIEW resilience.locks AS
SELECT (l.classid::bigint << 32) | l.objid::bigint AS key,
       CASE l.mode
           WHEN 'ExclusiveLock' THEN 'exclusive'
           WHEN 'ShareLock' THEN 'shared'
           ELSE l.mode
       END AS mode,
       l.granted,
       l.pid,
       -- pg_locks.waitstart exists from PostgreSQL 14 on
       (pg_catalog.to_jsonb(l) OPERATOR(pg_catalog.->>) 'waitstart')::timestamptz AS waiting_since,
       a.application_name,
       a.client_addr,
       a.state AS backend_state,
       a.xact_start,
       a.query
FROM pg_catalog.pg_locks l
LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory'
  AND l.objsubid = 29287
  AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
                    WHERE d.datname = pg_catalog.current_database());

-- pg_locks is public and pg_stat_activity hides other roles' queries from
-- the caller (its functions check the current user, not the view owner)
GRANT SELECT ON resilience.locks TO PUBLIC;

COMMENT ON VIEW resilience.locks IS
'every guard held or awaited in the current database, with the holder''s pg_stat_activity columns';

CREATE FUNCTION resilience.lock_holders(name text)
RETURNS TABLE(pid integer, mode text, granted boolean, waiting_since timestamptz,
              application_name text, client_addr inet, backend_state text,
              xact_start timestamptz, query text)
LANGUAGE sql VOLATILE STRICT PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
SELECT l.pid, l.mode, l.granted, l.waiting_since, l.application_name,
       l.client_addr, l.backend_state, l.xact_start, l.query
FROM resilience.locks l
WHERE l.key = resilience.lock_key($1)
ORDER BY l.granted DESC, l.waiting_since NULLS FIRST, l.pid
$$;

COMMENT ON FUNCTION resilience.lock_holders(text) IS
'who holds or waits for a guard: pid, mode, granted, waiting_since and pg_stat_activity columns';



-------------------------------------------------------------------------------
-- Leases with fencing tokens
-------------------------------------------------------------------------------

-- One row per lease name, kept after release so tokens never go back.
-- holder is NULL once released.  Rows are written by the lease functions
-- with the caller's rights, and leases are private by default: grant
-- SELECT, INSERT, UPDATE on this table (and SELECT on resilience.leases) to
-- the roles that take leases.
CREATE TABLE resilience.lease_state (
    name text PRIMARY KEY CHECK (name <> ''),
    holder text CHECK (holder <> ''),
    token bigint NOT NULL CHECK (token > 0),
    acquired_at timestamptz NOT NULL,
    renewed_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

COMMENT ON TABLE resilience.lease_state IS
'leases with fencing tokens, one row per name (never delete rows: the row carries the last token)';

-- In a trusted install (a database owner, not a superuser, ran CREATE
-- EXTENSION) the bootstrap superuser owns the table; the installing role
-- gets the rights to use leases and to grant them on to application roles.
GRANT SELECT, INSERT, UPDATE ON resilience.lease_state TO @extowner@ WITH GRANT OPTION;

-- dump the rows with the database, so a restore keeps tokens monotonic
SELECT pg_catalog.pg_extension_config_dump('resilience.lease_state', '');

CREATE VIEW resilience.leases AS
SELECT s.name, s.holder, s.token, s.acquired_at, s.renewed_at, s.expires_at,
       (s.holder IS NULL OR s.expires_at <= pg_catalog.clock_timestamp()) AS expired
FROM resilience.lease_state s;

GRANT SELECT ON resilience.leases TO @extowner@ WITH GRANT OPTION;

COMMENT ON VIEW resilience.leases IS
'every lease: holder (NULL once released), current token, times and whether it has expired';

CREATE FUNCTION resilience.lease_token_floor()
RETURNS bigint
AS 'MODULE_PATHNAME', 'lease_token_floor'
LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.lease_token_floor() IS
'the smallest fencing token this server may grant: its WAL timeline << 40 (25006 on a standby)';

CREATE FUNCTION resilience.lease_acquire(name text, holder text, ttl interval)
RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_now timestamptz;
    v_token bigint;
BEGIN
    IF lease_acquire.name IS NULL OR lease_acquire.holder IS NULL OR lease_acquire.ttl IS NULL THEN
        RAISE EXCEPTION 'lease_acquire arguments must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF lease_acquire.name = '' OR lease_acquire.holder = '' THEN
        RAISE EXCEPTION 'lease name and holder must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF lease_acquire.ttl <= interval '0' THEN
        RAISE EXCEPTION 'ttl must be a positive interval'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use the longest time the holder may run without renewing, such as ''30s''.';
    END IF;
    IF pg_is_in_recovery() THEN
        RAISE EXCEPTION 'cannot acquire lease "%" on a hot standby', lease_acquire.name
            USING ERRCODE = 'read_only_sql_transaction',
                  HINT = 'Leases are granted by the primary; connect to it.';
    END IF;

    -- Lock the row first and read the clock after: if we had to wait (for
    -- a fenced write, or a racing grant), expiry is judged as of now.
    PERFORM FROM resilience.lease_state AS l
    WHERE l.name = lease_acquire.name
    FOR UPDATE;
    v_now := clock_timestamp();
    -- A conflicting row is locked and re-checked at its latest version, so
    -- of two racing callers exactly one wins (READ COMMITTED); under
    -- REPEATABLE READ or SERIALIZABLE the loser may get 40001 instead.
    INSERT INTO resilience.lease_state AS l
        (name, holder, token, acquired_at, renewed_at, expires_at)
    VALUES (lease_acquire.name, lease_acquire.holder, resilience.lease_token_floor(),
            v_now, v_now, v_now + lease_acquire.ttl)
    ON CONFLICT (name) DO UPDATE
    SET token = CASE WHEN l.holder = excluded.holder AND l.expires_at > v_now
                     THEN l.token
                     ELSE greatest(l.token + 1, excluded.token) END,
        acquired_at = CASE WHEN l.holder = excluded.holder AND l.expires_at > v_now
                           THEN l.acquired_at
                           ELSE excluded.acquired_at END,
        holder = excluded.holder,
        renewed_at = excluded.renewed_at,
        expires_at = excluded.expires_at
    WHERE l.holder IS NULL OR l.holder = excluded.holder OR l.expires_at <= v_now
    RETURNING l.token INTO v_token;
    RETURN v_token;
END
$$;

COMMENT ON FUNCTION resilience.lease_acquire(text, text, interval) IS
'take or extend a lease for ttl: its fencing token, or NULL if another live holder has it';

CREATE FUNCTION resilience.lease_renew(name text, holder text, token bigint, ttl interval)
RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_now timestamptz;
BEGIN
    IF lease_renew.name IS NULL OR lease_renew.holder IS NULL
       OR lease_renew.token IS NULL OR lease_renew.ttl IS NULL THEN
        RAISE EXCEPTION 'lease_renew arguments must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF lease_renew.name = '' OR lease_renew.holder = '' THEN
        RAISE EXCEPTION 'lease name and holder must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF lease_renew.ttl <= interval '0' THEN
        RAISE EXCEPTION 'ttl must be a positive interval'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use the longest time the holder may run without renewing, such as ''30s''.';
    END IF;
    IF pg_is_in_recovery() THEN
        RAISE EXCEPTION 'cannot renew lease "%" on a hot standby', lease_renew.name
            USING ERRCODE = 'read_only_sql_transaction',
                  HINT = 'Leases are granted by the primary; connect to it.';
    END IF;

    -- Lock the row first and read the clock after, as lease_acquire does: a
    -- call that waited behind a fenced write judges expiry when it gets the row.
    PERFORM FROM resilience.lease_state AS l
    WHERE l.name = lease_renew.name
    FOR NO KEY UPDATE;
    v_now := clock_timestamp();
    UPDATE resilience.lease_state AS l
    SET renewed_at = v_now, expires_at = v_now + lease_renew.ttl
    WHERE l.name = lease_renew.name AND l.holder = lease_renew.holder
      AND l.token = lease_renew.token AND l.expires_at > v_now;
    RETURN FOUND;
END
$$;

COMMENT ON FUNCTION resilience.lease_renew(text, text, bigint, interval) IS
'extend a live lease held by holder with token to now + ttl; false if it expired, was released or was taken over';

CREATE FUNCTION resilience.lease_release(name text, holder text, token bigint)
RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_now timestamptz;
BEGIN
    IF lease_release.name IS NULL OR lease_release.holder IS NULL OR lease_release.token IS NULL THEN
        RAISE EXCEPTION 'lease_release arguments must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF lease_release.name = '' OR lease_release.holder = '' THEN
        RAISE EXCEPTION 'lease name and holder must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_is_in_recovery() THEN
        RAISE EXCEPTION 'cannot release lease "%" on a hot standby', lease_release.name
            USING ERRCODE = 'read_only_sql_transaction',
                  HINT = 'Leases are granted by the primary; connect to it.';
    END IF;

    -- Lock the row first and read the clock after, as lease_acquire does: a
    -- call that waited behind a fenced write judges expiry when it gets the row.
    PERFORM FROM resilience.lease_state AS l
    WHERE l.name = lease_release.name
    FOR NO KEY UPDATE;
    v_now := clock_timestamp();
    -- the row (and its token) stays, so the next grant gets a larger token
    UPDATE resilience.lease_state AS l
    SET holder = NULL, expires_at = v_now
    WHERE l.name = lease_release.name AND l.holder = lease_release.holder
      AND l.token = lease_release.token AND l.expires_at > v_now;
    RETURN FOUND;
END
$$;

COMMENT ON FUNCTION resilience.lease_release(text, text, bigint) IS
'give up a live lease held by holder with token; false if it had already expired, been released or been taken over';

CREATE FUNCTION resilience.lease_fence(name text, token bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_row resilience.lease_state%ROWTYPE;
    v_now timestamptz;
BEGIN
    IF lease_fence.name IS NULL OR lease_fence.token IS NULL THEN
        RAISE EXCEPTION 'lease_fence arguments must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF lease_fence.name = '' THEN
        RAISE EXCEPTION 'lease name must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_is_in_recovery() THEN
        RAISE EXCEPTION 'cannot fence with lease "%" on a hot standby', lease_fence.name
            USING ERRCODE = 'read_only_sql_transaction',
                  HINT = 'Fenced writes go to the primary; connect to it.';
    END IF;

    -- FOR SHARE until the end of the caller's transaction: a takeover
    -- (which updates the row) waits for the fenced write to commit.
    SELECT * INTO v_row FROM resilience.lease_state AS l
    WHERE l.name = lease_fence.name
    FOR SHARE;
    v_now := clock_timestamp();

    IF NOT FOUND THEN
        RAISE EXCEPTION 'lease "%" is not held with token %', lease_fence.name, lease_fence.token
            USING ERRCODE = 'RL001',
                  DETAIL = 'No such lease has ever been granted.',
                  HINT = 'Acquire the lease with resilience.lease_acquire() first.';
    ELSIF v_row.token <> lease_fence.token THEN
        RAISE EXCEPTION 'lease "%" is not held with token %', lease_fence.name, lease_fence.token
            USING ERRCODE = 'RL001',
                  DETAIL = format('The token is stale: the current token is %s.', v_row.token),
                  HINT = 'Another holder has taken over; stop writing.';
    ELSIF v_row.holder IS NULL THEN
        RAISE EXCEPTION 'lease "%" is not held with token %', lease_fence.name, lease_fence.token
            USING ERRCODE = 'RL001',
                  DETAIL = 'The lease was released.',
                  HINT = 'Acquire the lease again for a new token.';
    ELSIF v_row.expires_at <= v_now THEN
        RAISE EXCEPTION 'lease "%" is not held with token %', lease_fence.name, lease_fence.token
            USING ERRCODE = 'RL001',
                  DETAIL = format('The lease expired at %s.', v_row.expires_at),
                  HINT = 'Renew the lease before it expires, or acquire it again for a new token.';
    END IF;
END
$$;

COMMENT ON FUNCTION resilience.lease_fence(text, bigint) IS
'raise RL001 unless token is the current, unexpired token of the lease; keeps the lease row share-locked to the end of the transaction';



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

