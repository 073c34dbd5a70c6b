-- resilience tour: idempotency keys
-- A client retries a payment; the second call replays the first one's result.
CREATE TABLE payments (id serial PRIMARY KEY, account int NOT NULL, amount numeric NOT NULL);
SELECT resilience.idempotent('7a0c2b4e-retry-demo',
       'INSERT INTO payments (account, amount) VALUES ($1, $2) RETURNING id, amount',
       ARRAY['42', '19.99']);
SELECT resilience.idempotent('7a0c2b4e-retry-demo',
       'INSERT INTO payments (account, amount) VALUES ($1, $2) RETURNING id, amount',
       ARRAY['42', '19.99']);
SELECT count(*) AS payments_made FROM payments;
SELECT key, role, replays, expires_at - created_at AS kept_for FROM resilience.idempotency_keys;
