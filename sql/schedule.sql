-- Schedules: schedule(), unschedule(), tick() and the view schedules, with
-- the clock stopped (resilience.clock_override) so every period is known.
-- Periods are in 2025, before the real clock, so their jobs are ready.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SELECT resilience.create_queue('sched');
SELECT resilience.create_queue('sched_other');
SET resilience.clock_override = '2025-06-01 10:00:07+00';

-- bad arguments: nothing written
\set VERBOSITY sqlstate
SELECT resilience.schedule(NULL, '@hourly', 'sched');
SELECT resilience.schedule('s', NULL, 'sched');
SELECT resilience.schedule('s', '@hourly', NULL);
SELECT resilience.schedule('s', '@hourly', 'sched', NULL);
SELECT resilience.unschedule(NULL);
\set VERBOSITY default
SELECT resilience.schedule('', '@hourly', 'sched');
SELECT resilience.schedule('s', '61 * * * *', 'sched');
SELECT resilience.schedule('s', '@every 1 month', 'sched');
SELECT resilience.schedule('s', '@hourly', '');
SELECT resilience.schedule('s', '@hourly', 'no_such_queue');
SELECT resilience.schedule('s', '@hourly', 'sched', '[1, 2]');
SELECT resilience.schedule('s', '@hourly', 'sched', '"daily"');
SELECT resilience.schedule('s', '@hourly', 'sched', '{"resilience_schedule": 1}');
SELECT resilience.tick('');
-- a queue name longer than any queue's: 22023, as enqueue says, not 42704 or 0
SELECT resilience.schedule('s', '@hourly', repeat('q', 201));
SELECT resilience.tick(repeat('q', 201));
\set VERBOSITY sqlstate
SELECT resilience.tick(NULL);
\set VERBOSITY default
SELECT count(*) AS schedules_after_errors FROM resilience.schedule_state;

-- three schedules on two queues; the first period is the first after now
SELECT resilience.schedule('every10', '@every 10 seconds', 'sched', '{"a": 1}');
SELECT resilience.schedule('hourly', '@hourly', 'sched');
SELECT resilience.schedule('five', '*/5 * * * *', 'sched_other', '{"b": [1, 2]}');
SELECT name, cron, queue, payload, next_run, last_period, last_job_id, enqueued, skipped,
       created_at, updated_at
FROM resilience.schedules ORDER BY name;

-- nothing due yet
SELECT resilience.tick() AS jobs;

-- 28 seconds later: every10's periods 10:00:10, :20 and :30 are due
SET resilience.clock_override = '2025-06-01 10:00:35+00';
SELECT resilience.tick('sched_other') AS jobs_other_queue;
SELECT resilience.tick('sched') AS jobs;
SELECT resilience.tick('sched') AS jobs_again;
SELECT resilience.tick() AS jobs_all_queues;
SELECT queue, payload, run_at FROM resilience.jobs ORDER BY id;
SELECT name, next_run, last_period, last_job_id = (SELECT max(id) FROM resilience.jobs) AS last_job,
       enqueued, skipped, last_enqueued_at
FROM resilience.schedules WHERE name = 'every10';

-- a tick that rolls back enqueued nothing and left the period due
BEGIN;
SET LOCAL resilience.clock_override = '2025-06-01 10:00:45+00';
SELECT resilience.tick() AS jobs_rolled_back;
ROLLBACK;
SELECT next_run, enqueued FROM resilience.schedules WHERE name = 'every10';
SET resilience.clock_override = '2025-06-01 10:00:45+00';
SELECT resilience.tick() AS jobs;
SELECT count(*) AS jobs_in_queue FROM resilience.jobs;

-- replaced with the same cron: the next period stays (nothing skipped or
-- repeated), the new payload and queue apply from it
SELECT resilience.schedule('every10', '@every 10 seconds', 'sched', '{"a": 2}');
SELECT name, cron, payload, next_run, created_at, updated_at
FROM resilience.schedules WHERE name = 'every10';
-- replaced with another cron: starts over after now
SELECT resilience.schedule('hourly', '30 * * * *', 'sched');
SELECT name, cron, next_run FROM resilience.schedules WHERE name = 'hourly';

-- an hour with nobody ticking: every10 has 359 due periods (10:00:50 to
-- 11:00:30), so the newest 100 get a job each and the first of them
-- carries the 259 older ones; five has 12 (10:05 to 11:00), hourly one
SET resilience.clock_override = '2025-06-01 11:00:35+00';
SELECT resilience.tick() AS jobs;
SELECT resilience.tick() AS jobs_again;
SELECT name, next_run, last_period, enqueued, skipped
FROM resilience.schedules ORDER BY name;
SELECT payload, run_at FROM resilience.jobs
WHERE payload -> 'resilience_schedule' ->> 'skipped' <> '0';
SELECT payload -> 'resilience_schedule' ->> 'name' AS schedule,
       count(*) AS jobs,
       min(run_at) AS first_period, max(run_at) AS last_period,
       count(DISTINCT run_at) = count(*) AS one_job_per_period,
       bool_and(run_at = (payload -> 'resilience_schedule' ->> 'period')::timestamptz) AS run_at_is_period
FROM resilience.jobs GROUP BY 1 ORDER BY 1;

-- cron fields are walked period by period: '* * * * *' after 3 hours
SELECT resilience.schedule('minutely', '* * * * *', 'sched_other');
SET resilience.clock_override = '2025-06-01 14:00:35+00';
SELECT resilience.tick('sched_other') AS jobs;
SELECT name, next_run, last_period, enqueued, skipped
FROM resilience.schedules WHERE name = 'minutely';
SELECT payload -> 'resilience_schedule' AS schedule_key FROM resilience.jobs
WHERE payload -> 'resilience_schedule' ->> 'name' = 'minutely' ORDER BY id LIMIT 2;

-- unschedule: true once; jobs already enqueued stay
SELECT count(*) AS hourly_jobs FROM resilience.jobs WHERE payload -> 'resilience_schedule' ->> 'name' = 'hourly';
SELECT resilience.unschedule('hourly') AS dropped, resilience.unschedule('hourly') AS again,
       resilience.unschedule('never_made') AS unknown;
SELECT count(*) AS hourly_jobs_kept FROM resilience.jobs WHERE payload -> 'resilience_schedule' ->> 'name' = 'hourly';
SELECT name FROM resilience.schedules ORDER BY name;

-- claim() ticks its queue first (schedule_check_interval 0: at every claim)
SET resilience.schedule_check_interval = 0;
SELECT resilience.create_queue('sched_claim');
SELECT resilience.schedule('by_claim', '@every 1 minute', 'sched_claim', '{"c": true}');
SELECT count(*) AS nothing_due_yet FROM resilience.claim('sched_claim', 10);
SET resilience.clock_override = '2025-06-01 14:03:10+00';
SELECT payload, run_at FROM resilience.claim('sched_claim', 10, lease => '1 hour');
SELECT count(*) AS again FROM resilience.claim('sched_claim', 10);
SELECT next_run, last_period, enqueued FROM resilience.schedules WHERE name = 'by_claim';

-- a worker granted only claiming (as in docs/queues.md) keeps claiming:
-- its claims leave the schedules to roles that may tick and enqueue
CREATE ROLE sched_worker;
GRANT SELECT ON resilience.job_queues TO sched_worker;
GRANT SELECT, UPDATE, DELETE ON resilience.job_state TO sched_worker;
SET resilience.clock_override = '2025-06-01 14:05:10+00';
SET ROLE sched_worker;
SELECT count(*) AS worker_claimed FROM resilience.claim('sched_claim', 10);
RESET ROLE;
SELECT next_run, last_period, enqueued FROM resilience.schedules WHERE name = 'by_claim';
-- with the rights to tick too (but still not to enqueue): the same
GRANT SELECT, UPDATE ON resilience.schedule_state TO sched_worker;
SET ROLE sched_worker;
SELECT count(*) AS worker_claimed FROM resilience.claim('sched_claim', 10);
RESET ROLE;
SELECT enqueued FROM resilience.schedules WHERE name = 'by_claim';
-- with INSERT on job_state too, but in REPEATABLE READ, where an enqueue
-- locks the queue's row (an UPDATE right on job_queues): the same, not 42501
GRANT INSERT ON resilience.job_state TO sched_worker;
SET ROLE sched_worker;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) AS worker_claimed FROM resilience.claim('sched_claim', 10);
COMMIT;
RESET ROLE;
SELECT enqueued FROM resilience.schedules WHERE name = 'by_claim';
-- and in READ COMMITTED its claim enqueues the two due periods
SET ROLE sched_worker;
SELECT payload -> 'resilience_schedule' ->> 'period' AS worker_claimed FROM resilience.claim('sched_claim', 10);
RESET ROLE;
SELECT next_run, last_period, enqueued FROM resilience.schedules WHERE name = 'by_claim';
REVOKE ALL ON resilience.job_queues, resilience.job_state, resilience.schedule_state FROM sched_worker;
DROP ROLE sched_worker;
SELECT resilience.drop_queue('sched_claim');
RESET resilience.schedule_check_interval;

-- a row written into schedule_state directly with a cron that does not
-- parse: claims of its queue go on (a warning, the schedule parked), and
-- so does tick(); schedule() defines it again
SET resilience.schedule_check_interval = 0;
SELECT resilience.create_queue('sched_bad');
SELECT resilience.enqueue('sched_bad', '{"n": 1}') > 0 AS enqueued;
INSERT INTO resilience.schedule_state (name, cron, queue, next_run, created_at, updated_at)
VALUES ('planted', 'not a cron', 'sched_bad', '2025-06-01 14:00:00+00', now(), now());
SELECT payload FROM resilience.claim('sched_bad', 10);
SELECT name, next_run FROM resilience.schedules WHERE name = 'planted';
SELECT count(*) AS again FROM resilience.claim('sched_bad', 10);
UPDATE resilience.schedule_state SET next_run = '2025-06-01 14:00:00+00' WHERE name = 'planted';
SELECT resilience.tick() >= 0 AS ticked;
UPDATE resilience.schedule_state SET cron = '@hourly', next_run = '-infinity' WHERE name = 'planted';
SELECT count(*) AS minus_infinity FROM resilience.claim('sched_bad', 10);
SELECT name, next_run FROM resilience.schedules WHERE name = 'planted';
SELECT resilience.schedule('planted', '@hourly', 'sched_bad');
SELECT name, cron, next_run FROM resilience.schedules WHERE name = 'planted';
SELECT resilience.drop_queue('sched_bad');
RESET resilience.schedule_check_interval;

-- a role without rights on schedule_state: tick and schedule raise 42501
CREATE ROLE sched_nobody;
SET ROLE sched_nobody;
\set VERBOSITY sqlstate
SELECT resilience.tick();
SELECT resilience.schedule('s', '@hourly', 'sched');
SELECT resilience.unschedule('every10');
\set VERBOSITY default
RESET ROLE;
DROP ROLE sched_nobody;

-- the labels
SELECT p.oid::regprocedure, p.provolatile, p.proparallel, p.proisstrict
FROM pg_proc p
WHERE p.oid IN ('resilience.schedule(text, text, text, jsonb)'::regprocedure,
                'resilience.unschedule(text)'::regprocedure,
                'resilience.tick(text)'::regprocedure,
                'resilience.tick()'::regprocedure)
ORDER BY 1::text;

-- any schedule name reaches the job's payload intact
SELECT resilience.schedule(E'we"ird \\ name\t\u00e9', '@every 1 hour', 'sched');
SET resilience.clock_override = '2025-06-01 15:00:01+00';
SELECT resilience.tick('sched') >= 1 AS ticked;
SELECT payload -> 'resilience_schedule' ->> 'name' = E'we"ird \\ name\t\u00e9' AS name_intact,
       payload -> 'resilience_schedule' AS schedule_key
FROM resilience.jobs WHERE payload -> 'resilience_schedule' ->> 'name' LIKE 'we%';
SELECT resilience.unschedule(E'we"ird \\ name\t\u00e9');

-- drop_queue() drops the queue's schedules
SELECT resilience.drop_queue('sched_other');
SELECT name FROM resilience.schedules ORDER BY name;
SELECT resilience.unschedule(name) FROM resilience.schedules;
SELECT resilience.drop_queue('sched');
RESET resilience.clock_override;
