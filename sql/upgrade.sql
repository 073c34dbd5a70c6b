-- Installing 1.0 and updating gives exactly the objects of a fresh install of
-- the current version.  The fresh install is the one every suite uses
-- (--load-extension); 1.0 is installed and updated in a database of its own,
-- and the two descriptions of the member objects must be equal.

SELECT extversion = (SELECT default_version FROM pg_available_extensions
                     WHERE name = 'resilience') AS current_version
FROM pg_extension WHERE extname = 'resilience';

\set ECHO none
\i sql/include/signature.sql
\set ECHO all
SELECT count(*) > 100 AS described FROM pg_temp.ext_signature();
SELECT current_database() AS home,
       json_agg(s ORDER BY s.object, s.facet, s.value)::text AS fresh
FROM pg_temp.ext_signature() s \gset

CREATE DATABASE resilience_upgrade;
\c resilience_upgrade
CREATE EXTENSION resilience VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'resilience';
-- 1.0's tokens: the floor, then one more per grant of a lease
SELECT resilience.lease_acquire('old', 'a', '1ms') - resilience.lease_token_floor() AS token;
SELECT pg_sleep(0.01);
SELECT resilience.lease_acquire('old', 'b', '1 hour') - resilience.lease_token_floor() AS token;
SELECT resilience.lease_acquire('old2', 'a', '1 hour') - resilience.lease_token_floor() AS token;
ALTER EXTENSION resilience UPDATE;
SELECT extversion = (SELECT default_version FROM pg_available_extensions
                     WHERE name = 'resilience') AS current_version
FROM pg_extension WHERE extname = 'resilience';
-- the update starts the sequence above them: a new lease's first token is
-- larger than every token 1.0 granted, and a taken-over one's too
SELECT resilience.lease_acquire('new', 'a', '1 hour') - resilience.lease_token_floor() AS token;
UPDATE resilience.lease_state SET expires_at = now() WHERE name = 'old';
SELECT resilience.lease_acquire('old', 'c', '1 hour') - resilience.lease_token_floor() AS token;
SELECT resilience.lease_acquire('old2', 'a', '1 hour') - resilience.lease_token_floor() AS same_holder;

\set ECHO none
\i sql/include/signature.sql
\set ECHO all
-- what differs (expect no rows)
WITH upgraded AS (SELECT * FROM pg_temp.ext_signature()),
     fresh AS (SELECT * FROM json_to_recordset(:'fresh'::json) AS f(object text, facet text, value text))
(SELECT 'only after update' AS side, * FROM upgraded EXCEPT ALL SELECT 'only after update', * FROM fresh)
UNION ALL
(SELECT 'only in fresh install', * FROM fresh EXCEPT ALL SELECT 'only in fresh install', * FROM upgraded)
ORDER BY object, facet, side;

\c :home
DROP DATABASE resilience_upgrade;
