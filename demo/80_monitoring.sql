-- Monitoring (docs/monitoring.md): what the demos above did, as counted in
-- shared memory, and the same numbers for Prometheus.
SELECT function, calls, commits, gave_up, attempts, attempts_p99 FROM resilience.retry_stats ORDER BY function;
SELECT acquired_xact_exclusive, acquired_session_exclusive, waits, timeouts FROM resilience.guard_stats;
SELECT name, acquisitions, waits, timeouts FROM resilience.guard_name_stats ORDER BY acquisitions DESC, name LIMIT 5;
SELECT pages, rows, rejected_malformed, rejected_forged, rejected_other_sort FROM resilience.keyset_stats;
SELECT first_calls, replays, mismatches FROM resilience.idempotency_stats;
SELECT * FROM resilience.limit_stats;
-- a few lines of the Prometheus text
SELECT line FROM pg_catalog.regexp_split_to_table(resilience.metrics(), E'\n') AS line
WHERE line LIKE 'resilience_retry_attempts_bucket{function="retry_transaction",le="%' LIMIT 4;
