-- job queues: enqueue in your transaction, claim with a lease and a
-- fencing token, complete with the job's effects

SELECT resilience.create_queue('demo_emails');

-- an enqueue that rolls back never existed
BEGIN;
SELECT resilience.enqueue('demo_emails', '{"to": "ghost@example.com"}') > 0 AS enqueued;
ROLLBACK;

SELECT resilience.enqueue('demo_emails', '{"to": "a@example.com"}') > 0 AS enqueued;
SELECT resilience.enqueue('demo_emails', '{"to": "vip@example.com"}', priority => 10) > 0 AS enqueued;
-- one job per key while it is unfinished: the same id comes back
SELECT resilience.enqueue('demo_emails', '{"to": "b@example.com"}', dedup_key => 'welcome:b')
     = resilience.enqueue('demo_emails', '{"to": "b@example.com"}', dedup_key => 'welcome:b') AS same_job;

SELECT queue, ready, scheduled, running, dead FROM resilience.queues;

-- the highest priority first; the claim commits on its own
SELECT id, token, payload FROM resilience.claim('demo_emails') \gset

-- the job's effects and its completion commit together
CREATE TEMP TABLE sent (address text);
BEGIN;
INSERT INTO sent VALUES (:'payload'::jsonb ->> 'to');
SELECT resilience.complete(:id, :token);
COMMIT;

-- a failure: retried after a backoff, dead after max_attempts
SELECT id AS id2, token AS token2 FROM resilience.claim('demo_emails') \gset
SELECT resilience.fail(:id2, :token2, 'smtp timeout', retry_in => '0');
SELECT state, attempt, last_error FROM resilience.jobs WHERE id = :id2;

-- a stale token (another claim since) is refused with RL001, so a worker
-- whose lease was taken over cannot commit its effects
SELECT id AS id3, token AS token3 FROM resilience.claim('demo_emails', max_jobs => 5) LIMIT 1 \gset
\set ON_ERROR_STOP 0
SELECT resilience.complete(:id3, :token3 + 1);
\set ON_ERROR_STOP 1

-- a batch: claimed together, completed together (all or none)
SELECT resilience.enqueue_many('demo_emails',
    ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}']::jsonb[], priority => 5) IS NOT NULL AS enqueued;
SELECT array_agg(id) AS ids, array_agg(token) AS tokens
FROM resilience.claim('demo_emails', max_jobs => 3) \gset
SELECT resilience.complete_many(:'ids', :'tokens');

-- groups: one job at a time per group, in order
SELECT resilience.enqueue_many('demo_emails',
    ARRAY['{"step": 1}', '{"step": 2}']::jsonb[], group_key => 'account:7') IS NOT NULL AS enqueued;
SELECT payload, state FROM resilience.jobs WHERE group_key = 'account:7' ORDER BY id;

SELECT resilience.drop_queue('demo_emails');
