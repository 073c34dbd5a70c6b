/* resilience--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION resilience" to load this file. \quit

-- Every object below is schema-qualified; functions that run SQL pin
-- search_path.  No function is SECURITY DEFINER: everything runs with the
-- caller's rights, so grants and row-level security hold.


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

-- Every role may call the functions of the schema (each runs with the
-- caller's rights); what they read is governed by the caller's own grants.
GRANT USAGE ON SCHEMA resilience TO PUBLIC;

-- The keys that sign cursors.  No ordinary role can read them: page() and
-- friends read them from C without a permission check (they only feed them to
-- HMAC), and only the extension owner (granted here) or a superuser can
-- rotate them.  Not marked with pg_extension_config_dump: secrets stay out of
-- dumps, and a restored database gets a fresh key from CREATE EXTENSION.
CREATE TABLE resilience.cursor_keys (
    id bigint PRIMARY KEY,
    key bytea NOT NULL CHECK (pg_catalog.length(key) OPERATOR(pg_catalog.=) 32),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON TABLE resilience.cursor_keys FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON TABLE resilience.cursor_keys TO @extowner@;

COMMENT ON TABLE resilience.cursor_keys IS
'HMAC-SHA256 keys signing pagination cursors: the newest signs, it and the previous one verify; readable by no ordinary role';

CREATE FUNCTION resilience.rotate_cursor_key()
RETURNS void
AS 'MODULE_PATHNAME', 'cursor_rotate_key'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.rotate_cursor_key() IS
'make a new cursor signing key; cursors signed with the previous key stay valid until the next rotation (extension owner or superuser)';

-- the first key
SELECT resilience.rotate_cursor_key();

CREATE FUNCTION resilience.page(
    rel anyelement,
    order_by text,
    after text DEFAULT NULL,
    before text DEFAULT NULL,
    page_size integer DEFAULT 50,
    filter text DEFAULT NULL,
    params text[] DEFAULT NULL,
    assume_unique boolean DEFAULT false)
RETURNS SETOF anyelement
AS 'MODULE_PATHNAME', 'keyset_page'
LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 50;

COMMENT ON FUNCTION resilience.page(anyelement, text, text, text, integer, text, text[], boolean) IS
'one page of rows of a table or view in a total sort order, after or before a cursor, read by index at any depth';

CREATE FUNCTION resilience.page_json(
    rel regclass,
    order_by text,
    after text DEFAULT NULL,
    before text DEFAULT NULL,
    page_size integer DEFAULT 50,
    filter text DEFAULT NULL,
    params text[] DEFAULT NULL,
    assume_unique boolean DEFAULT false)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'keyset_page_json'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.page_json(regclass, text, text, text, integer, text, text[], boolean) IS
'one page as {"rows", "next", "prev", "has_next", "has_prev"}, with signed cursors for the neighbouring pages';

CREATE FUNCTION resilience.page_sql(
    rel regclass,
    order_by text,
    after text DEFAULT NULL,
    before text DEFAULT NULL,
    page_size integer DEFAULT 50,
    filter text DEFAULT NULL,
    params text[] DEFAULT NULL,
    assume_unique boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'keyset_page_sql'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.page_sql(regclass, text, text, text, integer, text, text[], boolean) IS
'the query page() runs for these arguments, values as typed literals, for EXPLAIN';

CREATE FUNCTION resilience.cursor_of(
    "row" anyelement,
    order_by text,
    assume_unique boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'keyset_cursor_of'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.cursor_of(anyelement, text, boolean) IS
'the signed cursor of a row of a table or view for a sort order, to pass as after or before';



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

