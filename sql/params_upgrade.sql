-- The update to 1.1 replaces page, page_json, page_sql, retry_transaction,
-- retry_statement and idempotent (params became anycompatiblearray).  Their
-- privileges return to the default; the update warns where an operator had
-- changed them.  Calls written for 1.0 keep working after the update.
SELECT current_database() AS home \gset
CREATE DATABASE resilience_params_upgrade;
\c resilience_params_upgrade
CREATE EXTENSION resilience VERSION '1.0';
REVOKE EXECUTE ON FUNCTION resilience.idempotent(text, text, text[], interval) FROM PUBLIC;
ALTER EXTENSION resilience UPDATE;
SELECT p.oid::regprocedure AS routine, p.proacl IS NULL AS default_privileges
FROM pg_proc p
WHERE p.pronamespace = 'resilience'::regnamespace
  AND p.proname IN ('page', 'page_json', 'page_sql', 'retry_transaction', 'retry_statement', 'idempotent')
ORDER BY 1::text;
-- without a change, no warning
\c :home
DROP DATABASE resilience_params_upgrade;
CREATE DATABASE resilience_params_upgrade;
\c resilience_params_upgrade
CREATE EXTENSION resilience VERSION '1.0';
ALTER EXTENSION resilience UPDATE;
-- 1.0's forms of the calls
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t VALUES (1), (2);
SELECT resilience.retry_statement('SELECT id FROM t WHERE id = $1', ARRAY['2']);
SELECT resilience.retry_statement('SELECT id FROM t WHERE id = $1', '{2}');
SELECT resilience.idempotent('k', 'SELECT id FROM t WHERE id > $1', ARRAY['1']);
SELECT id FROM resilience.page(NULL::t, 'id', filter => 'id > $1', params => '{1}');
CALL resilience.retry_transaction('SELECT count(*) AS n FROM t WHERE id >= $1', ARRAY['1']);
-- and the new ones
CALL resilience.retry_transaction('SELECT count(*) AS n FROM t WHERE id >= $1', ARRAY[1]);
\c :home
DROP DATABASE resilience_params_upgrade;
