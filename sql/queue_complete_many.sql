-- complete_many(ids, tokens): complete() for each job, all or none, in one
-- statement for ungrouped jobs; grouped ones promote their group's next job;
-- a stale token, a duplicate or a bad array refuses the whole call.
\set VERBOSITY default
SET resilience.clock_override = '2030-01-01 12:00:00+00';
\i sql/include/queue_try.sql
SELECT resilience.create_queue('many');
CREATE TABLE pg_temp.claimed AS SELECT 0::bigint AS id, 0::bigint AS token LIMIT 0;

-- ten ungrouped jobs, claimed and completed in one call
SELECT count(*) FROM unnest(resilience.enqueue_many('many', array_fill('{}'::jsonb, ARRAY[10])));
INSERT INTO pg_temp.claimed SELECT id, token FROM resilience.claim('many', 10);
SELECT resilience.complete_many(array_agg(id ORDER BY id), array_agg(token ORDER BY id))
FROM pg_temp.claimed;
SELECT count(*) AS left FROM resilience.job_state WHERE queue = 'many';
-- again: the jobs are gone, so the first id is refused (RL001), nothing done
SELECT pg_temp.try(format('SELECT resilience.complete_many(%L, %L)',
                          array_agg(id ORDER BY id), array_agg(token ORDER BY id)))
FROM pg_temp.claimed;
TRUNCATE pg_temp.claimed;

-- one stale token among good ones: nothing is completed
SELECT count(*) FROM unnest(resilience.enqueue_many('many', array_fill('{}'::jsonb, ARRAY[3])));
INSERT INTO pg_temp.claimed SELECT id, token FROM resilience.claim('many', 3);
SELECT pg_temp.try(format('SELECT resilience.complete_many(%L, %L)',
                          array_agg(id ORDER BY id),
                          array_agg(CASE WHEN id = (SELECT max(id) FROM pg_temp.claimed)
                                         THEN token + 1 ELSE token END ORDER BY id)))
FROM pg_temp.claimed;
SELECT state, count(*) FROM resilience.jobs WHERE queue = 'many' GROUP BY state;
-- and its transaction's effects roll back with it
CREATE TABLE pg_temp.effects (n int);
BEGIN;
INSERT INTO pg_temp.effects VALUES (1);
\set VERBOSITY sqlstate
SELECT resilience.complete_many(array_agg(id), array_agg(token + 1)) FROM pg_temp.claimed;
\set VERBOSITY default
COMMIT;
SELECT count(*) AS effects FROM pg_temp.effects;
SELECT resilience.complete_many(array_agg(id), array_agg(token)) FROM pg_temp.claimed;
TRUNCATE pg_temp.claimed;

-- grouped jobs among ungrouped ones: each group's next job becomes ready
SELECT resilience.enqueue('many', '{"g": "a", "n": 1}', group_key => 'a') > 0 AS enqueued;
SELECT resilience.enqueue('many', '{"g": "a", "n": 2}', group_key => 'a') > 0 AS enqueued;
SELECT resilience.enqueue('many', '{"g": "b", "n": 1}', group_key => 'b') > 0 AS enqueued;
SELECT resilience.enqueue('many', '{"g": "b", "n": 2}', group_key => 'b') > 0 AS enqueued;
SELECT resilience.enqueue('many', '{"n": 0}') > 0 AS enqueued;
INSERT INTO pg_temp.claimed SELECT id, token FROM resilience.claim('many', 10);
SELECT count(*) AS claimed FROM pg_temp.claimed;
SELECT resilience.complete_many(array_agg(id ORDER BY id DESC), array_agg(token ORDER BY id DESC))
FROM pg_temp.claimed;
SELECT payload, state FROM resilience.jobs WHERE queue = 'many' ORDER BY id;
TRUNCATE pg_temp.claimed;
INSERT INTO pg_temp.claimed SELECT id, token FROM resilience.claim('many', 10);
SELECT resilience.complete_many(array_agg(id), array_agg(token)) FROM pg_temp.claimed;
SELECT count(*) AS left FROM resilience.job_state WHERE queue = 'many';
TRUNCATE pg_temp.claimed;

-- a job completed twice in one call, and bad arrays: 22023, 22004
SELECT resilience.enqueue('many') AS id \gset
SELECT token FROM resilience.claim('many') \gset
SELECT pg_temp.try(format('SELECT resilience.complete_many(ARRAY[%s, %s], ARRAY[%s, %s])',
                          :id, :id, :token, :token));
SELECT resilience.complete_many(ARRAY[1, 2], ARRAY[1]);
SELECT resilience.complete_many(NULL, ARRAY[1]);
SELECT resilience.complete_many(ARRAY[1], NULL);
SELECT resilience.complete_many(ARRAY[1, NULL], ARRAY[1, 2]);
SELECT resilience.complete_many(ARRAY[1], ARRAY[NULL::bigint]);
SELECT resilience.complete_many(ARRAY[ARRAY[1::bigint]], ARRAY[ARRAY[1::bigint]]);
SELECT resilience.complete_many(array_agg(g), array_agg(g)) FROM generate_series(1, 10001) g;
-- nothing half-done: the job is still running with its token
SELECT state, token = :token AS same_token FROM resilience.jobs WHERE id = :id;
-- an empty batch (a claim that found nothing) is a no-op
SELECT resilience.complete_many('{}', '{}');
SELECT resilience.complete_many(ARRAY[:id], ARRAY[:token]);

SELECT resilience.drop_queue('many');
RESET resilience.clock_override;
