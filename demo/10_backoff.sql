-- resilience tour: backoff_delay
-- The delay before retry attempt n: min(cap, base * 2^(n-1)), with jitter.
SET IntervalStyle = postgres;
SELECT n AS attempt,
       resilience.backoff_delay(n, '10ms', '1s', 'none')  AS ceiling,
       resilience.backoff_delay(n, '10ms', '1s', 'full')  AS full_jitter,
       resilience.backoff_delay(n, '10ms', '1s', 'equal') AS equal_jitter
FROM generate_series(1, 8) AS n;
