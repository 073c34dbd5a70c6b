-- resilience.backoff_delay: deterministic ceilings, jitter bounds, bad input
SET IntervalStyle = postgres;
\set VERBOSITY sqlstate

-- no jitter: the ceiling min(cap, base * 2^(n-1))
SELECT n, resilience.backoff_delay(n, '10ms', '10s', 'none') AS delay
FROM generate_series(1, 12) AS n;

-- defaults: base 10ms, cap 10s, full jitter
SELECT resilience.backoff_delay(1) BETWEEN '0'::interval AND '10ms' AS default_ok;

-- overflow-safe at any attempt
SELECT resilience.backoff_delay(64, '1ms', '1 hour', 'none') AS a64,
       resilience.backoff_delay(2147483647, '1us', '1 hour', 'none') AS amax,
       resilience.backoff_delay(2147483647, '1us', '100 years', 'none') AS amax_years;
-- base equal to cap: always the cap
SELECT resilience.backoff_delay(1, '5s', '5s', 'none') AS one,
       resilience.backoff_delay(100, '5s', '5s', 'none') AS hundred;
-- days and months count 24 hours and 30 days
SELECT resilience.backoff_delay(2, '1 day', '1 mon', 'none') AS days,
       resilience.backoff_delay(9, '1 day', '1 mon', 'none') AS capped;
-- microsecond precision survives
SELECT resilience.backoff_delay(3, '1.000001 s', '1 min', 'none') AS micro;

-- full jitter: uniform in [0, ceiling]; over many draws both halves are hit
SELECT min(d) >= '0'::interval AS lower_ok,
       max(d) <= '80ms'::interval AS upper_ok,
       count(*) FILTER (WHERE d < '40ms') > 100 AS low_half_hit,
       count(*) FILTER (WHERE d >= '40ms') > 100 AS high_half_hit,
       count(DISTINCT d) > 500 AS spread
FROM (SELECT resilience.backoff_delay(4, '10ms', '10s', 'full') AS d
      FROM generate_series(1, 2000)) s;

-- equal jitter: uniform in [ceiling/2, ceiling]
SELECT min(d) >= '40ms'::interval AS lower_ok,
       max(d) <= '80ms'::interval AS upper_ok,
       count(*) FILTER (WHERE d < '60ms') > 100 AS low_half_hit,
       count(*) FILTER (WHERE d >= '60ms') > 100 AS high_half_hit
FROM (SELECT resilience.backoff_delay(4, '10ms', '10s', 'equal') AS d
      FROM generate_series(1, 2000)) s;

-- jitter respects the cap
SELECT max(d) <= '1s'::interval AS capped_full
FROM (SELECT resilience.backoff_delay(30, '10ms', '1s', 'full') AS d
      FROM generate_series(1, 500)) s;
SELECT min(d) >= '500ms'::interval AND max(d) <= '1s'::interval AS capped_equal
FROM (SELECT resilience.backoff_delay(30, '10ms', '1s', 'equal') AS d
      FROM generate_series(1, 500)) s;
-- the smallest ceiling: 1 microsecond
SELECT count(DISTINCT d) AS distinct_values, min(d), max(d)
FROM (SELECT resilience.backoff_delay(1, '1us', '1us', 'full') AS d
      FROM generate_series(1, 200)) s;

-- NULL in, NULL out
SELECT resilience.backoff_delay(NULL) IS NULL AS null_attempt,
       resilience.backoff_delay(1, NULL) IS NULL AS null_base,
       resilience.backoff_delay(1, '1ms', NULL) IS NULL AS null_cap,
       resilience.backoff_delay(1, '1ms', '1s', NULL) IS NULL AS null_jitter;

-- bad input: 22023 with a hint
\set VERBOSITY default
SELECT resilience.backoff_delay(0);
SELECT resilience.backoff_delay(-5, '1ms', '1s');
SELECT resilience.backoff_delay(1, '0', '1s');
SELECT resilience.backoff_delay(1, '-1ms', '1s');
SELECT resilience.backoff_delay(1, '1s', '999ms');
SELECT resilience.backoff_delay(1, '1ms', '1s', 'Full');
SELECT resilience.backoff_delay(1, '1ms', '1s', '');
-- an interval too large for microseconds: 22008
SELECT resilience.backoff_delay(1, '1ms', '178000000 years');
\set VERBOSITY sqlstate
SELECT resilience.backoff_delay(0);
SELECT resilience.backoff_delay(1, '0', '1s');
SELECT resilience.backoff_delay(1, '1s', '999ms');
SELECT resilience.backoff_delay(1, '1ms', '1s', 'sometimes');
SELECT resilience.backoff_delay(1, '1ms', '178000000 years');

-- labels
SELECT provolatile, proisstrict, proparallel
FROM pg_proc WHERE oid = 'resilience.backoff_delay'::regproc;
