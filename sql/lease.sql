-- Leases with fencing tokens: acquire, renew, release, fence, the view.
-- Tokens are shown relative to the timeline floor (timeline << 40), which
-- is 1 << 40 on a fresh cluster.

SELECT resilience.lease_token_floor() = (1::bigint << 40) AS floor_is_timeline_1;

-- labels
SELECT p.oid::regprocedure, p.provolatile, p.proparallel, p.proisstrict
FROM pg_proc p
WHERE p.pronamespace = 'resilience'::regnamespace AND p.proname LIKE 'lease%'
ORDER BY 1::text;

-- the first grant: a token from the timeline floor
SELECT resilience.lease_acquire('nightly', 'node-a', '1 min') - (1::bigint << 40) AS token;
-- the same holder again: extended, same token
SELECT resilience.lease_acquire('nightly', 'node-a', '2 min') - (1::bigint << 40) AS token;
-- another holder while it is live: NULL
SELECT resilience.lease_acquire('nightly', 'node-b', '1 min') AS token;
SELECT name, holder, token - (1::bigint << 40) AS token, expired,
       acquired_at <= renewed_at AS ordered,
       expires_at - renewed_at AS ttl
FROM resilience.leases;

-- renew: only the holder with the current token
SELECT resilience.lease_renew('nightly', 'node-a', (1::bigint << 40), '30s') AS renewed;
SELECT resilience.lease_renew('nightly', 'node-b', (1::bigint << 40), '30s') AS wrong_holder;
SELECT resilience.lease_renew('nightly', 'node-a', (1::bigint << 40) + 1, '30s') AS wrong_token;
SELECT resilience.lease_renew('missing', 'node-a', 1, '30s') AS no_lease;
SELECT expires_at - renewed_at AS ttl FROM resilience.leases WHERE name = 'nightly';

-- fence: the current token passes (isolation spec lease_fence shows the
-- row lock it keeps to the end of the transaction)
BEGIN;
SELECT resilience.lease_fence('nightly', (1::bigint << 40));
COMMIT;

-- release: the row and its token stay, the holder is gone
SELECT resilience.lease_release('nightly', 'node-b', (1::bigint << 40)) AS wrong_holder;
SELECT resilience.lease_release('nightly', 'node-a', (1::bigint << 40)) AS released;
SELECT resilience.lease_release('nightly', 'node-a', (1::bigint << 40)) AS again;
SELECT name, holder, token - (1::bigint << 40) AS token, expired FROM resilience.leases;
SELECT resilience.lease_renew('nightly', 'node-a', (1::bigint << 40), '30s') AS renew_released;

-- the next grant, even to the same holder, gets a larger token
SELECT resilience.lease_acquire('nightly', 'node-a', '1 min') - (1::bigint << 40) AS token;
-- expiry: a short lease lapses and another holder takes over with a new token
SELECT resilience.lease_acquire('short', 'node-a', '1ms') - (1::bigint << 40) AS token;
SELECT pg_sleep(0.01);
SELECT expired FROM resilience.leases WHERE name = 'short';
SELECT resilience.lease_renew('short', 'node-a', (1::bigint << 40), '1 min') AS renew_expired;
SELECT resilience.lease_release('short', 'node-a', (1::bigint << 40)) AS release_expired;
SELECT resilience.lease_acquire('short', 'node-b', '1 min') - (1::bigint << 40) AS takeover;
-- an expired lease re-acquired by its old holder is a new grant too
SELECT resilience.lease_acquire('short2', 'node-a', '1ms') - (1::bigint << 40) AS token;
SELECT pg_sleep(0.01);
SELECT resilience.lease_acquire('short2', 'node-a', '1 min') - (1::bigint << 40) AS regrant;

-- stale tokens are fenced out, with SQLSTATE RL001
\set VERBOSITY sqlstate
SELECT resilience.lease_fence('short', (1::bigint << 40));       -- taken over
SELECT resilience.lease_fence('nowhere', 1);                      -- never granted
\set VERBOSITY default
SELECT resilience.lease_fence('short', (1::bigint << 40));
SELECT resilience.lease_fence('nowhere', 1);
SELECT resilience.lease_release('short', 'node-b', (1::bigint << 40) + 1);
SELECT resilience.lease_fence('short', (1::bigint << 40) + 1);   -- released
DO $$
DECLARE
    v_detail text;
BEGIN
    PERFORM resilience.lease_acquire('lapsed', 'node-a', '1ms');
    PERFORM pg_sleep(0.01);
    PERFORM resilience.lease_fence('lapsed', (1::bigint << 40));
EXCEPTION WHEN SQLSTATE 'RL001' THEN
    GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL;
    RAISE NOTICE 'fenced: % (%)', SQLERRM, regexp_replace(v_detail, 'at .*', 'at <time>.');
END
$$;
SELECT resilience.lease_fence('short', (1::bigint << 40) + 2);   -- no such token yet

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
SELECT resilience.lease_acquire('app-job', 'worker-1', '1 min') - (1::bigint << 40) AS token;
BEGIN;
SELECT resilience.lease_fence('app-job', (1::bigint << 40));
COMMIT;
SELECT resilience.lease_release('app-job', 'worker-1', (1::bigint << 40));
RESET ROLE;
-- a role without rights on the table gets 42501
CREATE ROLE regress_lease_nobody;
GRANT USAGE ON SCHEMA resilience TO regress_lease_nobody;
SET ROLE regress_lease_nobody;
\set VERBOSITY sqlstate
SELECT resilience.lease_acquire('app-job', 'worker-2', '1 min');
\set VERBOSITY default
RESET ROLE;
REVOKE ALL ON resilience.lease_state, resilience.leases FROM regress_lease_app;
REVOKE ALL ON SCHEMA resilience FROM regress_lease_app, regress_lease_nobody;
DROP ROLE regress_lease_app;
DROP ROLE regress_lease_nobody;
