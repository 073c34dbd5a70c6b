-- resilience.retry_transaction and resilience.retry_statement: the contract
-- without concurrency.  Failures are staged with helper functions that raise
-- a chosen SQLSTATE until a non-transactional counter (a sequence) reaches a
-- given attempt, so retries are deterministic.  The races themselves are in
-- specs/retry_*.spec.

CREATE TABLE acct (id int PRIMARY KEY, bal int NOT NULL);
INSERT INTO acct VALUES (1, 100), (2, 50);
CREATE SEQUENCE tries;

-- raise SQLSTATE code while the attempt counter is below n, else return n
CREATE FUNCTION fail_until(n int, code text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    k bigint := nextval('tries');
BEGIN
    IF k < n THEN
        RAISE EXCEPTION 'staged failure on attempt %', k USING ERRCODE = code;
    END IF;
    RETURN k;
END $$;

--
-- the happy path
--
CALL resilience.retry_transaction(
    $$ UPDATE acct SET bal = bal - $3 WHERE id = $1;
       UPDATE acct SET bal = bal + $3 WHERE id = $2;
       SELECT id, bal FROM acct ORDER BY id $$,
    params => ARRAY['1', '2', '30']);
SELECT * FROM acct ORDER BY id;

-- the result is the last statement that returned rows (here a RETURNING),
-- statements after it that return nothing do not replace it
CALL resilience.retry_transaction(
    $$ SELECT 'first' AS which;
       UPDATE acct SET bal = bal + 1 WHERE id = $1 RETURNING id, bal;
       UPDATE acct SET bal = bal - 1 WHERE id = $1 $$,
    ARRAY['1']);
-- zero rows from the last row-returning statement: an empty array
CALL resilience.retry_transaction($$ SELECT id FROM acct WHERE id < 0 $$);
-- no statement returned rows: null
CALL resilience.retry_transaction($$ UPDATE acct SET bal = bal WHERE id = 1 $$);
-- empty SQL: nothing runs
CALL resilience.retry_transaction($$ $$);

-- parameter types come from context; NULL elements are SQL NULLs; values
-- of every type come back as jsonb
CALL resilience.retry_transaction(
    $$ SELECT $1 AS untyped, $2::int + 1 AS plus_one, $3::date AS d,
              $4::jsonb -> 'k' AS j, $5::numeric AS n, $6::text IS NULL AS six_is_null,
              ARRAY[1, 2] AS arr, ROW(1, 'x') AS rec $$,
    ARRAY['text', '41', '2024-02-29', '{"k": [1, 2]}', '1.50', NULL]);
-- a parameter typed by the column it is compared with
CALL resilience.retry_transaction($$ SELECT bal FROM acct WHERE id = $1 $$, ARRAY['2']);
-- a wide value, detoasted before the commit and returned after it
CREATE TABLE big (id int, t text);
CALL resilience.retry_transaction(
    $$ INSERT INTO big SELECT 1, string_agg(md5(i::text), '') FROM generate_series(1, 20000) i;
       SELECT id, length(t), md5(t) = md5(t) AS same FROM big $$);
CALL resilience.retry_transaction($$ DELETE FROM big RETURNING id, length(t) AS len, left(t, 8) AS head $$);

-- each attempt runs at the requested isolation level
CALL resilience.retry_transaction($$ SELECT current_setting('transaction_isolation') AS iso $$);
CALL resilience.retry_transaction($$ SELECT current_setting('transaction_isolation') AS iso $$,
                                  isolation => 'repeatable read');
CALL resilience.retry_transaction($$ SELECT current_setting('transaction_isolation') AS iso $$,
                                  isolation => 'READ COMMITTED');

-- cached plans are revalidated after DDL
CALL resilience.retry_transaction($$ SELECT * FROM acct WHERE id = $1 $$, ARRAY['1']);
ALTER TABLE acct ADD COLUMN note text DEFAULT 'n';
CALL resilience.retry_transaction($$ SELECT * FROM acct WHERE id = $1 $$, ARRAY['1']);
ALTER TABLE acct DROP COLUMN note;

--
-- retries
--
-- a serialization failure on attempts 1 and 2, success on attempt 3
SELECT setval('tries', 1, false);
CALL resilience.retry_transaction(
    $$ INSERT INTO acct VALUES (3, 0);
       SELECT fail_until(3, '40001') AS attempt $$,
    base_delay => '1us', max_delay => '1us');
-- the failed attempts left nothing behind: one row 3
SELECT * FROM acct ORDER BY id;
DELETE FROM acct WHERE id = 3;

-- deadlocks are retried by default too
SELECT setval('tries', 1, false);
CALL resilience.retry_transaction($$ SELECT fail_until(2, '40P01') AS attempt $$,
                                  base_delay => '1us', max_delay => '1us');

-- an error raised at COMMIT (a deferred constraint trigger here; SSI raises
-- some serialization failures only at commit) is retried as well
CREATE FUNCTION fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM fail_until(3, '40001');
    RETURN NULL;
END $$;
CREATE TABLE audit (id int);
CREATE CONSTRAINT TRIGGER audit_check AFTER INSERT ON audit
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_at_commit();
SELECT setval('tries', 1, false);
CALL resilience.retry_transaction($$ INSERT INTO audit VALUES (1) RETURNING id $$,
                                  base_delay => '1us', max_delay => '1us');
SELECT * FROM audit;

-- exhaustion: the last error comes back with its own SQLSTATE, message and
-- detail, and a CONTEXT line with the attempt count
SELECT setval('tries', 1, false);
CALL resilience.retry_transaction($$ INSERT INTO audit VALUES (2) $$,
                                  max_attempts => 2, base_delay => '1us', max_delay => '1us');
SELECT * FROM audit;
SELECT setval('tries', 1, false);
CALL resilience.retry_transaction($$ SELECT fail_until(100, '40001') $$,
                                  max_attempts => 3, base_delay => '1us', max_delay => '1us');
SELECT currval('tries') AS attempts_made;
-- max_attempts => 1: no retry at all
SELECT setval('tries', 1, false);
CALL resilience.retry_transaction($$ SELECT fail_until(2, '40001') $$, max_attempts => 1);
-- a timeout of zero gives up instead of sleeping
SELECT setval('tries', 1, false);
CALL resilience.retry_transaction($$ SELECT fail_until(2, '40001') $$, timeout => '0');
-- retry_on decides: an empty list retries nothing, a listed code is retried
SELECT setval('tries', 1, false);
CALL resilience.retry_transaction($$ SELECT fail_until(2, '40001') $$, retry_on => '{}');
SELECT setval('tries', 1, false);
CALL resilience.retry_transaction($$ SELECT fail_until(2, '23505') AS attempt $$,
                                  retry_on => '{23505}', base_delay => '1us', max_delay => '1us');

-- a cancel (57014, also raised by statement_timeout) is never retried, even
-- if listed
SET statement_timeout = '300ms';
CALL resilience.retry_transaction($$ SELECT pg_sleep(30) $$, retry_on => '{57014}');
RESET statement_timeout;

-- an error not in retry_on is raised at once, after rolling back
SELECT setval('tries', 1, false);
CALL resilience.retry_transaction($$ INSERT INTO acct VALUES (9, 9); SELECT 1 / 0 $$);
SELECT count(*) AS leftover FROM acct WHERE id = 9;
-- a deferred foreign key failing at COMMIT is rolled back and raised
CREATE TABLE child (parent int REFERENCES acct DEFERRABLE INITIALLY DEFERRED);
CALL resilience.retry_transaction($$ INSERT INTO child VALUES (42) $$);
SELECT count(*) AS leftover FROM child;

--
-- SQL that cannot run
--
\set VERBOSITY sqlstate
CALL resilience.retry_transaction($$ COMMIT $$);
CALL resilience.retry_transaction($$ SELECT 1; SAVEPOINT s $$);
CALL resilience.retry_transaction($$ COPY acct TO STDOUT $$);
CALL resilience.retry_transaction($$ SELECT $3::int $$, ARRAY['1']);
CALL resilience.retry_transaction($$ SELECT $1::int $$, ARRAY['1', '2']);
CALL resilience.retry_transaction($$ SELECT $1::int $$, ARRAY['x']);
CALL resilience.retry_transaction($$ SELEC 1 $$);
\set VERBOSITY default
CALL resilience.retry_transaction($$ COMMIT $$);
CALL resilience.retry_transaction($$ SELECT $2::int $$, ARRAY['1', '2']);

--
-- bad arguments (22023, or 22004 for a required NULL)
--
CALL resilience.retry_transaction($$ SELECT 1 $$, isolation => 'snapshot');
CALL resilience.retry_transaction($$ SELECT 1 $$, max_attempts => 0);
CALL resilience.retry_transaction($$ SELECT 1 $$, retry_on => '{4001}');
CALL resilience.retry_transaction($$ SELECT 1 $$, retry_on => '{40p01}');
\set VERBOSITY sqlstate
CALL resilience.retry_transaction($$ SELECT 1 $$, retry_on => '{40001,NULL}');
CALL resilience.retry_transaction($$ SELECT 1 $$, retry_on => '{"40 01"}');
CALL resilience.retry_transaction($$ SELECT 1 $$, retry_on => '{400011}');
CALL resilience.retry_transaction($$ SELECT 1 $$, retry_on => '{{40001},{40P01}}');
CALL resilience.retry_transaction($$ SELECT 1 $$, retry_on => NULL);
CALL resilience.retry_transaction($$ SELECT 1 $$, max_attempts => -5);
CALL resilience.retry_transaction($$ SELECT 1 $$, max_attempts => NULL);
CALL resilience.retry_transaction($$ SELECT 1 $$, isolation => NULL);
CALL resilience.retry_transaction($$ SELECT 1 $$, isolation => 'serializable ');
CALL resilience.retry_transaction($$ SELECT 1 $$, base_delay => '0');
CALL resilience.retry_transaction($$ SELECT 1 $$, base_delay => '-1ms');
CALL resilience.retry_transaction($$ SELECT 1 $$, base_delay => '10ms', max_delay => '1ms');
CALL resilience.retry_transaction($$ SELECT 1 $$, base_delay => NULL);
CALL resilience.retry_transaction($$ SELECT 1 $$, timeout => '-1s');
CALL resilience.retry_transaction(NULL);
CALL resilience.retry_transaction($$ SELECT $1 $$, ARRAY[['1'], ['2']]);
\set VERBOSITY default

--
-- atomic contexts: 2D000 with a hint
--
BEGIN;
CALL resilience.retry_transaction($$ SELECT 1 $$);
ROLLBACK;
-- two statements in one query string form an implicit transaction block:
-- the first one's work is not committed
SELECT 1 AS one \; CALL resilience.retry_transaction($$ INSERT INTO acct VALUES (7, 7) $$);
SELECT count(*) AS leftover FROM acct WHERE id = 7;
\set VERBOSITY sqlstate
CREATE FUNCTION call_from_function() RETURNS void LANGUAGE plpgsql AS $$
DECLARE r jsonb; a int;
BEGIN
    CALL resilience.retry_transaction($q$ SELECT 1 $q$, result => r, attempts => a);
END $$;
SELECT call_from_function();
CREATE PROCEDURE call_with_set() LANGUAGE plpgsql SET work_mem = '4MB' AS $$
DECLARE r jsonb; a int;
BEGIN
    CALL resilience.retry_transaction($q$ SELECT 1 $q$, result => r, attempts => a);
END $$;
CALL call_with_set();
CREATE PROCEDURE call_security_definer() LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE r jsonb; a int;
BEGIN
    CALL resilience.retry_transaction($q$ SELECT 1 $q$, result => r, attempts => a);
END $$;
CALL call_security_definer();
DO $$
DECLARE r jsonb; a int;
BEGIN
    CALL resilience.retry_transaction($q$ SELECT 1 $q$, result => r, attempts => a);
EXCEPTION WHEN division_by_zero THEN NULL;
END $$;
\set VERBOSITY default
-- a plain procedure or DO block in autocommit may call it, and gets the
-- INOUT values back in its variables
CREATE PROCEDURE transfer(src int, dst int, amount int, INOUT balances jsonb DEFAULT NULL,
                          INOUT tries int DEFAULT NULL) LANGUAGE plpgsql AS $$
BEGIN
    CALL resilience.retry_transaction(
        'UPDATE acct SET bal = bal - $3 WHERE id = $1;
         UPDATE acct SET bal = bal + $3 WHERE id = $2;
         SELECT id, bal FROM acct ORDER BY id',
        ARRAY[src, dst, amount]::text[], result => balances, attempts => tries);
END $$;
CALL transfer(2, 1, 5);
DO $$
DECLARE r jsonb; a int;
BEGIN
    CALL resilience.retry_transaction($q$ SELECT 'from DO' AS src $q$, result => r, attempts => a);
    RAISE NOTICE 'result % after % attempt(s)', r, a;
END $$;
-- but not after writing in the same transaction: a retry would roll that
-- write back, and the first attempt commit it (2D000, the write undone);
-- after a COMMIT it may
DO $$
DECLARE r jsonb; a int;
BEGIN
    INSERT INTO acct VALUES (8, 8);
    CALL resilience.retry_transaction($q$ SELECT 1 $q$, result => r, attempts => a);
END $$;
SELECT count(*) AS leftover FROM acct WHERE id = 8;
DO $$
DECLARE r jsonb; a int;
BEGIN
    INSERT INTO acct VALUES (8, 8);
    COMMIT;
    CALL resilience.retry_transaction($q$ DELETE FROM acct WHERE id = 8 RETURNING id $q$,
                                      result => r, attempts => a);
    RAISE NOTICE 'deleted %', r;
END $$;

-- inside a PL/pgSQL cursor loop (its portal is held across the commits and
-- rollbacks), with two failed attempts each time
CREATE TABLE loopout (i int, k bigint);
SELECT setval('tries', 1, false);
CREATE FUNCTION every_third() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE k bigint := nextval('tries');
BEGIN
    IF k % 3 <> 0 THEN
        RAISE EXCEPTION 'staged failure on attempt %', k USING ERRCODE = '40001';
    END IF;
    RETURN k;
END $$;
DO $$
DECLARE r record; res jsonb; a int;
BEGIN
    FOR r IN SELECT g FROM generate_series(1, 3) g ORDER BY g LOOP
        CALL resilience.retry_transaction(
            'INSERT INTO loopout SELECT $1, every_third() RETURNING *', ARRAY[r.g::text],
            base_delay => '1us', max_delay => '1us', result => res, attempts => a);
        RAISE NOTICE 'row %: % in % attempts', r.g, res, a;
    END LOOP;
END $$;
SELECT * FROM loopout ORDER BY i;

--
-- the plan cache: more distinct SQL strings than it keeps, also while a
-- cached plan is running (it must not be evicted under its own feet)
--
CREATE FUNCTION churn(n int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..n LOOP
        PERFORM resilience.retry_statement(format('SELECT %s AS i', i));
    END LOOP;
    RETURN n;
END $$;
SELECT resilience.retry_statement($$ SELECT churn(300) AS n; SELECT $1::int AS after $$, ARRAY['1']);
SELECT resilience.retry_statement($$ SELECT churn(300) AS n; SELECT $1::int AS after $$, ARRAY['2']);
CALL resilience.retry_transaction($$ SELECT churn(300) AS n; SELECT 'after' AS step $$);

--
-- retry_statement: inside the caller's transaction, in a savepoint
--
SELECT resilience.retry_statement($$ SELECT id, bal FROM acct WHERE id = $1 $$, ARRAY['1']);
SELECT resilience.retry_statement($$ UPDATE acct SET bal = bal WHERE id = 1 $$) IS NULL AS no_rows;
BEGIN;
INSERT INTO acct VALUES (5, 5);
SELECT setval('tries', 1, false);
-- the failed attempts' insert of row 6 is undone, row 5 (before) stays
SELECT resilience.retry_statement(
    $$ INSERT INTO acct VALUES (6, 6); SELECT fail_until(3, '40P01') AS attempt $$,
    base_delay => '1us', max_delay => '1us');
SELECT id FROM acct WHERE id IN (5, 6) ORDER BY id;
-- lock timeouts are retried by default
SELECT setval('tries', 1, false);
SELECT resilience.retry_statement($$ SELECT fail_until(2, '55P03') AS attempt $$,
                                  base_delay => '1us', max_delay => '1us');
ROLLBACK;
-- in READ COMMITTED a listed 40001 is retried
SELECT setval('tries', 1, false);
SELECT resilience.retry_statement($$ SELECT fail_until(2, '40001') AS attempt $$,
                                  retry_on => '{40001}', base_delay => '1us', max_delay => '1us');
-- under REPEATABLE READ or SERIALIZABLE it never is: the hint names retry_transaction
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT setval('tries', 1, false);
SELECT resilience.retry_statement($$ SELECT fail_until(2, '40001') $$, retry_on => '{40001}');
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT setval('tries', 1, false);
SELECT resilience.retry_statement($$ SELECT fail_until(2, '40001') $$);
ROLLBACK;
-- exhaustion and errors not in retry_on
SELECT setval('tries', 1, false);
SELECT resilience.retry_statement($$ SELECT fail_until(10, '40P01') $$, max_attempts => 2,
                                  base_delay => '1us', max_delay => '1us');
SELECT resilience.retry_statement($$ SELECT 1 / 0 $$);
-- usable from a function
CREATE FUNCTION bump(k int) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN resilience.retry_statement('UPDATE acct SET bal = bal + 1 WHERE id = $1 RETURNING bal',
                                      ARRAY[k::text]);
END $$;
SELECT bump(1);
-- bad arguments
\set VERBOSITY sqlstate
SELECT resilience.retry_statement($$ COMMIT $$);
SELECT resilience.retry_statement($$ SELECT 1 $$, max_attempts => 0);
SELECT resilience.retry_statement($$ SELECT 1 $$, retry_on => '{40P0}');
SELECT resilience.retry_statement($$ SELECT 1 $$, base_delay => '0');
SELECT resilience.retry_statement($$ SELECT 1 $$, max_delay => '1us');
SELECT resilience.retry_statement(NULL);
SELECT resilience.retry_statement($$ SELECT $1 $$, ARRAY[['1']]);
\set VERBOSITY default

DROP TABLE child, audit, big, acct, loopout;
DROP SEQUENCE tries;
