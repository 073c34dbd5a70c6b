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

CREATE VIEW resilience.locks WITH (security_invoker) AS
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
-- the caller; security_invoker makes every check the caller's
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



