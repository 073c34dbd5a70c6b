-- resilience.idempotent inside resilience.retry_transaction: a retried
-- attempt that rolled back recorded nothing, and a re-sent CALL replays.
CREATE TABLE accounts (id int PRIMARY KEY, balance numeric NOT NULL);
INSERT INTO accounts VALUES (7, 100);
-- fails its first call with a serialization failure, then succeeds (the
-- sequence is not rolled back with the attempt)
CREATE SEQUENCE attempt_seq;
CREATE FUNCTION fail_first() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF nextval('attempt_seq') = 1 THEN
        RAISE EXCEPTION 'simulated serialization failure' USING ERRCODE = '40001';
    END IF;
END $$;

CALL resilience.retry_transaction(
  $$SELECT resilience.idempotent($1,
        'UPDATE accounts SET balance = balance - $1::numeric WHERE id = $2::int RETURNING balance',
        ARRAY[$2, $3]) AS r;
    SELECT fail_first();
    SELECT resilience.idempotent($1,
        'UPDATE accounts SET balance = balance - $1::numeric WHERE id = $2::int RETURNING balance',
        ARRAY[$2, $3]) AS r$$,
  params => ARRAY['key-123', '10.00', '7'], base_delay => '1ms');
-- the first attempt ran the request and rolled back; the second ran it once
-- (and replayed it within itself): one debit
SELECT balance FROM accounts;
SELECT key, replays FROM resilience.idempotency_keys WHERE key = 'key-123';

-- the client lost the connection and re-sends the whole CALL: replayed
CALL resilience.retry_transaction(
  $$SELECT resilience.idempotent($1,
        'UPDATE accounts SET balance = balance - $1::numeric WHERE id = $2::int RETURNING balance',
        ARRAY[$2, $3]) AS r$$,
  params => ARRAY['key-123', '10.00', '7']);
SELECT balance FROM accounts;
DELETE FROM resilience.idempotency_store;
