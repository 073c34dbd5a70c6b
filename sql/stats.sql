-- resilience monitoring counters (docs/monitoring.md): each capability moves
-- exactly the counters documented for it; resilience.track = off counts
-- nothing; metrics() text; reset; who may read and who may reset.  Other
-- suites count too, so every case starts from stats_reset().
SET TimeZone = 'UTC';
\set VERBOSITY sqlstate

-- the counters that moved since the last reset (backoff time, which is
-- random with jitter, is checked on its own)
CREATE FUNCTION pg_temp.moved()
RETURNS TABLE (area text, counter text, value bigint)
LANGUAGE sql AS $$
    SELECT s.area, s.counter, s.value FROM resilience.stats s
    WHERE s.value <> 0 AND s.counter <> 'backoff_us' ORDER BY 1, 2
$$;

SELECT resilience.stats_reset();
SELECT * FROM pg_temp.moved();
SELECT names, names_evicted, track FROM resilience.stats_info();

-- guards: granted by scope and mode, try_lock refusals are timeouts
SELECT resilience.lock('stats-a');
SELECT resilience.lock('stats-a', shared => true);
SELECT resilience.try_lock('stats-b');
SELECT resilience.lock_many('{stats-a,stats-b,stats-a}');
SELECT resilience.session_lock('stats-c');
SELECT resilience.try_session_lock('stats-c', shared => true);
SELECT resilience.session_unlock_all();
SELECT * FROM pg_temp.moved();
SELECT datname = current_database() AS here, name, acquisitions, waits, timeouts, wait_us
FROM resilience.guard_name_stats ORDER BY name;
SELECT acquired_xact_exclusive, acquired_xact_shared, acquired_session_exclusive,
       acquired_session_shared, waits, timeouts, wait_us_p50
FROM resilience.guard_stats;

-- retries: a commit at the first attempt, a listed error given up after
-- max_attempts (two backoff sleeps of at most 1 us), an unlisted one at once
SELECT resilience.stats_reset();
SELECT resilience.retry_statement('SELECT 1 AS one');
SELECT resilience.retry_statement('SELECT 1/0', max_attempts => 3, base_delay => '1 microsecond', max_delay => '1 microsecond',
                                  retry_on => '{22012}');
SELECT resilience.retry_statement('SELECT 1/0');
CALL resilience.retry_transaction('SELECT 2 AS two');
SELECT * FROM pg_temp.moved();
SELECT function, calls, commits, gave_up, attempts, backoff_us <= 2 AS backoff_bounded, attempts_p50, attempts_p99
FROM resilience.retry_stats ORDER BY function;
SELECT function, sqlstate, calls FROM resilience.retry_gave_up ORDER BY 1, 2;
SELECT area, histogram, count, sum, p50, p90, p99, buckets[1:4]
FROM resilience.stats_histogram WHERE area LIKE 'retry%' AND histogram = 'attempts'
ORDER BY 1;

-- idempotency: a first call, a replay, a key reused for another request
SELECT resilience.stats_reset();
SELECT resilience.idempotent('stats-key', 'SELECT 1 AS one', NULL, '1 hour');
SELECT resilience.idempotent('stats-key', 'SELECT 1 AS one', NULL, '1 hour');
SELECT resilience.idempotent('stats-key', 'SELECT 2 AS two', NULL, '1 hour');
SELECT first_calls, replays, mismatches, waits, stats_since <= now() AS since_ok FROM resilience.idempotency_stats;
SELECT resilience.idempotency_purge();

-- pagination: pages and rows; cursors refused by reason
CREATE TABLE stats_items (id int PRIMARY KEY, v text);
INSERT INTO stats_items SELECT g, 'v' || g FROM generate_series(1, 5) g;
SELECT resilience.stats_reset();
SELECT count(*) FROM resilience.page(NULL::stats_items, 'id', page_size => 2);
SELECT (resilience.page_json('stats_items', 'id', page_size => 3))->'has_next';
SELECT rejected_malformed, rejected_forged, rejected_retired_key, rejected_other_sort,
       pages, rows
FROM resilience.keyset_stats;
SELECT resilience.page_json('stats_items', 'id', after => 'not a cursor');
SELECT resilience.cursor_of(i, 'id') AS c FROM stats_items i WHERE i.id = 2 \gset
-- the same length, one character changed: forged
SELECT resilience.page_json('stats_items', 'id',
    after => overlay(:'c' placing (CASE WHEN substr(:'c', 10, 1) = 'A' THEN 'B' ELSE 'A' END) from 10 for 1));
SELECT resilience.page_json('stats_items', 'id DESC', after => :'c');
SELECT resilience.rotate_cursor_key();
SELECT resilience.rotate_cursor_key();
SELECT resilience.page_json('stats_items', 'id', after => :'c');
SELECT rejected_malformed, rejected_forged, rejected_retired_key, rejected_other_sort,
       rejected_other, pages, rows, plan_cache_hits + plan_cache_misses > 0 AS looked_up
FROM resilience.keyset_stats;
DROP TABLE stats_items;

-- rate limits and breakers: decisions and state changes
SELECT resilience.stats_reset();
SELECT allowed FROM resilience.rate_limit('stats-limit', 1, '1 hour');
SELECT allowed FROM resilience.rate_limit('stats-limit', 1, '1 hour');
SELECT resilience.breaker_force('stats-breaker', 'open');
SELECT resilience.breaker_allow('stats-breaker');
-- open to forced_open and back, closed to disabled and back: no change
-- of what the state counts as
SELECT resilience.breaker_force('stats-breaker', 'forced_open');
SELECT resilience.breaker_force('stats-breaker', 'open');
SELECT resilience.breaker_force('stats-breaker', 'closed');
SELECT resilience.breaker_force('stats-breaker', 'disabled');
SELECT resilience.breaker_force('stats-breaker', 'closed');
SELECT times_opened FROM resilience.breakers WHERE name = 'stats-breaker';
SELECT resilience.breaker_reset('stats-breaker');
SELECT rate_limit_allowed, rate_limit_denied, breaker_allowed, breaker_denied,
       breaker_opened, breaker_half_opened, breaker_closed FROM resilience.limit_stats;
SELECT resilience.rate_limit_reset('stats-limit');

-- leases: a grant, renewals (re-acquire and renew), a release, a new grant
-- after the release (no takeover), a takeover of an expired lease, a
-- refused acquisition
SELECT resilience.stats_reset();
SELECT resilience.lease_acquire('stats-lease', 'h1', '1 hour') AS t1 \gset
SELECT resilience.lease_acquire('stats-lease', 'h1', '1 hour') = :t1 AS same_token;
SELECT resilience.lease_renew('stats-lease', 'h1', :t1, '1 hour');
SELECT resilience.lease_release('stats-lease', 'h1', :t1);
SELECT resilience.lease_acquire('stats-lease', 'h2', '1 hour') > :t1 AS new_token;
SELECT resilience.lease_acquire('stats-short', 'h1', '1 millisecond') IS NOT NULL AS granted;
SELECT pg_sleep(0.01);
SELECT resilience.lease_acquire('stats-short', 'h2', '1 hour') IS NOT NULL AS taken_over;
SELECT resilience.lease_acquire('stats-short', 'h3', '1 hour') IS NULL AS refused;
-- a fence with a stale token; direct calls of the counting function count
-- only what the lease's state supports (here: nothing)
SELECT resilience.lease_fence('stats-short', 1);
SELECT resilience.stats_lease_note('refused', 'stats-lease', 'h2', NULL);
SELECT resilience.stats_lease_note('fence_rejected', 'stats-lease', NULL,
    (SELECT token FROM resilience.leases WHERE name = 'stats-lease'));
SELECT resilience.stats_lease_note('bogus', 'stats-lease', NULL, NULL);
SELECT name, grants, renewals, takeovers, refused, fence_rejections, releases
FROM resilience.lease_stats ORDER BY name;
SELECT * FROM pg_temp.moved();
-- leave no lease behind for the lease suite
DELETE FROM resilience.lease_state WHERE name LIKE 'stats-%';

-- queues: three enqueued (one alone, two in a batch), two claimed, one
-- completed, one failed for good (max_attempts 1), one claim left to expire
-- and reaped by the next claim, which takes it again (a fourth claim)
SELECT resilience.create_queue('stats-q');
SELECT resilience.stats_reset();
SET resilience.clock_override = '2030-01-01 00:00:00+00';
SELECT resilience.enqueue('stats-q', '{"n": 1}', max_attempts => 1) > 0 AS enqueued;
SELECT cardinality(resilience.enqueue_many('stats-q', ARRAY['{"n": 2}', '{"n": 3}']::jsonb[])) AS batch;
CREATE TEMP TABLE stats_claimed AS
SELECT id, token, payload FROM resilience.claim('stats-q', 2, lease => '1 minute');
SELECT count(*) AS claimed FROM stats_claimed;
SELECT resilience.complete(id, token) FROM stats_claimed WHERE payload->>'n' = '2';
SELECT resilience.fail(id, token, 'boom') FROM stats_claimed WHERE payload->>'n' = '1';
SELECT count(*) AS claimed_third FROM resilience.claim('stats-q', 1, lease => '1 minute');
SET resilience.clock_override = '2030-01-01 00:05:00+00';
SELECT count(*) AS after_expiry FROM resilience.claim('stats-q', 1);
RESET resilience.clock_override;
-- a fourth job, and an enqueue its dedup_key answers with it: not counted
SELECT resilience.enqueue('stats-q', '{"n": 4}', dedup_key => 'd')
     = resilience.enqueue('stats-q', '{"n": 5}', dedup_key => 'd') AS deduplicated;
SELECT queue, enqueued, claimed, completed, failed, dead, lease_expired,
       pickup_us_p99 IS NOT NULL AS has_latency
FROM resilience.queue_stats WHERE queue = 'stats-q';
SELECT * FROM pg_temp.moved();
SELECT resilience.drop_queue('stats-q');

-- stale tokens: each complete, fail and extend refused with RL001 counts
-- one fence rejection for its queue, counted before the error, so also when
-- the error rolls back the caller's transaction; a grouped job's complete
-- (which reads the job twice) counts once; a refusal for a job that is gone
-- counts in the total only (there is no queue to file it under)
SELECT resilience.create_queue('stats-stale');
SET resilience.clock_override = '2030-01-01 00:00:00+00';
SELECT resilience.enqueue('stats-stale', '{}') AS sj \gset
SELECT resilience.enqueue('stats-stale', '{}', group_key => 'g') AS sg \gset
SELECT count(*) AS claimed FROM resilience.claim('stats-stale', 2, lease => '1 minute');
SELECT token AS sj_old FROM resilience.job_state WHERE id = :sj \gset
SELECT token AS sg_old FROM resilience.job_state WHERE id = :sg \gset
-- both leases expire; the next claim reaps them and takes them again
SET resilience.clock_override = '2030-01-01 00:05:00+00';
SELECT count(*) AS claimed_again FROM resilience.claim('stats-stale', 2, lease => '1 minute');
SELECT token AS sj_new FROM resilience.job_state WHERE id = :sj \gset
SELECT token AS sg_new FROM resilience.job_state WHERE id = :sg \gset
SELECT resilience.stats_reset();
SELECT resilience.complete(:sj, :sj_old);
SELECT fence_rejections FROM resilience.queue_stats WHERE queue = 'stats-stale';
SELECT resilience.fail(:sj, :sj_old, 'late');
SELECT fence_rejections FROM resilience.queue_stats WHERE queue = 'stats-stale';
SELECT resilience.extend(:sj, :sj_old, '1 minute');
SELECT fence_rejections FROM resilience.queue_stats WHERE queue = 'stats-stale';
SELECT resilience.complete(:sg, :sg_old);
SELECT fence_rejections FROM resilience.queue_stats WHERE queue = 'stats-stale';
BEGIN;
SELECT resilience.complete(:sj, :sj_old);
ROLLBACK;
SELECT fence_rejections FROM resilience.queue_stats WHERE queue = 'stats-stale';
-- the current holders are not refused; then a job that is gone
SELECT resilience.complete(:sj, :sj_new);
SELECT resilience.complete(:sg, :sg_new);
SELECT resilience.complete(:sj, :sj_new);
SELECT queue, completed, fence_rejections FROM resilience.queue_stats WHERE queue = 'stats-stale';
SELECT * FROM pg_temp.moved();
SELECT regexp_replace(line, 'datname="[^"]*"', 'datname="..."') AS line
FROM pg_catalog.regexp_split_to_table(resilience.metrics(), E'\n') AS line
WHERE line ~ '^resilience_queue_(name_)?events_total\{.*event="fence_rejected"' ORDER BY 1;
RESET resilience.clock_override;
SELECT resilience.drop_queue('stats-stale');

-- resilience.track = off: nothing counts
SELECT resilience.stats_reset();
SET resilience.track = off;
SELECT resilience.lock('stats-off');
SELECT resilience.retry_statement('SELECT 1 AS one');
-- counting nothing, the lease note still checks its event (as without
-- preloading, where it takes the same branch)
SELECT resilience.stats_lease_note('bogus', 'stats-off', NULL, NULL);
RESET resilience.track;
SELECT * FROM pg_temp.moved();
SELECT count(*) FROM resilience.guard_name_stats;

-- metrics(): HELP and TYPE once per family, histogram buckets cumulative,
-- label values escaped (backslash, double quote, newline)
SELECT resilience.stats_reset();
SELECT resilience.lock(E'odd "name" \\ with\nnewline');
SELECT resilience.retry_statement('SELECT 1 AS one');
SELECT line FROM pg_catalog.regexp_split_to_table(resilience.metrics(), E'\n') AS line
WHERE line ~ '^resilience_guard_name_acquisitions_total|^# (HELP|TYPE) resilience_retry_attempts |resilience_retry_attempts_(bucket\{function="retry_statement",le="(1|2|\+Inf)"|sum|count)'
ORDER BY line;
SELECT count(*) AS type_lines, count(DISTINCT line) AS distinct_type_lines
FROM pg_catalog.regexp_split_to_table(resilience.metrics(), E'\n') AS line
WHERE line LIKE '# TYPE %';

-- metrics(): microseconds are written as seconds exactly, six decimals
SELECT resilience.stats_reset();
SELECT resilience.retry_statement('SELECT 1/0', max_attempts => 2, base_delay => '20 milliseconds',
                                  max_delay => '20 milliseconds', retry_on => '{22012}');
SELECT m.line = 'resilience_retry_backoff_seconds_total{function="retry_statement"} '
                || (r.backoff_us / 1000000) || '.' || lpad((r.backoff_us % 1000000)::text, 6, '0')
       AS seconds_exact
FROM resilience.retry_stats r,
     pg_catalog.regexp_split_to_table(resilience.metrics(), E'\n') AS m(line)
WHERE r.function = 'retry_statement'
  AND m.line LIKE 'resilience\_retry\_backoff\_seconds\_total{function="retry\_statement"}%';

-- quantiles: upper bounds of log2 buckets
SELECT resilience.stats_quantile('{0,0,0,0}', 0.5) AS empty,
       resilience.stats_quantile('{10,0,0,0}', 0.99) AS all_ones,
       resilience.stats_quantile('{1,1,1,1}', 0.5) AS p50,
       resilience.stats_quantile('{1,1,1,1}', 1) AS p100;
SELECT resilience.stats_quantile('{1}', 2);

-- who may read: pg_monitor members and the owner, not PUBLIC; who may
-- reset: the owner or a superuser
CREATE ROLE regress_stats_plain;
CREATE ROLE regress_stats_monitor IN ROLE pg_monitor;
SET ROLE regress_stats_plain;
SELECT count(*) FROM resilience.stats;
SELECT count(*) FROM resilience.guard_name_stats;
SELECT length(resilience.metrics()) > 0;
SELECT resilience.stats_reset();
SET ROLE regress_stats_monitor;
SELECT count(*) > 0 AS can_read FROM resilience.stats;
SELECT count(*) >= 0 AS can_read FROM resilience.guard_name_stats;
SELECT length(resilience.metrics()) > 0 AS can_read;
SELECT resilience.stats_reset();
RESET ROLE;
DROP ROLE regress_stats_plain;
DROP ROLE regress_stats_monitor;
