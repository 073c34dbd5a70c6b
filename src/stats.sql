-------------------------------------------------------------------------------
-- Monitoring: counters of what every capability does (docs/monitoring.md)
-------------------------------------------------------------------------------

-- The counters live in shared memory (resilience in shared_preload_libraries);
-- without it every function below except stats_quantile raises 55000.  They
-- count every database of the server, so reading them is for pg_monitor and
-- the extension's owner, not PUBLIC.

CREATE FUNCTION resilience.stats_counters(OUT area text, OUT counter text, OUT value bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'stats_counters'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.stats_counters() IS
'every monitoring counter (all databases) as (area, counter, value); see docs/monitoring.md';

CREATE FUNCTION resilience.stats_histograms(OUT area text, OUT histogram text,
                                            OUT buckets bigint[], OUT count bigint,
                                            OUT sum bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'stats_histograms'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.stats_histograms() IS
'every monitoring histogram: bucket i counts values in (2^(i-1), 2^i], bucket 1 values up to 1, the last one the rest; durations in microseconds';

CREATE FUNCTION resilience.stats_names(OUT dbid oid, OUT kind text, OUT name text,
                                       OUT counters bigint[], OUT buckets bigint[],
                                       OUT sum bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'stats_names'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.stats_names() IS
'the per-name counters of guards, leases and queues (bounded by resilience.stats_max_names); the views name their columns';

CREATE FUNCTION resilience.stats_gave_up(OUT function text, OUT sqlstate text, OUT calls bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'stats_gave_up'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.stats_gave_up() IS
'calls of the retry functions that gave up, by function and the SQLSTATE they raised (NULL, NULL: pairs past the 64 tracked)';

CREATE FUNCTION resilience.stats_info(OUT stats_since timestamptz, OUT names integer,
                                      OUT max_names integer, OUT names_evicted bigint,
                                      OUT track boolean)
RETURNS record
AS 'MODULE_PATHNAME', 'stats_info'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.stats_info() IS
'when the counters last started from zero, how many names are tracked of how many, how many were evicted, and resilience.track';

CREATE FUNCTION resilience.stats_quantile(buckets bigint[], q double precision)
RETURNS double precision
AS 'MODULE_PATHNAME', 'stats_quantile'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION resilience.stats_quantile(bigint[], double precision) IS
'the q-quantile of a log2 histogram: the upper bound 2^i of the bucket it falls in (never below the true value, less than twice it); NULL if empty';

CREATE FUNCTION resilience.stats_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'stats_reset'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.stats_reset() IS
'zero every monitoring counter and forget every tracked name (all databases); the extension owner or a superuser only';

CREATE FUNCTION resilience.metrics()
RETURNS text
AS 'MODULE_PATHNAME', 'stats_metrics'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.metrics() IS
'every monitoring counter and histogram in the Prometheus text exposition format';

CREATE VIEW resilience.stats
WITH (security_invoker) AS
SELECT c.area, c.counter, c.value, i.stats_since
FROM resilience.stats_counters() c, resilience.stats_info() i;

COMMENT ON VIEW resilience.stats IS
'every monitoring counter as (area, counter, value), all databases, since stats_since';

CREATE VIEW resilience.stats_histogram
WITH (security_invoker) AS
SELECT h.area, h.histogram, h.count, h.sum,
       resilience.stats_quantile(h.buckets, 0.5) AS p50,
       resilience.stats_quantile(h.buckets, 0.9) AS p90,
       resilience.stats_quantile(h.buckets, 0.99) AS p99,
       h.buckets, i.stats_since
FROM resilience.stats_histograms() h, resilience.stats_info() i;

COMMENT ON VIEW resilience.stats_histogram IS
'every monitoring histogram with approximate p50, p90, p99 (upper bounds of log2 buckets: at most 2x the true value)';

CREATE VIEW resilience.retry_stats
WITH (security_invoker) AS
SELECT f.function,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'calls') AS calls,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'commits') AS commits,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'gave_up') AS gave_up,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'attempts') AS attempts,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'backoff_us') AS backoff_us,
       (SELECT resilience.stats_quantile(h.buckets, 0.5) FROM resilience.stats_histograms() h
        WHERE h.area OPERATOR(pg_catalog.=) f.function AND h.histogram OPERATOR(pg_catalog.=) 'attempts') AS attempts_p50,
       (SELECT resilience.stats_quantile(h.buckets, 0.9) FROM resilience.stats_histograms() h
        WHERE h.area OPERATOR(pg_catalog.=) f.function AND h.histogram OPERATOR(pg_catalog.=) 'attempts') AS attempts_p90,
       (SELECT resilience.stats_quantile(h.buckets, 0.99) FROM resilience.stats_histograms() h
        WHERE h.area OPERATOR(pg_catalog.=) f.function AND h.histogram OPERATOR(pg_catalog.=) 'attempts') AS attempts_p99,
       (SELECT resilience.stats_quantile(h.buckets, 0.5) FROM resilience.stats_histograms() h
        WHERE h.area OPERATOR(pg_catalog.=) f.function AND h.histogram OPERATOR(pg_catalog.=) 'time_to_commit_us') AS commit_us_p50,
       (SELECT resilience.stats_quantile(h.buckets, 0.9) FROM resilience.stats_histograms() h
        WHERE h.area OPERATOR(pg_catalog.=) f.function AND h.histogram OPERATOR(pg_catalog.=) 'time_to_commit_us') AS commit_us_p90,
       (SELECT resilience.stats_quantile(h.buckets, 0.99) FROM resilience.stats_histograms() h
        WHERE h.area OPERATOR(pg_catalog.=) f.function AND h.histogram OPERATOR(pg_catalog.=) 'time_to_commit_us') AS commit_us_p99,
       (SELECT i.stats_since FROM resilience.stats_info() i) AS stats_since
FROM (VALUES ('retry_transaction'), ('retry_statement')) AS f(function)
JOIN resilience.stats_counters() c ON c.area OPERATOR(pg_catalog.=) f.function
GROUP BY f.function;

COMMENT ON VIEW resilience.retry_stats IS
'retry_transaction and retry_statement: calls, commits, gave_up, attempts run, time slept in backoff, approximate attempt and time-to-commit percentiles';

CREATE VIEW resilience.retry_gave_up
WITH (security_invoker) AS
SELECT g.function, g.sqlstate, g.calls, i.stats_since
FROM resilience.stats_gave_up() g, resilience.stats_info() i;

COMMENT ON VIEW resilience.retry_gave_up IS
'calls of the retry functions that gave up, by function and the SQLSTATE they raised';

-- the single-row areas: counter names become columns
CREATE VIEW resilience.guard_stats
WITH (security_invoker) AS
SELECT max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'acquired_xact_exclusive') AS acquired_xact_exclusive,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'acquired_xact_shared') AS acquired_xact_shared,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'acquired_session_exclusive') AS acquired_session_exclusive,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'acquired_session_shared') AS acquired_session_shared,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'waits') AS waits,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'timeouts') AS timeouts,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'lock_table_full') AS lock_table_full,
       (SELECT h.sum FROM resilience.stats_histograms() h
        WHERE h.area OPERATOR(pg_catalog.=) 'guard') AS wait_us,
       (SELECT resilience.stats_quantile(h.buckets, 0.5) FROM resilience.stats_histograms() h
        WHERE h.area OPERATOR(pg_catalog.=) 'guard') AS wait_us_p50,
       (SELECT resilience.stats_quantile(h.buckets, 0.9) FROM resilience.stats_histograms() h
        WHERE h.area OPERATOR(pg_catalog.=) 'guard') AS wait_us_p90,
       (SELECT resilience.stats_quantile(h.buckets, 0.99) FROM resilience.stats_histograms() h
        WHERE h.area OPERATOR(pg_catalog.=) 'guard') AS wait_us_p99,
       (SELECT i.stats_since FROM resilience.stats_info() i) AS stats_since
FROM resilience.stats_counters() c
WHERE c.area OPERATOR(pg_catalog.=) 'guard';

COMMENT ON VIEW resilience.guard_stats IS
'locks granted by scope and mode, waits, timeouts, lock table full, wait time (total and approximate percentiles, microseconds)';

CREATE VIEW resilience.guard_name_stats
WITH (security_invoker) AS
SELECT d.datname, n.name, n.counters[1] AS acquisitions, n.counters[2] AS waits,
       n.counters[3] AS timeouts, n.counters[4] AS wait_us,
       (SELECT i.stats_since FROM resilience.stats_info() i) AS stats_since
FROM resilience.stats_names() n
LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) n.dbid
WHERE n.kind OPERATOR(pg_catalog.=) 'guard';

COMMENT ON VIEW resilience.guard_name_stats IS
'per lock name (the busiest, up to resilience.stats_max_names with leases and queues): locks granted, waits, timeouts, wait time in microseconds';

CREATE VIEW resilience.lease_stats
WITH (security_invoker) AS
SELECT d.datname, n.name, n.counters[1] AS grants, n.counters[2] AS renewals,
       n.counters[3] AS takeovers, n.counters[4] AS refused,
       n.counters[5] AS fence_rejections, n.counters[6] AS releases,
       (SELECT i.stats_since FROM resilience.stats_info() i) AS stats_since
FROM resilience.stats_names() n
LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) n.dbid
WHERE n.kind OPERATOR(pg_catalog.=) 'lease';

COMMENT ON VIEW resilience.lease_stats IS
'per lease name: grants, renewals, takeovers of an expired lease, refused acquisitions, fence rejections (RL001), releases';

CREATE VIEW resilience.idempotency_stats
WITH (security_invoker) AS
SELECT max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'first_calls') AS first_calls,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'replays') AS replays,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'mismatches') AS mismatches,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'waits') AS waits,
       (SELECT i.stats_since FROM resilience.stats_info() i) AS stats_since
FROM resilience.stats_counters() c
WHERE c.area OPERATOR(pg_catalog.=) 'idempotency';

COMMENT ON VIEW resilience.idempotency_stats IS
'idempotent(): first calls that ran the request, replays, key mismatches, waits behind a concurrent duplicate';

CREATE VIEW resilience.keyset_stats
WITH (security_invoker) AS
SELECT max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'pages') AS pages,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'rows') AS rows,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'rejected_malformed') AS rejected_malformed,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'rejected_forged') AS rejected_forged,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'rejected_retired_key') AS rejected_retired_key,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'rejected_other_sort') AS rejected_other_sort,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'rejected_other') AS rejected_other,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'plan_cache_hits') AS plan_cache_hits,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'plan_cache_misses') AS plan_cache_misses,
       (SELECT i.stats_since FROM resilience.stats_info() i) AS stats_since
FROM resilience.stats_counters() c
WHERE c.area OPERATOR(pg_catalog.=) 'keyset';

COMMENT ON VIEW resilience.keyset_stats IS
'keyset pagination: pages and rows served, cursors refused by reason, page plan cache hits and misses';

CREATE VIEW resilience.limit_stats
WITH (security_invoker) AS
SELECT max(c.value) FILTER (WHERE c.area OPERATOR(pg_catalog.=) 'rate_limit' AND c.counter OPERATOR(pg_catalog.=) 'allowed') AS rate_limit_allowed,
       max(c.value) FILTER (WHERE c.area OPERATOR(pg_catalog.=) 'rate_limit' AND c.counter OPERATOR(pg_catalog.=) 'denied') AS rate_limit_denied,
       max(c.value) FILTER (WHERE c.area OPERATOR(pg_catalog.=) 'breaker' AND c.counter OPERATOR(pg_catalog.=) 'allowed') AS breaker_allowed,
       max(c.value) FILTER (WHERE c.area OPERATOR(pg_catalog.=) 'breaker' AND c.counter OPERATOR(pg_catalog.=) 'denied') AS breaker_denied,
       max(c.value) FILTER (WHERE c.area OPERATOR(pg_catalog.=) 'breaker' AND c.counter OPERATOR(pg_catalog.=) 'to_open') AS breaker_opened,
       max(c.value) FILTER (WHERE c.area OPERATOR(pg_catalog.=) 'breaker' AND c.counter OPERATOR(pg_catalog.=) 'to_half_open') AS breaker_half_opened,
       max(c.value) FILTER (WHERE c.area OPERATOR(pg_catalog.=) 'breaker' AND c.counter OPERATOR(pg_catalog.=) 'to_closed') AS breaker_closed,
       (SELECT i.stats_since FROM resilience.stats_info() i) AS stats_since
FROM resilience.stats_counters() c
WHERE c.area OPERATOR(pg_catalog.=) ANY ('{rate_limit,breaker}'::text[]);

COMMENT ON VIEW resilience.limit_stats IS
'rate limit and circuit breaker decisions (allowed, denied) and breaker state changes';

CREATE VIEW resilience.queue_stats
WITH (security_invoker) AS
SELECT d.datname, n.name AS queue, n.counters[1] AS enqueued, n.counters[2] AS claimed,
       n.counters[3] AS completed, n.counters[4] AS failed, n.counters[5] AS dead,
       n.counters[6] AS lease_expired, n.counters[7] AS fence_rejections,
       resilience.stats_quantile(n.buckets, 0.5) AS pickup_us_p50,
       resilience.stats_quantile(n.buckets, 0.9) AS pickup_us_p90,
       resilience.stats_quantile(n.buckets, 0.99) AS pickup_us_p99,
       n.buckets AS pickup_buckets,
       (SELECT i.stats_since FROM resilience.stats_info() i) AS stats_since
FROM resilience.stats_names() n
LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) n.dbid
WHERE n.kind OPERATOR(pg_catalog.=) 'queue';

COMMENT ON VIEW resilience.queue_stats IS
'per job queue: jobs enqueued, claimed, completed, failed, dead, claims expired, stale-token refusals (RL001), approximate pickup latency percentiles (microseconds)';

-- readers: pg_monitor and the extension's owner; resetting: the owner
REVOKE ALL ON FUNCTION resilience.stats_counters(), resilience.stats_histograms(),
    resilience.stats_names(), resilience.stats_gave_up(), resilience.stats_info(),
    resilience.metrics(), resilience.stats_reset() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION resilience.stats_counters(), resilience.stats_histograms(),
    resilience.stats_names(), resilience.stats_gave_up(), resilience.stats_info(),
    resilience.metrics() TO pg_monitor, @extowner@;
GRANT EXECUTE ON FUNCTION resilience.stats_reset() TO @extowner@;
GRANT SELECT ON resilience.stats, resilience.stats_histogram, resilience.retry_stats,
    resilience.retry_gave_up, resilience.guard_stats, resilience.guard_name_stats,
    resilience.lease_stats, resilience.idempotency_stats, resilience.keyset_stats,
    resilience.limit_stats, resilience.queue_stats TO pg_monitor, @extowner@;

-- leases are PL/pgSQL writing resilience.lease_state: their grants,
-- renewals, takeovers and releases are counted from the row changes
CREATE FUNCTION resilience.stats_lease_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'stats_lease_trigger'
LANGUAGE C;

COMMENT ON FUNCTION resilience.stats_lease_trigger() IS
'internal: counts lease grants, renewals, takeovers and releases for the monitoring views from the changes of resilience.lease_state';

CREATE TRIGGER stats_count AFTER INSERT OR UPDATE ON resilience.lease_state
FOR EACH ROW EXECUTE FUNCTION resilience.stats_lease_trigger();

-- only the extension's own trigger uses it: nobody else may attach it (and
-- count leases of a table of theirs); a trigger fires without EXECUTE
REVOKE ALL ON FUNCTION resilience.stats_lease_trigger() FROM PUBLIC;

CREATE FUNCTION resilience.stats_lease_note(event text, name text, holder text, token bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'stats_lease_note'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.stats_lease_note(text, text, text, bigint) IS
'internal: counts a refused lease acquisition or a fence rejection for the monitoring views, if lease_state is in that state now';
