-- A hostile database owner installs the trusted extension, and a curious
-- role calls it: nothing they can plant (overloads, a renamed schema, a
-- look-alike table) changes what the extension's code does, and views hold
-- the caller to its own rights and row-level security.
\set VERBOSITY sqlstate
SELECT current_database() AS home, current_user AS su \gset
CREATE ROLE regress_dbo LOGIN;
CREATE ROLE regress_dbo2 LOGIN;
CREATE ROLE regress_app LOGIN;

-------------------------------------------------------------------------------
-- A trusted install: the schema ends up a superuser's, closed to the installer
-------------------------------------------------------------------------------
CREATE DATABASE regress_sec OWNER regress_dbo;
\c regress_sec regress_dbo
CREATE EXTENSION resilience;
SELECT r.rolsuper AS schema_owner_is_superuser, n.nspacl
FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
WHERE n.nspname = 'resilience';
SELECT e.extowner::regrole AS extension_owner FROM pg_extension e WHERE e.extname = 'resilience';

-- an overload that would win for resilience.lock('job', timeout => '5s')
CREATE FUNCTION resilience.lock(name text, timeout text) RETURNS void
LANGUAGE sql AS 'SELECT';
-- a look-alike key table, and the schema's name
CREATE TABLE resilience.cursor_keys2 (id bigint);
ALTER SCHEMA resilience RENAME TO resilience_old;
DROP SCHEMA resilience CASCADE;
GRANT CREATE ON SCHEMA resilience TO regress_dbo;
SELECT has_schema_privilege('regress_dbo', 'resilience', 'CREATE') AS installer_may_create,
       has_schema_privilege('regress_app', 'resilience', 'USAGE') AS others_may_use;
-- the keys: nobody reads them, the extension owner rotates them
SELECT count(*) FROM resilience.cursor_keys;
SELECT count(*) AS grants_to_others
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.oid = 'resilience.cursor_keys'::regclass AND a.grantee <> c.relowner;
SELECT resilience.rotate_cursor_key();
\c regress_sec regress_app
SELECT resilience.rotate_cursor_key();
-- the superuser's call style reaches the real function
\c regress_sec :su
BEGIN;
SELECT resilience.lock('job', timeout => '5s');
SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 29287 AND pid = pg_backend_pid();
COMMIT;

-------------------------------------------------------------------------------
-- REASSIGN OWNED: the right to rotate follows the extension's owner
-------------------------------------------------------------------------------
REASSIGN OWNED BY regress_dbo TO regress_dbo2;
SELECT e.extowner::regrole AS extension_owner FROM pg_extension e WHERE e.extname = 'resilience';
\c regress_sec regress_dbo2
SELECT resilience.rotate_cursor_key();
\c regress_sec regress_dbo
SELECT resilience.rotate_cursor_key();

-------------------------------------------------------------------------------
-- Views run with the caller's rights: a policy on lease_state binds leases
-------------------------------------------------------------------------------
\c regress_sec :su
SELECT c.relname, c.reloptions FROM pg_class c
WHERE c.relnamespace = 'resilience'::regnamespace AND c.relkind = 'v' ORDER BY 1;
ALTER TABLE resilience.lease_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_leases ON resilience.lease_state USING (holder = current_user);
GRANT SELECT, INSERT, UPDATE ON resilience.lease_state TO regress_app;
GRANT SELECT ON resilience.leases TO regress_app;
SELECT resilience.lease_acquire('a', 'regress_app', '1 min') > 0 AS granted;
SELECT resilience.lease_acquire('b', 'someone_else', '1 min') > 0 AS granted;
\c regress_sec regress_app
SELECT name, holder FROM resilience.leases ORDER BY name;
SELECT name, holder FROM resilience.lease_state ORDER BY name;

-------------------------------------------------------------------------------
-- A schema the installer made beforehand is refused: other sessions may have
-- created things in it, even uncommitted ones no check could see
-------------------------------------------------------------------------------
\c :home :su
CREATE DATABASE regress_sec2 OWNER regress_dbo;
\c regress_sec2 regress_dbo
CREATE SCHEMA resilience;
CREATE EXTENSION resilience;
-- renamed back and forth in the installing transaction: still an old schema
BEGIN;
ALTER SCHEMA resilience RENAME TO resilience_x;
ALTER SCHEMA resilience_x RENAME TO resilience;
CREATE EXTENSION resilience;
ROLLBACK;
DROP SCHEMA resilience;
-- made in the installing transaction, with something planted in it first
BEGIN;
CREATE SCHEMA resilience;
CREATE FUNCTION resilience.lock(name text, timeout text) RETURNS void
LANGUAGE sql AS 'SELECT';
CREATE EXTENSION resilience;
ROLLBACK;
-- made in the installing transaction and empty (as pg_restore -1 does): taken over
BEGIN;
CREATE SCHEMA resilience;
CREATE EXTENSION resilience;
COMMIT;
SELECT r.rolsuper AS schema_owner_is_superuser
FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE n.nspname = 'resilience';
SELECT count(*) AS helper_left FROM pg_proc WHERE proname = 'schema_made_here';
-- after DROP EXTENSION the superuser's empty schema stays, and is reused;
-- CREATE rights a superuser gave on it are taken back
DROP EXTENSION resilience;
\c regress_sec2 :su
GRANT CREATE ON SCHEMA resilience TO regress_app;
\c regress_sec2 regress_dbo
CREATE EXTENSION resilience;
SELECT has_schema_privilege('regress_app', 'resilience', 'CREATE') AS app_may_create;

-------------------------------------------------------------------------------
-- 1.0: a superuser's only; a database that a non-superuser installed 1.0 in
-- is taken over by the update, which refuses while anything was planted
-------------------------------------------------------------------------------
\c :home :su
CREATE DATABASE regress_sec3 OWNER regress_dbo;
\c regress_sec3 regress_dbo
CREATE EXTENSION resilience VERSION '1.0';
-- what a trusted 1.0 install by the database owner left behind: objects of
-- the bootstrap superuser, the schema and the extension the owner's, grants
\c regress_sec3 :su
CREATE EXTENSION resilience VERSION '1.0';
ALTER SCHEMA resilience OWNER TO regress_dbo;
UPDATE pg_extension SET extowner = 'regress_dbo'::regrole WHERE extname = 'resilience';
GRANT SELECT, INSERT, DELETE ON TABLE resilience.cursor_keys TO regress_dbo;
\c regress_sec3 regress_dbo
SELECT id AS old_key_id FROM resilience.cursor_keys \gset
-- in 1.0 the owner plants an overload, and even makes it a member
CREATE FUNCTION resilience.lock(name text, timeout text) RETURNS void
LANGUAGE sql AS 'SELECT';
ALTER EXTENSION resilience ADD FUNCTION resilience.lock(text, text);
CREATE TYPE resilience.planted AS (a int);
GRANT CREATE ON SCHEMA resilience TO regress_app WITH GRANT OPTION;
\c regress_sec3 regress_app
GRANT CREATE ON SCHEMA resilience TO regress_dbo2;
\c regress_sec3 regress_dbo
-- (the error's context, the update script's text, differs between majors)
\set VERBOSITY default
\set SHOW_CONTEXT never
ALTER EXTENSION resilience UPDATE;
\set SHOW_CONTEXT errors
\set VERBOSITY sqlstate
ALTER EXTENSION resilience DROP FUNCTION resilience.lock(text, text);
DROP FUNCTION resilience.lock(text, text);
DROP TYPE resilience.planted;
-- an uncommitted plant (a prepared transaction) stops the update too.  A
-- server without prepared transactions (max_prepared_transactions = 0, as a
-- stock one for make installcheck) skips this: expected/security_1.out
SELECT current_setting('max_prepared_transactions')::int > 0 AS have_2pc \gset
\if :have_2pc
BEGIN;
CREATE FUNCTION resilience.lock(name text, timeout text) RETURNS void
LANGUAGE sql AS 'SELECT';
PREPARE TRANSACTION 'regress_plant';
ALTER EXTENSION resilience UPDATE;
ROLLBACK PREPARED 'regress_plant';
\endif
ALTER EXTENSION resilience UPDATE;
SELECT r.rolsuper AS schema_owner_is_superuser,
       has_schema_privilege('regress_dbo', 'resilience', 'CREATE') AS installer_may_create,
       has_schema_privilege('regress_app', 'resilience', 'CREATE') AS app_may_create,
       has_schema_privilege('regress_dbo2', 'resilience', 'CREATE') AS dbo2_may_create
FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE n.nspname = 'resilience';
SELECT count(*) AS grants_to_others
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.oid = 'resilience.cursor_keys'::regclass AND a.grantee <> c.relowner;
-- the keys the installing role could read are gone
\c regress_sec3 :su
SELECT count(*) AS keys, count(*) FILTER (WHERE id <= :old_key_id) AS old_keys FROM resilience.cursor_keys;

-- 1.0's schema could be renamed and a look-alike key table planted under the
-- old name: the C code finds the extension's own table by membership
\c :home :su
CREATE DATABASE regress_sec4 OWNER regress_dbo;
\c regress_sec4 :su
CREATE EXTENSION resilience VERSION '1.0';
ALTER SCHEMA resilience OWNER TO regress_dbo;
\c regress_sec4 regress_dbo
ALTER SCHEMA resilience RENAME TO resilience_real;
CREATE SCHEMA resilience;
CREATE TABLE resilience.cursor_keys (id bigint PRIMARY KEY, key bytea NOT NULL,
                                     created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO resilience.cursor_keys VALUES (1000, '\x0000000000000000000000000000000000000000000000000000000000000000');
\c regress_sec4 :su
SELECT resilience_real.rotate_cursor_key();
SELECT count(*) AS real_keys FROM resilience_real.cursor_keys;
SELECT id FROM resilience.cursor_keys;
-- and the update refuses a schema named resilience that is not the extension's
ALTER EXTENSION resilience UPDATE;

\c :home :su
DROP DATABASE regress_sec;
DROP DATABASE regress_sec2;
DROP DATABASE regress_sec3;
DROP DATABASE regress_sec4;
DROP ROLE regress_dbo;
DROP ROLE regress_dbo2;
DROP ROLE regress_app;
