/* resilience--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION resilience" to load this file. \quit

-- Every object below is schema-qualified; functions that run SQL pin
-- search_path.  No function is SECURITY DEFINER: everything runs with the
-- caller's rights, so grants and row-level security hold.

-- The schema is created by CREATE EXTENSION and owned by the installer; every
-- role may use what is in it (objects that must stay private say so).
GRANT USAGE ON SCHEMA resilience TO PUBLIC;


-------------------------------------------------------------------------------
-- Backoff
-------------------------------------------------------------------------------

CREATE FUNCTION resilience.backoff_delay(
    attempt integer,
    base interval DEFAULT '10ms',
    cap interval DEFAULT '10s',
    jitter text DEFAULT 'full')
RETURNS interval
AS 'MODULE_PATHNAME', 'backoff_delay'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION resilience.backoff_delay(integer, interval, interval, text) IS
'delay before retry attempt n: min(cap, base * 2^(n-1)) with none, full or equal jitter';


-------------------------------------------------------------------------------
-- Keyset pagination
-------------------------------------------------------------------------------


-------------------------------------------------------------------------------
-- Guards (advisory locks)
-------------------------------------------------------------------------------


-------------------------------------------------------------------------------
-- Leases with fencing tokens
-------------------------------------------------------------------------------


-------------------------------------------------------------------------------
-- Retryable transactions
-------------------------------------------------------------------------------


-------------------------------------------------------------------------------
-- Idempotency keys
-------------------------------------------------------------------------------

