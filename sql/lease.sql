-- Leases with fencing tokens: acquire, renew, release, fence, the view.
-- Tokens are shown relative to the timeline floor (timeline << 40), which
-- is 1 << 40 on a fresh cluster; a new grant's token is the floor plus the
-- next value of resilience.lease_token_seq (at most one past the lease's
-- previous token otherwise).

SELECT resilience.lease_token_floor() = (1::bigint << 40) AS floor_is_timeline_1;
SELECT resilience.lease_token_floor() AS floor \gset

-- labels
SELECT p.oid::regprocedure, p.provolatile, p.proparallel, p.proisstrict
FROM pg_proc p
WHERE p.pronamespace = 'resilience'::regnamespace AND p.proname LIKE 'lease%'
ORDER BY 1::text;

-- the first grant: the floor plus the sequence's first value
SELECT resilience.lease_acquire('nightly', 'node-a', '1 min') AS t \gset
SELECT :t - :floor AS token;
-- the same holder again: extended, same token, no value drawn
SELECT resilience.lease_acquire('nightly', 'node-a', '2 min') - :floor AS token;
SELECT last_value, is_called FROM resilience.lease_token_seq;
-- another holder while it is live: NULL, and no value drawn either
SELECT resilience.lease_acquire('nightly', 'node-b', '1 min') AS token;
SELECT last_value FROM resilience.lease_token_seq;
SELECT name, holder, token - :floor AS token, expired,
       acquired_at <= renewed_at AS ordered,
       expires_at - renewed_at AS ttl
FROM resilience.leases;

-- renew: only the holder with the current token
SELECT resilience.lease_renew('nightly', 'node-a', :t, '30s') AS renewed;
SELECT resilience.lease_renew('nightly', 'node-b', :t, '30s') AS wrong_holder;
SELECT resilience.lease_renew('nightly', 'node-a', :t + 1, '30s') AS wrong_token;
SELECT resilience.lease_renew('missing', 'node-a', 1, '30s') AS no_lease;
SELECT expires_at - renewed_at AS ttl FROM resilience.leases WHERE name = 'nightly';

-- fence: the current token passes (isolation spec lease_fence shows the
-- row lock it keeps to the end of the transaction)
BEGIN;
SELECT resilience.lease_fence('nightly', :t);
COMMIT;

-- release: the row and its token stay, the holder is gone
SELECT resilience.lease_release('nightly', 'node-b', :t) AS wrong_holder;
SELECT resilience.lease_release('nightly', 'node-a', :t) AS released;
SELECT resilience.lease_release('nightly', 'node-a', :t) AS again;
SELECT name, holder, token - :floor AS token, expired FROM resilience.leases;
SELECT resilience.lease_renew('nightly', 'node-a', :t, '30s') AS renew_released;

-- the next grant, even to the same holder, gets a larger token
SELECT resilience.lease_acquire('nightly', 'node-a', '1 min') - :floor AS token;
-- expiry: a short lease lapses and another holder takes over with a new token
SELECT resilience.lease_acquire('short', 'node-a', '1ms') AS s1 \gset
SELECT :s1 - :floor AS token;
SELECT pg_sleep(0.01);
SELECT expired FROM resilience.leases WHERE name = 'short';
SELECT resilience.lease_renew('short', 'node-a', :s1, '1 min') AS renew_expired;
SELECT resilience.lease_release('short', 'node-a', :s1) AS release_expired;
SELECT resilience.lease_acquire('short', 'node-b', '1 min') AS s2 \gset
SELECT :s2 - :floor AS takeover, :s2 > :s1 AS larger;
-- an expired lease re-acquired by its old holder is a new grant too
SELECT resilience.lease_acquire('short2', 'node-a', '1ms') - :floor AS token;
SELECT pg_sleep(0.01);
SELECT resilience.lease_acquire('short2', 'node-a', '1 min') - :floor AS regrant;

-- a grant that rolls back leaves its token used: the next grant of that
-- lease, to another holder, gets a larger one, and the rolled-back token is
-- fenced out (1.0 handed the same number out again)
BEGIN;
SELECT resilience.lease_acquire('undone', 'node-a', '1 min') AS u1 \gset
ROLLBACK;
SELECT count(*) AS rows_left FROM resilience.leases WHERE name = 'undone';
SELECT resilience.lease_acquire('undone', 'node-b', '1 min') AS u2 \gset
SELECT :u2 > :u1 AS larger_than_rolled_back;
\set VERBOSITY sqlstate
SELECT resilience.lease_fence('undone', :u1);
\set VERBOSITY default
-- the same after a takeover whose transaction rolled back
SELECT resilience.lease_acquire('undone2', 'node-a', '1ms') AS v1 \gset
SELECT pg_sleep(0.01);
BEGIN;
SELECT resilience.lease_acquire('undone2', 'node-b', '1 min') AS v2 \gset
ROLLBACK;
SELECT resilience.lease_acquire('undone2', 'node-c', '1 min') AS v3 \gset
SELECT :v2 > :v1 AS took_over, :v3 > :v2 AS larger_than_rolled_back;
-- a token whose sequence part would reach the next timeline's floor is
-- refused (54000), and the lease is left as it was
SELECT setval('resilience.lease_token_seq', (1::bigint << 40) - 1) > 0 AS moved;
\set VERBOSITY sqlstate
SELECT resilience.lease_acquire('full', 'node-a', '1 min');
\set VERBOSITY default
SELECT resilience.lease_acquire('full', 'node-a', '1 min');
SELECT count(*) AS rows_left FROM resilience.leases WHERE name = 'full';
SELECT setval('resilience.lease_token_seq', :v3 - :floor) > 0 AS moved_back;
-- a previous token above the floor plus the sequence (a later timeline's,
-- say, carried over by pg_upgrade) is followed by previous + 1
SELECT resilience.lease_next_token(0) - :floor AS from_sequence;
SELECT resilience.lease_next_token((3::bigint << 40) + 5) - (3::bigint << 40) AS after_previous;
\set VERBOSITY sqlstate
SELECT resilience.lease_next_token(9223372036854775807);
SELECT resilience.lease_next_token(NULL);
\set VERBOSITY default

-- stale tokens are fenced out, with SQLSTATE RL001
\set VERBOSITY sqlstate
SELECT resilience.lease_fence('short', :s1);       -- taken over
SELECT resilience.lease_fence('nowhere', 1);       -- never granted
\set VERBOSITY default
SELECT resilience.lease_fence('short', :s1);
SELECT resilience.lease_fence('nowhere', 1);
SELECT resilience.lease_release('short', 'node-b', :s2);
SELECT resilience.lease_fence('short', :s2);       -- released
DO $$
DECLARE
    v_detail text;
BEGIN
    PERFORM resilience.lease_acquire('lapsed', 'node-a', '1ms');
    PERFORM pg_sleep(0.01);
    PERFORM resilience.lease_fence('lapsed', (SELECT token FROM resilience.leases WHERE name = 'lapsed'));
EXCEPTION WHEN SQLSTATE 'RL001' THEN
    GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL;
    RAISE NOTICE 'fenced: % (%)', regexp_replace(SQLERRM, '[0-9]+', 'N'),
        regexp_replace(v_detail, 'at .*', 'at <time>.');
END
$$;
SELECT resilience.lease_fence('short', :s2 + 1);   -- no such token yet

-- bad input
\set VERBOSITY sqlstate
SELECT resilience.lease_acquire('', 'node-a', '1 min');
SELECT resilience.lease_acquire('x', '', '1 min');
SELECT resilience.lease_acquire('x', 'node-a', '0');
SELECT resilience.lease_acquire('x', 'node-a', '-1 s');
-- greater than zero with 30-day months, but always in the past on the
-- calendar (a year is 365 or 366 days): refused
SELECT interval '-12 months 364 days' > interval '0' AS compares_positive;
SELECT resilience.lease_acquire('x', 'node-a', '-12 months 364 days');
SELECT resilience.lease_renew('x', 'node-a', 1, '-12 months 364 days');
SELECT resilience.lease_acquire(NULL, 'node-a', '1 min');
SELECT resilience.lease_acquire('x', NULL, '1 min');
SELECT resilience.lease_acquire('x', 'node-a', NULL);
SELECT resilience.lease_renew('', 'node-a', 1, '1 min');
SELECT resilience.lease_renew('x', '', 1, '1 min');
SELECT resilience.lease_renew('x', 'node-a', 1, '0');
SELECT resilience.lease_renew('x', 'node-a', NULL, '1 min');
SELECT resilience.lease_release('', 'node-a', 1);
SELECT resilience.lease_release('x', '', 1);
SELECT resilience.lease_release('x', 'node-a', NULL);
SELECT resilience.lease_fence('', 1);
SELECT resilience.lease_fence('x', NULL);
\set VERBOSITY default
SELECT resilience.lease_acquire('x', 'node-a', '0');
SELECT resilience.lease_acquire('', 'node-a', '1 min');
SELECT resilience.lease_acquire('x', NULL, '1 min');
SELECT resilience.lease_renew('x', 'node-a', NULL, '1 min');
SELECT resilience.lease_release(NULL, 'node-a', 1);
SELECT resilience.lease_fence('', 1);
SELECT resilience.lease_fence('x', NULL);
-- one function checks the arguments of all four, naming the NULL one
SELECT resilience.lease_acquire('x', 'node-a', NULL);
SELECT resilience.lease_renew('x', NULL, 1, '1 min');
SELECT resilience.lease_fence(NULL, NULL);
SELECT resilience.lease_check_args('lease_acquire', 'x', 'node-a', NULL, '1 min');
SELECT resilience.lease_check_args('lease_nope', 'x', 'node-a', 1, '1 min');
-- nothing was written by the failed calls
SELECT name FROM resilience.leases ORDER BY name;

-- a read-only transaction cannot write leases (25006), as on a standby
BEGIN READ ONLY;
\set VERBOSITY sqlstate
SELECT resilience.lease_acquire('ro', 'node-a', '1 min');
\set VERBOSITY default
ROLLBACK;

-- application roles: USAGE on the schema, rights on the table
CREATE ROLE regress_lease_app;
GRANT USAGE ON SCHEMA resilience TO regress_lease_app;
GRANT SELECT, INSERT, UPDATE ON resilience.lease_state TO regress_lease_app;
GRANT SELECT ON resilience.leases TO regress_lease_app;
SET ROLE regress_lease_app;
SELECT resilience.lease_acquire('app-job', 'worker-1', '1 min') AS a \gset
SELECT :a > :floor AS granted;
BEGIN;
SELECT resilience.lease_fence('app-job', :a);
COMMIT;
SELECT resilience.lease_release('app-job', 'worker-1', :a);
RESET ROLE;
-- rights granted per column are enough, UPDATE on the columns the grant writes
CREATE ROLE regress_lease_cols;
GRANT USAGE ON SCHEMA resilience TO regress_lease_cols;
GRANT SELECT, INSERT (name, holder, token, acquired_at, renewed_at, expires_at),
      UPDATE (holder, token, acquired_at, renewed_at, expires_at)
    ON resilience.lease_state TO regress_lease_cols;
SET ROLE regress_lease_cols;
SELECT resilience.lease_acquire('cols-job', 'worker-3', '1 min') > :floor AS granted;
RESET ROLE;
REVOKE ALL ON resilience.lease_state FROM regress_lease_cols;
REVOKE ALL ON SCHEMA resilience FROM regress_lease_cols;
DROP ROLE regress_lease_cols;
-- a role without rights on the table gets 42501
CREATE ROLE regress_lease_nobody;
GRANT USAGE ON SCHEMA resilience TO regress_lease_nobody;
SELECT last_value AS before FROM resilience.lease_token_seq \gset
SET ROLE regress_lease_nobody;
\set VERBOSITY sqlstate
SELECT resilience.lease_acquire('app-job', 'worker-2', '1 min');
\set VERBOSITY default
-- nor may it draw tokens (it could use up the timeline's), and none is drawn
SELECT resilience.lease_next_token(0);
RESET ROLE;
SELECT last_value = :before AS nothing_drawn FROM resilience.lease_token_seq;
-- the sequence as the install made it, or no token (55000): with a cache, a
-- backend would draw from a block of its own, and a later grant could get a
-- smaller value
ALTER SEQUENCE resilience.lease_token_seq CACHE 10;
SELECT resilience.lease_acquire('altered', 'node-a', '1 min');
ALTER SEQUENCE resilience.lease_token_seq CACHE 1;
-- refused before it draws: a sequence going backwards gives nothing
SELECT last_value AS before FROM resilience.lease_token_seq \gset
ALTER SEQUENCE resilience.lease_token_seq INCREMENT -1;
\set VERBOSITY sqlstate
SELECT resilience.lease_acquire('altered', 'node-a', '1 min');
\set VERBOSITY default
ALTER SEQUENCE resilience.lease_token_seq INCREMENT 1;
SELECT last_value = :before AS nothing_drawn FROM resilience.lease_token_seq;
-- altered in the same transaction: its values would go back on rollback
BEGIN;
ALTER SEQUENCE resilience.lease_token_seq CACHE 1;
\set VERBOSITY terse
SELECT resilience.lease_acquire('altered', 'node-a', '1 min');
\set VERBOSITY default
ROLLBACK;
ALTER SEQUENCE resilience.lease_token_seq SET UNLOGGED;
\set VERBOSITY sqlstate
SELECT resilience.lease_acquire('altered', 'node-a', '1 min');
\set VERBOSITY default
ALTER SEQUENCE resilience.lease_token_seq SET LOGGED;
SELECT resilience.lease_acquire('altered', 'node-a', '1 min') > :floor AS granted_again;
-- the sequence is found by membership, once per backend and then by its
-- pg_class row version: renamed away, it is missing (55000); a look-alike
-- in its place is refused as well; renamed back, it serves again
ALTER SEQUENCE resilience.lease_token_seq RENAME TO lease_token_seq_moved;
\set VERBOSITY terse
SELECT resilience.lease_acquire('moved', 'node-a', '1 min');
CREATE SEQUENCE resilience.lease_token_seq;
SELECT resilience.lease_acquire('moved', 'node-a', '1 min');
\set VERBOSITY default
DROP SEQUENCE resilience.lease_token_seq;
ALTER SEQUENCE resilience.lease_token_seq_moved RENAME TO lease_token_seq;
SELECT resilience.lease_acquire('moved', 'node-a', '1 min') > :floor AS granted_again;
REVOKE ALL ON resilience.lease_state, resilience.leases FROM regress_lease_app;
REVOKE ALL ON SCHEMA resilience FROM regress_lease_app, regress_lease_nobody;
DROP ROLE regress_lease_app;
DROP ROLE regress_lease_nobody;
