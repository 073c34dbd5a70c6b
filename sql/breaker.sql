-- Circuit breakers: every state transition at a stopped clock
-- (resilience.clock_override), the sliding window, slow calls, operators'
-- functions, the view, bad input.
SET TimeZone = 'UTC';
SET IntervalStyle = postgres;
\set VERBOSITY sqlstate
SET resilience.clock_override = '2026-01-01 00:00:00+00';

-- n results in a row
CREATE FUNCTION pg_temp.record(p_name text, p_n int, p_success boolean,
                               p_duration interval DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. p_n LOOP
        PERFORM resilience.breaker_record(p_name, p_success, p_duration);
    END LOOP;
END
$$;
-- n breaker_allow calls in a row: how many were allowed
CREATE FUNCTION pg_temp.allows(p_name text, p_n int, p_probes int DEFAULT 1)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    c int := 0;
BEGIN
    FOR i IN 1 .. p_n LOOP
        IF resilience.breaker_allow(p_name, 0.5, 5, '10 seconds', '30 seconds', p_probes) THEN
            c := c + 1;
        END IF;
    END LOOP;
    RETURN c;
END
$$;
CREATE FUNCTION pg_temp.at(p_time text) RETURNS void LANGUAGE sql AS $$
    SELECT set_config('resilience.clock_override', '2026-01-01 ' || p_time || '+00', false) IS NULL
$$;

-- a breaker never used is closed
SELECT resilience.breaker_state('api') AS never_used;

-- closed -> stays closed below min_calls (5): four failures
SELECT pg_temp.allows('api', 1) AS allowed;
SELECT pg_temp.record('api', 4, false);
SELECT resilience.breaker_state('api') AS four_failures;
-- the fifth call makes min_calls, 100% failed >= 50%: open
SELECT pg_temp.record('api', 1, false);
SELECT resilience.breaker_state('api') AS five_failures;
-- open: nothing allowed, results of late calls ignored
SELECT pg_temp.allows('api', 3) AS allowed_while_open;
SELECT pg_temp.record('api', 3, true);
SELECT resilience.breaker_state('api') AS still_open;
SELECT name, state, calls, failures, opened_at, next_probe, times_opened
FROM resilience.breakers;

-- open_for (30s) later: half-open, exactly probes (1) calls allowed
SELECT pg_temp.at('00:00:29.999999');
SELECT pg_temp.allows('api', 1) AS allowed_before_open_for;
SELECT pg_temp.at('00:00:30');
SELECT pg_temp.allows('api', 4) AS allowed_half_open;
SELECT resilience.breaker_state('api') AS half_open;
-- the probe fails: open again
SELECT pg_temp.record('api', 1, false);
SELECT resilience.breaker_state('api') AS probe_failed, times_opened
FROM resilience.breakers WHERE name = 'api';

-- three probes: all three allowed, no more; 1 failure of 3 (< 50%) closes
SELECT pg_temp.at('00:01:00');
SELECT pg_temp.allows('api', 10, 3) AS allowed_three_probes;
SELECT probes_admitted FROM resilience.breakers WHERE name = 'api';
SELECT pg_temp.record('api', 1, false);
SELECT pg_temp.record('api', 1, true);
SELECT resilience.breaker_state('api') AS two_of_three_recorded;
SELECT pg_temp.record('api', 1, true);
SELECT resilience.breaker_state('api') AS probes_passed, calls, failures
FROM resilience.breakers WHERE name = 'api';
-- 2 of 3 failed (>= 50%) would have reopened it
SELECT resilience.breaker_force('api', 'half_open');
SELECT pg_temp.allows('api', 3, 3) AS allowed;
SELECT pg_temp.record('api', 2, false);
SELECT pg_temp.record('api', 1, true);
SELECT resilience.breaker_state('api') AS two_of_three_failed;

-- a probe that never reports back is given up after open_for: a new round
SELECT pg_temp.at('00:02:00');
SELECT pg_temp.allows('stuck', 1);
SELECT resilience.breaker_force('stuck', 'half_open');
SELECT pg_temp.allows('stuck', 3) AS first_round;
SELECT pg_temp.at('00:02:29');
SELECT pg_temp.allows('stuck', 3) AS still_waiting;
SELECT pg_temp.at('00:02:30');
SELECT pg_temp.allows('stuck', 3) AS second_round;

-- the window slides: failures older than window (10s) no longer count
SELECT pg_temp.at('00:03:00');
SELECT pg_temp.allows('slide', 1);
SELECT pg_temp.record('slide', 4, false);
SELECT pg_temp.at('00:03:10.5');
SELECT pg_temp.record('slide', 1, false);
SELECT resilience.breaker_state('slide') AS old_failures_gone, calls, failures
FROM resilience.breakers WHERE name = 'slide';
-- successes keep the rate below 50%
SELECT pg_temp.record('slide', 6, true);
SELECT pg_temp.record('slide', 4, false);
SELECT resilience.breaker_state('slide') AS five_of_eleven, calls, failures, failure_rate
FROM resilience.breakers WHERE name = 'slide';
SELECT pg_temp.record('slide', 1, false);
SELECT resilience.breaker_state('slide') AS six_of_twelve;

-- slow calls count as failures when the breaker has slow_call
SELECT pg_temp.at('00:04:00');
SELECT resilience.breaker_allow('slow', min_calls => 2, slow_call => '1 second');
SELECT resilience.breaker_record('slow', true, '999 ms');
SELECT resilience.breaker_record('slow', true, '1 second');
SELECT resilience.breaker_state('slow') AS one_slow_of_two, slow_call
FROM resilience.breakers WHERE name = 'slow';
-- without slow_call, duration does not count
SELECT resilience.breaker_allow('fast', min_calls => 2);
SELECT resilience.breaker_record('fast', true, '1 hour');
SELECT resilience.breaker_record('fast', true, '1 hour');
SELECT resilience.breaker_state('fast') AS durations_ignored;

-- a share of failures exactly at failure_rate opens, whatever the real's
-- binary value (0.1 is 0.100000001 as a real): with min_calls 10, each row
-- a new breaker given its successes, then its failures
CREATE FUNCTION pg_temp.state_after(p_rate real, p_ok int, p_failed int)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n text := format('share %s: %s ok, %s failed', p_rate, p_ok, p_failed);
BEGIN
    PERFORM resilience.breaker_allow(n, p_rate, 10);
    PERFORM pg_temp.record(n, p_ok, true);
    PERFORM pg_temp.record(n, p_failed, false);
    RETURN resilience.breaker_state(n);
END
$$;
SELECT rate, ok, failed, pg_temp.state_after(rate, ok, failed) AS state
FROM (VALUES (0.1::real, 9, 0), (0.1, 9, 1), (0.3, 8, 2), (0.3, 8, 3), (0.3, 7, 3))
    AS v(rate, ok, failed);
-- and in half-open: 1 failed probe of 10 at 0.1 opens it again
SELECT resilience.breaker_allow('tenth_probe', 0.1, 1, '1 hour', '1 second', 10);
SELECT pg_temp.record('tenth_probe', 1, false);
SELECT pg_temp.at('00:04:01');
SELECT count(*) FILTER (WHERE resilience.breaker_allow('tenth_probe', 0.1, 1, '1 hour', '1 second', 10))
    AS probes FROM generate_series(1, 12);
SELECT pg_temp.record('tenth_probe', 1, false);
SELECT pg_temp.record('tenth_probe', 9, true);
SELECT resilience.breaker_state('tenth_probe') AS one_failed_probe_of_ten;

-- operators: forced_open allows nothing even after open_for; disabled
-- allows everything and records nothing; reset forgets
SELECT resilience.breaker_force('ops', 'forced_open');
SELECT pg_temp.at('01:00:00');
SELECT pg_temp.allows('ops', 2) AS forced_open;
SELECT resilience.breaker_force('ops', 'disabled');
SELECT pg_temp.allows('ops', 2) AS disabled;
SELECT pg_temp.record('ops', 10, false);
SELECT resilience.breaker_state('ops') AS disabled_after_failures, calls
FROM resilience.breakers WHERE name = 'ops';
SELECT resilience.breaker_force('ops', 'open');
SELECT resilience.breaker_state('ops') AS forced, next_probe
FROM resilience.breakers WHERE name = 'ops';
SELECT resilience.breaker_force('ops', 'closed');
SELECT pg_temp.allows('ops', 1) AS closed;
SELECT resilience.breaker_reset('ops') AS known, resilience.breaker_reset('ops') AS known_again;
SELECT resilience.breaker_state('ops') AS after_reset;

-- a result for a breaker never allowed creates it with the defaults
SELECT resilience.breaker_record('record-only', false);
SELECT state, calls, failures, failure_threshold, min_calls, "window", open_for, probes
FROM resilience.breakers WHERE name = 'record-only';

SELECT name, state, times_opened FROM resilience.breakers;

-- bad input: 22023 (22004 for NULL)
SELECT resilience.breaker_allow('bad', 0);
SELECT resilience.breaker_allow('bad', 1.5);
SELECT resilience.breaker_allow('bad', 'NaN');
SELECT resilience.breaker_allow('bad', 0.5, 0);
SELECT resilience.breaker_allow('bad', 0.5, 20, '0');
SELECT resilience.breaker_allow('bad', 0.5, 20, '1 min', '-1 s');
SELECT resilience.breaker_allow('bad', 0.5, 20, '1 min', '30 s', 0);
SELECT resilience.breaker_allow('bad', slow_call => '0');
SELECT resilience.breaker_allow('');
SELECT resilience.breaker_allow(repeat('b', 128));
SELECT resilience.breaker_allow(NULL);
SELECT resilience.breaker_allow('bad', NULL);
SELECT resilience.breaker_allow('bad', 0.5, NULL);
SELECT resilience.breaker_allow('bad', 0.5, 20, NULL);
SELECT resilience.breaker_allow('bad', 0.5, 20, '1 min', NULL);
SELECT resilience.breaker_allow('bad', 0.5, 20, '1 min', '30 s', NULL);
SELECT resilience.breaker_record('bad', NULL);
SELECT resilience.breaker_record(NULL, true);
SELECT resilience.breaker_record('bad', true, '-1 s');
SELECT resilience.breaker_force('bad', 'ajar');
SELECT resilience.breaker_force('bad', NULL);
SELECT resilience.breaker_state(NULL);
SELECT resilience.breaker_reset('');
\set VERBOSITY default
SELECT resilience.breaker_allow('bad', 1.5);
SELECT resilience.breaker_force('bad', 'ajar');

-- reset and force are for operators
CREATE ROLE breaker_user;
SET ROLE breaker_user;
SELECT resilience.breaker_allow('user-breaker');
SELECT resilience.breaker_force('user-breaker', 'open');
SELECT resilience.breaker_reset('user-breaker');
RESET ROLE;
DROP ROLE breaker_user;

-- a clock before 2000 (negative timestamps) counts calls in the window
SET resilience.clock_override = '1990-01-01 00:00:03+00';
SELECT resilience.breaker_reset('pre2000');
SELECT resilience.breaker_allow('pre2000', min_calls => 100);
SELECT resilience.breaker_record('pre2000', false) FROM generate_series(1, 5);
SELECT calls, failures FROM resilience.breakers WHERE name = 'pre2000';
SET resilience.clock_override = '2026-01-01 00:00:00+00';

-- a clock moved back across the whole range leaves an open breaker open:
-- now - opened_at overflowed, wrapped and read as open_for gone by
SET resilience.clock_override = '294276-12-31 23:59:59+00';
SELECT resilience.breaker_allow('wrap', open_for => '1 second', min_calls => 1);
SELECT resilience.breaker_record('wrap', false);
SET resilience.clock_override = '4713-01-01 00:00:00+00 BC';
SELECT resilience.breaker_allow('wrap', open_for => '1 second', min_calls => 1) AS allowed_after_going_back,
       resilience.breaker_state('wrap');
SET resilience.clock_override = '2026-01-01 00:00:00+00';
SELECT resilience.breaker_reset('wrap');

-- an open breaker whose next probe lies past the last timestamp keeps the view readable
SELECT resilience.breaker_allow('forever', min_calls => 1, open_for => '106751000 days');
SELECT resilience.breaker_record('forever', false);
SELECT state, next_probe FROM resilience.breakers WHERE name = 'forever';
SELECT resilience.breaker_reset('forever');
SELECT resilience.breaker_reset('pre2000');

-- the longest window there is still counts its calls (its bucket width was
-- computed with an overflowing sum, which made the window 20 microseconds):
-- on the real clock, failures a millisecond apart open it
RESET resilience.clock_override;
SELECT resilience.breaker_allow('widest', min_calls => 2, "window" => '2562047788:00:54.775807');
SELECT resilience.breaker_record('widest', false), pg_sleep(0.002) FROM generate_series(1, 3);
SELECT state, calls, failures FROM resilience.breakers WHERE name = 'widest';
SELECT resilience.breaker_reset('widest');
