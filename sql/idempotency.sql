-- resilience.idempotent: a request runs once per (role, key); retries replay it
CREATE TABLE payments (
    id      serial PRIMARY KEY,
    account int NOT NULL,
    amount  numeric NOT NULL CHECK (amount > 0),
    note    text
);

-- first call: runs the SQL, records the result
SELECT resilience.idempotent('req-1',
    'INSERT INTO payments (account, amount) VALUES ($1, $2) RETURNING id, account, amount',
    ARRAY['7', '12.50']);
-- the retry: same key, same request, replayed without running
SELECT resilience.idempotent('req-1',
    'INSERT INTO payments (account, amount) VALUES ($1, $2) RETURNING id, account, amount',
    ARRAY['7', '12.50']);
SELECT resilience.idempotent('req-1',
    'INSERT INTO payments (account, amount) VALUES ($1, $2) RETURNING id, account, amount',
    ARRAY['7', '12.50']) -> 'replayed' AS replayed;
SELECT count(*) AS payments FROM payments;
SELECT key, role = current_user AS mine, replays, expired,
       expires_at - created_at AS ttl
FROM resilience.idempotency_keys ORDER BY key;
-- the stored fingerprint is SHA-256 of the request's length-prefixed encoding
SELECT fingerprint = sha256('resilience.idempotent v1'::bytea || '\x00'::bytea
        || int4send(octet_length(q)) || convert_to(q, 'UTF8')
        || 'A'::bytea || int4send(2)
        || 'v'::bytea || int4send(1) || '7'::bytea
        || 'v'::bytea || int4send(5) || '12.50'::bytea) AS fingerprint_is_sha256
FROM resilience.idempotency_store,
     (VALUES ('INSERT INTO payments (account, amount) VALUES ($1, $2) RETURNING id, account, amount')) v(q)
WHERE key = 'req-1';

-- same key, another request: refused (other SQL, other params, NULL vs value)
\set VERBOSITY default
SELECT resilience.idempotent('req-1',
    'INSERT INTO payments (account, amount) VALUES ($1, $2) RETURNING id',
    ARRAY['7', '12.50']);
\set VERBOSITY sqlstate
SELECT resilience.idempotent('req-1',
    'INSERT INTO payments (account, amount) VALUES ($1, $2) RETURNING id, account, amount',
    ARRAY['7', '99']);
SELECT resilience.idempotent('req-1',
    'INSERT INTO payments (account, amount) VALUES ($1, $2) RETURNING id, account, amount',
    ARRAY['7', NULL]);
SELECT resilience.idempotent('req-1',
    'INSERT INTO payments (account, amount) VALUES ($1, $2) RETURNING id, account, amount');
SELECT count(*) AS payments FROM payments;

-- a request that returns no rows records a null result
SELECT resilience.idempotent('req-2', 'UPDATE payments SET note = $1', ARRAY['audited']);
SELECT resilience.idempotent('req-2', 'UPDATE payments SET note = $1', ARRAY['audited']);
-- several statements: the rows of the last row-returning one
SELECT resilience.idempotent('req-3',
    'INSERT INTO payments (account, amount) VALUES ($1, 1) RETURNING id;
     UPDATE payments SET note = $2 WHERE account = $1::int;
     SELECT account, note FROM payments WHERE account = $1::int',
    ARRAY['8', 'multi']);
SELECT resilience.idempotent('req-3',
    'INSERT INTO payments (account, amount) VALUES ($1, 1) RETURNING id;
     UPDATE payments SET note = $2 WHERE account = $1::int;
     SELECT account, note FROM payments WHERE account = $1::int',
    ARRAY['8', 'multi']) -> 'replayed' AS replayed;
SELECT count(*) AS payments FROM payments;

-- a rolled-back transaction records nothing: the request can run again
BEGIN;
SELECT resilience.idempotent('req-4', 'INSERT INTO payments (account, amount) VALUES (9, 1) RETURNING account');
-- within the same transaction the second call replays
SELECT resilience.idempotent('req-4', 'INSERT INTO payments (account, amount) VALUES (9, 1) RETURNING account') -> 'replayed' AS replayed;
ROLLBACK;
SELECT count(*) AS req4_records FROM resilience.idempotency_keys WHERE key = 'req-4';
SELECT resilience.idempotent('req-4', 'INSERT INTO payments (account, amount) VALUES (9, 1) RETURNING account') -> 'replayed' AS replayed;
SELECT count(*) AS account9 FROM payments WHERE account = 9;

-- a request that fails records nothing, and the error is the request's own
SELECT resilience.idempotent('req-5', 'INSERT INTO payments (account, amount) VALUES (10, -1)');
SELECT count(*) AS req5_records FROM resilience.idempotency_keys WHERE key = 'req-5';
SELECT resilience.idempotent('req-5', 'INSERT INTO payments (account, amount) VALUES (10, 5) RETURNING amount');
-- caught in a savepoint: the claim is rolled back with it
\set VERBOSITY default
DO $$
BEGIN
    PERFORM resilience.idempotent('req-6', 'SELECT 1 / 0');
EXCEPTION WHEN division_by_zero THEN
    RAISE NOTICE 'caught %', SQLSTATE;
END $$;
\set VERBOSITY sqlstate
SELECT count(*) AS req6_records FROM resilience.idempotency_keys WHERE key = 'req-6';

-- expiry: an expired record is a fresh key again
SELECT resilience.idempotent('req-7', 'SELECT $1::int AS n', ARRAY['1'], '1 millisecond') -> 'replayed' AS replayed;
SELECT pg_sleep(0.01);
SELECT key, expired FROM resilience.idempotency_keys WHERE key = 'req-7';
SELECT resilience.idempotent('req-7', 'SELECT $1::int AS n', ARRAY['1'], '1 hour') -> 'replayed' AS replayed;
SELECT resilience.idempotent('req-8', 'SELECT 8 AS n', NULL, '1 millisecond') -> 'replayed' AS replayed;
SELECT resilience.idempotent('req-9', 'SELECT 9 AS n', NULL, '1 millisecond') -> 'replayed' AS replayed;
SELECT pg_sleep(0.01);
-- purge deletes exactly the expired records
SELECT resilience.idempotency_purge() AS purged;
SELECT resilience.idempotency_purge() AS purged_again;
SELECT key FROM resilience.idempotency_keys ORDER BY key;

-- values survive the round trip exactly
SELECT resilience.idempotent('req-10',
    'SELECT $1::timestamptz AS ts, $2::numeric AS n, $3::text AS t, $4::uuid AS u, NULL::int AS z',
    ARRAY['2026-11-27 12:34:56.123456+00', '12345678901234567890.000000001', 'quote''s "é"', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11']) -> 'result' AS first;
SELECT resilience.idempotent('req-10',
    'SELECT $1::timestamptz AS ts, $2::numeric AS n, $3::text AS t, $4::uuid AS u, NULL::int AS z',
    ARRAY['2026-11-27 12:34:56.123456+00', '12345678901234567890.000000001', 'quote''s "é"', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11']) -> 'result' AS replayed;

-- bad input
\set VERBOSITY default
SELECT resilience.idempotent('', 'SELECT 1');
SELECT resilience.idempotent('k', 'SELECT 1', NULL, '0');
SELECT resilience.idempotent('k', 'SELECT 1', NULL, '-1 hour');
SELECT resilience.idempotent(NULL, 'SELECT 1');
SELECT resilience.idempotent(repeat('x', 1025), 'SELECT 1');
\set VERBOSITY sqlstate
SELECT resilience.idempotent('', 'SELECT 1');
SELECT resilience.idempotent('k', 'SELECT 1', NULL, '0');
SELECT resilience.idempotent('k', 'SELECT 1', NULL, '-1 hour');
SELECT resilience.idempotent(NULL, 'SELECT 1');
SELECT resilience.idempotent('k', NULL);
SELECT resilience.idempotent('k', 'SELECT 1', NULL, NULL);
SELECT resilience.idempotent(repeat('x', 1025), 'SELECT 1');
SELECT resilience.idempotent('k', 'SELECT $1::int', '{{1},{2}}');
-- no parameters is the same request whether spelt NULL or '{}'
SELECT resilience.idempotent('req-11', 'SELECT 11 AS n') -> 'replayed' AS first;
SELECT resilience.idempotent('req-11', 'SELECT 11 AS n', '{}') -> 'replayed' AS replayed;
-- a key of exactly the limit is fine
SELECT resilience.idempotent(repeat('x', 1024), 'SELECT 1 AS one') -> 'result' AS at_limit;
-- nothing was recorded by the refused calls
SELECT count(*) AS k_records FROM resilience.idempotency_keys WHERE key = 'k';

-- Keys are scoped to the calling role
\set VERBOSITY default
CREATE ROLE regress_idem_alice;
CREATE ROLE regress_idem_bob;
GRANT SELECT, INSERT ON payments TO regress_idem_alice, regress_idem_bob;
GRANT USAGE ON SEQUENCE payments_id_seq TO regress_idem_alice, regress_idem_bob;
SET ROLE regress_idem_alice;
SELECT resilience.idempotent('shared-key', 'INSERT INTO payments (account, amount) VALUES (100, 1) RETURNING account') -> 'replayed' AS alice_first;
SELECT resilience.idempotent('shared-key', 'INSERT INTO payments (account, amount) VALUES (100, 1) RETURNING account') -> 'replayed' AS alice_again;
SET ROLE regress_idem_bob;
-- bob's key of the same name is his own: his request runs, even a different one
SELECT resilience.idempotent('shared-key', 'INSERT INTO payments (account, amount) VALUES (200, 1) RETURNING account') -> 'replayed' AS bob_first;
-- bob sees only his own records, through the view and the table
SELECT key, role FROM resilience.idempotency_keys ORDER BY key;
SELECT count(*) AS bob_rows FROM resilience.idempotency_store;
-- and cannot touch alice's, even once it expired
RESET ROLE;
UPDATE resilience.idempotency_store SET expires_at = created_at
WHERE role_id = 'regress_idem_alice'::regrole;
SET ROLE regress_idem_bob;
WITH u AS (UPDATE resilience.idempotency_store SET result = '"forged"'
           WHERE role_id = 'regress_idem_alice'::regrole RETURNING 1)
SELECT count(*) AS bob_updated FROM u;
SELECT resilience.idempotency_purge() AS bob_purged;
-- nor write a record in another role's name
INSERT INTO resilience.idempotency_store (role_id, key, fingerprint, created_at, expires_at)
VALUES ('regress_idem_alice'::regrole, 'forged', '\x00', now(), now() + '1 hour');
RESET ROLE;
SELECT k.key, k.role, k.replays, k.expired, s.result
FROM resilience.idempotency_keys k
JOIN resilience.idempotency_store s ON s.key = k.key AND s.role_id = k.role::regrole
WHERE k.key = 'shared-key' ORDER BY k.role;
SELECT account, count(*) FROM payments WHERE account IN (100, 200) GROUP BY account ORDER BY account;
DELETE FROM resilience.idempotency_store WHERE role_id IN ('regress_idem_alice'::regrole, 'regress_idem_bob'::regrole);
REVOKE ALL ON payments FROM regress_idem_alice, regress_idem_bob;
REVOKE ALL ON SEQUENCE payments_id_seq FROM regress_idem_alice, regress_idem_bob;
DROP ROLE regress_idem_alice;
DROP ROLE regress_idem_bob;

-- a record that expires while its own transaction still runs is replayed,
-- not taken over: the request ran once and its effects are not yet visible
-- to anyone else
BEGIN;
SELECT resilience.idempotent('ttl-inside', 'INSERT INTO payments (account, amount) VALUES (300, 1) RETURNING account',
                             ttl => '10 ms')->'replayed' AS first_replayed;
SELECT pg_sleep(0.05);
SELECT resilience.idempotent('ttl-inside', 'INSERT INTO payments (account, amount) VALUES (300, 1) RETURNING account',
                             ttl => '10 ms')->'replayed' AS second_replayed;
SELECT count(*) AS account_300_rows FROM payments WHERE account = 300;
ROLLBACK;

\set VERBOSITY sqlstate
-- a ttl that compares positive but lands in the past on the calendar: 22023
SELECT resilience.idempotent('calendar-ttl', 'SELECT 1', ttl => '-12 months 364 days');
-- a request that deletes its own record: 55000, nothing recorded
SELECT resilience.idempotent('self-delete', 'DELETE FROM resilience.idempotency_store WHERE key = ''self-delete'' RETURNING 1');
\set VERBOSITY default
SELECT count(*) AS self_delete_rows FROM resilience.idempotency_store WHERE key = 'self-delete';

-- labels
SELECT p.oid::regprocedure, provolatile, proisstrict, proparallel
FROM pg_proc p
WHERE p.oid IN ('resilience.idempotent'::regproc, 'resilience.idempotency_purge'::regproc)
ORDER BY 1;
