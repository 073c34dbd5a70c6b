-------------------------------------------------------------------------------
-- Rate limits (GCRA, in shared memory: needs shared_preload_libraries)
-------------------------------------------------------------------------------

-- A named row type rather than OUT parameters: the executor then finds the
-- result's columns in the type cache, where OUT parameters made every call
-- rebuild them from pg_proc (a tenth of the call's time).
CREATE TYPE resilience.rate_limit_decision AS (
    allowed boolean,
    remaining integer,
    retry_after interval,
    reset_after interval);

COMMENT ON TYPE resilience.rate_limit_decision IS
'the result of rate_limit(): allowed, the calls left in the burst, how long until a denied call would pass, how long until the key is at rest';

CREATE FUNCTION resilience.rate_limit(
    key text,
    rate integer,
    per interval DEFAULT '1 second',
    burst integer DEFAULT NULL,
    cost integer DEFAULT 1)
RETURNS resilience.rate_limit_decision
AS 'MODULE_PATHNAME', 'limit_rate_limit'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.rate_limit(text, integer, interval, integer, integer) IS
'GCRA as redis-cell''s CL.THROTTLE: allow rate calls per per, bursts of burst (NULL: rate); one row (allowed, remaining, retry_after, reset_after); a denied call consumes nothing';

CREATE FUNCTION resilience.rate_limit_reset(key text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'limit_reset'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.rate_limit_reset(text) IS
'forget a rate limit key, so it allows a full burst again; true if it was known';

CREATE FUNCTION resilience.rate_limit_keys(
    OUT key text,
    OUT allowed bigint,
    OUT denied bigint,
    OUT last_call timestamptz,
    OUT remaining integer,
    OUT reset_after interval,
    OUT burst integer,
    OUT emission_interval interval)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'limit_keys'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.rate_limit_keys() IS
'the rate limit keys of this database kept in shared memory, with their counts and what is left now (by their latest call''s rate and burst)';

CREATE VIEW resilience.rate_limits
WITH (security_invoker) AS
SELECT k.key, k.allowed, k.denied, k.last_call, k.remaining, k.reset_after,
       k.burst, k.emission_interval
FROM resilience.rate_limit_keys() k
ORDER BY k.allowed OPERATOR(pg_catalog.+) k.denied DESC, k.key;

GRANT SELECT ON resilience.rate_limits TO PUBLIC;

COMMENT ON VIEW resilience.rate_limits IS
'rate limit keys of this database, busiest first: calls allowed and denied, last call, remaining, reset_after, the latest burst and emission interval';

-- an operator's function: a role that could reset its own key could bypass
-- its limit
REVOKE ALL ON FUNCTION resilience.rate_limit_reset(text) FROM PUBLIC;
