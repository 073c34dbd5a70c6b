-- The update to 1.1 replaces page, page_json, page_sql, retry_transaction,
-- retry_statement and idempotent (params became anycompatiblearray).  The new
-- routines get the privileges the old ones had (an operator's REVOKE is not
-- undone).  Calls written for 1.0 keep working after the update.
SELECT current_database() AS home \gset
CREATE DATABASE resilience_params_upgrade;
\c resilience_params_upgrade
CREATE EXTENSION resilience VERSION '1.0';
CREATE ROLE regress_params_app;
REVOKE EXECUTE ON FUNCTION resilience.idempotent(text, text, text[], interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION resilience.idempotent(text, text, text[], interval) TO regress_params_app;
REVOKE EXECUTE ON PROCEDURE resilience.retry_transaction FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE resilience.retry_transaction TO regress_params_app WITH GRANT OPTION;
ALTER EXTENSION resilience UPDATE;
SELECT p.oid::regprocedure AS routine, p.proacl IS NULL AS default_privileges,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_may,
       has_function_privilege('regress_params_app', p.oid, 'EXECUTE WITH GRANT OPTION') AS app_may_grant,
       has_function_privilege('regress_params_app', p.oid, 'EXECUTE') AS app_may
FROM pg_proc p
WHERE p.pronamespace = 'resilience'::regnamespace
  AND p.proname IN ('page', 'page_json', 'page_sql', 'retry_transaction', 'retry_statement', 'idempotent')
ORDER BY 1::text;
\c :home
DROP DATABASE resilience_params_upgrade;
DROP ROLE regress_params_app;
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
