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


