-- Job queues with the caller's rights: a worker role limited by row-level
-- security to its queue claims and completes only that queue's jobs, and
-- can do nothing else it was not granted (docs/queues.md, "Worker roles").
\set VERBOSITY default
SET resilience.clock_override = '2030-01-01 12:00:00+00';
SELECT resilience.create_queue('rq_emails'), resilience.create_queue('rq_billing');
SELECT resilience.enqueue('rq_emails', '{"n": 1}') AS e1 \gset
SELECT resilience.enqueue('rq_emails', '{"n": 2}') AS e2 \gset
SELECT resilience.enqueue('rq_billing', '{"n": 1}') AS b1 \gset
SELECT resilience.enqueue('rq_billing', '{"n": 2}') AS b2 \gset

CREATE ROLE regress_queue_worker;
GRANT SELECT ON resilience.job_queues TO regress_queue_worker;
GRANT SELECT, UPDATE, DELETE ON resilience.job_state TO regress_queue_worker;
ALTER TABLE resilience.job_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY rq_emails_worker ON resilience.job_state TO regress_queue_worker
    USING (queue = 'rq_emails');

-- a job of the other queue, claimed by its own worker (here: the superuser)
SELECT token AS btoken FROM resilience.claim('rq_billing') \gset

SET ROLE regress_queue_worker;
-- its own queue: claim, extend, fail, complete
SELECT id = :e1 AS is_e1, payload FROM resilience.claim('rq_emails');
SELECT token AS etoken FROM resilience.job_state WHERE id = :e1 \gset
SELECT resilience.extend(:e1, :etoken, '1 minute') IS NOT NULL AS extended;
SELECT resilience.fail(:e1, :etoken, 'retry me', '0');
SELECT id = :e1 AS is_e1, attempt FROM resilience.claim('rq_emails');
SELECT token AS etoken FROM resilience.job_state WHERE id = :e1 \gset
SELECT resilience.complete(:e1, :etoken);
-- the other queue: nothing to claim, and its jobs are not there to touch
SELECT count(*) FROM resilience.claim('rq_billing', 10);
SELECT count(*) FROM resilience.job_state WHERE queue = 'rq_billing';
\set VERBOSITY sqlstate
SELECT resilience.complete(:b1, :btoken);
SELECT resilience.complete_many(ARRAY[:b1], ARRAY[:btoken]);
SELECT resilience.extend(:b1, :btoken, '1 hour');
SELECT resilience.fail(:b1, :btoken, 'sabotage');
\set VERBOSITY default
SELECT resilience.cancel(:b2);
-- what was not granted is refused
\set VERBOSITY sqlstate
SELECT resilience.enqueue('rq_emails', '{}');
SELECT resilience.create_queue('rq_mine');
SELECT resilience.drop_queue('rq_billing');
\set VERBOSITY default
RESET ROLE;

-- the other queue's jobs are untouched: b1 still running with its token,
-- b2 still ready
SELECT id = :b1 AS is_b1, state, token = :btoken AS same_token, last_error
FROM resilience.jobs WHERE queue = 'rq_billing' ORDER BY id;
SELECT queue, ready, running, dead FROM resilience.queues
WHERE queue IN ('rq_emails', 'rq_billing') ORDER BY queue;

-- row-level security that lets the worker see and update its job but not
-- delete it: complete says so (42501), not RL001 as if the token were
-- stale; with no UPDATE either, extend and fail say so too
CREATE POLICY rq_no_delete ON resilience.job_state AS RESTRICTIVE FOR DELETE
    TO regress_queue_worker USING (payload OPERATOR(pg_catalog.->>) 'n' IS DISTINCT FROM '9');
SELECT resilience.enqueue('rq_emails', '{"n": 9}', priority => 10) AS e9 \gset
-- the error of complete(id, token), its job id (set by earlier suites) as N
CREATE FUNCTION pg_temp.complete_error(p_id bigint, p_token bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    s text; m text; d text; h text;
BEGIN
    PERFORM resilience.complete(p_id, p_token);
    RETURN 'completed';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT,
        d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RETURN concat_ws(E'\n', s, replace(m, p_id::text, 'N'), d, h);
END
$$;
SET ROLE regress_queue_worker;
SELECT id = :e9 AS is_e9 FROM resilience.claim('rq_emails');
SELECT token AS e9token FROM resilience.job_state WHERE id = :e9 \gset
SELECT pg_temp.complete_error(:e9, :e9token);
\set VERBOSITY sqlstate
SELECT resilience.complete_many(ARRAY[:e9], ARRAY[:e9token]);
\set VERBOSITY default
SELECT resilience.extend(:e9, :e9token, '1 minute') IS NOT NULL AS extended;
RESET ROLE;
CREATE POLICY rq_no_update ON resilience.job_state AS RESTRICTIVE FOR UPDATE
    TO regress_queue_worker USING (payload OPERATOR(pg_catalog.->>) 'n' IS DISTINCT FROM '9');
SET ROLE regress_queue_worker;
\set VERBOSITY sqlstate
SELECT resilience.extend(:e9, :e9token, '1 minute');
SELECT resilience.fail(:e9, :e9token, 'no update');
\set VERBOSITY default
RESET ROLE;
SELECT state, token = :e9token AS same_token, last_error FROM resilience.jobs WHERE id = :e9;
DROP POLICY rq_no_delete ON resilience.job_state;
DROP POLICY rq_no_update ON resilience.job_state;
SELECT resilience.cancel(:e9);

-- a producer: enqueue only (docs/queues.md, "Worker roles")
CREATE ROLE regress_queue_producer;
GRANT SELECT, UPDATE (created_at) ON resilience.job_queues TO regress_queue_producer;
GRANT SELECT, INSERT ON resilience.job_state TO regress_queue_producer;
GRANT USAGE ON SEQUENCE resilience.job_state_id_seq TO regress_queue_producer;
CREATE POLICY rq_producer ON resilience.job_state TO regress_queue_producer USING (true);
-- a key held by a job the producer cannot see (another tenant's, say):
-- 23505 at once, not 40001 "Retry the transaction" (retrying cannot help)
CREATE POLICY rq_producer_hide ON resilience.job_state AS RESTRICTIVE FOR SELECT
    TO regress_queue_producer USING (payload OPERATOR(pg_catalog.->>) 'n' IS DISTINCT FROM '7');
SELECT resilience.enqueue('rq_billing', '{"n": 7}', dedup_key => 'hidden') AS hidden \gset
SET ROLE regress_queue_producer;
\set VERBOSITY default
SELECT resilience.enqueue('rq_billing', '{"n": 8}', dedup_key => 'hidden');
\set VERBOSITY sqlstate
SELECT resilience.enqueue('rq_billing', '{"n": 8}', dedup_key => 'hidden');
\set VERBOSITY default
SELECT resilience.enqueue('rq_billing', '{"n": 3}') > 0 AS enqueued;
SELECT cardinality(resilience.enqueue_many('rq_billing', ARRAY['{"n": 4}', '{"n": 5}']::jsonb[])) AS enqueued;
SELECT resilience.enqueue('rq_billing', '{"n": 6}', dedup_key => 'k', group_key => 'g') > 0 AS enqueued;
\set VERBOSITY sqlstate
SELECT resilience.claim('rq_billing');
SELECT resilience.drop_queue('rq_billing');
\set VERBOSITY default
RESET ROLE;
SELECT count(*) FROM resilience.job_state WHERE queue = 'rq_billing';
SELECT count(*) FROM resilience.job_state WHERE dedup_key = 'hidden';
DROP POLICY rq_producer ON resilience.job_state;
DROP POLICY rq_producer_hide ON resilience.job_state;
REVOKE ALL ON resilience.job_state FROM regress_queue_producer;
REVOKE ALL ON resilience.job_queues FROM regress_queue_producer;
REVOKE ALL ON SEQUENCE resilience.job_state_id_seq FROM regress_queue_producer;
DROP ROLE regress_queue_producer;

DROP POLICY rq_emails_worker ON resilience.job_state;
ALTER TABLE resilience.job_state DISABLE ROW LEVEL SECURITY;
REVOKE ALL ON resilience.job_state FROM regress_queue_worker;
REVOKE ALL ON resilience.job_queues FROM regress_queue_worker;
DROP ROLE regress_queue_worker;
SELECT resilience.drop_queue('rq_emails'), resilience.drop_queue('rq_billing');
RESET resilience.clock_override;
