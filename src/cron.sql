-------------------------------------------------------------------------------
-- Periodic jobs: schedules enqueued into queues, exactly once per period
-------------------------------------------------------------------------------

CREATE FUNCTION resilience.cron_next(
    cron text,
    after timestamptz DEFAULT pg_catalog.now())
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'cron_next'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION resilience.cron_next(text, timestamptz) IS
'the first period of a schedule expression strictly after after (5 cron fields in UTC, a macro such as @daily, or @every <interval> anchored at the Unix epoch); 22023 naming the bad field';

-- One row per schedule.  next_run is the first period not yet enqueued: the
-- transaction that enqueues a period moves it on, so a period is enqueued
-- exactly once whoever ticks (tick(), or claim() on the schedule's queue).
-- drop_queue() drops the queue's schedules with it.
-- Rows are written with the caller's rights: grant SELECT, INSERT, UPDATE,
-- DELETE on this table to the roles that schedule, and SELECT, UPDATE to
-- those whose claim() or tick() should drive schedules.
CREATE TABLE resilience.schedule_state (
    name text PRIMARY KEY CHECK (name <> ''),
    cron text NOT NULL,
    queue text NOT NULL REFERENCES resilience.job_queues (name) ON DELETE CASCADE,
    payload jsonb NOT NULL DEFAULT '{}'
        CHECK (pg_catalog.jsonb_typeof(payload) OPERATOR(pg_catalog.=) 'object'),
    next_run timestamptz NOT NULL,
    last_period timestamptz,
    last_enqueued_at timestamptz,
    last_job_id bigint,
    enqueued bigint NOT NULL DEFAULT 0,
    skipped bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE INDEX schedule_state_queue_next_run
    ON resilience.schedule_state (queue, next_run);

COMMENT ON TABLE resilience.schedule_state IS
'periodic jobs, one row per schedule: next_run is the first period not yet enqueued, last_period the latest enqueued';

GRANT SELECT, INSERT, UPDATE, DELETE ON resilience.schedule_state TO @extowner@ WITH GRANT OPTION;

-- dump the schedules with the database, with the periods already enqueued
SELECT pg_catalog.pg_extension_config_dump('resilience.schedule_state', '');

CREATE FUNCTION resilience.schedule(
    name text,
    cron text,
    queue text,
    payload jsonb DEFAULT '{}')
RETURNS void
AS 'MODULE_PATHNAME', 'cron_schedule'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.schedule(text, text, text, jsonb) IS
'create or replace a schedule: enqueue payload into queue once per period of cron, from the first period after now (a replacement with the same cron keeps its next period)';

CREATE FUNCTION resilience.unschedule(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF unschedule.name IS NULL THEN
        RAISE EXCEPTION 'name must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    DELETE FROM resilience.schedule_state s
    WHERE s.name OPERATOR(pg_catalog.=) unschedule.name;
    RETURN FOUND;
END
$$;

COMMENT ON FUNCTION resilience.unschedule(text) IS
'drop a schedule (jobs already enqueued stay); true if it existed';

-- tick() for every queue, tick(queue) for one: two functions rather than a
-- NULL default, so that a NULL queue is 22004 as everywhere else
CREATE FUNCTION resilience.tick()
RETURNS integer
AS 'MODULE_PATHNAME', 'cron_tick'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.tick() IS
'enqueue the due periods of every schedule, each exactly once, in this transaction; the number of jobs enqueued';

CREATE FUNCTION resilience.tick(queue text)
RETURNS integer
AS 'MODULE_PATHNAME', 'cron_tick'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.tick(text) IS
'enqueue the due periods of the schedules of queue, each exactly once, in this transaction; the number of jobs enqueued';

-- security_invoker: the caller's privileges and row-level security on
-- schedule_state apply
CREATE VIEW resilience.schedules WITH (security_invoker) AS
SELECT s.name, s.cron, s.queue, s.payload, s.next_run, s.last_period,
       s.last_enqueued_at, s.last_job_id, s.enqueued, s.skipped,
       s.created_at, s.updated_at
FROM resilience.schedule_state s;

GRANT SELECT ON resilience.schedules TO @extowner@ WITH GRANT OPTION;

COMMENT ON VIEW resilience.schedules IS
'every schedule: cron, queue, payload, next run, last period enqueued and its job, jobs enqueued and periods folded by backfill';
