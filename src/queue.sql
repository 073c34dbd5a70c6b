-------------------------------------------------------------------------------
-- Job queues: enqueue, claim with a lease and a fencing token, complete, fail
-------------------------------------------------------------------------------

-- One row per queue.  Queues are explicit: every queue function refuses a
-- name that is not here (42704), so a typo does not silently create one.
CREATE TABLE resilience.job_queues (
    name text PRIMARY KEY
        CHECK (name <> '' AND pg_catalog.octet_length(name) OPERATOR(pg_catalog.<=) 200),
    created_at timestamptz NOT NULL
);

COMMENT ON TABLE resilience.job_queues IS
'the job queues, one row per queue (create_queue, drop_queue)';

-- One row per job.  state:
--   pending    waiting for run_at, then ready to be claimed
--   blocked    waiting for the job before it in its group (group_key)
--   running    claimed: token is the claim's, lease_expires_at its lease
--   dead       out of attempts (last_error says why); redrive() brings it back
--   cancelled  by cancel()
-- A completed job is deleted by complete(): the table holds only work still
-- to do and the dead and cancelled jobs kept for inspection (purge_jobs()).
-- Rows are written by the queue functions only, which keep the invariants
-- (a known state, priority_key = -priority, attempt <= max_attempts): no
-- CHECK, default or generated column, each of which an INSERT re-reads
-- from the catalog's text at every statement (a third of an enqueue).
-- fillfactor: the updates of a claim (pending -> running) and of extend()
-- find room on the row's own page.
CREATE TABLE resilience.job_state (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- an existing queue's name, as enqueue and drop_queue keep it (see
    -- src/queue.c); no foreign key, whose trigger locks the queue's row
    -- for every job
    queue text NOT NULL,
    state text NOT NULL,
    payload jsonb NOT NULL,
    priority integer NOT NULL,
    -- -priority, the claim order's first key: ascending, so a claim can
    -- start its scan at a row comparison (priority_key, run_at, id) >= (...)
    priority_key bigint NOT NULL,
    run_at timestamptz NOT NULL,
    attempt integer NOT NULL,
    max_attempts integer NOT NULL,
    token bigint NOT NULL,
    lease_expires_at timestamptz,
    dedup_key text,
    group_key text,
    enqueued_at timestamptz NOT NULL,
    finished_at timestamptz,
    last_error text
) WITH (fillfactor = 80);

COMMENT ON TABLE resilience.job_state IS
'every job not yet completed, and the dead and cancelled ones until purged (completed jobs are deleted)';

-- The claim scan: ready jobs of a queue by priority (highest first), then
-- run_at, then id.  Only pending rows are in it, so a claimed, dead or
-- cancelled job leaves it.
CREATE INDEX job_state_ready ON resilience.job_state
    (queue, priority_key, run_at, id)
    WHERE state OPERATOR(pg_catalog.=) 'pending';

-- Expired leases, found by the claim of the same queue.
CREATE INDEX job_state_running ON resilience.job_state (queue, lease_expires_at)
    WHERE state OPERATOR(pg_catalog.=) 'running';

-- dedup_key: one unfinished job per key and queue; enqueue's ON CONFLICT
-- names this index's predicate.
CREATE UNIQUE INDEX job_state_dedup ON resilience.job_state (queue, dedup_key)
    WHERE dedup_key IS NOT NULL
      AND state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'blocked', 'running']);

-- Groups: at most one head (pending or running job) per group, whatever
-- the interleaving; the others wait as blocked, in id order.
CREATE UNIQUE INDEX job_state_group_head ON resilience.job_state (queue, group_key)
    WHERE group_key IS NOT NULL
      AND state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running']);

CREATE INDEX job_state_group ON resilience.job_state (queue, group_key, id)
    WHERE group_key IS NOT NULL
      AND state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'blocked', 'running']);

-- Dead and cancelled jobs by age, for purge_jobs().
CREATE INDEX job_state_finished ON resilience.job_state (queue, finished_at)
    WHERE state OPERATOR(pg_catalog.=) ANY (ARRAY['dead', 'cancelled']);

-- As lease_state: the installing role may use queues and grant them on.
GRANT SELECT, INSERT, UPDATE, DELETE ON resilience.job_queues TO @extowner@ WITH GRANT OPTION;
GRANT SELECT, INSERT, UPDATE, DELETE ON resilience.job_state TO @extowner@ WITH GRANT OPTION;
GRANT USAGE, SELECT ON SEQUENCE resilience.job_state_id_seq TO @extowner@ WITH GRANT OPTION;
-- and may set the id sequence, as a restore of its own pg_dump does (it may
-- write job_state itself, so this gives it nothing more)
GRANT UPDATE ON SEQUENCE resilience.job_state_id_seq TO @extowner@;

-- dump queues and jobs with the database: jobs are work not yet done, and a
-- restored job keeps its token, so tokens stay monotonic per job
SELECT pg_catalog.pg_extension_config_dump('resilience.job_queues', '');
SELECT pg_catalog.pg_extension_config_dump('resilience.job_state', '');
-- and the id sequence's position: restored without it, ids would start at
-- 1 again, collide with the restored jobs, and hand a new job an old job's
-- (id, token), which that job's stale worker could complete
SELECT pg_catalog.pg_extension_config_dump('resilience.job_state_id_seq', '');

CREATE TYPE resilience.claimed_job AS (
    id bigint,
    queue text,
    payload jsonb,
    attempt integer,
    max_attempts integer,
    token bigint,
    lease_expires_at timestamptz,
    group_key text,
    enqueued_at timestamptz,
    priority integer,
    run_at timestamptz
);

COMMENT ON TYPE resilience.claimed_job IS
'a job handed out by claim(): pass id and token to complete(), fail() or extend()';

CREATE FUNCTION resilience.queue_clock()
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'queue_clock'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION resilience.queue_clock() IS
'the time the queue functions decide at: clock_timestamp(), or resilience.clock_override when set';

CREATE FUNCTION resilience.create_queue(queue text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'queue_create'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.create_queue(text) IS
'create a job queue; true if it was created, false if it existed';

CREATE FUNCTION resilience.drop_queue(queue text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'queue_drop'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.drop_queue(text) IS
'drop a job queue and every job in it; true if it existed';

CREATE FUNCTION resilience.enqueue(
    queue text,
    payload jsonb DEFAULT '{}',
    run_at timestamptz DEFAULT NULL,
    priority integer DEFAULT 0,
    dedup_key text DEFAULT NULL,
    max_attempts integer DEFAULT 25,
    group_key text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'queue_enqueue'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.enqueue(text, jsonb, timestamptz, integer, text, integer, text) IS
'add a job to queue in the caller''s transaction: its id (with dedup_key, the unfinished job''s of that key if there is one)';

CREATE FUNCTION resilience.enqueue_many(
    queue text,
    payloads jsonb[],
    run_at timestamptz DEFAULT NULL,
    priority integer DEFAULT 0,
    max_attempts integer DEFAULT 25,
    group_key text DEFAULT NULL)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'queue_enqueue_many'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.enqueue_many(text, jsonb[], timestamptz, integer, integer, text) IS
'add one job per payload to queue in one statement: their ids, in the order of payloads';

CREATE FUNCTION resilience.claim(
    queue text,
    max_jobs integer DEFAULT 1,
    lease interval DEFAULT '30s',
    wait interval DEFAULT '0')
RETURNS SETOF resilience.claimed_job
AS 'MODULE_PATHNAME', 'queue_claim'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1;

COMMENT ON FUNCTION resilience.claim(text, integer, interval, interval) IS
'take up to max_jobs ready jobs of queue for lease, highest priority then oldest first, skipping jobs other claimers hold; waits up to wait for one';

CREATE FUNCTION resilience.complete(id bigint, token bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'queue_complete'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.complete(bigint, bigint) IS
'finish a claimed job (deleting it) in the transaction of its effects; RL001 unless token is the job''s current claim';

CREATE FUNCTION resilience.complete_many(ids bigint[], tokens bigint[])
RETURNS void
AS 'MODULE_PATHNAME', 'queue_complete_many'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.complete_many(bigint[], bigint[]) IS
'complete() for each job ids[i] claimed with tokens[i], all or none, in one statement for ungrouped jobs; RL001 for the first whose token is not its current claim';

CREATE FUNCTION resilience.fail(id bigint, token bigint, error text,
                                retry_in interval DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'queue_fail'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.fail(bigint, bigint, text, interval) IS
'give a claimed job back: ''retry'' (after retry_in, or backoff_delay(attempt)) or ''dead'' when out of attempts; RL001 unless token is current';

CREATE FUNCTION resilience.extend(id bigint, token bigint, lease interval)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'queue_extend'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.extend(bigint, bigint, interval) IS
'heartbeat: the claimed job''s lease now runs until now + lease (returned); RL001 unless token is current';

CREATE FUNCTION resilience.cancel(id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'queue_cancel'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.cancel(bigint) IS
'cancel a job that is not finished; true if it was cancelled now (a running job''s worker then gets RL001)';

CREATE FUNCTION resilience.redrive(queue text, ids bigint[] DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'queue_redrive'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.redrive(text, bigint[]) IS
'put dead jobs of queue (those of ids, or all) back to ready with their attempts reset, except those whose dedup_key an unfinished job holds; how many';

CREATE FUNCTION resilience.purge_jobs(queue text, older_than interval)
RETURNS bigint
AS 'MODULE_PATHNAME', 'queue_purge'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.purge_jobs(text, interval) IS
'delete the dead and cancelled jobs of queue that finished more than older_than ago; how many';

-- security_invoker: the caller's rights and row-level security on job_state
CREATE VIEW resilience.jobs WITH (security_invoker) AS
SELECT j.id, j.queue,
       CASE WHEN j.state OPERATOR(pg_catalog.<>) 'pending' THEN j.state
            WHEN j.run_at OPERATOR(pg_catalog.>) c.now THEN 'scheduled'
            ELSE 'ready' END AS state,
       j.priority, j.run_at, j.attempt, j.max_attempts, j.token,
       j.lease_expires_at, j.group_key, j.dedup_key, j.enqueued_at,
       j.finished_at, j.last_error, j.payload
FROM resilience.job_state j,
     (SELECT resilience.queue_clock() AS now) c;

GRANT SELECT ON resilience.jobs TO @extowner@ WITH GRANT OPTION;

COMMENT ON VIEW resilience.jobs IS
'one row per job kept: state (ready, scheduled, blocked, running, dead, cancelled), attempts, lease and last error';

CREATE VIEW resilience.queues WITH (security_invoker) AS
SELECT q.name AS queue,
       coalesce(s.ready, 0) AS ready,
       coalesce(s.scheduled, 0) AS scheduled,
       coalesce(s.blocked, 0) AS blocked,
       coalesce(s.running, 0) AS running,
       coalesce(s.dead, 0) AS dead,
       coalesce(s.cancelled, 0) AS cancelled,
       c.now OPERATOR(pg_catalog.-) s.oldest_ready AS oldest_ready_age,
       q.created_at
FROM resilience.job_queues q
CROSS JOIN (SELECT resilience.queue_clock() AS now) c
LEFT JOIN LATERAL (
    SELECT pg_catalog.count(*) FILTER (WHERE j.state OPERATOR(pg_catalog.=) 'pending'
                                         AND j.run_at OPERATOR(pg_catalog.<=) c.now) AS ready,
           pg_catalog.count(*) FILTER (WHERE j.state OPERATOR(pg_catalog.=) 'pending'
                                         AND j.run_at OPERATOR(pg_catalog.>) c.now) AS scheduled,
           pg_catalog.count(*) FILTER (WHERE j.state OPERATOR(pg_catalog.=) 'blocked') AS blocked,
           pg_catalog.count(*) FILTER (WHERE j.state OPERATOR(pg_catalog.=) 'running') AS running,
           pg_catalog.count(*) FILTER (WHERE j.state OPERATOR(pg_catalog.=) 'dead') AS dead,
           pg_catalog.count(*) FILTER (WHERE j.state OPERATOR(pg_catalog.=) 'cancelled') AS cancelled,
           pg_catalog.min(j.run_at) FILTER (WHERE j.state OPERATOR(pg_catalog.=) 'pending'
                                              AND j.run_at OPERATOR(pg_catalog.<=) c.now) AS oldest_ready
    FROM resilience.job_state j
    WHERE j.queue OPERATOR(pg_catalog.=) q.name
) s ON true;

GRANT SELECT ON resilience.queues TO @extowner@ WITH GRANT OPTION;

COMMENT ON VIEW resilience.queues IS
'per queue: jobs ready, scheduled, blocked, running, dead and cancelled, and how long the oldest ready job has waited';
