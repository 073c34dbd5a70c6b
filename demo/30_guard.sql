-- resilience tour: guards (named advisory locks) and leases with fencing tokens

-- A guard's key is the first 8 bytes of SHA-256 of its name: any client can
-- compute it, and 64 bits do not collide the way hashtext() does.
SELECT resilience.lock_key('nightly-report');

-- Transaction scope (the default): released at COMMIT or ROLLBACK, so it is
-- safe behind a transaction-pooling PgBouncer.  Wait at most 5 seconds.
BEGIN;
SELECT resilience.lock('nightly-report', timeout => '5s');
SELECT key = resilience.lock_key('nightly-report') AS is_ours, mode, granted,
       pid = pg_backend_pid() AS mine
FROM resilience.locks;
COMMIT;

-- Several guards at once are taken in key order: callers naming them in any
-- order never deadlock.
BEGIN;
SELECT resilience.lock_many(ARRAY['account:42', 'account:7'], timeout => '2s');
SELECT count(*) AS guards_held FROM resilience.locks WHERE pid = pg_backend_pid();
COMMIT;

-- try_lock answers at once (or after a bounded wait) instead of raising.
SELECT resilience.try_lock('nightly-report');

-- Session scope, for a long-running worker or leader election: held until
-- session_unlock or until the connection ends.
SELECT resilience.session_lock('leader');
SELECT pid = pg_backend_pid() AS me, mode, granted, backend_state
FROM resilience.lock_holders('leader');
SELECT resilience.session_unlock('leader');

-- Leases: a WAL-logged row with a fencing token.  node-a gets the lease,
-- node-b is told it is taken (NULL).
SELECT resilience.lease_acquire('cron:cleanup', 'node-a', '30 seconds') AS token \gset
SELECT resilience.lease_acquire('cron:cleanup', 'node-b', '30 seconds') AS node_b_token;
SELECT name, holder, token = :token AS same_token, expired FROM resilience.leases;

-- The job's writes go in a transaction that starts with lease_fence: it
-- raises RL001 unless the token is current, and holds the lease row until
-- COMMIT so no takeover can interleave.
CREATE TEMP TABLE cleanup_log (ran_at timestamptz, token bigint);
BEGIN;
SELECT resilience.lease_fence('cron:cleanup', :token);
INSERT INTO cleanup_log VALUES (now(), :token);
COMMIT;

-- Renew while working; release when done (the token is never reused).
SELECT resilience.lease_renew('cron:cleanup', 'node-a', :token, '30 seconds');
SELECT resilience.lease_release('cron:cleanup', 'node-a', :token);
SELECT resilience.lease_acquire('cron:cleanup', 'node-b', '30 seconds') - :token AS next_token_minus_old;

-- node-a's old token is now stale: its write is refused.
DO $$
BEGIN
    PERFORM resilience.lease_fence('cron:cleanup',
        (SELECT token - 1 FROM resilience.leases WHERE name = 'cron:cleanup'));
EXCEPTION WHEN SQLSTATE 'RL001' THEN
    RAISE NOTICE 'fenced out: %', SQLERRM;
END
$$;
