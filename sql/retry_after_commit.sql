-- resilience.retry_transaction reports exactly what committed: every step
-- that can fail (building the result jsonb, rendering it, converting it to
-- the client's encoding, a cancel or statement_timeout meanwhile) runs
-- inside the attempt, before its commit, so an error means "rolled back".
-- Each case writes a row and then fails while the result is made; the row
-- must not be there afterwards.  Then the retry lane's arguments.

CREATE TABLE ac_audit (id int);

-- a type whose JSON rendering (a cast to json, which to_jsonb uses) raises
-- for one value and sleeps for another
CREATE TYPE mood AS ENUM ('ok', 'bad', 'slow');
CREATE FUNCTION mood_json(m mood) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
    IF m = 'bad' THEN
        RAISE EXCEPTION 'mood % has no JSON form', m USING ERRCODE = '22023';
    END IF;
    IF m = 'slow' THEN
        PERFORM pg_sleep(2);
    END IF;
    RETURN to_json(m::text);
END $$;
CREATE CAST (mood AS json) WITH FUNCTION mood_json(mood);

-- success: the result reports the committed row
CALL resilience.retry_transaction($$ INSERT INTO ac_audit VALUES (1) RETURNING id, 'ok'::mood AS m $$);
SELECT * FROM ac_audit ORDER BY id;

-- a RETURNING column whose JSON rendering raises: the error, and no row
CALL resilience.retry_transaction($$ INSERT INTO ac_audit VALUES (2) RETURNING id, 'bad'::mood AS m $$);
SELECT count(*) AS committed FROM ac_audit WHERE id = 2;

-- statement_timeout while the result is built: 57014, and no row
SET statement_timeout = '500ms';
CALL resilience.retry_transaction($$ INSERT INTO ac_audit VALUES (3) RETURNING id, 'slow'::mood AS m $$);
RESET statement_timeout;
SELECT count(*) AS committed FROM ac_audit WHERE id = 3;

-- a character the client's encoding lacks (the euro sign in LATIN1): the
-- conversion error, and no row
SET client_encoding = 'LATIN1';
CALL resilience.retry_transaction($$ INSERT INTO ac_audit VALUES (4) RETURNING id, chr(8364) AS euro $$);
RESET client_encoding;
SELECT count(*) AS committed FROM ac_audit WHERE id = 4;
-- the same row is fine for a client that can read it
CALL resilience.retry_transaction($$ INSERT INTO ac_audit VALUES (4) RETURNING id, chr(8364) = U&'\20AC' AS euro $$);
-- the retried SQL switching the encoding for itself (SET LOCAL, which the
-- commit undoes, so the result goes out in LATIN1): refused too, no row
SET client_encoding = 'LATIN1';
CALL resilience.retry_transaction($$ SET LOCAL client_encoding = 'UTF8'; INSERT INTO ac_audit VALUES (40) RETURNING id, chr(8364) AS euro $$);
RESET client_encoding;
SELECT count(*) AS committed FROM ac_audit WHERE id = 40;

-- a result over jsonb's size limit (256 MB): 54000 before the commit, no row
\set VERBOSITY sqlstate
CALL resilience.retry_transaction(
    $$ INSERT INTO ac_audit VALUES (5); SELECT repeat('x', 1000000) AS s FROM generate_series(1, 300) $$);
\set VERBOSITY default
SELECT count(*) AS committed FROM ac_audit WHERE id = 5;

-- a large result within the limits comes back whole
DO $$
DECLARE r jsonb; a int;
BEGIN
    CALL resilience.retry_transaction(
        $q$ INSERT INTO ac_audit VALUES (6); SELECT g, repeat('y', 100) AS pad FROM generate_series(1, 100000) g $q$,
        result => r, attempts => a);
    RAISE NOTICE 'rows %, last %, attempts %', jsonb_array_length(r), r -> -1 -> 'g', a;
END $$;
SELECT id FROM ac_audit ORDER BY id;
-- the array is laid out row by row: it equals what jsonb_agg builds, and
-- every element reads back (JEntry offsets every 32 elements), with nested
-- containers, numerics, strings, nulls and 4-byte alignment in between
DO $$
DECLARE r jsonb; a int;
    q text := $q$ SELECT g, g::numeric / 7 AS n, repeat('s', g % 5) AS s, NULLIF(g % 3, 0) AS maybe,
                         ARRAY[g, -g] AS arr, ROW(g, 'x' || g) AS rec, '{"k": [1, {"z": null}]}'::jsonb AS j,
                         g % 2 = 0 AS even
                  FROM generate_series(1, 1000) g $q$;
    agg jsonb;
BEGIN
    CALL resilience.retry_transaction(q, result => r, attempts => a);
    EXECUTE format('SELECT jsonb_agg(to_jsonb(t)) FROM (%s) t', q) INTO agg;
    RAISE NOTICE 'equal %, same text %, length %', r = agg, r::text = agg::text, jsonb_array_length(r);
    RAISE NOTICE 'elements 1, 32, 33, 64, 1000: % % % % %', r -> 0 -> 'g', r -> 31 -> 'n', r -> 32 -> 's',
        r -> 63 -> 'rec', r -> 999 -> 'arr';
    RAISE NOTICE 'all elements read back: %',
        (SELECT bool_and(e = agg -> (i - 1)::int) FROM jsonb_array_elements(r) WITH ORDINALITY x(e, i));
END $$;

--
-- the retry lane
--
-- an attempt holds the lane shared; pg_locks shows it as an advisory lock
-- whose objsubid is 21061 (pg_advisory_lock uses 1 and 2)
CREATE VIEW my_lane AS
    SELECT mode, objid = 0 AND classid = 0 AS default_lane FROM pg_locks
    WHERE locktype = 'advisory' AND objsubid = 21061 AND pid = pg_backend_pid();
CALL resilience.retry_transaction($$ SELECT * FROM my_lane $$);
CALL resilience.retry_transaction($$ SELECT * FROM my_lane $$, lane => 'ledger');
-- escalate_after => 0: every attempt alone; NULL: outside any lane
CALL resilience.retry_transaction($$ SELECT * FROM my_lane $$, escalate_after => 0);
CALL resilience.retry_transaction($$ SELECT * FROM my_lane $$, escalate_after => NULL);
-- after escalate_after failed attempts, the next one has the lane alone
CREATE SEQUENCE ac_tries;
CREATE FUNCTION ac_fail_until(n int, code text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    k bigint := nextval('ac_tries');
BEGIN
    IF k < n THEN
        RAISE EXCEPTION 'staged failure on attempt %', k USING ERRCODE = code;
    END IF;
    RETURN k;
END $$;
-- (escalate_after => 6 by default: the 6th attempt still shares the lane, the
-- 7th has it alone; failures quicker than base_delay)
CALL resilience.retry_transaction($$ SELECT ac_fail_until(6, '40001') AS attempt, mode FROM my_lane $$,
                                  base_delay => '50ms', max_delay => '50ms');
SELECT setval('ac_tries', 1, false);
CALL resilience.retry_transaction($$ SELECT ac_fail_until(7, '40001') AS attempt, mode FROM my_lane $$,
                                  base_delay => '50ms', max_delay => '50ms');
SELECT setval('ac_tries', 1, false);
-- a failed attempt that took base_delay or longer (a row lock's wait, a
-- deadlock) sends the next attempts alone at once; a quicker one does not
CREATE FUNCTION ac_slow_fail_once(pause float8) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    k bigint := nextval('ac_tries');
BEGIN
    IF k < 2 THEN
        PERFORM pg_sleep(pause);
        RAISE EXCEPTION 'staged failure on attempt %', k USING ERRCODE = '40001';
    END IF;
    RETURN k;
END $$;
CALL resilience.retry_transaction($$ SELECT ac_slow_fail_once(0.1) AS attempt, mode FROM my_lane $$,
                                  base_delay => '50ms', max_delay => '50ms');
SELECT setval('ac_tries', 1, false);
CALL resilience.retry_transaction($$ SELECT ac_slow_fail_once(0) AS attempt, mode FROM my_lane $$,
                                  base_delay => '50ms', max_delay => '50ms');
SELECT setval('ac_tries', 1, false);
CALL resilience.retry_transaction($$ SELECT ac_fail_until(2, '40001') AS attempt, mode FROM my_lane $$,
                                  base_delay => '1us', max_delay => '1us', escalate_after => 1);
-- 1.0's call styles keep their meaning: all ten arguments positionally,
-- and named arguments
CALL resilience.retry_transaction($$ SELECT * FROM my_lane $$, NULL, 10, 'serializable',
                                  '2ms', '1s', '{40001,40P01}', NULL, NULL, NULL);
CALL resilience.retry_transaction(sql => $$ SELECT 1 AS one $$, max_attempts => 2,
                                  isolation => 'read committed', attempts => NULL);
-- bad lane arguments: 22023
CALL resilience.retry_transaction($$ SELECT 1 $$, escalate_after => -1);
CALL resilience.retry_transaction($$ SELECT 1 $$, lane => '');
