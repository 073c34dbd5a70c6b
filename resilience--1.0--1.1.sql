/* resilience--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION resilience UPDATE TO '1.1'" to load this file. \quit

-- Every change to the SQL objects since 1.0, in the order of src/*.sql.  The
-- upgrade suite (sql/upgrade.sql) checks that 1.0 plus this script gives the
-- same objects as a fresh install of 1.1.

-- The schema named resilience must be the extension's: every statement below
-- names it.
DO $where$
BEGIN
    IF pg_catalog.to_regnamespace('resilience') IS DISTINCT FROM
       (SELECT x.extnamespace FROM pg_catalog.pg_extension x
        WHERE x.extname OPERATOR(pg_catalog.=) 'resilience') THEN
        RAISE EXCEPTION 'extension "resilience" is no longer in schema "resilience"'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Rename its schema back to resilience (and whatever took that name away), then update again.';
    END IF;
END
$where$;

-------------------------------------------------------------------------------
-- Cursor signing keys: no grants; rotate_cursor_key() checks the owner itself
-------------------------------------------------------------------------------

-- 1.0 granted the installing role rights on cursor_keys; after REASSIGN OWNED
-- those stayed with the old owner.  Now nobody holds any.
DO $keys$
DECLARE
    v_grantee oid;
BEGIN
    FOR v_grantee IN
        SELECT DISTINCT a.grantee
        FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
        WHERE c.oid OPERATOR(pg_catalog.=) 'resilience.cursor_keys'::pg_catalog.regclass
          AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
    LOOP
        IF v_grantee OPERATOR(pg_catalog.=) 0 THEN
            REVOKE ALL ON TABLE resilience.cursor_keys FROM PUBLIC;
        ELSE
            EXECUTE pg_catalog.format('REVOKE ALL ON TABLE resilience.cursor_keys FROM %I',
                                      pg_catalog.pg_get_userbyid(v_grantee));
        END IF;
    END LOOP;
END
$keys$;

-------------------------------------------------------------------------------
-- Views check the caller's rights (security_invoker)
-------------------------------------------------------------------------------

-- 1.0's views ran with their owner's (the bootstrap superuser's) rights, so
-- a policy on lease_state did not bind readers of resilience.leases.
ALTER VIEW resilience.locks SET (security_invoker);
ALTER VIEW resilience.leases SET (security_invoker);
ALTER VIEW resilience.idempotency_keys SET (security_invoker);


-------------------------------------------------------------------------------
-- Leases: one function checks the arguments of all four
-------------------------------------------------------------------------------

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

-- Leases: a new grant's token from a sequence (lease_next_token()), so that
-- a grant that rolled back, or whose asynchronous commit a crash lost, never
-- has its token handed out again.  1.0 made it greatest(previous + 1,
-- timeline << 40): the same number again after a rollback.
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

-- The sequence starts above every token 1.0 granted on this timeline, so
-- that previous + 1 never wins over a value drawn; the lock waits for the
-- grants in flight, and keeps new ones out until the update commits.
LOCK TABLE resilience.lease_state IN SHARE MODE;
SELECT pg_catalog.setval('resilience.lease_token_seq',
                         pg_catalog.max(l.token OPERATOR(pg_catalog.-) f.floor))
FROM resilience.lease_state l, (SELECT resilience.lease_token_floor() AS floor) f
WHERE l.token OPERATOR(pg_catalog.>) f.floor
  AND l.token OPERATOR(pg_catalog.<) (f.floor OPERATOR(pg_catalog.+) 1099511627776)
HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 0;

-- The four lease functions call lease_check_args() instead of repeating the
-- checks; a NULL argument's message now names it (was "lease_acquire
-- arguments must not be null" and the like; still 22004).  lease_acquire()
-- draws a token only for a new grant: the holder taking its live lease again
-- extends it without one (1.0 read the floor, and so committed
-- synchronously, on every call).
CREATE OR REPLACE FUNCTION resilience.lease_acquire(name text, holder text, ttl interval)
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

CREATE OR REPLACE FUNCTION resilience.lease_renew(name text, holder text, token bigint, ttl interval)
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

CREATE OR REPLACE FUNCTION resilience.lease_release(name text, holder text, token bigint)
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

CREATE OR REPLACE FUNCTION resilience.lease_fence(name text, token bigint)
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

-------------------------------------------------------------------------------
-- Fresh signing keys: 1.0 let the installing role read and write them
-------------------------------------------------------------------------------

-- Two rotations retire every key that role could have read or chosen; cursors
-- issued before the update are refused (clients start again from page one).
SELECT resilience.rotate_cursor_key();
SELECT resilience.rotate_cursor_key();

-------------------------------------------------------------------------------
-- Keyset pagination: params of any array type
-------------------------------------------------------------------------------

-- This section and the two after it replace six routines (page, page_json,
-- page_sql, retry_transaction, retry_statement, idempotent).  New routines
-- start with the default privileges (EXECUTE for PUBLIC): remember the old
-- ones' ACLs here, for the transaction only, and give them back to the new
-- routines after the last of them is created, so that an operator's REVOKE
-- is not silently undone.  (A transaction-local placeholder setting outside
-- the module's reserved prefix holds them: the update makes no table.  It is
-- always set here, so a value the session set beforehand is never read.)
-- Only the extension's own routines count: 1.0 left the schema to the
-- installing role, which may have planted routines of the same names with
-- privileges of its own (the schema check at the end refuses those).
SELECT pg_catalog.set_config('resilience_update.routine_acls',
           COALESCE(pg_catalog.jsonb_object_agg(p.proname, p.proacl::text::text[])::text, '{}'),
           true)
  FROM pg_catalog.pg_proc p, pg_catalog.pg_depend d, pg_catalog.pg_extension x
 WHERE p.pronamespace OPERATOR(pg_catalog.=) 'resilience'::pg_catalog.regnamespace
   AND p.proname OPERATOR(pg_catalog.=) ANY (ARRAY['page', 'page_json', 'page_sql',
       'retry_transaction', 'retry_statement', 'idempotent']::pg_catalog.name[])
   AND p.proacl IS NOT NULL
   AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
   AND d.objid OPERATOR(pg_catalog.=) p.oid
   AND d.deptype OPERATOR(pg_catalog.=) 'e'
   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
   AND d.refobjid OPERATOR(pg_catalog.=) x.oid
   AND x.extname OPERATOR(pg_catalog.=) 'resilience';

-- params was text[]; it is now anycompatiblearray, so that int[], uuid[] and
-- the like bind each element with its own type, while an untyped literal
-- such as '{1,2}' still resolves (to text[], as before).  An argument's type
-- cannot change in place: drop 1.0's functions and create 1.1's.  1.0
-- granted nothing on them beyond the default EXECUTE to PUBLIC.
DROP FUNCTION resilience.page(anyelement, text, text, text, integer, text, text[], boolean);
DROP FUNCTION resilience.page_json(regclass, text, text, text, integer, text, text[], boolean);
DROP FUNCTION resilience.page_sql(regclass, text, text, text, integer, text, text[], boolean);

CREATE FUNCTION resilience.page(
    rel anyelement,
    order_by text,
    after text DEFAULT NULL,
    before text DEFAULT NULL,
    page_size integer DEFAULT 50,
    filter text DEFAULT NULL,
    params anycompatiblearray DEFAULT NULL::text[],
    assume_unique boolean DEFAULT false)
RETURNS SETOF anyelement
AS 'MODULE_PATHNAME', 'keyset_page'
LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 50;

COMMENT ON FUNCTION resilience.page(anyelement, text, text, text, integer, text, anycompatiblearray, boolean) IS
'one page of rows of a table or view in a total sort order, after or before a cursor, read by index at any depth';

CREATE FUNCTION resilience.page_json(
    rel regclass,
    order_by text,
    after text DEFAULT NULL,
    before text DEFAULT NULL,
    page_size integer DEFAULT 50,
    filter text DEFAULT NULL,
    params anycompatiblearray DEFAULT NULL::text[],
    assume_unique boolean DEFAULT false)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'keyset_page_json'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.page_json(regclass, text, text, text, integer, text, anycompatiblearray, boolean) IS
'one page as {"rows", "next", "prev", "has_next", "has_prev"}, with signed cursors for the neighbouring pages';

CREATE FUNCTION resilience.page_sql(
    rel regclass,
    order_by text,
    after text DEFAULT NULL,
    before text DEFAULT NULL,
    page_size integer DEFAULT 50,
    filter text DEFAULT NULL,
    params anycompatiblearray DEFAULT NULL::text[],
    assume_unique boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'keyset_page_sql'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.page_sql(regclass, text, text, text, integer, text, anycompatiblearray, boolean) IS
'the query page() runs for these arguments, values as typed literals, for EXPLAIN';

-------------------------------------------------------------------------------
-- Retryable transactions: retry lanes (lane, escalate_after)
-------------------------------------------------------------------------------

-- A procedure's arguments cannot change in place: drop 1.0's and create
-- 1.1's.  The new arguments come after the INOUT pair, so 1.0's positional
-- and named calls keep their meaning.  params is anycompatiblearray, as for
-- page() above.  1.0 granted nothing on it (nor on retry_statement and
-- idempotent, replaced likewise) beyond the default EXECUTE to PUBLIC, which
-- the new ones have as well.
DROP PROCEDURE resilience.retry_transaction(text, text[], integer, text, interval, interval, text[], interval, jsonb, integer);

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

DROP FUNCTION resilience.retry_statement(text, text[], integer, interval, interval, text[]);

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

-------------------------------------------------------------------------------
-- Idempotency keys: params of any array type
-------------------------------------------------------------------------------

DROP FUNCTION resilience.idempotent(text, text, text[], interval);

CREATE FUNCTION resilience.idempotent(
    key text,
    sql text,
    params anycompatiblearray DEFAULT NULL::text[],
    ttl interval DEFAULT '24 hours')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'idempotency_run'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.idempotent(text, text, anycompatiblearray, interval) IS
'run sql once per (role, key) in the caller''s transaction; later calls with the same key replay the recorded result';

-- The six replaced routines get back the privileges their 1.0 forms had
-- (see above): the ACL as it was, grantee by grantee, the owner's own
-- entry implied.  Every grant is made again by the new routine's owner: one
-- that a grantee with the grant option had made is now the owner's, which a
-- REVOKE ... CASCADE from that grantee no longer takes away (GRANT cannot
-- record another grantor), so each such grant is reported.
DO $acl$
DECLARE
    v_acls jsonb := pg_catalog.current_setting('resilience_update.routine_acls')::jsonb;
    v_name text;
    v_fn oid;
    v_sig text;
    v_acl aclitem[];
    v_item record;
BEGIN
    FOR v_name IN SELECT pg_catalog.jsonb_object_keys(v_acls)
    LOOP
        SELECT p.oid INTO STRICT v_fn
          FROM pg_catalog.pg_proc p, pg_catalog.pg_depend d, pg_catalog.pg_extension x
         WHERE p.pronamespace OPERATOR(pg_catalog.=) 'resilience'::pg_catalog.regnamespace
           AND p.proname OPERATOR(pg_catalog.=) v_name
           AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
           AND d.objid OPERATOR(pg_catalog.=) p.oid
           AND d.deptype OPERATOR(pg_catalog.=) 'e'
           AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.refobjid OPERATOR(pg_catalog.=) x.oid
           AND x.extname OPERATOR(pg_catalog.=) 'resilience';
        v_sig := pg_catalog.format('resilience.%I(%s)', v_name,
                                   pg_catalog.pg_get_function_identity_arguments(v_fn));
        v_acl := (SELECT pg_catalog.array_agg(a::aclitem)
                    FROM pg_catalog.jsonb_array_elements_text(v_acls OPERATOR(pg_catalog.->) v_name) a);
        EXECUTE pg_catalog.format('REVOKE ALL ON ROUTINE %s FROM PUBLIC', v_sig);
        FOR v_item IN
            SELECT x.grantee, x.grantor, x.is_grantable, p.proowner
              FROM pg_catalog.aclexplode(v_acl) x, pg_catalog.pg_proc p
             WHERE p.oid OPERATOR(pg_catalog.=) v_fn
               AND x.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
               AND x.grantee OPERATOR(pg_catalog.<>) p.proowner
        LOOP
            EXECUTE pg_catalog.format('GRANT EXECUTE ON ROUTINE %s TO %s%s', v_sig,
                CASE WHEN v_item.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                     ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(v_item.grantee)) END,
                CASE WHEN v_item.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
            IF v_item.grantor OPERATOR(pg_catalog.<>) v_item.proowner THEN
                RAISE WARNING 'EXECUTE on resilience.% granted to % by % is now granted by the routine''s owner',
                    v_name,
                    CASE WHEN v_item.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                         ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(v_item.grantee)) END,
                    pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(v_item.grantor))
                    USING DETAIL = 'The routine was replaced, and GRANT records its owner as the grantor of every grant a superuser makes.',
                          HINT = 'Revoking the grant option from the original grantor no longer takes this grant away: revoke it directly if needed.';
            END IF;
        END LOOP;
    END LOOP;
END
$acl$;

-------------------------------------------------------------------------------
-- The schema: a superuser's, and no other role may create in it
-------------------------------------------------------------------------------

-- 1.0 left schema resilience owned by the installing role, which in a trusted
-- install is a database owner who could add overloads winning over these
-- functions for a superuser's calls.  Last in the script, so that the window
-- left below is as short as it can be: take the schema over, drop every
-- other role's CREATE right on it, then refuse to update while a role that
-- could create in it has a writing transaction open (it may be planting
-- something not yet committed) or while the schema holds any object that is
-- not a superuser's member of the extension.  What remains: an object created
-- between those checks and this transaction's commit.
DO $schema$
DECLARE
    v_nsp oid := pg_catalog.to_regnamespace('resilience');
    v_ext oid := (SELECT x.oid FROM pg_catalog.pg_extension x
                  WHERE x.extname OPERATOR(pg_catalog.=) 'resilience');
    v_creators oid[];
    v_foreign text;
    v_grantee oid;
BEGIN
    -- who could create in the schema until now: its owner and CREATE grantees
    SELECT pg_catalog.array_agg(DISTINCT r) INTO v_creators
    FROM (SELECT n.nspowner AS r FROM pg_catalog.pg_namespace n
          WHERE n.oid OPERATOR(pg_catalog.=) v_nsp
          UNION ALL
          SELECT a.grantee FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
          WHERE n.oid OPERATOR(pg_catalog.=) v_nsp
            AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE') c
    WHERE NOT COALESCE((SELECT s.rolsuper FROM pg_catalog.pg_roles s
                        WHERE s.oid OPERATOR(pg_catalog.=) c.r), false);

    ALTER SCHEMA resilience OWNER TO CURRENT_USER;
    FOR v_grantee IN
        SELECT a.grantee
        FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
        WHERE n.oid OPERATOR(pg_catalog.=) v_nsp
          AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
          AND NOT COALESCE((SELECT r.rolsuper FROM pg_catalog.pg_roles r
                            WHERE r.oid OPERATOR(pg_catalog.=) a.grantee), false)
    LOOP
        IF v_grantee OPERATOR(pg_catalog.=) 0 THEN
            REVOKE CREATE ON SCHEMA resilience FROM PUBLIC CASCADE;
        ELSE
            EXECUTE pg_catalog.format('REVOKE CREATE ON SCHEMA resilience FROM %I CASCADE',
                                      pg_catalog.pg_get_userbyid(v_grantee));
        END IF;
    END LOOP;

    IF EXISTS (SELECT FROM pg_catalog.pg_prepared_xacts p
               WHERE p.database OPERATOR(pg_catalog.=) pg_catalog.current_database())
       OR EXISTS (SELECT FROM pg_catalog.pg_stat_activity a, pg_catalog.unnest(v_creators) c
                  WHERE a.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()
                    AND a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
                    AND a.backend_xid IS NOT NULL
                    AND (c OPERATOR(pg_catalog.=) 0 OR pg_catalog.pg_has_role(a.usesysid, c, 'MEMBER')))
    THEN
        RAISE EXCEPTION 'cannot take over schema "resilience" while roles that could create in it have writing transactions open'
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'Such a transaction, or a prepared one, may be creating objects in the schema that would outlive the update.',
                  HINT = 'Update when those sessions are idle (see pg_stat_activity.backend_xid and pg_prepared_xacts).';
    END IF;

    -- a fresh snapshot: whatever committed until now is seen
    SELECT pg_catalog.string_agg(o.descr, ', ' ORDER BY o.descr) INTO v_foreign
    FROM (SELECT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) AS descr,
                 EXISTS (SELECT FROM pg_catalog.pg_depend e
                         WHERE e.classid OPERATOR(pg_catalog.=) d.classid
                           AND e.objid OPERATOR(pg_catalog.=) d.objid
                           AND e.deptype OPERATOR(pg_catalog.=) 'e'
                           AND e.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
                           AND e.refobjid OPERATOR(pg_catalog.=) v_ext)
                 -- a member table's or view's row type
                 OR EXISTS (SELECT FROM pg_catalog.pg_type t, pg_catalog.pg_depend e
                            WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass
                              AND t.oid OPERATOR(pg_catalog.=) d.objid
                              AND e.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                              AND e.objid OPERATOR(pg_catalog.=) t.typrelid
                              AND e.deptype OPERATOR(pg_catalog.=) 'e'
                              AND e.refobjid OPERATOR(pg_catalog.=) v_ext) AS member,
                 CASE d.classid
                     WHEN 'pg_catalog.pg_proc'::pg_catalog.regclass THEN
                         (SELECT x.proowner FROM pg_catalog.pg_proc x WHERE x.oid OPERATOR(pg_catalog.=) d.objid)
                     WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN
                         (SELECT x.relowner FROM pg_catalog.pg_class x WHERE x.oid OPERATOR(pg_catalog.=) d.objid)
                     WHEN 'pg_catalog.pg_type'::pg_catalog.regclass THEN
                         (SELECT x.typowner FROM pg_catalog.pg_type x WHERE x.oid OPERATOR(pg_catalog.=) d.objid)
                     WHEN 'pg_catalog.pg_operator'::pg_catalog.regclass THEN
                         (SELECT x.oprowner FROM pg_catalog.pg_operator x WHERE x.oid OPERATOR(pg_catalog.=) d.objid)
                     WHEN 'pg_catalog.pg_collation'::pg_catalog.regclass THEN
                         (SELECT x.collowner FROM pg_catalog.pg_collation x WHERE x.oid OPERATOR(pg_catalog.=) d.objid)
                     WHEN 'pg_catalog.pg_conversion'::pg_catalog.regclass THEN
                         (SELECT x.conowner FROM pg_catalog.pg_conversion x WHERE x.oid OPERATOR(pg_catalog.=) d.objid)
                     WHEN 'pg_catalog.pg_opclass'::pg_catalog.regclass THEN
                         (SELECT x.opcowner FROM pg_catalog.pg_opclass x WHERE x.oid OPERATOR(pg_catalog.=) d.objid)
                     WHEN 'pg_catalog.pg_opfamily'::pg_catalog.regclass THEN
                         (SELECT x.opfowner FROM pg_catalog.pg_opfamily x WHERE x.oid OPERATOR(pg_catalog.=) d.objid)
                     WHEN 'pg_catalog.pg_ts_config'::pg_catalog.regclass THEN
                         (SELECT x.cfgowner FROM pg_catalog.pg_ts_config x WHERE x.oid OPERATOR(pg_catalog.=) d.objid)
                     WHEN 'pg_catalog.pg_ts_dict'::pg_catalog.regclass THEN
                         (SELECT x.dictowner FROM pg_catalog.pg_ts_dict x WHERE x.oid OPERATOR(pg_catalog.=) d.objid)
                     WHEN 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass THEN
                         (SELECT x.stxowner FROM pg_catalog.pg_statistic_ext x WHERE x.oid OPERATOR(pg_catalog.=) d.objid)
                 END AS owner
          FROM pg_catalog.pg_depend d
          WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
            AND d.refobjid OPERATOR(pg_catalog.=) v_nsp
            AND d.classid OPERATOR(pg_catalog.<>) 'pg_catalog.pg_extension'::pg_catalog.regclass) o
    -- even a member is suspect unless a superuser owns it: the installing
    -- role owns the extension and may ALTER EXTENSION ... ADD its own objects
    WHERE NOT o.member
       OR NOT COALESCE((SELECT r.rolsuper FROM pg_catalog.pg_roles r
                        WHERE r.oid OPERATOR(pg_catalog.=) o.owner), o.owner IS NULL);
    IF v_foreign IS NOT NULL THEN
        RAISE EXCEPTION 'schema "resilience" holds objects that are not part of the extension'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('Found: %s.', v_foreign),
                  HINT = 'Another role may have planted them to be called instead of the extension''s functions: inspect and drop them, then update again.';
    END IF;
END
$schema$;

-------------------------------------------------------------------------------
-- 1.1: rate limits and circuit breakers (new)
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

-------------------------------------------------------------------------------
-- Monitoring: counters of what every capability does (docs/monitoring.md)
-------------------------------------------------------------------------------

-- The counters live in shared memory (resilience in shared_preload_libraries);
-- without it every function below except stats_quantile raises 55000.  They
-- count every database of the server, so reading them is for pg_monitor and
-- the extension's owner, not PUBLIC.

CREATE FUNCTION resilience.stats_counters(OUT area text, OUT counter text, OUT value bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'stats_counters'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.stats_counters() IS
'every monitoring counter (all databases) as (area, counter, value); see docs/monitoring.md';

CREATE FUNCTION resilience.stats_histograms(OUT area text, OUT histogram text,
                                            OUT buckets bigint[], OUT count bigint,
                                            OUT sum bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'stats_histograms'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.stats_histograms() IS
'every monitoring histogram: bucket i counts values in (2^(i-1), 2^i], bucket 1 values up to 1, the last one the rest; durations in microseconds';

CREATE FUNCTION resilience.stats_names(OUT dbid oid, OUT kind text, OUT name text,
                                       OUT counters bigint[], OUT buckets bigint[],
                                       OUT sum bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'stats_names'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.stats_names() IS
'the per-name counters of guards, leases and queues (bounded by resilience.stats_max_names); the views name their columns';

CREATE FUNCTION resilience.stats_gave_up(OUT function text, OUT sqlstate text, OUT calls bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'stats_gave_up'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.stats_gave_up() IS
'calls of the retry functions that gave up, by function and the SQLSTATE they raised (NULL, NULL: pairs past the 64 tracked)';

CREATE FUNCTION resilience.stats_info(OUT stats_since timestamptz, OUT names integer,
                                      OUT max_names integer, OUT names_evicted bigint,
                                      OUT track boolean)
RETURNS record
AS 'MODULE_PATHNAME', 'stats_info'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.stats_info() IS
'when the counters last started from zero, how many names are tracked of how many, how many were evicted, and resilience.track';

CREATE FUNCTION resilience.stats_quantile(buckets bigint[], q double precision)
RETURNS double precision
AS 'MODULE_PATHNAME', 'stats_quantile'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION resilience.stats_quantile(bigint[], double precision) IS
'the q-quantile of a log2 histogram: the upper bound 2^i of the bucket it falls in (never below the true value, less than twice it); NULL if empty';

CREATE FUNCTION resilience.stats_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'stats_reset'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.stats_reset() IS
'zero every monitoring counter and forget every tracked name (all databases); the extension owner or a superuser only';

CREATE FUNCTION resilience.metrics()
RETURNS text
AS 'MODULE_PATHNAME', 'stats_metrics'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.metrics() IS
'every monitoring counter and histogram in the Prometheus text exposition format';

CREATE VIEW resilience.stats
WITH (security_invoker) AS
SELECT c.area, c.counter, c.value, i.stats_since
FROM resilience.stats_counters() c, resilience.stats_info() i;

COMMENT ON VIEW resilience.stats IS
'every monitoring counter as (area, counter, value), all databases, since stats_since';

CREATE VIEW resilience.stats_histogram
WITH (security_invoker) AS
SELECT h.area, h.histogram, h.count, h.sum,
       resilience.stats_quantile(h.buckets, 0.5) AS p50,
       resilience.stats_quantile(h.buckets, 0.9) AS p90,
       resilience.stats_quantile(h.buckets, 0.99) AS p99,
       h.buckets, i.stats_since
FROM resilience.stats_histograms() h, resilience.stats_info() i;

COMMENT ON VIEW resilience.stats_histogram IS
'every monitoring histogram with approximate p50, p90, p99 (upper bounds of log2 buckets: at most 2x the true value)';

CREATE VIEW resilience.retry_stats
WITH (security_invoker) AS
SELECT f.function,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'calls') AS calls,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'commits') AS commits,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'gave_up') AS gave_up,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'attempts') AS attempts,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'backoff_us') AS backoff_us,
       (SELECT resilience.stats_quantile(h.buckets, 0.5) FROM resilience.stats_histograms() h
        WHERE h.area OPERATOR(pg_catalog.=) f.function AND h.histogram OPERATOR(pg_catalog.=) 'attempts') AS attempts_p50,
       (SELECT resilience.stats_quantile(h.buckets, 0.9) FROM resilience.stats_histograms() h
        WHERE h.area OPERATOR(pg_catalog.=) f.function AND h.histogram OPERATOR(pg_catalog.=) 'attempts') AS attempts_p90,
       (SELECT resilience.stats_quantile(h.buckets, 0.99) FROM resilience.stats_histograms() h
        WHERE h.area OPERATOR(pg_catalog.=) f.function AND h.histogram OPERATOR(pg_catalog.=) 'attempts') AS attempts_p99,
       (SELECT resilience.stats_quantile(h.buckets, 0.5) FROM resilience.stats_histograms() h
        WHERE h.area OPERATOR(pg_catalog.=) f.function AND h.histogram OPERATOR(pg_catalog.=) 'time_to_commit_us') AS commit_us_p50,
       (SELECT resilience.stats_quantile(h.buckets, 0.9) FROM resilience.stats_histograms() h
        WHERE h.area OPERATOR(pg_catalog.=) f.function AND h.histogram OPERATOR(pg_catalog.=) 'time_to_commit_us') AS commit_us_p90,
       (SELECT resilience.stats_quantile(h.buckets, 0.99) FROM resilience.stats_histograms() h
        WHERE h.area OPERATOR(pg_catalog.=) f.function AND h.histogram OPERATOR(pg_catalog.=) 'time_to_commit_us') AS commit_us_p99,
       (SELECT i.stats_since FROM resilience.stats_info() i) AS stats_since
FROM (VALUES ('retry_transaction'), ('retry_statement')) AS f(function)
JOIN resilience.stats_counters() c ON c.area OPERATOR(pg_catalog.=) f.function
GROUP BY f.function;

COMMENT ON VIEW resilience.retry_stats IS
'retry_transaction and retry_statement: calls, commits, gave_up, attempts run, time slept in backoff, approximate attempt and time-to-commit percentiles';

CREATE VIEW resilience.retry_gave_up
WITH (security_invoker) AS
SELECT g.function, g.sqlstate, g.calls, i.stats_since
FROM resilience.stats_gave_up() g, resilience.stats_info() i;

COMMENT ON VIEW resilience.retry_gave_up IS
'calls of the retry functions that gave up, by function and the SQLSTATE they raised';

-- the single-row areas: counter names become columns
CREATE VIEW resilience.guard_stats
WITH (security_invoker) AS
SELECT max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'acquired_xact_exclusive') AS acquired_xact_exclusive,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'acquired_xact_shared') AS acquired_xact_shared,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'acquired_session_exclusive') AS acquired_session_exclusive,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'acquired_session_shared') AS acquired_session_shared,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'waits') AS waits,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'timeouts') AS timeouts,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'lock_table_full') AS lock_table_full,
       (SELECT h.sum FROM resilience.stats_histograms() h
        WHERE h.area OPERATOR(pg_catalog.=) 'guard') AS wait_us,
       (SELECT resilience.stats_quantile(h.buckets, 0.5) FROM resilience.stats_histograms() h
        WHERE h.area OPERATOR(pg_catalog.=) 'guard') AS wait_us_p50,
       (SELECT resilience.stats_quantile(h.buckets, 0.9) FROM resilience.stats_histograms() h
        WHERE h.area OPERATOR(pg_catalog.=) 'guard') AS wait_us_p90,
       (SELECT resilience.stats_quantile(h.buckets, 0.99) FROM resilience.stats_histograms() h
        WHERE h.area OPERATOR(pg_catalog.=) 'guard') AS wait_us_p99,
       (SELECT i.stats_since FROM resilience.stats_info() i) AS stats_since
FROM resilience.stats_counters() c
WHERE c.area OPERATOR(pg_catalog.=) 'guard';

COMMENT ON VIEW resilience.guard_stats IS
'locks granted by scope and mode, waits, timeouts, lock table full, wait time (total and approximate percentiles, microseconds)';

CREATE VIEW resilience.guard_name_stats
WITH (security_invoker) AS
SELECT d.datname, n.name, n.counters[1] AS acquisitions, n.counters[2] AS waits,
       n.counters[3] AS timeouts, n.counters[4] AS wait_us,
       (SELECT i.stats_since FROM resilience.stats_info() i) AS stats_since
FROM resilience.stats_names() n
LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) n.dbid
WHERE n.kind OPERATOR(pg_catalog.=) 'guard';

COMMENT ON VIEW resilience.guard_name_stats IS
'per lock name (the busiest, up to resilience.stats_max_names with leases and queues): locks granted, waits, timeouts, wait time in microseconds';

CREATE VIEW resilience.lease_stats
WITH (security_invoker) AS
SELECT d.datname, n.name, n.counters[1] AS grants, n.counters[2] AS renewals,
       n.counters[3] AS takeovers, n.counters[4] AS refused,
       n.counters[5] AS fence_rejections, n.counters[6] AS releases,
       (SELECT i.stats_since FROM resilience.stats_info() i) AS stats_since
FROM resilience.stats_names() n
LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) n.dbid
WHERE n.kind OPERATOR(pg_catalog.=) 'lease';

COMMENT ON VIEW resilience.lease_stats IS
'per lease name: grants, renewals, takeovers of an expired lease, refused acquisitions, fence rejections (RL001), releases';

CREATE VIEW resilience.idempotency_stats
WITH (security_invoker) AS
SELECT max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'first_calls') AS first_calls,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'replays') AS replays,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'mismatches') AS mismatches,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'waits') AS waits,
       (SELECT i.stats_since FROM resilience.stats_info() i) AS stats_since
FROM resilience.stats_counters() c
WHERE c.area OPERATOR(pg_catalog.=) 'idempotency';

COMMENT ON VIEW resilience.idempotency_stats IS
'idempotent(): first calls that ran the request, replays, key mismatches, waits behind a concurrent duplicate';

CREATE VIEW resilience.keyset_stats
WITH (security_invoker) AS
SELECT max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'pages') AS pages,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'rows') AS rows,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'rejected_malformed') AS rejected_malformed,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'rejected_forged') AS rejected_forged,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'rejected_retired_key') AS rejected_retired_key,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'rejected_other_sort') AS rejected_other_sort,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'rejected_other') AS rejected_other,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'plan_cache_hits') AS plan_cache_hits,
       max(c.value) FILTER (WHERE c.counter OPERATOR(pg_catalog.=) 'plan_cache_misses') AS plan_cache_misses,
       (SELECT i.stats_since FROM resilience.stats_info() i) AS stats_since
FROM resilience.stats_counters() c
WHERE c.area OPERATOR(pg_catalog.=) 'keyset';

COMMENT ON VIEW resilience.keyset_stats IS
'keyset pagination: pages and rows served, cursors refused by reason, page plan cache hits and misses';

CREATE VIEW resilience.limit_stats
WITH (security_invoker) AS
SELECT max(c.value) FILTER (WHERE c.area OPERATOR(pg_catalog.=) 'rate_limit' AND c.counter OPERATOR(pg_catalog.=) 'allowed') AS rate_limit_allowed,
       max(c.value) FILTER (WHERE c.area OPERATOR(pg_catalog.=) 'rate_limit' AND c.counter OPERATOR(pg_catalog.=) 'denied') AS rate_limit_denied,
       max(c.value) FILTER (WHERE c.area OPERATOR(pg_catalog.=) 'breaker' AND c.counter OPERATOR(pg_catalog.=) 'allowed') AS breaker_allowed,
       max(c.value) FILTER (WHERE c.area OPERATOR(pg_catalog.=) 'breaker' AND c.counter OPERATOR(pg_catalog.=) 'denied') AS breaker_denied,
       max(c.value) FILTER (WHERE c.area OPERATOR(pg_catalog.=) 'breaker' AND c.counter OPERATOR(pg_catalog.=) 'to_open') AS breaker_opened,
       max(c.value) FILTER (WHERE c.area OPERATOR(pg_catalog.=) 'breaker' AND c.counter OPERATOR(pg_catalog.=) 'to_half_open') AS breaker_half_opened,
       max(c.value) FILTER (WHERE c.area OPERATOR(pg_catalog.=) 'breaker' AND c.counter OPERATOR(pg_catalog.=) 'to_closed') AS breaker_closed,
       (SELECT i.stats_since FROM resilience.stats_info() i) AS stats_since
FROM resilience.stats_counters() c
WHERE c.area OPERATOR(pg_catalog.=) ANY ('{rate_limit,breaker}'::text[]);

COMMENT ON VIEW resilience.limit_stats IS
'rate limit and circuit breaker decisions (allowed, denied) and breaker state changes';

CREATE VIEW resilience.queue_stats
WITH (security_invoker) AS
SELECT d.datname, n.name AS queue, n.counters[1] AS enqueued, n.counters[2] AS claimed,
       n.counters[3] AS completed, n.counters[4] AS failed, n.counters[5] AS dead,
       n.counters[6] AS lease_expired, n.counters[7] AS fence_rejections,
       resilience.stats_quantile(n.buckets, 0.5) AS pickup_us_p50,
       resilience.stats_quantile(n.buckets, 0.9) AS pickup_us_p90,
       resilience.stats_quantile(n.buckets, 0.99) AS pickup_us_p99,
       n.buckets AS pickup_buckets,
       (SELECT i.stats_since FROM resilience.stats_info() i) AS stats_since
FROM resilience.stats_names() n
LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) n.dbid
WHERE n.kind OPERATOR(pg_catalog.=) 'queue';

COMMENT ON VIEW resilience.queue_stats IS
'per job queue: jobs enqueued, claimed, completed, failed, dead, claims expired, stale-token refusals (RL001), approximate pickup latency percentiles (microseconds)';

-- readers: pg_monitor and the extension's owner; resetting: the owner
REVOKE ALL ON FUNCTION resilience.stats_counters(), resilience.stats_histograms(),
    resilience.stats_names(), resilience.stats_gave_up(), resilience.stats_info(),
    resilience.metrics(), resilience.stats_reset() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION resilience.stats_counters(), resilience.stats_histograms(),
    resilience.stats_names(), resilience.stats_gave_up(), resilience.stats_info(),
    resilience.metrics() TO pg_monitor, @extowner@;
GRANT EXECUTE ON FUNCTION resilience.stats_reset() TO @extowner@;
GRANT SELECT ON resilience.stats, resilience.stats_histogram, resilience.retry_stats,
    resilience.retry_gave_up, resilience.guard_stats, resilience.guard_name_stats,
    resilience.lease_stats, resilience.idempotency_stats, resilience.keyset_stats,
    resilience.limit_stats, resilience.queue_stats TO pg_monitor, @extowner@;

-- leases are PL/pgSQL writing resilience.lease_state: their grants,
-- renewals, takeovers and releases are counted from the row changes
CREATE FUNCTION resilience.stats_lease_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'stats_lease_trigger'
LANGUAGE C;

COMMENT ON FUNCTION resilience.stats_lease_trigger() IS
'internal: counts lease grants, renewals, takeovers and releases for the monitoring views from the changes of resilience.lease_state';

CREATE TRIGGER stats_count AFTER INSERT OR UPDATE ON resilience.lease_state
FOR EACH ROW EXECUTE FUNCTION resilience.stats_lease_trigger();

-- only the extension's own trigger uses it: nobody else may attach it (and
-- count leases of a table of theirs); a trigger fires without EXECUTE
REVOKE ALL ON FUNCTION resilience.stats_lease_trigger() FROM PUBLIC;

CREATE FUNCTION resilience.stats_lease_note(event text, name text, holder text, token bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'stats_lease_note'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.stats_lease_note(text, text, text, bigint) IS
'internal: counts a refused lease acquisition or a fence rejection for the monitoring views, if lease_state is in that state now';

-- 1.1: job queues (new)
-------------------------------------------------------------------------------

-------------------------------------------------------------------------------
-- Job queues: enqueue, claim with a lease and a fencing token, complete, fail
-------------------------------------------------------------------------------

-- One row per queue.  Queues are explicit: every queue function refuses a
-- name that is not here (42704), so a typo does not silently create one.
CREATE TABLE resilience.job_queues (
    name text PRIMARY KEY
        CHECK (name <> '' AND pg_catalog.octet_length(name) OPERATOR(pg_catalog.<=) 200),
    created_at timestamptz NOT NULL
);

COMMENT ON TABLE resilience.job_queues IS
'the job queues, one row per queue (create_queue, drop_queue)';

-- One row per job.  state:
--   pending    waiting for run_at, then ready to be claimed
--   blocked    waiting for the job before it in its group (group_key)
--   running    claimed: token is the claim's, lease_expires_at its lease
--   dead       out of attempts (last_error says why); redrive() brings it back
--   cancelled  by cancel()
-- A completed job is deleted by complete(): the table holds only work still
-- to do and the dead and cancelled jobs kept for inspection (purge_jobs()).
-- Rows are written by the queue functions only, which keep the invariants
-- (a known state, priority_key = -priority, attempt <= max_attempts): no
-- CHECK, default or generated column, each of which an INSERT re-reads
-- from the catalog's text at every statement (a third of an enqueue).
-- fillfactor: the updates of a claim (pending -> running) and of extend()
-- find room on the row's own page.
CREATE TABLE resilience.job_state (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- an existing queue's name, as enqueue and drop_queue keep it (see
    -- src/queue.c); no foreign key, whose trigger locks the queue's row
    -- for every job
    queue text NOT NULL,
    state text NOT NULL,
    payload jsonb NOT NULL,
    priority integer NOT NULL,
    -- -priority, the claim order's first key: ascending, so a claim can
    -- start its scan at a row comparison (priority_key, run_at, id) >= (...)
    priority_key bigint NOT NULL,
    run_at timestamptz NOT NULL,
    attempt integer NOT NULL,
    max_attempts integer NOT NULL,
    token bigint NOT NULL,
    lease_expires_at timestamptz,
    dedup_key text,
    group_key text,
    enqueued_at timestamptz NOT NULL,
    finished_at timestamptz,
    last_error text
) WITH (fillfactor = 80);

COMMENT ON TABLE resilience.job_state IS
'every job not yet completed, and the dead and cancelled ones until purged (completed jobs are deleted)';

-- The claim scan: ready jobs of a queue by priority (highest first), then
-- run_at, then id.  Only pending rows are in it, so a claimed, dead or
-- cancelled job leaves it.
CREATE INDEX job_state_ready ON resilience.job_state
    (queue, priority_key, run_at, id)
    WHERE state OPERATOR(pg_catalog.=) 'pending';

-- Expired leases, found by the claim of the same queue.
CREATE INDEX job_state_running ON resilience.job_state (queue, lease_expires_at)
    WHERE state OPERATOR(pg_catalog.=) 'running';

-- dedup_key: one unfinished job per key and queue; enqueue's ON CONFLICT
-- names this index's predicate.
CREATE UNIQUE INDEX job_state_dedup ON resilience.job_state (queue, dedup_key)
    WHERE dedup_key IS NOT NULL
      AND state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'blocked', 'running']);

-- Groups: at most one head (pending or running job) per group, whatever
-- the interleaving; the others wait as blocked, in id order.
CREATE UNIQUE INDEX job_state_group_head ON resilience.job_state (queue, group_key)
    WHERE group_key IS NOT NULL
      AND state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running']);

CREATE INDEX job_state_group ON resilience.job_state (queue, group_key, id)
    WHERE group_key IS NOT NULL
      AND state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'blocked', 'running']);

-- Dead and cancelled jobs by age, for purge_jobs().
CREATE INDEX job_state_finished ON resilience.job_state (queue, finished_at)
    WHERE state OPERATOR(pg_catalog.=) ANY (ARRAY['dead', 'cancelled']);

-- As lease_state: the installing role may use queues and grant them on.
GRANT SELECT, INSERT, UPDATE, DELETE ON resilience.job_queues TO @extowner@ WITH GRANT OPTION;
GRANT SELECT, INSERT, UPDATE, DELETE ON resilience.job_state TO @extowner@ WITH GRANT OPTION;
GRANT USAGE, SELECT ON SEQUENCE resilience.job_state_id_seq TO @extowner@ WITH GRANT OPTION;
-- and may set the id sequence, as a restore of its own pg_dump does (it may
-- write job_state itself, so this gives it nothing more)
GRANT UPDATE ON SEQUENCE resilience.job_state_id_seq TO @extowner@;

-- dump queues and jobs with the database: jobs are work not yet done, and a
-- restored job keeps its token, so tokens stay monotonic per job
SELECT pg_catalog.pg_extension_config_dump('resilience.job_queues', '');
SELECT pg_catalog.pg_extension_config_dump('resilience.job_state', '');
-- and the id sequence's position: restored without it, ids would start at
-- 1 again, collide with the restored jobs, and hand a new job an old job's
-- (id, token), which that job's stale worker could complete
SELECT pg_catalog.pg_extension_config_dump('resilience.job_state_id_seq', '');

CREATE TYPE resilience.claimed_job AS (
    id bigint,
    queue text,
    payload jsonb,
    attempt integer,
    max_attempts integer,
    token bigint,
    lease_expires_at timestamptz,
    group_key text,
    enqueued_at timestamptz,
    priority integer,
    run_at timestamptz
);

COMMENT ON TYPE resilience.claimed_job IS
'a job handed out by claim(): pass id and token to complete(), fail() or extend()';

CREATE FUNCTION resilience.queue_clock()
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'queue_clock'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION resilience.queue_clock() IS
'the time the queue functions decide at: clock_timestamp(), or resilience.clock_override when set';

CREATE FUNCTION resilience.create_queue(queue text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'queue_create'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.create_queue(text) IS
'create a job queue; true if it was created, false if it existed';

CREATE FUNCTION resilience.drop_queue(queue text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'queue_drop'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.drop_queue(text) IS
'drop a job queue and every job in it; true if it existed';

CREATE FUNCTION resilience.enqueue(
    queue text,
    payload jsonb DEFAULT '{}',
    run_at timestamptz DEFAULT NULL,
    priority integer DEFAULT 0,
    dedup_key text DEFAULT NULL,
    max_attempts integer DEFAULT 25,
    group_key text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'queue_enqueue'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.enqueue(text, jsonb, timestamptz, integer, text, integer, text) IS
'add a job to queue in the caller''s transaction: its id (with dedup_key, the unfinished job''s of that key if there is one)';

CREATE FUNCTION resilience.enqueue_many(
    queue text,
    payloads jsonb[],
    run_at timestamptz DEFAULT NULL,
    priority integer DEFAULT 0,
    max_attempts integer DEFAULT 25,
    group_key text DEFAULT NULL)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'queue_enqueue_many'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.enqueue_many(text, jsonb[], timestamptz, integer, integer, text) IS
'add one job per payload to queue in one statement: their ids, in the order of payloads';

CREATE FUNCTION resilience.claim(
    queue text,
    max_jobs integer DEFAULT 1,
    lease interval DEFAULT '30s',
    wait interval DEFAULT '0')
RETURNS SETOF resilience.claimed_job
AS 'MODULE_PATHNAME', 'queue_claim'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1;

COMMENT ON FUNCTION resilience.claim(text, integer, interval, interval) IS
'take up to max_jobs ready jobs of queue for lease, highest priority then oldest first, skipping jobs other claimers hold; waits up to wait for one';

CREATE FUNCTION resilience.complete(id bigint, token bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'queue_complete'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.complete(bigint, bigint) IS
'finish a claimed job (deleting it) in the transaction of its effects; RL001 unless token is the job''s current claim';

CREATE FUNCTION resilience.complete_many(ids bigint[], tokens bigint[])
RETURNS void
AS 'MODULE_PATHNAME', 'queue_complete_many'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.complete_many(bigint[], bigint[]) IS
'complete() for each job ids[i] claimed with tokens[i], all or none, in one statement for ungrouped jobs; RL001 for the first whose token is not its current claim';

CREATE FUNCTION resilience.fail(id bigint, token bigint, error text,
                                retry_in interval DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'queue_fail'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.fail(bigint, bigint, text, interval) IS
'give a claimed job back: ''retry'' (after retry_in, or backoff_delay(attempt)) or ''dead'' when out of attempts; RL001 unless token is current';

CREATE FUNCTION resilience.extend(id bigint, token bigint, lease interval)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'queue_extend'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.extend(bigint, bigint, interval) IS
'heartbeat: the claimed job''s lease now runs until now + lease (returned); RL001 unless token is current';

CREATE FUNCTION resilience.cancel(id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'queue_cancel'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.cancel(bigint) IS
'cancel a job that is not finished; true if it was cancelled now (a running job''s worker then gets RL001)';

CREATE FUNCTION resilience.redrive(queue text, ids bigint[] DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'queue_redrive'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.redrive(text, bigint[]) IS
'put dead jobs of queue (those of ids, or all) back to ready with their attempts reset, except those whose dedup_key an unfinished job holds; how many';

CREATE FUNCTION resilience.purge_jobs(queue text, older_than interval)
RETURNS bigint
AS 'MODULE_PATHNAME', 'queue_purge'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.purge_jobs(text, interval) IS
'delete the dead and cancelled jobs of queue that finished more than older_than ago; how many';

-- security_invoker: the caller's rights and row-level security on job_state
CREATE VIEW resilience.jobs WITH (security_invoker) AS
SELECT j.id, j.queue,
       CASE WHEN j.state OPERATOR(pg_catalog.<>) 'pending' THEN j.state
            WHEN j.run_at OPERATOR(pg_catalog.>) c.now THEN 'scheduled'
            ELSE 'ready' END AS state,
       j.priority, j.run_at, j.attempt, j.max_attempts, j.token,
       j.lease_expires_at, j.group_key, j.dedup_key, j.enqueued_at,
       j.finished_at, j.last_error, j.payload
FROM resilience.job_state j,
     (SELECT resilience.queue_clock() AS now) c;

GRANT SELECT ON resilience.jobs TO @extowner@ WITH GRANT OPTION;

COMMENT ON VIEW resilience.jobs IS
'one row per job kept: state (ready, scheduled, blocked, running, dead, cancelled), attempts, lease and last error';

CREATE VIEW resilience.queues WITH (security_invoker) AS
SELECT q.name AS queue,
       coalesce(s.ready, 0) AS ready,
       coalesce(s.scheduled, 0) AS scheduled,
       coalesce(s.blocked, 0) AS blocked,
       coalesce(s.running, 0) AS running,
       coalesce(s.dead, 0) AS dead,
       coalesce(s.cancelled, 0) AS cancelled,
       c.now OPERATOR(pg_catalog.-) s.oldest_ready AS oldest_ready_age,
       q.created_at
FROM resilience.job_queues q
CROSS JOIN (SELECT resilience.queue_clock() AS now) c
LEFT JOIN LATERAL (
    SELECT pg_catalog.count(*) FILTER (WHERE j.state OPERATOR(pg_catalog.=) 'pending'
                                         AND j.run_at OPERATOR(pg_catalog.<=) c.now) AS ready,
           pg_catalog.count(*) FILTER (WHERE j.state OPERATOR(pg_catalog.=) 'pending'
                                         AND j.run_at OPERATOR(pg_catalog.>) c.now) AS scheduled,
           pg_catalog.count(*) FILTER (WHERE j.state OPERATOR(pg_catalog.=) 'blocked') AS blocked,
           pg_catalog.count(*) FILTER (WHERE j.state OPERATOR(pg_catalog.=) 'running') AS running,
           pg_catalog.count(*) FILTER (WHERE j.state OPERATOR(pg_catalog.=) 'dead') AS dead,
           pg_catalog.count(*) FILTER (WHERE j.state OPERATOR(pg_catalog.=) 'cancelled') AS cancelled,
           pg_catalog.min(j.run_at) FILTER (WHERE j.state OPERATOR(pg_catalog.=) 'pending'
                                              AND j.run_at OPERATOR(pg_catalog.<=) c.now) AS oldest_ready
    FROM resilience.job_state j
    WHERE j.queue OPERATOR(pg_catalog.=) q.name
) s ON true;

GRANT SELECT ON resilience.queues TO @extowner@ WITH GRANT OPTION;

COMMENT ON VIEW resilience.queues IS
'per queue: jobs ready, scheduled, blocked, running, dead and cancelled, and how long the oldest ready job has waited';

-------------------------------------------------------------------------------
-- Periodic jobs: schedules enqueued into queues, exactly once per period
-------------------------------------------------------------------------------

CREATE FUNCTION resilience.cron_next(
    cron text,
    after timestamptz DEFAULT pg_catalog.now())
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'cron_next'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION resilience.cron_next(text, timestamptz) IS
'the first period of a schedule expression strictly after after (5 cron fields in UTC, a macro such as @daily, or @every <interval> anchored at the Unix epoch); 22023 naming the bad field';

-- One row per schedule.  next_run is the first period not yet enqueued: the
-- transaction that enqueues a period moves it on, so a period is enqueued
-- exactly once whoever ticks (tick(), or claim() on the schedule's queue).
-- drop_queue() drops the queue's schedules with it.
-- Rows are written with the caller's rights: grant SELECT, INSERT, UPDATE,
-- DELETE on this table to the roles that schedule, and SELECT, UPDATE to
-- those whose claim() or tick() should drive schedules.
CREATE TABLE resilience.schedule_state (
    name text PRIMARY KEY CHECK (name <> ''),
    cron text NOT NULL,
    queue text NOT NULL REFERENCES resilience.job_queues (name) ON DELETE CASCADE,
    payload jsonb NOT NULL DEFAULT '{}'
        CHECK (pg_catalog.jsonb_typeof(payload) OPERATOR(pg_catalog.=) 'object'),
    next_run timestamptz NOT NULL,
    last_period timestamptz,
    last_enqueued_at timestamptz,
    last_job_id bigint,
    enqueued bigint NOT NULL DEFAULT 0,
    skipped bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE INDEX schedule_state_queue_next_run
    ON resilience.schedule_state (queue, next_run);

COMMENT ON TABLE resilience.schedule_state IS
'periodic jobs, one row per schedule: next_run is the first period not yet enqueued, last_period the latest enqueued';

GRANT SELECT, INSERT, UPDATE, DELETE ON resilience.schedule_state TO @extowner@ WITH GRANT OPTION;

-- dump the schedules with the database, with the periods already enqueued
SELECT pg_catalog.pg_extension_config_dump('resilience.schedule_state', '');

CREATE FUNCTION resilience.schedule(
    name text,
    cron text,
    queue text,
    payload jsonb DEFAULT '{}')
RETURNS void
AS 'MODULE_PATHNAME', 'cron_schedule'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.schedule(text, text, text, jsonb) IS
'create or replace a schedule: enqueue payload into queue once per period of cron, from the first period after now (a replacement with the same cron keeps its next period)';

CREATE FUNCTION resilience.unschedule(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF unschedule.name IS NULL THEN
        RAISE EXCEPTION 'name must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    DELETE FROM resilience.schedule_state s
    WHERE s.name OPERATOR(pg_catalog.=) unschedule.name;
    RETURN FOUND;
END
$$;

COMMENT ON FUNCTION resilience.unschedule(text) IS
'drop a schedule (jobs already enqueued stay); true if it existed';

-- tick() for every queue, tick(queue) for one: two functions rather than a
-- NULL default, so that a NULL queue is 22004 as everywhere else
CREATE FUNCTION resilience.tick()
RETURNS integer
AS 'MODULE_PATHNAME', 'cron_tick'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.tick() IS
'enqueue the due periods of every schedule, each exactly once, in this transaction; the number of jobs enqueued';

CREATE FUNCTION resilience.tick(queue text)
RETURNS integer
AS 'MODULE_PATHNAME', 'cron_tick'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.tick(text) IS
'enqueue the due periods of the schedules of queue, each exactly once, in this transaction; the number of jobs enqueued';

-- security_invoker: the caller's privileges and row-level security on
-- schedule_state apply
CREATE VIEW resilience.schedules WITH (security_invoker) AS
SELECT s.name, s.cron, s.queue, s.payload, s.next_run, s.last_period,
       s.last_enqueued_at, s.last_job_id, s.enqueued, s.skipped,
       s.created_at, s.updated_at
FROM resilience.schedule_state s;

GRANT SELECT ON resilience.schedules TO @extowner@ WITH GRANT OPTION;

COMMENT ON VIEW resilience.schedules IS
'every schedule: cron, queue, payload, next run, last period enqueued and its job, jobs enqueued and periods folded by backfill';

CREATE FUNCTION resilience.idempotency_settled(xmin xid)
RETURNS boolean
AS 'MODULE_PATHNAME', 'idempotency_settled'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION resilience.idempotency_settled(xid) IS
'internal: whether every running transaction began after xmin ended, so idempotency_purge() may delete a record version xmin wrote';

-- idempotency_purge() skips locked records instead of waiting for them
CREATE OR REPLACE FUNCTION resilience.idempotency_purge()
RETURNS bigint
LANGUAGE sql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
    -- a record some transaction has locked (a call replaying or taking it
    -- over, or any role's SELECT ... FOR KEY SHARE) is left for the next
    -- purge: waiting for it would let any role stall or fail the purge
    --
    -- nor a record written by a transaction that some transaction running
    -- now overlapped: a call that waited for that writer may be about to
    -- replay it (idempotency_settled())
    WITH doomed AS (
        SELECT s.ctid FROM resilience.idempotency_store s
        WHERE s.expires_at <= pg_catalog.clock_timestamp()
        AND resilience.idempotency_settled(s.xmin)
        FOR UPDATE SKIP LOCKED),
    gone AS (
        DELETE FROM resilience.idempotency_store s
        USING doomed d
        WHERE s.ctid = d.ctid
        RETURNING 1)
    SELECT pg_catalog.count(*) FROM gone
$$;
