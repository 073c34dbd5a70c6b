-- idempotent() finds its tables by membership, not by name: on a 1.0 install
-- whose schema the owner could rename, a look-alike idempotency_store planted
-- under the old name is never written or read, whether the backend prepared
-- its statements before the rename or after it.
\set VERBOSITY sqlstate
SELECT current_database() AS home, current_user AS su \gset
CREATE ROLE regress_idm_dbo LOGIN;
CREATE DATABASE regress_idm OWNER regress_idm_dbo;
\c regress_idm :su
CREATE EXTENSION resilience VERSION '1.0';
ALTER SCHEMA resilience OWNER TO regress_idm_dbo;
-- this backend prepares its statements while the names are the real ones
SELECT resilience.idempotent('before', 'SELECT 1 AS one');

-- the owner renames the schema and plants look-alikes under the old name
SET ROLE regress_idm_dbo;
ALTER SCHEMA resilience RENAME TO resilience_real;
CREATE SCHEMA resilience;
CREATE TABLE resilience.idempotency_store (
    role_id oid NOT NULL, key text NOT NULL, fingerprint bytea NOT NULL, result jsonb,
    created_at timestamptz NOT NULL, expires_at timestamptz NOT NULL,
    PRIMARY KEY (role_id, key));
CREATE TABLE resilience.idempotency_replays (
    role_id oid NOT NULL, key text NOT NULL,
    replayed_at timestamptz NOT NULL DEFAULT clock_timestamp());
GRANT ALL ON SCHEMA resilience TO PUBLIC;
GRANT ALL ON resilience.idempotency_store, resilience.idempotency_replays TO PUBLIC;
RESET ROLE;

-- the same backend, its statements prepared before the rename
SELECT resilience_real.idempotent('same', 'SELECT 2 AS two');
SELECT resilience_real.idempotent('before', 'SELECT 1 AS one');
-- a new backend, which prepares them after the rename
\c regress_idm :su
SELECT resilience_real.idempotent('fresh', 'SELECT 3 AS three');
SELECT resilience_real.idempotent('fresh', 'SELECT 3 AS three');
SELECT key, result FROM resilience_real.idempotency_store ORDER BY key;
SELECT key, count(*) AS replays FROM resilience_real.idempotency_replays GROUP BY key ORDER BY key;
SELECT count(*) AS planted_records FROM resilience.idempotency_store;
SELECT count(*) AS planted_replays FROM resilience.idempotency_replays;
-- and when the owner renames them back, the statements follow the real tables
SET ROLE regress_idm_dbo;
ALTER SCHEMA resilience RENAME TO resilience_planted;
ALTER SCHEMA resilience_real RENAME TO resilience;
RESET ROLE;
SELECT resilience.idempotent('back', 'SELECT 4 AS four');
SELECT count(*) AS records FROM resilience.idempotency_store;

\c :home :su
DROP DATABASE regress_idm;
DROP ROLE regress_idm_dbo;
