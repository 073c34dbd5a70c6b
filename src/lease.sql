-------------------------------------------------------------------------------
-- Leases with fencing tokens
-------------------------------------------------------------------------------

-- One row per lease name, kept after release so tokens never go back.
-- holder is NULL once released.  Rows are written by the lease functions
-- with the caller's rights, and leases are private by default: grant
-- SELECT, INSERT, UPDATE on this table (and SELECT on resilience.leases) to
-- the roles that take leases.
CREATE TABLE resilience.lease_state (
    name text PRIMARY KEY CHECK (name <> ''),
    holder text CHECK (holder <> ''),
    token bigint NOT NULL CHECK (token > 0),
    acquired_at timestamptz NOT NULL,
    renewed_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

COMMENT ON TABLE resilience.lease_state IS
'leases with fencing tokens, one row per name (never delete rows: the row carries the last token)';

-- In a trusted install (a database owner, not a superuser, ran CREATE
-- EXTENSION) the bootstrap superuser owns the table; the installing role
-- gets the rights to use leases and to grant them on to application roles.
GRANT SELECT, INSERT, UPDATE ON resilience.lease_state TO @extowner@ WITH GRANT OPTION;

-- dump the rows with the database, so a restore keeps tokens monotonic
SELECT pg_catalog.pg_extension_config_dump('resilience.lease_state', '');

-- The sequence part of every new grant's token (lease_next_token()): it never
-- gives a value back, so a grant that rolled back, or whose commit a crash
-- lost, leaves its token used.  lease_next_token() refuses values from 2^40
-- up, the room a timeline has below the next one's floor.  No role needs
-- rights on it to take leases; the installing role may read and set it, as
-- pg_dump and a restore do.
CREATE SEQUENCE resilience.lease_token_seq AS bigint MINVALUE 1 NO CYCLE;

COMMENT ON SEQUENCE resilience.lease_token_seq IS
'the part of a new lease token above the timeline floor (lease_next_token()); never set it back';

GRANT SELECT, UPDATE ON SEQUENCE resilience.lease_token_seq TO @extowner@;

-- dumped with the database, so a restore does not hand out its values again
SELECT pg_catalog.pg_extension_config_dump('resilience.lease_token_seq', '');

CREATE FUNCTION resilience.lease_next_token(previous bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'lease_next_token'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.lease_next_token(bigint) IS
'internal: the token of a new grant of a lease whose last token was previous (0 if none): greatest(previous + 1, lease_token_floor() + nextval of lease_token_seq); draws a value even if the grant then rolls back';

-- security_invoker: the caller's privileges and row-level security on
-- lease_state apply, not the view owner's
CREATE VIEW resilience.leases WITH (security_invoker) AS
SELECT s.name, s.holder, s.token, s.acquired_at, s.renewed_at, s.expires_at,
       (s.holder IS NULL OR s.expires_at <= pg_catalog.clock_timestamp()) AS expired
FROM resilience.lease_state s;

GRANT SELECT ON resilience.leases TO @extowner@ WITH GRANT OPTION;

COMMENT ON VIEW resilience.leases IS
'every lease: holder (NULL once released), current token, times and whether it has expired';

CREATE FUNCTION resilience.lease_token_floor()
RETURNS bigint
AS 'MODULE_PATHNAME', 'lease_token_floor'
LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.lease_token_floor() IS
'the smallest fencing token this server may grant: its WAL timeline << 40 (25006 on a standby)';

-- The checks every lease function starts with, in one place.  func says which
-- function calls and so which of name, holder, token and ttl it takes (the
-- others it passes as NULL).  A NULL argument is 22004 naming it, as the C
-- functions name theirs (src/args.c); an empty name or holder, or a ttl that
-- is not positive, 22023; on a hot standby, 25006, since every lease function
-- writes.
CREATE FUNCTION resilience.lease_check_args(func text, name text, holder text,
                                            token bigint, ttl interval)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_takes text[];
    v_null text;
    v_now timestamptz;
BEGIN
    IF lease_check_args.func IS NULL THEN
        RAISE EXCEPTION 'func must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    v_takes := CASE lease_check_args.func
                   WHEN 'lease_acquire' THEN '{name,holder,ttl}'
                   WHEN 'lease_renew' THEN '{name,holder,token,ttl}'
                   WHEN 'lease_release' THEN '{name,holder,token}'
                   WHEN 'lease_fence' THEN '{name,token}'
               END;
    IF v_takes IS NULL THEN
        RAISE EXCEPTION 'unrecognized lease function "%"', lease_check_args.func
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_null := CASE WHEN lease_check_args.name IS NULL THEN 'name'
                   WHEN 'holder' = ANY (v_takes) AND lease_check_args.holder IS NULL THEN 'holder'
                   WHEN 'token' = ANY (v_takes) AND lease_check_args.token IS NULL THEN 'token'
                   WHEN 'ttl' = ANY (v_takes) AND lease_check_args.ttl IS NULL THEN 'ttl'
              END;
    IF v_null IS NOT NULL THEN
        RAISE EXCEPTION '% must not be null', v_null
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF 'holder' = ANY (v_takes) THEN
        IF lease_check_args.name = '' OR lease_check_args.holder = '' THEN
            RAISE EXCEPTION 'lease name and holder must not be empty'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    ELSIF lease_check_args.name = '' THEN
        RAISE EXCEPTION 'lease name must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- judged on the calendar, as expires_at will be: '-2 months 60 days 1 min'
    -- compares greater than interval '0' yet lands in the past in some months
    v_now := clock_timestamp();
    IF 'ttl' = ANY (v_takes) AND v_now + lease_check_args.ttl <= v_now THEN
        RAISE EXCEPTION 'ttl must be a positive interval'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use the longest time the holder may run without renewing, such as ''30s''.';
    END IF;
    IF pg_is_in_recovery() THEN
        IF lease_check_args.func = 'lease_fence' THEN
            RAISE EXCEPTION 'cannot fence with lease "%" on a hot standby', lease_check_args.name
                USING ERRCODE = 'read_only_sql_transaction',
                      HINT = 'Fenced writes go to the primary; connect to it.';
        END IF;
        RAISE EXCEPTION 'cannot % lease "%" on a hot standby',
                        substr(lease_check_args.func, 7), lease_check_args.name
            USING ERRCODE = 'read_only_sql_transaction',
                  HINT = 'Leases are granted by the primary; connect to it.';
    END IF;
END
$$;

COMMENT ON FUNCTION resilience.lease_check_args(text, text, text, bigint, interval) IS
'internal: the argument checks of lease function func (NULL, empty, ttl, hot standby); raises or returns nothing';

CREATE FUNCTION resilience.lease_acquire(name text, holder text, ttl interval)
RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_now timestamptz;
    v_token bigint;
    v_held resilience.lease_state%ROWTYPE;
BEGIN
    PERFORM resilience.lease_check_args('lease_acquire', lease_acquire.name, lease_acquire.holder, NULL, lease_acquire.ttl);

    -- Lock the row first and read the clock after: if we had to wait (for
    -- a fenced write, or a racing grant), expiry is judged as of now.
    SELECT l.* INTO v_held FROM resilience.lease_state AS l
    WHERE l.name = lease_acquire.name
    FOR UPDATE;
    v_now := clock_timestamp();
    IF v_held.expires_at > v_now AND v_held.holder IS NOT NULL THEN
        IF v_held.holder = lease_acquire.holder THEN
            -- the holder again: extended, same token, no new one drawn
            UPDATE resilience.lease_state AS l
            SET renewed_at = v_now, expires_at = v_now + lease_acquire.ttl
            WHERE l.name = lease_acquire.name;
            RETURN v_held.token;
        END IF;
        -- for the monitoring counters (a no-op unless preloaded)
        PERFORM resilience.stats_lease_note('refused', lease_acquire.name, lease_acquire.holder, NULL);
        RETURN NULL;
    END IF;
    -- A new grant.  A row that appeared since (a racing first grant) is
    -- locked and re-checked at its latest version, so of two racing callers
    -- exactly one wins (READ COMMITTED); under REPEATABLE READ or
    -- SERIALIZABLE the loser may get 40001 instead.  The token is drawn
    -- before that check: a loser's only makes later tokens larger.  Should
    -- the row carry a token drawn after ours (granted and released while we
    -- waited), a second one is drawn: every token comes from the sequence.
    INSERT INTO resilience.lease_state AS l
        (name, holder, token, acquired_at, renewed_at, expires_at)
    VALUES (lease_acquire.name, lease_acquire.holder,
            resilience.lease_next_token(coalesce(v_held.token, 0)),
            v_now, v_now, v_now + lease_acquire.ttl)
    ON CONFLICT (name) DO UPDATE
    SET token = CASE WHEN l.holder = excluded.holder AND l.expires_at > v_now
                     THEN l.token
                     WHEN excluded.token > l.token THEN excluded.token
                     ELSE resilience.lease_next_token(l.token) END,
        acquired_at = CASE WHEN l.holder = excluded.holder AND l.expires_at > v_now
                           THEN l.acquired_at
                           ELSE excluded.acquired_at END,
        holder = excluded.holder,
        renewed_at = excluded.renewed_at,
        expires_at = excluded.expires_at
    WHERE l.holder IS NULL OR l.holder = excluded.holder OR l.expires_at <= v_now
    RETURNING l.token INTO v_token;
    IF v_token IS NULL THEN
        PERFORM resilience.stats_lease_note('refused', lease_acquire.name, lease_acquire.holder, NULL);
    END IF;
    RETURN v_token;
END
$$;

COMMENT ON FUNCTION resilience.lease_acquire(text, text, interval) IS
'take or extend a lease for ttl: its fencing token, or NULL if another live holder has it';

CREATE FUNCTION resilience.lease_renew(name text, holder text, token bigint, ttl interval)
RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_now timestamptz;
BEGIN
    PERFORM resilience.lease_check_args('lease_renew', lease_renew.name, lease_renew.holder, lease_renew.token, lease_renew.ttl);

    -- Lock the row first and read the clock after, as lease_acquire does: a
    -- call that waited behind a fenced write judges expiry when it gets the row.
    PERFORM FROM resilience.lease_state AS l
    WHERE l.name = lease_renew.name
    FOR NO KEY UPDATE;
    v_now := clock_timestamp();
    UPDATE resilience.lease_state AS l
    SET renewed_at = v_now, expires_at = v_now + lease_renew.ttl
    WHERE l.name = lease_renew.name AND l.holder = lease_renew.holder
      AND l.token = lease_renew.token AND l.expires_at > v_now;
    RETURN FOUND;
END
$$;

COMMENT ON FUNCTION resilience.lease_renew(text, text, bigint, interval) IS
'extend a live lease held by holder with token to now + ttl; false if it expired, was released or was taken over';

CREATE FUNCTION resilience.lease_release(name text, holder text, token bigint)
RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_now timestamptz;
BEGIN
    PERFORM resilience.lease_check_args('lease_release', lease_release.name, lease_release.holder, lease_release.token, NULL);

    -- Lock the row first and read the clock after, as lease_acquire does: a
    -- call that waited behind a fenced write judges expiry when it gets the row.
    PERFORM FROM resilience.lease_state AS l
    WHERE l.name = lease_release.name
    FOR NO KEY UPDATE;
    v_now := clock_timestamp();
    -- the row (and its token) stays, so the next grant gets a larger token
    UPDATE resilience.lease_state AS l
    SET holder = NULL, expires_at = v_now
    WHERE l.name = lease_release.name AND l.holder = lease_release.holder
      AND l.token = lease_release.token AND l.expires_at > v_now;
    RETURN FOUND;
END
$$;

COMMENT ON FUNCTION resilience.lease_release(text, text, bigint) IS
'give up a live lease held by holder with token; false if it had already expired, been released or been taken over';

CREATE FUNCTION resilience.lease_fence(name text, token bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_row resilience.lease_state%ROWTYPE;
    v_now timestamptz;
    v_found boolean;
BEGIN
    PERFORM resilience.lease_check_args('lease_fence', lease_fence.name, NULL, lease_fence.token, NULL);

    -- FOR SHARE until the end of the caller's transaction: a takeover
    -- (which updates the row) waits for the fenced write to commit.
    SELECT * INTO v_row FROM resilience.lease_state AS l
    WHERE l.name = lease_fence.name
    FOR SHARE;
    v_found := FOUND;
    v_now := clock_timestamp();

    -- for the monitoring counters (a no-op unless preloaded)
    IF NOT v_found OR v_row.token <> lease_fence.token OR v_row.holder IS NULL
       OR v_row.expires_at <= v_now THEN
        PERFORM resilience.stats_lease_note('fence_rejected', lease_fence.name, NULL, lease_fence.token);
    END IF;

    IF NOT v_found THEN
        RAISE EXCEPTION 'lease "%" is not held with token %', lease_fence.name, lease_fence.token
            USING ERRCODE = 'RL001',
                  DETAIL = 'No such lease has ever been granted.',
                  HINT = 'Acquire the lease with resilience.lease_acquire() first.';
    ELSIF v_row.token <> lease_fence.token THEN
        RAISE EXCEPTION 'lease "%" is not held with token %', lease_fence.name, lease_fence.token
            USING ERRCODE = 'RL001',
                  DETAIL = format('The token is stale: the current token is %s.', v_row.token),
                  HINT = 'Another holder has taken over; stop writing.';
    ELSIF v_row.holder IS NULL THEN
        RAISE EXCEPTION 'lease "%" is not held with token %', lease_fence.name, lease_fence.token
            USING ERRCODE = 'RL001',
                  DETAIL = 'The lease was released.',
                  HINT = 'Acquire the lease again for a new token.';
    ELSIF v_row.expires_at <= v_now THEN
        RAISE EXCEPTION 'lease "%" is not held with token %', lease_fence.name, lease_fence.token
            USING ERRCODE = 'RL001',
                  DETAIL = format('The lease expired at %s.', v_row.expires_at),
                  HINT = 'Renew the lease before it expires, or acquire it again for a new token.';
    END IF;
END
$$;

COMMENT ON FUNCTION resilience.lease_fence(text, bigint) IS
'raise RL001 unless token is the current, unexpired token of the lease; keeps the lease row share-locked to the end of the transaction';



