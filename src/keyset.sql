-------------------------------------------------------------------------------
-- Keyset pagination
-------------------------------------------------------------------------------

-- params, here and in retry_transaction, retry_statement and idempotent, is
-- anycompatiblearray rather than anyarray: an untyped literal such as
-- '{1,2}' (or a driver's untyped parameter) resolves to text[] there, where
-- anyarray cannot resolve it, and a text[] overload beside anyarray would
-- make it ambiguous.  The default is typed (NULL::text[]): an untyped NULL
-- default would be stored as anycompatiblearray and fail every call that
-- leaves params out.  text[] binds $n with types inferred from the SQL;
-- any other element type binds them as that type (src/sqlexec.h).
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

CREATE FUNCTION resilience.cursor_of(
    "row" anyelement,
    order_by text,
    assume_unique boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'keyset_cursor_of'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;

COMMENT ON FUNCTION resilience.cursor_of(anyelement, text, boolean) IS
'the signed cursor of a row of a table or view for a sort order, to pass as after or before';



