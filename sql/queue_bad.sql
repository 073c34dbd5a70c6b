-- Job queues: every bad input gets its SQLSTATE and message, and leaves
-- nothing behind.
\set VERBOSITY default
SET resilience.clock_override = '2030-01-01 12:00:00+00';
\i sql/include/queue_try.sql
SELECT resilience.create_queue('q');

-- queue names
SELECT resilience.create_queue('');
SELECT resilience.create_queue(NULL);
SELECT resilience.create_queue(repeat('x', 201));
SELECT resilience.drop_queue('');
SELECT resilience.enqueue('');
SELECT resilience.enqueue(NULL);
SELECT resilience.enqueue('missing');
SELECT resilience.enqueue('missing', dedup_key => 'k');
SELECT resilience.enqueue('missing', group_key => 'g');
SELECT resilience.enqueue_many('missing', ARRAY['{}']::jsonb[]);
SELECT resilience.enqueue_many('missing', '{}');
SELECT resilience.claim('');
SELECT resilience.claim('missing');
SELECT resilience.claim('missing', wait => '1 hour');
SELECT resilience.redrive('missing');
SELECT resilience.purge_jobs('missing', '1 day');
SELECT resilience.drop_queue('missing');

-- payloads: a JSON object, never NULL
SELECT resilience.enqueue('q', NULL);
SELECT resilience.enqueue('q', 'null');
SELECT resilience.enqueue('q', '[1, 2]');
SELECT resilience.enqueue('q', '"text"');
SELECT resilience.enqueue('q', '42');
SELECT resilience.enqueue_many('q', NULL);
SELECT resilience.enqueue_many('q', ARRAY['{}', NULL]::jsonb[]);
SELECT resilience.enqueue_many('q', ARRAY['{}', '[]']::jsonb[]);
SELECT resilience.enqueue_many('q', ARRAY[ARRAY['{}'::jsonb]]);
SELECT resilience.enqueue_many('q', array_fill('{}'::jsonb, ARRAY[10001]));

-- the other enqueue arguments
SELECT resilience.enqueue('q', '{}', run_at => 'infinity');
SELECT resilience.enqueue('q', '{}', priority => NULL);
SELECT resilience.enqueue('q', '{}', max_attempts => 0);
SELECT resilience.enqueue('q', '{}', max_attempts => -1);
SELECT resilience.enqueue('q', '{}', max_attempts => NULL);
SELECT resilience.enqueue('q', '{}', dedup_key => '');
SELECT resilience.enqueue('q', '{}', group_key => '');
SELECT resilience.enqueue_many('q', ARRAY['{}']::jsonb[], run_at => '-infinity');
SELECT resilience.enqueue_many('q', ARRAY['{}']::jsonb[], priority => NULL);
SELECT resilience.enqueue_many('q', ARRAY['{}']::jsonb[], max_attempts => 0);
SELECT resilience.enqueue_many('q', ARRAY['{}']::jsonb[], max_attempts => NULL);
SELECT resilience.enqueue_many('q', ARRAY['{}']::jsonb[], group_key => '');

-- claim's arguments
SELECT resilience.claim('q', 0);
SELECT resilience.claim('q', -1);
SELECT resilience.claim('q', 1001);
SELECT resilience.claim('q', NULL);
SELECT resilience.claim('q', 1, '0');
SELECT resilience.claim('q', 1, '-1 second');
SELECT resilience.claim('q', 1, NULL);
SELECT resilience.claim('q', 1, '30s', '-1 second');
SELECT resilience.claim('q', 1, '30s', '2 hours');
SELECT resilience.claim('q', 1, '30s', NULL);
SELECT resilience.claim('q', 1, '1000000 years');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT resilience.claim('q', 1, '30s', '1 second');
ROLLBACK;

-- complete, fail, extend: NULLs, unknown jobs, bad intervals
SELECT resilience.enqueue('q', '{"n": 1}') AS id \gset
SELECT token FROM resilience.claim('q') \gset
SELECT resilience.complete(NULL, :token);
SELECT resilience.complete(:id, NULL);
SELECT resilience.complete(-1, 1);
SELECT pg_temp.try(format('SELECT resilience.complete(%s, %s)', :id, :token + 1));
SELECT resilience.fail(NULL, :token, 'e');
SELECT resilience.fail(:id, NULL, 'e');
SELECT resilience.fail(:id, :token, NULL);
SELECT resilience.fail(:id, :token, 'e', '-1 second');
SELECT resilience.fail(-1, 1, 'e');
SELECT resilience.extend(NULL, :token, '1 minute');
SELECT resilience.extend(:id, NULL, '1 minute');
SELECT resilience.extend(:id, :token, NULL);
SELECT resilience.extend(:id, :token, '0');
SELECT resilience.extend(:id, :token, '-5 seconds');
SELECT resilience.extend(-1, 1, '1 minute');
-- a job not running: refused with what it is
SELECT resilience.enqueue('q', '{"n": 2}') AS id2 \gset
SELECT pg_temp.try(format('SELECT resilience.complete(%s, 0)', :id2));
-- nothing half-done: the claimed job is still running with its token
SELECT state, token = :token AS same_token, lease_expires_at FROM resilience.jobs WHERE id = :id;

-- the operators' functions
SELECT resilience.cancel(NULL);
SELECT resilience.redrive(NULL);
SELECT resilience.redrive('q', ARRAY[ARRAY[1::bigint]]);
SELECT resilience.purge_jobs('q', NULL);
SELECT resilience.purge_jobs(NULL, '1 day');
SELECT resilience.purge_jobs('q', '-1 day');

-- a stale complete rolls back the job's effects with it
CREATE TABLE pg_temp.effects (n int);
BEGIN;
INSERT INTO pg_temp.effects VALUES (1);
\set VERBOSITY sqlstate
SELECT resilience.complete(:id, :token + 1);
\set VERBOSITY default
COMMIT;
SELECT count(*) AS effects FROM pg_temp.effects;

-- the queue table's own check holds for direct writes too
\set VERBOSITY terse
INSERT INTO resilience.job_queues VALUES ('', now());
\set VERBOSITY default

-- nothing was written by the refused calls
SELECT queue, count(*) FROM resilience.job_state GROUP BY queue ORDER BY queue;
SELECT name FROM resilience.job_queues ORDER BY name;
SELECT resilience.drop_queue('q');
RESET resilience.clock_override;
