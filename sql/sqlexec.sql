-- Caller SQL (retry_statement, retry_transaction, idempotent) is prepared once
-- per backend, keyed by the SQL text, the role and the search_path setting:
-- parameter types are inferred afresh when the same text names another
-- schema's table.
CREATE SCHEMA sqlexec_a;
CREATE SCHEMA sqlexec_b;
CREATE TABLE sqlexec_a.t (x int);
CREATE TABLE sqlexec_b.t (x text);
SET search_path = sqlexec_a, public;
SELECT resilience.retry_statement('INSERT INTO t VALUES ($1) RETURNING x', params => '{007}');
SET search_path = sqlexec_b, public;
-- text here: the zeros are kept, and a non-number is fine
SELECT resilience.retry_statement('INSERT INTO t VALUES ($1) RETURNING x', params => '{007}');
SELECT resilience.retry_statement('INSERT INTO t VALUES ($1) RETURNING x', params => '{abc}');
SET search_path = sqlexec_a, public;
SELECT resilience.retry_statement('INSERT INTO t VALUES ($1) RETURNING x', params => '{008}');
RESET search_path;
SELECT 'a' AS schema, x::text FROM sqlexec_a.t UNION ALL SELECT 'b', x FROM sqlexec_b.t ORDER BY 1, 2;

-- the same text under another role: each role's own "$user" schema
CREATE ROLE regress_sqlexec_r1;
CREATE ROLE regress_sqlexec_r2;
CREATE SCHEMA regress_sqlexec_r1 AUTHORIZATION regress_sqlexec_r1;
CREATE SCHEMA regress_sqlexec_r2 AUTHORIZATION regress_sqlexec_r2;
CREATE TABLE regress_sqlexec_r1.u (v int);
CREATE TABLE regress_sqlexec_r2.u (v date);
ALTER TABLE regress_sqlexec_r1.u OWNER TO regress_sqlexec_r1;
ALTER TABLE regress_sqlexec_r2.u OWNER TO regress_sqlexec_r2;
SET search_path = "$user", public;
SET ROLE regress_sqlexec_r1;
SELECT resilience.retry_statement('INSERT INTO u VALUES ($1) RETURNING v', params => '{42}');
SET ROLE regress_sqlexec_r2;
SELECT resilience.retry_statement('INSERT INTO u VALUES ($1) RETURNING v', params => '{2026-11-27}');
RESET ROLE;
RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA regress_sqlexec_r1, regress_sqlexec_r2 CASCADE;
DROP ROLE regress_sqlexec_r1;
DROP ROLE regress_sqlexec_r2;
DROP SCHEMA sqlexec_a, sqlexec_b CASCADE;

-- the plan cache is bounded: 300 distinct strings leave 256 plans, each in
-- its own memory context under the cache's
DO $$
BEGIN
    FOR i IN 1..300 LOOP
        PERFORM resilience.retry_statement(format('SELECT %s AS n', i));
    END LOOP;
END
$$;
-- (pg_backend_memory_contexts names a context's parent up to PostgreSQL 17;
-- from 18 on it gives the path of context ids instead, the context's own id
-- last: rows read as jsonb take either, one scan keeping the ids consistent)
WITH m AS MATERIALIZED (SELECT to_jsonb(c) AS j FROM pg_backend_memory_contexts c)
SELECT count(*) AS cached_plans FROM m
WHERE j->>'name' = 'resilience cached plan'
  AND (j->>'parent' = 'resilience plan cache'
       OR EXISTS (SELECT FROM m p WHERE p.j->>'name' = 'resilience plan cache'
                                    AND p.j->'path'->-1 = m.j->'path'->-2));
SELECT ident FROM pg_backend_memory_contexts WHERE name = 'resilience plan cache';
SELECT resilience.retry_statement('SELECT 1 AS n');
