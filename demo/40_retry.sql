-- resilience tour: retryable transactions
-- CALL resilience.retry_transaction runs SQL as its own SERIALIZABLE
-- transaction, commits it, and retries serialization failures and deadlocks
-- inside the server.  It must be CALLed on its own, in autocommit mode.
CREATE TABLE acct (id int PRIMARY KEY, bal int NOT NULL);
INSERT INTO acct VALUES (1, 100), (2, 50);

-- a transfer: $1..$3 come from params (text, typed by context); the result
-- is the rows of the last row-returning statement, as jsonb
CALL resilience.retry_transaction(
    $$ UPDATE acct SET bal = bal - $3 WHERE id = $1;
       UPDATE acct SET bal = bal + $3 WHERE id = $2;
       SELECT id, bal FROM acct ORDER BY id $$,
    params => ARRAY['1', '2', '30']);

-- params of any array type: ARRAY[2, 1, 5] is integer[], so $1..$3 are integer
CALL resilience.retry_transaction(
    $$ UPDATE acct SET bal = bal - $3 WHERE id = $1;
       UPDATE acct SET bal = bal + $3 WHERE id = $2;
       SELECT id, bal FROM acct ORDER BY id $$,
    params => ARRAY[2, 1, 5]);

-- a transaction that hits two serialization failures (staged here with a
-- function that raises 40001 until a sequence reaches 3) commits on the
-- third attempt; the failed attempts' inserts left nothing behind
CREATE SEQUENCE tries;
CREATE FUNCTION flaky() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE k bigint := nextval('tries');
BEGIN
    IF k < 3 THEN
        RAISE EXCEPTION 'could not serialize access (staged)' USING ERRCODE = '40001';
    END IF;
    RETURN k;
END $$;
CALL resilience.retry_transaction(
    $$ INSERT INTO acct VALUES (3, 0); SELECT flaky() AS attempt $$);
SELECT * FROM acct ORDER BY id;

-- inside a transaction, retry_statement retries deadlocks and lock timeouts
-- in a savepoint, leaving the rest of the transaction alone
BEGIN;
SELECT resilience.retry_statement(
    $$ UPDATE acct SET bal = bal + 5 WHERE id = $1 RETURNING id, bal $$, ARRAY['3']);
COMMIT;

DROP TABLE acct;
DROP FUNCTION flaky();
DROP SEQUENCE tries;
