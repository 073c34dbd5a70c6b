-- Job queues: every function's normal use, on a stopped clock.
\set VERBOSITY default
SET resilience.clock_override = '2030-01-01 12:00:00+00';
\i sql/include/queue_try.sql
SET TIME ZONE 'UTC';

-- tokens are relative to the timeline's floor, so the output does not
-- depend on the server's timeline
CREATE FUNCTION pg_temp.t(token bigint) RETURNS bigint
LANGUAGE sql AS $$ SELECT token - resilience.lease_token_floor() $$;

SELECT resilience.queue_clock();

-- queues are explicit
SELECT resilience.create_queue('emails');
SELECT resilience.create_queue('emails');
SELECT resilience.create_queue('reports');
SELECT name, created_at FROM resilience.job_queues ORDER BY name;

-- enqueue: defaults, priority, run_at in the future
SELECT resilience.enqueue('emails', '{"to": "a@example.com"}') AS a \gset
SELECT resilience.enqueue('emails', '{"to": "b@example.com"}', priority => 10) AS b \gset
SELECT resilience.enqueue('emails', '{"to": "c@example.com"}',
                          run_at => '2030-01-01 12:05:00+00') AS c \gset
SELECT resilience.enqueue('emails') AS d \gset
SELECT id = :a AS is_a, state, priority, run_at, attempt, max_attempts, token,
       payload, enqueued_at
FROM resilience.jobs ORDER BY id;
SELECT queue, ready, scheduled, blocked, running, dead, cancelled, oldest_ready_age
FROM resilience.queues ORDER BY queue;

-- claim: priority first, then age; scheduled jobs are not ready
SELECT id = :b AS is_b, queue, payload, attempt, max_attempts, pg_temp.t(token) AS token,
       lease_expires_at, group_key, enqueued_at, priority, run_at
FROM resilience.claim('emails');
SELECT id = :a AS is_a, id = :d AS is_d, attempt, lease_expires_at
FROM resilience.claim('emails', max_jobs => 10, lease => '1 minute') ORDER BY id;
-- nothing else is ready
SELECT count(*) FROM resilience.claim('emails', 10);
SELECT queue, ready, scheduled, running FROM resilience.queues WHERE queue = 'emails';

-- complete deletes the job
SELECT token AS tb FROM resilience.job_state WHERE id = :b \gset
SELECT resilience.complete(:b, :tb);
SELECT count(*) FROM resilience.job_state WHERE id = :b;

-- extend: the lease runs from now
SELECT token AS ta FROM resilience.job_state WHERE id = :a \gset
SELECT resilience.extend(:a, :ta, '5 minutes');
SELECT lease_expires_at FROM resilience.jobs WHERE id = :a;

-- fail: retry after retry_in, last error kept, attempt counted
SELECT resilience.fail(:a, :ta, 'smtp timeout', retry_in => '10 seconds');
SELECT state, run_at, attempt, last_error, lease_expires_at FROM resilience.jobs WHERE id = :a;
SELECT count(*) FROM resilience.claim('emails');
SET resilience.clock_override = '2030-01-01 12:00:10+00';
SELECT id = :a AS is_a, attempt, pg_temp.t(token) AS token FROM resilience.claim('emails');

-- fail without retry_in: backoff_delay(attempt) (10ms base, 10s cap, full jitter)
SELECT token AS ta FROM resilience.job_state WHERE id = :a \gset
SELECT resilience.fail(:a, :ta, 'again');
SELECT run_at >= '2030-01-01 12:00:10+00' AND run_at <= '2030-01-01 12:00:10.02+00' AS backoff_ok
FROM resilience.jobs WHERE id = :a;

-- max_attempts: the last failure makes the job dead, its error kept
SELECT resilience.enqueue('reports', '{"n": 1}', max_attempts => 2) AS r \gset
SELECT attempt FROM resilience.claim('reports');
SELECT token AS tr FROM resilience.job_state WHERE id = :r \gset
SELECT resilience.fail(:r, :tr, 'first', '0');
SELECT attempt FROM resilience.claim('reports');
SELECT token AS tr FROM resilience.job_state WHERE id = :r \gset
SELECT resilience.fail(:r, :tr, 'second', '0');
SELECT state, attempt, last_error, finished_at FROM resilience.jobs WHERE id = :r;
SELECT queue, ready, dead FROM resilience.queues WHERE queue = 'reports';

-- redrive: dead back to ready, attempts reset, token kept growing
SELECT resilience.redrive('reports');
SELECT state, attempt, last_error, pg_temp.t(token) AS token FROM resilience.jobs WHERE id = :r;
SELECT attempt, pg_temp.t(token) AS token FROM resilience.claim('reports');
SELECT resilience.redrive('reports');
SELECT resilience.redrive('reports', ARRAY[:r]::bigint[]);

-- lease expiry: the job is claimable again, its attempt counted; the old
-- token is refused and the new one works
SELECT token AS tr FROM resilience.job_state WHERE id = :r \gset
SET resilience.clock_override = '2030-01-01 12:01:00+00';
SELECT state FROM resilience.jobs WHERE id = :r;
SELECT attempt, pg_temp.t(token) AS token FROM resilience.claim('reports');
SELECT last_error FROM resilience.jobs WHERE id = :r;
\set VERBOSITY sqlstate
SELECT resilience.complete(:r, :tr);
SELECT resilience.extend(:r, :tr, '1 minute');
SELECT resilience.fail(:r, :tr, 'late');
\set VERBOSITY default
SELECT pg_temp.try(format('SELECT resilience.complete(%s, %s)', :r, :tr));
SELECT token AS tr2 FROM resilience.job_state WHERE id = :r \gset
-- a lease that expired on its last attempt: dead with 'lease expired'
SET resilience.clock_override = '2030-01-01 12:02:00+00';
SELECT count(*) FROM resilience.claim('reports');
SELECT state, attempt, last_error FROM resilience.jobs WHERE id = :r;
SELECT pg_temp.try(format('SELECT resilience.complete(%s, %s)', :r, :tr2));

-- an expired lease not yet reaped: the holder may still complete it
SELECT resilience.enqueue('reports', '{"n": 2}') AS r2 \gset
SELECT pg_temp.t(token) AS token FROM resilience.claim('reports', lease => '1 second');
SELECT token AS tr FROM resilience.job_state WHERE id = :r2 \gset
SET resilience.clock_override = '2030-01-01 12:03:00+00';
SELECT resilience.complete(:r2, :tr);

-- a reap undone by a rollback: the next claim, past the reap interval but
-- before the next full reap, still finds the expired lease
SELECT resilience.create_queue('reap_rb');
SELECT resilience.enqueue('reap_rb', '{}') AS rb \gset
SELECT id = :rb AS claimed FROM resilience.claim('reap_rb', lease => '30 seconds');
SET resilience.clock_override = '2030-01-01 12:04:00+00';
BEGIN;
SELECT id = :rb AS reaped_and_claimed FROM resilience.claim('reap_rb');
ROLLBACK;
SET resilience.clock_override = '2030-01-01 12:04:00.5+00';
SELECT id = :rb AS reaped_and_claimed_again, attempt FROM resilience.claim('reap_rb');
SELECT resilience.drop_queue('reap_rb');
SET resilience.clock_override = '2030-01-01 12:03:00+00';

-- dedup_key: while a job with the key is unfinished, its id comes back
SELECT resilience.enqueue('emails', '{"n": 1}', dedup_key => 'welcome:42') AS k1 \gset
SELECT resilience.enqueue('emails', '{"n": 2}', dedup_key => 'welcome:42') = :k1 AS same;
SELECT resilience.enqueue('reports', '{"n": 2}', dedup_key => 'welcome:42') = :k1 AS same_other_queue;
SELECT count(*) FROM resilience.job_state WHERE dedup_key = 'welcome:42';
-- still while it runs
SELECT id = :k1 AS is_k1 FROM resilience.claim('emails', 10) WHERE id = :k1;
SELECT resilience.enqueue('emails', '{"n": 3}', dedup_key => 'welcome:42') = :k1 AS same_running;
-- finished: the key is free again
SELECT token AS tk FROM resilience.job_state WHERE id = :k1 \gset
SELECT resilience.complete(:k1, :tk);
SELECT resilience.enqueue('emails', '{"n": 4}', dedup_key => 'welcome:42') = :k1 AS same_after;
-- a rolled-back enqueue never existed
BEGIN;
SELECT resilience.enqueue('emails', '{"rolled": "back"}') IS NOT NULL AS enqueued;
ROLLBACK;
SELECT count(*) FROM resilience.job_state WHERE payload ? 'rolled';

-- redrive and dedup_key: a redrive never makes a second unfinished job of a
-- key.  A dead job whose key an unfinished job holds stays dead, is not
-- counted, and a NOTICE says how many were skipped (terse here: its detail
-- names job ids); of dead jobs sharing a free key only the oldest comes back
SELECT resilience.create_queue('dedup');
SELECT resilience.enqueue('dedup', '{"n": 1}', dedup_key => 'k', max_attempts => 1) AS d1 \gset
SELECT resilience.enqueue('dedup', '{"n": 3}', max_attempts => 1) AS d3 \gset
SELECT resilience.fail(id, token, 'boom') FROM resilience.claim('dedup', 10) ORDER BY id;
SELECT resilience.enqueue('dedup', '{"n": 2}', dedup_key => 'k', max_attempts => 1) AS d2 \gset
SELECT :d2 > :d3 AS new_job;
\set VERBOSITY terse
SELECT resilience.redrive('dedup');
\set VERBOSITY default
SELECT payload, state, attempt FROM resilience.jobs WHERE queue = 'dedup' ORDER BY id;
-- named by id, and while the key's job runs: the same
SELECT count(*) AS claimed FROM resilience.claim('dedup', 10);
\set VERBOSITY terse
SELECT resilience.redrive('dedup', ARRAY[:d1]::bigint[]);
\set VERBOSITY default
SELECT payload, state FROM resilience.jobs WHERE queue = 'dedup' ORDER BY id;
-- both holders of the key dead: the oldest comes back, the other stays
SELECT resilience.fail(id, token, 'boom again') FROM resilience.job_state
WHERE queue = 'dedup' AND state = 'running' ORDER BY id;
\set VERBOSITY terse
SELECT resilience.redrive('dedup');
\set VERBOSITY default
SELECT payload, state, attempt, last_error FROM resilience.jobs WHERE queue = 'dedup' ORDER BY id;
SELECT resilience.enqueue('dedup', '{"n": 4}', dedup_key => 'k') = :d1 AS same_as_redriven;
SELECT count(*) AS unfinished_k FROM resilience.job_state
WHERE queue = 'dedup' AND dedup_key = 'k' AND state IN ('pending', 'blocked', 'running');
SELECT resilience.drop_queue('dedup');

-- enqueue_many: ids in the order of the payloads
SELECT resilience.create_queue('batch');
SELECT resilience.enqueue_many('batch', ARRAY['{"i": 1}', '{"i": 2}', '{"i": 3}']::jsonb[],
                               priority => 3, max_attempts => 4) AS ids \gset
SELECT '{' || string_agg(id::text, ',' ORDER BY id) || '}' = :'ids' AS in_order
FROM resilience.job_state WHERE queue = 'batch';
SELECT (:'ids'::bigint[])[1] = id AS first, payload, priority, max_attempts
FROM resilience.job_state WHERE queue = 'batch' ORDER BY id;
SELECT resilience.enqueue_many('batch', '{}');
SELECT payload FROM resilience.claim('batch', 2) ORDER BY id;

-- groups: one job at a time per group, in enqueue order; other groups and
-- ungrouped jobs go on
SELECT resilience.create_queue('orders');
SELECT resilience.enqueue('orders', '{"acct": 1, "n": 1}', group_key => 'acct:1') AS g1 \gset
SELECT resilience.enqueue('orders', '{"acct": 1, "n": 2}', group_key => 'acct:1', priority => 100) AS g2 \gset
SELECT resilience.enqueue_many('orders', ARRAY['{"acct": 1, "n": 3}', '{"acct": 1, "n": 4}']::jsonb[],
                               group_key => 'acct:1') IS NOT NULL;
SELECT resilience.enqueue('orders', '{"acct": 2, "n": 1}', group_key => 'acct:2') > 0;
SELECT resilience.enqueue('orders', '{"free": true}') > 0;
SELECT payload, state FROM resilience.jobs WHERE queue = 'orders' ORDER BY id;
SELECT payload FROM resilience.claim('orders', 10) ORDER BY id;
SELECT count(*) FROM resilience.claim('orders', 10);
-- the head completes: the next of its group becomes ready
SELECT token AS tg FROM resilience.job_state WHERE id = :g1 \gset
SELECT resilience.complete(:g1, :tg);
SELECT payload FROM resilience.claim('orders', 10);
-- a head that retries keeps its place
SELECT token AS tg FROM resilience.job_state WHERE id = :g2 \gset
SELECT resilience.fail(:g2, :tg, 'later', '0');
SELECT payload, attempt FROM resilience.claim('orders', 10);
-- a head that dies lets the next one go
UPDATE resilience.job_state SET max_attempts = 2 WHERE id = :g2;
SELECT token AS tg FROM resilience.job_state WHERE id = :g2 \gset
SELECT resilience.fail(:g2, :tg, 'gave up', '0');
SELECT payload FROM resilience.claim('orders', 10);
-- cancelling the head does too
SELECT id AS g3 FROM resilience.job_state WHERE payload = '{"acct": 1, "n": 3}' \gset
SELECT resilience.cancel(:g3);
SELECT resilience.cancel(:g3);
SELECT payload FROM resilience.claim('orders', 10);
SELECT payload, state FROM resilience.jobs WHERE queue = 'orders' ORDER BY id;
-- the cancelled job's worker is refused
\set VERBOSITY sqlstate
SELECT resilience.complete(:g3, (SELECT token FROM resilience.job_state WHERE id = :g3));
\set VERBOSITY default
-- redrive of a grouped job: it waits behind the group's head
SELECT resilience.redrive('orders');
SELECT payload, state, attempt FROM resilience.jobs WHERE queue = 'orders' ORDER BY id;
SELECT id AS g4, token AS tg FROM resilience.job_state WHERE payload = '{"acct": 1, "n": 4}' \gset
SELECT resilience.complete(:g4, :tg);
SELECT payload, attempt FROM resilience.claim('orders', 10);

-- cancel: true once, for unfinished jobs only; unknown ids are false
SELECT resilience.enqueue('reports', '{"cancel": 1}') AS x \gset
SELECT resilience.cancel(:x), resilience.cancel(:x), resilience.cancel(-1);
SELECT state, finished_at FROM resilience.jobs WHERE id = :x;

-- purge_jobs: dead and cancelled jobs that finished long enough ago
SELECT state, count(*) FROM resilience.jobs GROUP BY state ORDER BY state;
SELECT resilience.purge_jobs('reports', '1 hour');
SET resilience.clock_override = '2030-01-01 14:00:00+00';
SELECT resilience.purge_jobs('reports', '1 hour');
SELECT resilience.purge_jobs('orders', '0');
SELECT state, count(*) FROM resilience.jobs GROUP BY state ORDER BY state;

-- the views
SELECT * FROM resilience.queues ORDER BY queue;
SELECT queue, state, attempt, group_key, dedup_key, last_error
FROM resilience.jobs ORDER BY id;

-- long-poll: returns at the end of wait when nothing comes
SELECT count(*) FROM resilience.claim('orders', 1, '30s', '50 milliseconds');

-- drop_queue: the queue and its jobs
SELECT resilience.drop_queue('batch');
SELECT resilience.drop_queue('batch');
SELECT count(*) FROM resilience.job_state WHERE queue = 'batch';

-- the saved statements follow the member tables: after a rename of the
-- schema they name the tables by their new name
SELECT resilience.create_queue('after');
ALTER SCHEMA resilience RENAME TO resilience_renamed;
SELECT resilience_renamed.enqueue('after') > 0 AS enqueued;
SELECT count(*) FROM resilience_renamed.claim('after');
ALTER SCHEMA resilience_renamed RENAME TO resilience;
SELECT count(*) FROM resilience.claim('after');

-- in a read-only transaction the writes fail as PostgreSQL's do (25006);
-- on a hot standby claim refuses before waiting (t/ TAP suites)
BEGIN READ ONLY;
\set VERBOSITY sqlstate
SELECT resilience.claim('after');
\set VERBOSITY default
ROLLBACK;

SELECT resilience.drop_queue(q) FROM unnest(ARRAY['emails', 'reports', 'orders', 'after']) q;
SELECT count(*) FROM resilience.job_state;
RESET resilience.clock_override;
