-- The schedule expressions behind schedule(): cron_next() against fixed times
-- (so the results never depend on the wall clock), and every way an
-- expression can be wrong.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- the next n periods of e after t, as one line
CREATE FUNCTION pg_temp.nexts(e text, t timestamptz, n int DEFAULT 5)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text[] := '{}';
BEGIN
    FOR i IN 1..n LOOP
        t := resilience.cron_next(e, t);
        r := r || to_char(t, 'YYYY-MM-DD Dy HH24:MI:SS');
    END LOOP;
    RETURN array_to_string(r, ', ');
END
$$;

-- SQLSTATE, message, detail and hint of cron_next(e), or 'accepted'
CREATE FUNCTION pg_temp.bad(e text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
    v_msg text;
    v_detail text;
    v_hint text;
BEGIN
    PERFORM resilience.cron_next(e, '2026-01-01');
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT,
        v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
    RETURN v_state || ' ' || v_msg || E'\n  detail: ' || v_detail || E'\n  hint: ' || v_hint;
END
$$;

-- five fields: lists, ranges, steps, names, 7 = Sunday
SELECT e, pg_temp.nexts(e, '2026-01-30 23:58:30+00') AS next_five
FROM unnest(ARRAY[
    '* * * * *',
    '*/15 * * * *',
    '0 * * * *',
    '5,10,50-52 * * * *',
    '0-30/10 9-17 * * *',
    '30 2 * * *',
    '0 0 1 * *',
    '0 0 31 * *',
    '0 12 29 2 *',
    '0 0 * * 0',
    '0 0 * * 7',
    '0 0 * * sun',
    '0 0 * * MON-fri',
    '0 0 * * 5-7',
    '0 0 * jan,JUL *',
    '0 0 1 feb-apr *',
    '15 10 * * 1,3,5',
    '0 0 $ * *',
    '0 0 $ 2 *',
    '59 23 * * *',
    '*/7 * * * *',
    '0 */5 * * *',
    '0 0 */10 * *',
    '0 0 * */4 *',
    '0 0 * * */2',
    '  1   2  3  4  *  ',
    E'0\t0\t1\t1\t*'
]) AS e;

-- day of month and day of week: both restricted, either matches (Vixie cron);
-- one of them '*' (or '*/n'), both must
SELECT e, pg_temp.nexts(e, '2026-02-01 00:00+00', 6) AS next_six
FROM unnest(ARRAY[
    '0 0 13 * 5',
    '0 0 1,15 * 1',
    '0 0 * * 5',
    '0 0 13 * *',
    '0 0 */10 * 1',
    '0 0 1-7 * */7',
    '0 0 $ * 1'
]) AS e;

-- macros
SELECT e, pg_temp.nexts(e, '2026-12-31 23:59:59+00', 3) AS next_three
FROM unnest(ARRAY['@yearly', '@annually', '@monthly', '@weekly', '@daily',
                  '@midnight', '@hourly', '@DAILY']) AS e;

-- intervals: periods anchored at 1970-01-01 00:00:00 UTC, whatever after is
SELECT e, pg_temp.nexts(e, '2026-01-30 23:58:31.5+00', 4) AS next_four
FROM unnest(ARRAY[
    '@every 30 seconds',
    '@every 1 second',
    '@every 90s',
    '@every 7 minutes',
    '@every 1h30m',
    '@every 2 hours 15 min',
    '@every 1 day',
    '@every 1 week',
    '@every 3660 days',
    '@EVERY 1 HOUR',
    '45 seconds',
    '1 second'
]) AS e;

-- strictly after: a period equal to after is not returned
SELECT resilience.cron_next('0 * * * *', '2026-03-01 10:00:00+00') AS on_the_hour,
       resilience.cron_next('0 * * * *', '2026-03-01 09:59:59.999999+00') AS just_before,
       resilience.cron_next('@every 10 seconds', '2026-03-01 10:00:00+00') AS every_on,
       resilience.cron_next('@every 10 seconds', '2026-03-01 09:59:59.999999+00') AS every_before;

-- the same for every node: the time zone of the session does not matter
SET TimeZone = 'America/New_York';
SELECT resilience.cron_next('0 0 * * *', '2026-03-08 12:00:00+00') AS utc_midnight_in_new_york;
SET TimeZone = 'UTC';

-- leap years: 29 February, the last day of February, across a century
SELECT pg_temp.nexts('0 0 29 2 *', '2096-03-01+00', 2) AS feb29,
       pg_temp.nexts('0 0 $ 2 *', '2099-03-01+00', 3) AS feb_last;

-- before 1970 and far ahead
SELECT pg_temp.nexts('0 0 1 1 *', '1899-12-31 12:00+00', 2) AS before_1900,
       pg_temp.nexts('@every 1 day', '1960-06-15 12:00+00', 2) AS every_before_1970,
       resilience.cron_next('@hourly', '294276-12-31 22:30+00') AS near_the_end;

-- the default after is now(): the next minute lies within one minute
SELECT resilience.cron_next('* * * * *') > now() AND
       resilience.cron_next('* * * * *') <= now() + interval '1 minute' AS default_after_is_now;

-- labelled immutable: it reads no clock, no setting, no table
SELECT provolatile, proparallel FROM pg_proc
WHERE oid = 'resilience.cron_next(text, timestamptz)'::regprocedure;

-- bad expressions: 22023, the message names the field, the hint what it takes
\pset format unaligned
\pset tuples_only on
SELECT '[' || e || '] ' || pg_temp.bad(e) AS result
FROM unnest(ARRAY[
    '',
    '   ',
    '* * * *',
    '* * * * * *',
    '60 * * * *',
    '-1 * * * *',
    '* 24 * * *',
    '* * 0 * *',
    '* * 32 * *',
    '* * * 0 *',
    '* * * 13 *',
    '* * * * 8',
    '* * * foo *',
    '* * * * funday',
    '* * * * jan',
    '* * * mon *',
    '5-1 * * * *',
    '*/0 * * * *',
    '5/15 * * * *',
    '*/ * * * *',
    '*/x * * * *',
    '1,,2 * * * *',
    '1, * * * *',
    ',1 * * * *',
    '1- * * * *',
    'a * * * *',
    '1x * * * *',
    '* * $5 * *',
    '* * 1,$ * *',
    '* * * * $',
    '0 0 30 2 *',
    '0 0 31 4,6,9,11 *',
    '99999999999999999999 * * * *',
    '@every',
    '@every 0 seconds',
    '@every 10',
    '@every seconds',
    '@every 1 month',
    '@every 1 year',
    '@every 5 fortnights',
    '@every 3661 days',
    '@every 99999999999999999999 seconds',
    '@every 1.5 hours',
    '@every -5 minutes',
    '@reboot',
    '@sometimes',
    '@daily 0',
    '60 seconds',
    '0 seconds',
    '5 minutes',
    '5 seconds 5 seconds'
]) AS e;
SELECT pg_temp.bad(repeat('1,', 500) || '1 * * * *') AS too_long;
-- non-ASCII input is quoted up to its first non-ASCII byte, never cut inside
-- a character
SELECT '[' || e || '] ' || pg_temp.bad(e) AS result
FROM unnest(ARRAY[U&'* * * * \00E9t\00E9', U&'@caf\00E9', U&'1 2 3 4 5 \00FC', U&'@every 5 m\00EEn']) AS e;
\pset format aligned
\pset tuples_only off

-- NULL arguments: 22004 naming them; infinite after: 22023
\set VERBOSITY sqlstate
SELECT resilience.cron_next(NULL, '2026-01-01');
SELECT resilience.cron_next('* * * * *', NULL);
SELECT resilience.cron_next('* * * * *', 'infinity');
SELECT resilience.cron_next('* * * * *', '-infinity');
\set VERBOSITY default
-- past the end of the timestamp range: 22008
SELECT resilience.cron_next('0 0 1 1 *', '294276-12-31 23:59+00');
