-- The update to 1.1 replaces page, page_json, page_sql, retry_transaction,
-- retry_statement and idempotent (params became anycompatiblearray).  The new
-- routines get the privileges the old ones had (an operator's REVOKE is not
-- undone).  Calls written for 1.0 keep working after the update.
SELECT current_database() AS home \gset
CREATE DATABASE resilience_params_upgrade;
\c resilience_params_upgrade
CREATE EXTENSION resilience VERSION '1.0';
CREATE ROLE regress_params_app;
CREATE ROLE regress_params_app2;
CREATE ROLE "regress params ""odd"", =X/{}";
REVOKE EXECUTE ON FUNCTION resilience.idempotent(text, text, text[], interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION resilience.idempotent(text, text, text[], interval) TO regress_params_app;
GRANT EXECUTE ON FUNCTION resilience.idempotent(text, text, text[], interval) TO "regress params ""odd"", =X/{}";
REVOKE EXECUTE ON PROCEDURE resilience.retry_transaction FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE resilience.retry_transaction TO regress_params_app WITH GRANT OPTION;
-- a grant made by a grantee with the grant option: the update can only make
-- it again as the owner, and says so
SET ROLE regress_params_app;
GRANT EXECUTE ON PROCEDURE resilience.retry_transaction TO regress_params_app2;
RESET ROLE;
-- what the session running the update sets does not enter into it
SELECT set_config('resilience_update.routine_acls',
                  format('{"page": ["regress_params_app2=X*/%s"]}', current_user), false) IS NOT NULL AS preset;
ALTER EXTENSION resilience UPDATE;
SELECT p.proname, x.grantee::regrole, x.grantor = p.proowner AS by_owner, x.is_grantable
FROM pg_proc p, aclexplode(p.proacl) x
WHERE p.pronamespace = 'resilience'::regnamespace
  AND p.proname IN ('page', 'page_json', 'page_sql', 'retry_transaction', 'retry_statement', 'idempotent')
  AND x.grantee <> p.proowner
ORDER BY 1, x.grantee::regrole::text COLLATE "C";
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
-- a look-alike routine with privileges of its own is not taken for one of
-- the six: the update stops where it names what does not belong
CREATE DATABASE resilience_params_upgrade;
\c resilience_params_upgrade
CREATE EXTENSION resilience VERSION '1.0';
CREATE FUNCTION resilience.idempotent(integer) RETURNS integer LANGUAGE sql AS 'SELECT 1';
REVOKE ALL ON FUNCTION resilience.idempotent(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION resilience.idempotent(integer) TO regress_params_app;
\set VERBOSITY terse
ALTER EXTENSION resilience UPDATE;
\set VERBOSITY default
SELECT extversion FROM pg_extension WHERE extname = 'resilience';
\c :home
DROP DATABASE resilience_params_upgrade;
DROP ROLE regress_params_app;
DROP ROLE regress_params_app2;
DROP ROLE "regress params ""odd"", =X/{}";
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
