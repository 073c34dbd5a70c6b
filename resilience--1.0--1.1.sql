/* resilience--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION resilience UPDATE TO '1.1'" to load this file. \quit

-- Every change to the SQL objects since 1.0, in the order of src/*.sql.  The
-- upgrade suite (sql/upgrade.sql) checks that 1.0 plus this script gives the
-- same objects as a fresh install of 1.1.

-------------------------------------------------------------------------------
-- Retryable transactions: retry lanes (lane, escalate_after)
-------------------------------------------------------------------------------

-- A procedure's arguments cannot change in place: drop 1.0's and create
-- 1.1's.  The new arguments come after the INOUT pair, so 1.0's positional
-- and named calls keep their meaning.  1.0 granted nothing on it beyond the
-- default EXECUTE to PUBLIC, which the new procedure has as well.
DROP PROCEDURE resilience.retry_transaction(text, text[], integer, text, interval, interval, text[], interval, jsonb, integer);

CREATE PROCEDURE resilience.retry_transaction(
    sql text,
    params text[] DEFAULT NULL,
    max_attempts integer DEFAULT 10,
    isolation text DEFAULT 'serializable',
    base_delay interval DEFAULT '2ms',
    max_delay interval DEFAULT '1s',
    retry_on text[] DEFAULT '{40001,40P01}',
    timeout interval DEFAULT NULL,
    INOUT result jsonb DEFAULT NULL,
    INOUT attempts integer DEFAULT NULL,
    lane text DEFAULT NULL,
    escalate_after integer DEFAULT 3)
AS 'MODULE_PATHNAME', 'retry_transaction'
LANGUAGE C;

COMMENT ON PROCEDURE resilience.retry_transaction(text, text[], integer, text, interval, interval, text[], interval, jsonb, integer, text, integer) IS
'run sql as its own transaction at the given isolation level and commit it, retrying serialization failures and deadlocks (or any SQLSTATE in retry_on) with jittered exponential backoff; after escalate_after failed attempts a call runs alone in its lane, so it cannot keep losing to other calls; CALL in autocommit mode only';
