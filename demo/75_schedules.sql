-- periodic jobs: a schedule enqueues one job per period into a queue,
-- whichever node ticks or claims first

-- when does an expression fire? (UTC; @every is anchored at 1970-01-01)
SELECT e, resilience.cron_next(e, '2026-01-30 23:58:30+00') AS next
FROM unnest(ARRAY['*/15 * * * *', '30 2 * * mon-fri', '0 0 $ * *', '@weekly', '@every 90 seconds']) e;

-- a bad one says which field is wrong
DO $$
DECLARE
    v_hint text;
BEGIN
    PERFORM resilience.cron_next('0 0 32 * *');
EXCEPTION WHEN invalid_parameter_value THEN
    GET STACKED DIAGNOSTICS v_hint = PG_EXCEPTION_HINT;
    RAISE NOTICE '% (%) %', SQLERRM, SQLSTATE, v_hint;
END $$;

SELECT resilience.create_queue('demo_reports');
SELECT resilience.schedule('demo-heartbeat', '@every 1 second', 'demo_reports', '{"kind": "heartbeat"}');
SELECT name, cron, queue, next_run > now() AS next_run_ahead FROM resilience.schedules;

-- two seconds later, a worker's claim enqueues the due periods first
SELECT pg_sleep(2.2);
SELECT payload -> 'resilience_schedule' ->> 'name' AS schedule, count(*) AS jobs
FROM resilience.claim('demo_reports', 10) GROUP BY 1;
SELECT name, enqueued, skipped, last_period <= now() AS caught_up FROM resilience.schedules;

SELECT resilience.unschedule('demo-heartbeat');
SELECT resilience.drop_queue('demo_reports');
