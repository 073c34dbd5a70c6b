-------------------------------------------------------------------------------
-- Circuit breakers (in shared memory: needs shared_preload_libraries)
-------------------------------------------------------------------------------

CREATE FUNCTION resilience.breaker_allow(
    name text,
    failure_rate real DEFAULT 0.5,
    min_calls integer DEFAULT 20,
    "window" interval DEFAULT '60 seconds',
    open_for interval DEFAULT '30 seconds',
    probes integer DEFAULT 1,
    slow_call interval DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'breaker_allow'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.breaker_allow(text, real, integer, interval, interval, integer, interval) IS
'whether a call may go ahead: true while closed, false while open, exactly probes calls across all backends while half-open';

CREATE FUNCTION resilience.breaker_record(
    name text,
    success boolean,
    duration interval DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'breaker_record'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.breaker_record(text, boolean, interval) IS
'report how a call went (a failure, or slower than the breaker''s slow_call); enough failures in the window open the breaker, probes close or reopen it';

CREATE FUNCTION resilience.breaker_state(name text)
RETURNS text
AS 'MODULE_PATHNAME', 'breaker_state'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.breaker_state(text) IS
'closed, open, half_open, forced_open or disabled (closed for a breaker never used)';

CREATE FUNCTION resilience.breaker_reset(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'breaker_reset'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.breaker_reset(text) IS
'forget a breaker: closed with an empty window; true if it was known';

CREATE FUNCTION resilience.breaker_force(name text, state text)
RETURNS void
AS 'MODULE_PATHNAME', 'breaker_force'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.breaker_force(text, text) IS
'put a breaker in a state: closed, open, half_open, or forced_open / disabled, which stay until forced again or reset';

-- operators' functions: nobody but superusers until granted
REVOKE ALL ON FUNCTION resilience.breaker_reset(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION resilience.breaker_force(text, text) FROM PUBLIC;

CREATE FUNCTION resilience.breaker_list(
    OUT name text,
    OUT state text,
    OUT calls bigint,
    OUT failures bigint,
    OUT failure_rate real,
    OUT opened_at timestamptz,
    OUT next_probe timestamptz,
    OUT probes_admitted integer,
    OUT times_opened bigint,
    OUT last_used timestamptz,
    OUT failure_threshold real,
    OUT min_calls integer,
    OUT "window" interval,
    OUT open_for interval,
    OUT probes integer,
    OUT slow_call interval)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'breaker_list'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.breaker_list() IS
'the circuit breakers of this database kept in shared memory, with their window and settings';

CREATE VIEW resilience.breakers
WITH (security_invoker) AS
SELECT b.name, b.state, b.calls, b.failures, b.failure_rate, b.opened_at,
       b.next_probe, b.probes_admitted, b.times_opened, b.last_used,
       b.failure_threshold, b.min_calls, b."window", b.open_for, b.probes,
       b.slow_call
FROM resilience.breaker_list() b
ORDER BY b.name;

GRANT SELECT ON resilience.breakers TO PUBLIC;

COMMENT ON VIEW resilience.breakers IS
'circuit breakers of this database: state, calls and failures in the window, observed failure rate, opened_at, next_probe, settings';
