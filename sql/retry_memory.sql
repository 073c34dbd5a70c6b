-- Memory per failed attempt is flat: each attempt's allocations and its
-- error live in contexts reset at the next attempt.  The failing SQL records
-- the backend's total memory (a sequence keeps the value through the
-- rollback) at attempt 1000 and at the last attempt; the two must be equal
-- within a few kilobytes, where 160 bytes kept per attempt would add 640 kB.

CREATE SEQUENCE n;
CREATE SEQUENCE mem_early;
CREATE SEQUENCE mem_late;
CREATE FUNCTION fail_and_measure(early int, late int, code text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    k bigint := nextval('n');
BEGIN
    -- one statement for every measurement, run at attempts 100 to 106 too,
    -- so that its plan is settled (the plan cache goes generic after five
    -- custom plans) and measuring itself adds nothing later
    IF k BETWEEN 100 AND 106 OR k IN (early, late) THEN
        PERFORM setval(CASE WHEN k = late THEN 'mem_late' ELSE 'mem_early' END::regclass,
                       (SELECT sum(total_bytes) FROM pg_backend_memory_contexts)::bigint);
    END IF;
    RAISE EXCEPTION 'staged failure % with a message long enough to matter', k
        USING ERRCODE = code, DETAIL = repeat('detail ', 20), HINT = 'a hint';
END $$;

\set VERBOSITY terse
CALL resilience.retry_transaction($$ SELECT fail_and_measure(1000, 5000, '40001') $$,
                                  max_attempts => 5000, base_delay => '1us', max_delay => '1us');
\set VERBOSITY default
SELECT last_value AS attempts FROM n;
SELECT (SELECT last_value FROM mem_late) - (SELECT last_value FROM mem_early) < 16384 AS flat,
       (SELECT last_value FROM mem_late) - (SELECT last_value FROM mem_early) AS growth_bytes
       \gset
SELECT :'flat' AS flat;
\if :flat
\else
SELECT :'growth_bytes' AS growth_bytes;
\endif

-- retry_statement, retrying lock timeouts in savepoints of one transaction
SELECT setval('n', 1, false);
\set VERBOSITY terse
SELECT resilience.retry_statement($$ SELECT fail_and_measure(1000, 5000, '55P03') $$,
                                  max_attempts => 5000, base_delay => '1us', max_delay => '1us');
\set VERBOSITY default
SELECT last_value AS attempts FROM n;
SELECT (SELECT last_value FROM mem_late) - (SELECT last_value FROM mem_early) < 16384 AS flat,
       (SELECT last_value FROM mem_late) - (SELECT last_value FROM mem_early) AS growth_bytes
       \gset
SELECT :'flat' AS flat;
\if :flat
\else
SELECT :'growth_bytes' AS growth_bytes;
\endif
