-- A request runs as the calling role and must end as it: its key and record
-- belong to that role.  Role and session changes inside it are refused with
-- 0A000 (they used to surface as XX000 when the result was recorded), and
-- nothing of the request survives.
CREATE ROLE regress_idem_app;
CREATE ROLE regress_idem_app2;
GRANT regress_idem_app2 TO regress_idem_app;
CREATE TABLE idem_role_log (who text);
GRANT SELECT, INSERT ON idem_role_log TO PUBLIC;
CREATE FUNCTION idem_role_switch() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    SET ROLE regress_idem_app2;
    RETURN current_user;
END
$$;
CREATE FUNCTION idem_role_switch_back() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    was text := current_user;
BEGIN
    EXECUTE format('SET ROLE %I', 'regress_idem_app2');
    EXECUTE format('SET ROLE %I', was);
    RETURN current_user;
END
$$;
SET ROLE regress_idem_app;

SELECT resilience.idempotent('r1', 'SET ROLE regress_idem_app2; SELECT 1 AS one');
SELECT current_user;
SELECT resilience.idempotent('r2', 'SET LOCAL ROLE regress_idem_app2');
SELECT resilience.idempotent('r3', 'INSERT INTO idem_role_log VALUES (current_user); SELECT idem_role_switch() AS who');
SELECT resilience.idempotent('r4', 'SET SESSION AUTHORIZATION regress_idem_app2');
SELECT current_user;
\set VERBOSITY sqlstate
SELECT resilience.idempotent('r1', 'SET ROLE regress_idem_app2; SELECT 1 AS one');
SELECT resilience.idempotent('r2', 'SET LOCAL ROLE regress_idem_app2');
SELECT resilience.idempotent('r3', 'INSERT INTO idem_role_log VALUES (current_user); SELECT idem_role_switch() AS who');
SELECT resilience.idempotent('r4', 'SET SESSION AUTHORIZATION regress_idem_app2');
\set VERBOSITY default
-- inside a subtransaction the caller can go on, as the calling role
BEGIN;
SAVEPOINT s;
SELECT resilience.idempotent('r5', 'SET ROLE regress_idem_app2');
ROLLBACK TO s;
SELECT current_user;
COMMIT;

-- an ending equal to the start is fine: a function that switches and back,
-- SET ROLE to the current role, RESET ROLE with no role set by the request
SELECT resilience.idempotent('ok1', 'SELECT idem_role_switch_back() AS who') -> 'result' AS switch_back;
SELECT resilience.idempotent('ok2', 'SET ROLE regress_idem_app; SELECT current_user AS who') -> 'result' AS same_role;
RESET ROLE;
-- as the session user, RESET ROLE inside changes nothing either
SELECT resilience.idempotent('ok3', 'RESET ROLE; SELECT 1 AS one') -> 'result' AS reset_unset;
-- but a caller who SET ROLE may not RESET it inside the request
SET ROLE regress_idem_app;
SELECT resilience.idempotent('r6', 'RESET ROLE; SELECT current_user AS who');
SELECT current_user;
RESET ROLE;

-- nothing the refused requests did was kept, and no key was recorded for them
SELECT count(*) AS logged FROM idem_role_log;
SELECT key, role FROM resilience.idempotency_keys
WHERE role IN ('regress_idem_app', 'regress_idem_app2', 'postgres') ORDER BY key;

DELETE FROM resilience.idempotency_store;
DROP TABLE idem_role_log;
DROP FUNCTION idem_role_switch();
DROP FUNCTION idem_role_switch_back();
DROP ROLE regress_idem_app;
DROP ROLE regress_idem_app2;
