-- A member table renamed away makes the next call fail (55000).  A
-- look-alike a superuser creates under its name afterwards must never be
-- written: the statements the backend prepared before the rename are not
-- trusted again after the error, since plancache would re-analyse them by
-- name.  The same for queues, idempotency keys and schedules.
\set VERBOSITY terse
SELECT current_database() AS home, current_user AS su \gset
CREATE DATABASE regress_member_error;
\c regress_member_error :su
CREATE EXTENSION resilience;

-- queues: this backend prepares its statements first
SELECT resilience.create_queue('q1');
ALTER TABLE resilience.job_queues RENAME TO job_queues_moved;
SELECT resilience.create_queue('q2');
CREATE TABLE resilience.job_queues (LIKE resilience.job_queues_moved INCLUDING ALL);
SELECT resilience.create_queue('q3');
SELECT count(*) AS planted_queues FROM resilience.job_queues;
DROP TABLE resilience.job_queues;
ALTER TABLE resilience.job_queues_moved RENAME TO job_queues;
SELECT resilience.create_queue('q4');
SELECT name FROM resilience.job_queues ORDER BY name;

-- idempotency keys
SELECT resilience.idempotent('k1', 'SELECT 1 AS one');
ALTER TABLE resilience.idempotency_store RENAME TO idempotency_store_moved;
SELECT resilience.idempotent('k2', 'SELECT 2 AS two');
CREATE TABLE resilience.idempotency_store (LIKE resilience.idempotency_store_moved INCLUDING ALL);
SELECT resilience.idempotent('k3', 'SELECT 3 AS three');
SELECT count(*) AS planted_keys FROM resilience.idempotency_store;
DROP TABLE resilience.idempotency_store;
ALTER TABLE resilience.idempotency_store_moved RENAME TO idempotency_store;
SELECT resilience.idempotent('k4', 'SELECT 4 AS four');
SELECT key FROM resilience.idempotency_store ORDER BY key;

-- schedules
SELECT resilience.schedule('s1', '@hourly', 'q1');
ALTER TABLE resilience.schedule_state RENAME TO schedule_state_moved;
SELECT resilience.schedule('s2', '@hourly', 'q1');
CREATE TABLE resilience.schedule_state (LIKE resilience.schedule_state_moved INCLUDING ALL);
SELECT resilience.schedule('s3', '@hourly', 'q1');
SELECT count(*) AS planted_schedules FROM resilience.schedule_state;
DROP TABLE resilience.schedule_state;
ALTER TABLE resilience.schedule_state_moved RENAME TO schedule_state;
SELECT resilience.schedule('s4', '@hourly', 'q1');
SELECT name FROM resilience.schedule_state ORDER BY name;

\c :home :su
DROP DATABASE regress_member_error;
