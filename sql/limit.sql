-- resilience.rate_limit: GCRA against a reference model at fixed times, the
-- redis-cell example, denied calls consuming nothing, cost 0, reset, the
-- view, bad input.  The clock is stopped with resilience.clock_override.
SET TimeZone = 'UTC';
SET IntervalStyle = postgres;
\set VERBOSITY sqlstate

-- n calls in a row (a function in FROM whose arguments do not change is
-- run once and its row reused, so a loop it is)
CREATE FUNCTION pg_temp.calls(p_n int, p_key text, p_rate int, p_per interval DEFAULT '1 second',
                              p_burst int DEFAULT NULL, p_cost int DEFAULT 1)
RETURNS TABLE (call int, allowed boolean, remaining int, retry_after interval, reset_after interval)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. p_n LOOP
        call := i;
        SELECT * INTO allowed, remaining, retry_after, reset_after
        FROM resilience.rate_limit(p_key, p_rate, p_per, p_burst, p_cost);
        RETURN NEXT;
    END LOOP;
END
$$;

-- redis-cell's README: CL.THROTTLE user123 15 30 60 1 (max_burst 15, so
-- its limit, our burst, is 16) answers allowed, 15 remaining, reset after
-- 2 seconds
SET resilience.clock_override = '2026-01-01 00:00:00+00';
SELECT * FROM resilience.rate_limit('user123', 30, '60 seconds', 16, 1);

-- a burst of 3 at a stopped clock: three allowed, then denied; a denied
-- call consumes nothing, so retrying at the same time is denied the same way
SELECT * FROM pg_temp.calls(5, 'stopped', 10, '1 second', 3);
-- one emission interval (100ms) later exactly one more call is allowed
SET resilience.clock_override = '2026-01-01 00:00:00.1+00';
SELECT * FROM pg_temp.calls(2, 'stopped', 10, '1 second', 3);
-- burst defaults to rate
SELECT count(*) FILTER (WHERE allowed) AS allowed
FROM pg_temp.calls(20, 'default-burst', 7, '1 minute');
-- cost 0 looks without using anything; cost = burst takes a full burst
SELECT * FROM resilience.rate_limit('costly', 5, '1 second', 5, 0);
-- (a look adds no key: a missing one is at rest)
SELECT count(*) AS looked_at_keys FROM resilience.rate_limits WHERE key = 'costly';
SELECT * FROM resilience.rate_limit('costly', 5, '1 second', 5, 5);
SELECT * FROM resilience.rate_limit('costly', 5, '1 second', 5, 0);
SELECT * FROM resilience.rate_limit('costly', 5, '1 second', 5, 1);
-- retry_after is enough: waiting it (rounded up to the microsecond) passes
SELECT * FROM resilience.rate_limit('thirds', 3, '1 second', 1);
SELECT * FROM resilience.rate_limit('thirds', 3, '1 second', 1);
SET resilience.clock_override = '2026-01-01 00:00:00.433334+00';
SELECT * FROM resilience.rate_limit('thirds', 3, '1 second', 1);

-- the view: busiest first, this database's keys
SELECT key, allowed, denied, last_call, remaining, reset_after, burst, emission_interval
FROM resilience.rate_limits;

-- reset forgets a key: a full burst again
SELECT resilience.rate_limit_reset('stopped') AS known,
       resilience.rate_limit_reset('stopped') AS known_again;
SELECT allowed, remaining FROM resilience.rate_limit('stopped', 10, '1 second', 3);

-- the reference model: GCRA written out from redis-cell's rate_limiter.rs
-- (limit = burst, nanoseconds, a missing key's TAT is now)
CREATE TEMP TABLE ref_tat (key text PRIMARY KEY, tat numeric NOT NULL);
CREATE FUNCTION pg_temp.ref_limit(p_key text, p_now timestamptz, p_rate int,
                                  p_per interval, p_burst int, p_cost int,
                                  OUT allowed boolean, OUT remaining int,
                                  OUT retry_after interval, OUT reset_after interval)
LANGUAGE plpgsql AS $$
DECLARE
    now_ns numeric := extract(epoch FROM p_now - timestamptz '2000-01-01 00:00:00+00') * 1000000000;
    emission numeric := trunc(extract(epoch FROM p_per) * 1000000000 / p_rate);
    tolerance numeric := emission * coalesce(p_burst, p_rate);
    increment numeric := emission * p_cost;
    v_tat numeric;
    new_tat numeric;
    allow_at numeric;
    diff numeric;
    ttl numeric;
    next numeric;
    wait numeric := 0;
BEGIN
    SELECT t.tat INTO v_tat FROM ref_tat t WHERE t.key = p_key;
    IF v_tat IS NULL THEN
        v_tat := now_ns;
    END IF;
    new_tat := greatest(v_tat, now_ns) + increment;
    allow_at := new_tat - tolerance;
    diff := now_ns - allow_at;
    IF diff < 0 THEN
        allowed := false;
        wait := -diff;
        ttl := v_tat - now_ns;
    ELSE
        allowed := true;
        ttl := new_tat - now_ns;
        INSERT INTO ref_tat VALUES (p_key, new_tat)
        ON CONFLICT (key) DO UPDATE SET tat = excluded.tat;
    END IF;
    next := tolerance - ttl;
    remaining := CASE WHEN next > -emission THEN trunc(next / emission) ELSE 0 END;
    retry_after := (ceil(wait / 1000)::bigint || ' microseconds')::interval;
    reset_after := (ceil(greatest(ttl, 0) / 1000)::bigint || ' microseconds')::interval;
END
$$;

-- 3000 calls on 4 keys with their own rates, random costs and random steps
-- of time (0 to 300ms, often 0): every answer must equal the model's
CREATE TEMP TABLE ref_run (i int, key text, allowed boolean, same boolean);
SELECT setseed(0.12);
DO $$
DECLARE
    t timestamptz := '2026-06-01 12:00:00+00';
    k int;
    rates int[] := '{5, 100, 3, 1000}';
    pers interval[] := '{1 second, 1 minute, 1 second, 1 second}';
    bursts int[] := '{5, 20, 1, NULL}';
    got record;
    want record;
    c int;
BEGIN
    FOR i IN 1 .. 3000 LOOP
        IF random() < 0.6 THEN
            t := t + (floor(random() * 300000)::int || ' microseconds')::interval;
        END IF;
        PERFORM set_config('resilience.clock_override', t::text, false);
        k := 1 + floor(random() * 4)::int;
        c := floor(random() * least(coalesce(bursts[k], rates[k]), 4))::int + (random() < 0.9)::int;
        c := least(c, coalesce(bursts[k], rates[k]));
        SELECT * INTO got FROM resilience.rate_limit('model-' || k, rates[k], pers[k], bursts[k], c);
        SELECT * INTO want FROM pg_temp.ref_limit('model-' || k, t, rates[k], pers[k], bursts[k], c);
        INSERT INTO ref_run VALUES (i, 'model-' || k, got.allowed,
                                    (got.allowed, got.remaining, got.retry_after, got.reset_after)
                                    IS NOT DISTINCT FROM
                                    (want.allowed, want.remaining, want.retry_after, want.reset_after));
    END LOOP;
END
$$;
SELECT key, count(*) AS calls,
       count(*) FILTER (WHERE allowed) > 50 AS many_allowed,
       count(*) FILTER (WHERE NOT allowed) > 50 AS many_denied,
       count(*) FILTER (WHERE NOT same) AS differ
FROM ref_run GROUP BY key ORDER BY key;

RESET resilience.clock_override;
-- the real clock: a fresh key allows its burst
SELECT count(*) FILTER (WHERE allowed) AS allowed
FROM pg_temp.calls(12, 'real-clock', 10, '1 hour');

-- times far from now still work (the clock may be stopped anywhere from
-- 1900 to 2099); a key at rest allows its burst there too
SET resilience.clock_override = '1901-01-01 00:00:00+00';
SELECT * FROM resilience.rate_limit('old', 1, '10 years', 1);
SET resilience.clock_override = '2099-01-01 00:00:00+00';
SELECT * FROM resilience.rate_limit('far', 1, '10 years', 1);
SELECT * FROM resilience.rate_limit('far', 1, '10 years', 1);
-- and the clock moved back from there to 1900: the key is 208 years from
-- rest, which the arithmetic holds (it overflowed when 2272 was allowed)
SET resilience.clock_override = '1900-01-02 00:00:00+00';
SELECT * FROM resilience.rate_limit('far', 1, '10 years', 1, 0);
SELECT allowed, remaining, retry_after > '200 years' AS waits FROM resilience.rate_limit('far', 1, '1 second', 1, 1);
RESET resilience.clock_override;

-- keys are up to 127 bytes
SELECT allowed FROM resilience.rate_limit(repeat('k', 127), 1);

-- bad input: 22023 (22004 for NULL)
SELECT * FROM resilience.rate_limit('bad', 0);
SELECT * FROM resilience.rate_limit('bad', -5);
SELECT * FROM resilience.rate_limit('bad', 10, '0');
SELECT * FROM resilience.rate_limit('bad', 10, '-1 second');
SELECT * FROM resilience.rate_limit('bad', 10, '1 second', 0);
SELECT * FROM resilience.rate_limit('bad', 10, '1 second', 5, -1);
SELECT * FROM resilience.rate_limit('bad', 10, '1 second', 5, 6);
SELECT * FROM resilience.rate_limit('bad', 10, '1 second', NULL, 11);
SELECT * FROM resilience.rate_limit('bad', 2000000000, '1 second');
SELECT * FROM resilience.rate_limit('bad', 1, '11 years');
SELECT * FROM resilience.rate_limit('bad', 1, '1000 years');
SELECT * FROM resilience.rate_limit('', 10);
SELECT * FROM resilience.rate_limit(repeat('k', 128), 10);
SELECT * FROM resilience.rate_limit(NULL, 10);
SELECT * FROM resilience.rate_limit('bad', NULL);
SELECT * FROM resilience.rate_limit('bad', 10, NULL);
SELECT * FROM resilience.rate_limit('bad', 10, '1 second', 5, NULL);
SELECT resilience.rate_limit_reset(NULL);
SELECT resilience.rate_limit_reset('');
SET resilience.clock_override = '2100-01-01 00:00:00+00';
SELECT * FROM resilience.rate_limit('bad', 10);
SET resilience.clock_override = '1899-12-31 00:00:00+00';
SELECT * FROM resilience.rate_limit('bad', 10);
SET resilience.clock_override = 'not a time';
SELECT * FROM resilience.rate_limit('bad', 10);
RESET resilience.clock_override;
\set VERBOSITY default
-- a NULL key or name says what to pass
SELECT * FROM resilience.rate_limit(NULL, 10);
SELECT resilience.breaker_allow(NULL);
-- the messages and hints
SELECT * FROM resilience.rate_limit('bad', 10, '1 second', 5, 6);
SELECT * FROM resilience.rate_limit('bad', 0);
-- a long period is fine while the burst refills within 10 years; past
-- 292 years it cannot be counted in nanoseconds (22023); an interval past
-- microseconds' range is 22008
SELECT allowed FROM resilience.rate_limit('long', 1000000, '100 years', 1);
SELECT * FROM resilience.rate_limit('bad', 1000000, '300 years', 1);
\set VERBOSITY sqlstate
SELECT * FROM resilience.rate_limit('bad', 1, '2147483647 mons', 1);
\set VERBOSITY default
SELECT resilience.rate_limit_reset('long');

-- reset and the clock are for operators
CREATE ROLE limit_user;
SET ROLE limit_user;
SELECT allowed FROM resilience.rate_limit('user-key', 1);
SELECT resilience.rate_limit_reset('user-key');
SET resilience.clock_override = '2026-01-01 00:00:00+00';
SELECT count(*) >= 1 AS sees_keys FROM resilience.rate_limits;
RESET ROLE;
DROP ROLE limit_user;
