-- Guards: lock_key, transaction- and session-scope guards, inspection.
-- Contention (timeouts, error details) is in guard_prepared.sql, which needs
-- max_prepared_transactions > 0.

-- lock_key: first 8 bytes of SHA-256 (UTF-8), big-endian, signed
SELECT resilience.lock_key('nightly') AS nightly,
       resilience.lock_key('') AS empty,
       resilience.lock_key('ü') AS non_ascii,
       resilience.lock_key(NULL) AS null_name;
-- the same as computing it in SQL from sha256(), for many names and every
-- length up to 300 bytes (across the 55/56/64-byte padding boundaries)
SELECT count(*) AS names,
       count(*) FILTER (WHERE resilience.lock_key(n) =
           ('x' || left(encode(sha256(convert_to(n, 'UTF8')), 'hex'), 16))::bit(64)::bigint) AS same
FROM (SELECT 'job-' || g AS n FROM generate_series(1, 1000) g
      UNION ALL SELECT repeat('x', g) FROM generate_series(0, 300) g
      UNION ALL SELECT repeat('é', g) || repeat('a', g % 7) FROM generate_series(1, 150) g) names;
-- no collisions among 100k names (hashtext's 32 bits would very likely have one)
SELECT count(DISTINCT resilience.lock_key('account:' || g)) AS distinct_keys
FROM generate_series(1, 100000) g;

-- labels
SELECT p.oid::regprocedure, p.provolatile, p.proparallel, p.proisstrict
FROM pg_proc p
WHERE p.pronamespace = 'resilience'::regnamespace
  AND p.proname IN ('lock_key', 'lock', 'try_lock', 'lock_many', 'session_lock',
                    'try_session_lock', 'session_unlock', 'session_unlock_all',
                    'lock_holders')
ORDER BY 1::text;

-- transaction scope: held until commit, visible in resilience.locks
BEGIN;
SELECT resilience.lock('nightly');
SELECT resilience.lock('nightly');                      -- re-entrant
SELECT resilience.try_lock('report', shared => true);
SELECT resilience.lock_many(ARRAY['b', 'a', 'b', 'c']);  -- duplicates once
SELECT key = resilience.lock_key('nightly') AS is_nightly, mode, granted,
       pid = pg_backend_pid() AS mine, waiting_since, backend_state
FROM resilience.locks ORDER BY key;
SELECT pid = pg_backend_pid() AS mine, mode, granted, backend_state,
       application_name, query ~ 'lock_holders' AS query
FROM resilience.lock_holders('nightly');
-- pg_locks shows guards as advisory locks with objsubid 29287
SELECT locktype, objsubid, mode, count(*)
FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
COMMIT;
SELECT count(*) AS after_commit FROM resilience.locks;

-- a guard taken in a rolled-back savepoint is released with it
BEGIN;
SELECT resilience.lock('kept');
SAVEPOINT s;
SELECT resilience.lock('dropped');
ROLLBACK TO SAVEPOINT s;
SELECT count(*) AS held, bool_and(key = resilience.lock_key('kept')) AS only_kept
FROM resilience.locks;
COMMIT;

-- guards never collide with the application's own advisory locks
BEGIN;
SELECT pg_advisory_xact_lock(resilience.lock_key('nightly'));
SELECT resilience.try_lock('nightly');
COMMIT;

-- session scope: survives commit and rollback, counted per hold
SELECT resilience.session_lock('worker');
SELECT resilience.try_session_lock('worker');
BEGIN;
SELECT resilience.session_lock('worker-shared', shared => true);
ROLLBACK;
SELECT mode, count(*) FROM resilience.locks WHERE pid = pg_backend_pid()
GROUP BY mode ORDER BY mode;
SELECT resilience.session_unlock('worker');
SELECT resilience.session_unlock('worker');
SELECT resilience.session_unlock('worker');             -- no more holds, no warning
SELECT resilience.session_unlock('worker-shared');      -- wrong mode
SELECT resilience.session_unlock('worker-shared', true);
SELECT resilience.session_unlock('never-taken');
-- session_unlock_all releases guards only
SELECT pg_advisory_lock(42);
SELECT resilience.session_lock('a');
SELECT resilience.session_lock('a');
SELECT resilience.session_lock('b', shared => true);
SELECT resilience.session_unlock_all();
SELECT locktype, objid, objsubid, mode FROM pg_locks
WHERE locktype = 'advisory' AND pid = pg_backend_pid();
SELECT pg_advisory_unlock(42);
SELECT resilience.session_unlock_all();                 -- nothing held: no-op
-- pg_advisory_unlock_all releases guards too; the counts cope
SELECT resilience.session_lock('c');
SELECT resilience.session_lock('c');
SELECT pg_advisory_unlock_all();
SELECT resilience.session_unlock('c');
SELECT resilience.session_lock('d');
SELECT pg_advisory_unlock_all();
SELECT resilience.session_unlock_all();
SELECT count(*) AS left_over FROM pg_locks
WHERE locktype = 'advisory' AND pid = pg_backend_pid();

-- bad input, with SQLSTATEs
\set VERBOSITY sqlstate
SELECT resilience.lock(NULL);
SELECT resilience.lock('');
SELECT resilience.lock('x', '-1ms');
SELECT resilience.lock('x', '30 days');
SELECT resilience.lock('x', '1ms', NULL);
SELECT resilience.try_lock(NULL);
SELECT resilience.try_lock('', '1s');
SELECT resilience.try_lock('x', '-1 s');
SELECT resilience.session_lock('');
SELECT resilience.try_session_lock('x', '-1ms');
SELECT resilience.session_unlock(NULL);
SELECT resilience.session_unlock('');
SELECT resilience.lock_many(NULL);
SELECT resilience.lock_many(ARRAY['a', NULL]);
SELECT resilience.lock_many(ARRAY['a', '']);
SELECT resilience.lock_many(ARRAY['a'], '-1ms');
SELECT resilience.lock('x', '100000000 years');
\set VERBOSITY default
SELECT resilience.lock_many(ARRAY['a', NULL]);
SELECT resilience.lock_many(ARRAY['a', '']);
SELECT resilience.lock_many(NULL);
SELECT resilience.lock(NULL);
SELECT resilience.lock('');
SELECT resilience.lock('x', '-1ms');
SELECT resilience.lock('x', '30 days');
SELECT resilience.lock('x', '100000000 years');
SELECT resilience.lock('x', '1ms', NULL);
-- edge cases that are fine
SELECT resilience.lock_many('{}');
SELECT resilience.lock_many(ARRAY[['a', 'b'], ['c', 'a']]);
SELECT resilience.try_lock('x', '0.5ms');               -- rounds up to 1 ms
SELECT count(*) FROM resilience.lock_holders('');
SELECT count(*) FROM resilience.lock_holders('nobody holds this');
