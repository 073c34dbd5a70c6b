-- rate limits and circuit breakers, shared by every session (the demo
-- server preloads the library: shared_preload_libraries = 'resilience')

-- 5 calls per second, bursts of 3: three pass at once, the rest wait
-- (burst 3 + 0 * n makes each row its own call: a function in FROM whose
-- arguments never change is called once)
SELECT n, r.allowed, r.remaining, r.retry_after
FROM generate_series(1, 5) n,
     LATERAL (SELECT * FROM resilience.rate_limit('demo:smtp', 5, '1 second', 3 + 0 * n)) r;

SELECT key, allowed, denied, remaining FROM resilience.rate_limits;

-- a breaker opens after min_calls calls with failure_rate failing
SELECT resilience.breaker_allow('demo:payments', min_calls => 4) AS allowed;
SELECT resilience.breaker_record('demo:payments', false) FROM generate_series(1, 4);
SELECT resilience.breaker_allow('demo:payments', min_calls => 4) AS allowed_while_open;
SELECT name, state, opened_at, next_probe FROM resilience.breakers;
