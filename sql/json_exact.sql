-- resilience.json_exact_numbers: numeric, and int8 beyond +-(2^53 - 1), as
-- JSON strings in page_json() rows and the results of retry_transaction,
-- retry_statement and idempotent.  Off (the default) is 1.0's rendering.
SET search_path = public;
-- a module's settings exist once a session has loaded it: preloaded, at
-- connection; otherwise at the first call of one of its functions (SET works
-- before, the value is kept), so SHOW needs the library loaded first
LOAD 'resilience';
SHOW resilience.json_exact_numbers;
CREATE DOMAIN money_d AS numeric(12,2);
CREATE TYPE price AS (amount numeric, currency text, qty int);
CREATE TYPE plain_pair AS (a int, b text);
CREATE TABLE jx_ledger (
    id int8 PRIMARY KEY,
    amount numeric(10,2),
    big int8,
    small int2,
    mid int4,
    ratio float8,
    dom money_d,
    amounts numeric[],
    bigs int8[],
    p price,
    pp plain_pair,
    prices price[],
    doc jsonb,
    raw json,
    note text);
INSERT INTO jx_ledger VALUES
 (1, 695.90, 9007199254740993, 7, 42, 0.5, 10.10, '{1.10,NULL,3}', '{1,9007199254740992}',
  '(19.99,EUR,3)', '(1,x)', ARRAY['(1.50,USD,1)'::price], '{"n": 695.90, "big": 9007199254740993}',
  '{"n": 1.50}', 'first'),
 (9007199254740991, 'NaN', 9007199254740991, NULL, NULL, NULL, NULL, '{}', '{{1,2},{3,-9007199254740993}}',
  NULL, NULL, NULL, NULL, NULL, NULL),
 (-9007199254740993, 0, -9007199254740991, -1, -1, -1.25, -0.01, '{{0.1},{0.20}}', NULL,
  '(,,)', '(,)', '{}', '[1.0]', '2.50', 'last');

-- off: today's rendering, numbers everywhere
SELECT jsonb_pretty(resilience.page_json('jx_ledger', 'id')->'rows');

SET resilience.json_exact_numbers = on;
SELECT jsonb_pretty(resilience.page_json('jx_ledger', 'id')->'rows');
-- the cursors are unchanged by the setting
SELECT resilience.page_json('jx_ledger', 'id', page_size => 1)->'next' =
       (SELECT resilience.page_json('jx_ledger', 'id', page_size => 1)->'next'
        FROM (SELECT set_config('resilience.json_exact_numbers', 'off', true)) s) AS same_cursor;
SET resilience.json_exact_numbers = on;

-- a relation without numeric or int8 columns renders as before
CREATE TABLE jx_tags (id int PRIMARY KEY, name text, w float4);
INSERT INTO jx_tags VALUES (1, 'a', 1.5);
SELECT resilience.page_json('jx_tags', 'id')->'rows';

-- retry_statement, retry_transaction, idempotent
SELECT resilience.retry_statement('SELECT id, amount, big, small, mid FROM jx_ledger ORDER BY id');
SELECT resilience.retry_statement($$SELECT 695.90 AS n, 9007199254740993 AS b, 9007199254740991 AS s,
                                          2::int8 AS i8, 1.5::float8 AS f, ROW(1.5, 2) AS r,
                                          ARRAY[ROW(9007199254740993::int8)] AS ra,
                                          '{"x": 1.50}'::jsonb AS j, NULL::numeric AS z$$);
SELECT resilience.retry_statement('SELECT $1 AS n, $2 AS m', ARRAY[695.90, 1]);
CALL resilience.retry_transaction('SELECT amount, big FROM jx_ledger WHERE id = $1', ARRAY[1]);
SELECT resilience.idempotent('x-1', 'SELECT amount, big FROM jx_ledger WHERE id = $1', ARRAY[1]);
-- a replay returns the result as recorded by the first call, whatever the
-- setting is now
SET resilience.json_exact_numbers = off;
SELECT resilience.idempotent('x-1', 'SELECT amount, big FROM jx_ledger WHERE id = $1', ARRAY[1]);
SELECT resilience.idempotent('x-2', 'SELECT amount, big FROM jx_ledger WHERE id = $1', ARRAY[1]);
SET resilience.json_exact_numbers = on;
SELECT resilience.idempotent('x-2', 'SELECT amount, big FROM jx_ledger WHERE id = $1', ARRAY[1]);

-- the setting is a boolean any role may set for itself
CREATE ROLE regress_json_exact;
SET ROLE regress_json_exact;
SET resilience.json_exact_numbers = off;
RESET ROLE;
DROP ROLE regress_json_exact;
SET resilience.json_exact_numbers = 'maybe';
RESET resilience.json_exact_numbers;
SHOW resilience.json_exact_numbers;

DROP TABLE jx_ledger, jx_tags;
DROP TYPE price, plain_pair;
DROP DOMAIN money_d;
DELETE FROM resilience.idempotency_store WHERE key LIKE 'x-%';
