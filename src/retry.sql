-------------------------------------------------------------------------------
-- Retryable transactions
-------------------------------------------------------------------------------

-- No SET search_path here: a procedure with a SET clause cannot COMMIT.  The
-- C code runs only the caller's SQL and uses no names of its own.  lane and
-- escalate_after come after the INOUT pair so that 1.0's positional calls
-- keep their meaning.
CREATE PROCEDURE resilience.retry_transaction(
    sql text,
    params anycompatiblearray DEFAULT NULL::text[],
    max_attempts integer DEFAULT 10,
    isolation text DEFAULT 'serializable',
    base_delay interval DEFAULT '2ms',
    max_delay interval DEFAULT '1s',
    retry_on text[] DEFAULT '{40001,40P01}',
    timeout interval DEFAULT NULL,
    INOUT result jsonb DEFAULT NULL,
    INOUT attempts integer DEFAULT NULL,
    lane text DEFAULT NULL,
    escalate_after integer DEFAULT 6)
AS 'MODULE_PATHNAME', 'retry_transaction'
LANGUAGE C;

COMMENT ON PROCEDURE resilience.retry_transaction(text, anycompatiblearray, integer, text, interval, interval, text[], interval, jsonb, integer, text, integer) IS
'run sql as its own transaction at the given isolation level and commit it, retrying serialization failures and deadlocks (or any SQLSTATE in retry_on) with jittered exponential backoff; after escalate_after failed attempts (or one that took base_delay or longer) a call runs alone in its lane, so it cannot keep losing to other calls; CALL in autocommit mode only';

CREATE FUNCTION resilience.retry_statement(
    sql text,
    params anycompatiblearray DEFAULT NULL::text[],
    max_attempts integer DEFAULT 5,
    base_delay interval DEFAULT '2ms',
    max_delay interval DEFAULT '200ms',
    retry_on text[] DEFAULT '{40P01,55P03}')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'retry_statement'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.retry_statement(text, anycompatiblearray, integer, interval, interval, text[]) IS
'run sql in a savepoint of the current transaction, retrying deadlocks and lock timeouts (never serialization failures under REPEATABLE READ or SERIALIZABLE); returns the rows of its last row-returning statement as jsonb';
