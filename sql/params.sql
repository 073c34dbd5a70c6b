-- params of any array type (retry_transaction, retry_statement, idempotent,
-- page(), page_json(), page_sql()).  text[] and untyped literals keep 1.0's
-- meaning: each $n takes the type its context gives it.  Any other element
-- type binds every $n as that type, each element as it is (NULL elements
-- as SQL NULL).
\set VERBOSITY terse
SET search_path = public;
-- the SQLSTATE and message of a statement that fails
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE TABLE params_t (id int8 PRIMARY KEY, amount numeric(10,2), tag uuid, ok bool, doc jsonb, name text);
INSERT INTO params_t VALUES (1, 695.90, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true, '{"k": 1}', 'one'),
                      (2, 10.00, NULL, false, '{"k": 2}', 'two'),
                      (3, NULL, NULL, NULL, NULL, 'three');

-- every element type the drivers send, and a few more
SELECT resilience.retry_statement('SELECT $1 AS v, pg_typeof($1)::text AS t, $2 AS w', ARRAY[1, 2]);
SELECT resilience.retry_statement('SELECT $1 AS v, pg_typeof($1)::text AS t', ARRAY[1]::int2[]);
SELECT resilience.retry_statement('SELECT $1 AS v, pg_typeof($1)::text AS t', ARRAY[9007199254740993]::int8[]);
SELECT resilience.retry_statement('SELECT $1 AS v, pg_typeof($1)::text AS t', ARRAY[695.90]);
SELECT resilience.retry_statement('SELECT $1 AS v, pg_typeof($1)::text AS t', ARRAY[1.5]::float8[]);
SELECT resilience.retry_statement('SELECT $1 AS v, pg_typeof($1)::text AS t', ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11']::uuid[]);
SELECT resilience.retry_statement('SELECT $1 AS v, pg_typeof($1)::text AS t, NOT $2 AS w', ARRAY[true, false]);
SELECT resilience.retry_statement('SELECT $1->''k'' AS v, pg_typeof($1)::text AS t', ARRAY['{"k": [1, 2]}'::jsonb]);
SELECT resilience.retry_statement('SELECT $1 AS v, pg_typeof($1)::text AS t', ARRAY['2026-12-02'::date]);
SELECT resilience.retry_statement('SELECT $1 AS v, pg_typeof($1)::text AS t', ARRAY['x']::varchar[]);
-- an int2[] where the column is int8 or numeric: the usual casts apply
SELECT resilience.retry_statement('SELECT id, amount FROM params_t WHERE id = $1 OR amount = $2 ORDER BY id', ARRAY[2, 10]::int2[]);
-- a typed array fixes the types: text against an int column is an error
-- (pass text[], or cast in the SQL)
SELECT pg_temp.err($q$SELECT resilience.retry_statement('SELECT id FROM params_t WHERE name = $1', ARRAY[1])$q$);
SELECT resilience.retry_statement('SELECT id FROM params_t WHERE name = $1::text', ARRAY[1]);

-- NULL elements are SQL NULLs, of the array's type
SELECT resilience.retry_statement('SELECT $1 IS NULL AS n1, pg_typeof($1)::text AS t, $2 AS v', ARRAY[NULL, 5]);
SELECT resilience.retry_statement('SELECT $1 IS NULL AS n1, $2 AS v', ARRAY[NULL, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11']::uuid[]);
SELECT pg_temp.err($q$SELECT resilience.retry_statement('SELECT $1 IS NULL AS n1', ARRAY[NULL]::text[])$q$);

-- empty arrays of any type, NULL, and no params at all: no parameters
SELECT resilience.retry_statement('SELECT 1 AS one', '{}');
SELECT resilience.retry_statement('SELECT 1 AS one', ARRAY[]::int[]);
SELECT resilience.retry_statement('SELECT 1 AS one', NULL);
SELECT resilience.retry_statement('SELECT 1 AS one');
SELECT pg_temp.err($q$SELECT resilience.retry_statement('SELECT $1 AS v', ARRAY[]::int[])$q$);

-- untyped literals and text arrays: types from context, as in 1.0
SELECT resilience.retry_statement('SELECT $1 + 1 AS v, pg_typeof($1)::text AS t', '{1}');
SELECT resilience.retry_statement('SELECT $1 || ''!'' AS v', ARRAY['a']);
SELECT resilience.retry_statement('SELECT amount FROM params_t WHERE id = $1', params => '{1}');
SELECT resilience.retry_statement('SELECT $1 AS v', '{1}');
-- untyped parameters of a prepared statement resolve to text[] too
PREPARE pq AS SELECT resilience.retry_statement('SELECT id FROM params_t WHERE id = $1', $1);
EXECUTE pq('{2}');
DEALLOCATE pq;
-- and a typed one is bound as its type (what a driver with int8[] sends)
PREPARE pq(int8[]) AS SELECT resilience.retry_statement('SELECT $1 AS v, pg_typeof($1)::text AS t', $1);
EXECUTE pq('{9007199254740993}');
DEALLOCATE pq;

-- refused: two dimensions, arrays of anonymous records or cstrings
SELECT pg_temp.err($q$SELECT resilience.retry_statement('SELECT $1', '{{1,2},{3,4}}'::int[])$q$);
SELECT pg_temp.err($q$SELECT resilience.retry_statement('SELECT $1', '{{a}}')$q$);
SELECT pg_temp.err($q$SELECT resilience.retry_statement('SELECT $1', ARRAY[ROW(1, 2)])$q$);
SELECT pg_temp.err($q$SELECT resilience.retry_statement('SELECT $1', ARRAY['a'::cstring])$q$);
-- an array of a named composite type is fine
SELECT resilience.retry_statement('SELECT ($1).name AS v', ARRAY[(SELECT params_t FROM params_t WHERE id = 1)]);
-- more $n than elements: 42P02 as before; unused typed elements are ignored
SELECT pg_temp.err($q$SELECT resilience.retry_statement('SELECT $2', ARRAY[1])$q$);
SELECT resilience.retry_statement('SELECT $1 AS v', ARRAY[1, 2]);

-- the plan cache: the same SQL with another element type is another plan
SELECT resilience.retry_statement('SELECT pg_typeof($1)::text AS t', ARRAY[1]);
SELECT resilience.retry_statement('SELECT pg_typeof($1)::text AS t', ARRAY[1]::int8[]);
SELECT resilience.retry_statement('SELECT pg_typeof($1)::text AS t', ARRAY[1]);
SELECT resilience.retry_statement('SELECT pg_typeof($1)::text AS t', ARRAY['1']::numeric[]);
SELECT pg_temp.err($q$SELECT resilience.retry_statement('SELECT pg_typeof($1)::text AS t', '{1}')$q$);
SELECT resilience.retry_statement('SELECT $1 = 1 AS t', ARRAY[1]);
SELECT pg_temp.err($q$SELECT resilience.retry_statement('SELECT $1 = 1 AS t', ARRAY[true])$q$);

-- retry_transaction: positional and named, ARRAY[...] of ints and an
-- untyped literal
CALL resilience.retry_transaction('UPDATE params_t SET amount = amount + $2 WHERE id = $1 RETURNING id, amount', ARRAY[2, 5]);
CALL resilience.retry_transaction('UPDATE params_t SET amount = amount - $2 WHERE id = $1 RETURNING id, amount', '{2,5}');
CALL resilience.retry_transaction('SELECT $1 AS v, pg_typeof($1)::text AS t', ARRAY[1, 2]::int2[], result => NULL);
CALL resilience.retry_transaction('SELECT $1 AS v', params => ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid], max_attempts => 2);
CALL resilience.retry_transaction('SELECT 1 AS one');
CALL resilience.retry_transaction('SELECT $1', '{{1}}'::int[]);
\echo :LAST_ERROR_SQLSTATE

-- idempotent: typed params are part of the fingerprint, with their type
SELECT resilience.idempotent('p-1', 'SELECT $1 + $2 AS s', ARRAY[40, 2]);
SELECT resilience.idempotent('p-1', 'SELECT $1 + $2 AS s', ARRAY[40, 2]);
SELECT pg_temp.err($q$SELECT resilience.idempotent('p-1', 'SELECT $1 + $2 AS s', ARRAY[40, 3])$q$);
SELECT pg_temp.err($q$SELECT resilience.idempotent('p-1', 'SELECT $1 + $2 AS s', ARRAY[40, 2]::int8[])$q$);
SELECT pg_temp.err($q$SELECT resilience.idempotent('p-1', 'SELECT $1 + $2 AS s', '{40,2}')$q$);
SELECT resilience.idempotent('p-2', 'SELECT $1 AS v', ARRAY[NULL::uuid]);
SELECT resilience.idempotent('p-2', 'SELECT $1 AS v', ARRAY[NULL::uuid]);
SELECT pg_temp.err($q$SELECT resilience.idempotent('p-2', 'SELECT $1 AS v', ARRAY[NULL::text])$q$);
-- '{}' of any type and NULL are one request
SELECT resilience.idempotent('p-3', 'SELECT 1 AS one', ARRAY[]::int[]);
SELECT resilience.idempotent('p-3', 'SELECT 1 AS one', NULL);
SELECT resilience.idempotent('p-3', 'SELECT 1 AS one');
SELECT pg_temp.err($q$SELECT resilience.idempotent('p-4', 'SELECT $1', '{{1}}'::int[])$q$);
-- text[] fingerprints are 1.0's: the same key and text params still match
SELECT resilience.idempotent('p-5', 'SELECT $1::int AS v', '{7}');
SELECT resilience.idempotent('p-5', 'SELECT $1::int AS v', ARRAY['7']);

-- page(), page_json(), page_sql(): filter parameters of any type
SELECT id, name FROM resilience.page(NULL::params_t, 'id', filter => 'id > $1', params => ARRAY[1]);
SELECT id, name FROM resilience.page(NULL::params_t, 'id', filter => 'id > $1', params => ARRAY[1]::int2[]);
SELECT id, name FROM resilience.page(NULL::params_t, 'id', filter => 'id > $1', params => '{1}');
SELECT id, name FROM resilience.page(NULL::params_t, 'id', filter => 'tag = $1', params => ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid]);
SELECT id, name FROM resilience.page(NULL::params_t, 'id', filter => 'ok = $1 OR $2', params => ARRAY[false, NULL]);
SELECT id, name FROM resilience.page(NULL::params_t, 'id', filter => 'amount > $1', params => ARRAY[100.5]);
SELECT id, name FROM resilience.page(NULL::params_t, 'id', filter => 'doc @> $1', params => ARRAY['{"k": 2}'::jsonb]);
SELECT pg_temp.err($q$SELECT id, name FROM resilience.page(NULL::params_t, 'id', filter => 'name = $1', params => ARRAY[1])$q$);
SELECT pg_temp.err($q$SELECT id, name FROM resilience.page(NULL::params_t, 'id', filter => 'id = $1', params => '{{1}}'::int[])$q$);
SELECT pg_temp.err($q$SELECT id, name FROM resilience.page(NULL::params_t, 'id', filter => 'id > $1', params => ARRAY[]::int[])$q$);
SELECT pg_temp.err($q$SELECT id, name FROM resilience.page(NULL::params_t, 'id', filter => 'id > $2', params => ARRAY[1])$q$);
SELECT resilience.page_json('params_t', 'id', filter => 'id = $1 OR id = $2', params => ARRAY[NULL, 3]::int8[], page_size => 5)->'rows';
SELECT resilience.page_sql('params_t', 'id', filter => 'tag IS DISTINCT FROM $1 AND tag = $2', params => ARRAY[NULL, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11']::uuid[]);
SELECT resilience.page_sql('params_t', 'id', filter => 'id > $1', params => ARRAY[2]);
SELECT resilience.page_sql('params_t', 'id', filter => 'id > $1', params => '{2}');
-- typed filter parameters before the cursor's values
SELECT id, name FROM resilience.page(NULL::params_t, 'id', filter => 'id >= $1', params => ARRAY[1]::int8[],
    after => (SELECT resilience.page_json('params_t', 'id', page_size => 1, filter => 'id >= $1',
                                          params => ARRAY[1]::int8[])->>'next'));
-- the same filter with another element type: its own plan, its own types
SELECT id FROM resilience.page(NULL::params_t, 'id', filter => 'pg_typeof($1) = ''integer''::regtype', params => ARRAY[1]);
SELECT id FROM resilience.page(NULL::params_t, 'id', filter => 'pg_typeof($1) = ''integer''::regtype', params => ARRAY[1]::int8[]);
SELECT id FROM resilience.page(NULL::params_t, 'id', filter => 'pg_typeof($1) = ''integer''::regtype', params => ARRAY[1]);

-- the argument's declared type, as \df shows it
SELECT p.proname, pg_get_function_identity_arguments(p.oid)
FROM pg_proc p WHERE p.pronamespace = 'resilience'::regnamespace
  AND pg_get_function_identity_arguments(p.oid) LIKE '%params%'
ORDER BY 1;

DROP TABLE params_t;
DELETE FROM resilience.idempotency_store WHERE key LIKE 'p-%';
