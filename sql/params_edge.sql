-- params of any array type: cases where the plan caches, the idempotency
-- fingerprint or the session's settings could make one request behave
-- like another.
\set VERBOSITY terse
SET search_path = public;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE TABLE params_edge_t (id int PRIMARY KEY, name text);
INSERT INTO params_edge_t VALUES (1, 'one'), (2, 'two'), (3, 'three');

-- A typed params array may have more elements than the filter uses.  How
-- many it has is part of the page plan's key: a plan prepared for two
-- elements is not reused for one (nor the other way round), whatever ran
-- before in the session.
SELECT id FROM resilience.page(NULL::params_edge_t, 'id', filter => 'id = $1', params => ARRAY[1, 2]);
SELECT id FROM resilience.page(NULL::params_edge_t, 'id', filter => 'id = $1', params => ARRAY[2]);
SELECT id FROM resilience.page(NULL::params_edge_t, 'id', filter => 'id = $1', params => ARRAY[3, 1, 2]);
SELECT resilience.page_json('params_edge_t', 'id', filter => 'id >= $1', params => ARRAY[3]) -> 'rows';
SELECT resilience.page_json('params_edge_t', 'id', filter => 'id >= $1', params => '[0:1]={2,9}'::int[]) -> 'rows';
-- text[] still needs exactly as many elements as the filter uses
SELECT pg_temp.err($q$SELECT resilience.page_sql('params_edge_t', 'id', filter => 'id = $1', params => '{1}')$q$);
SELECT pg_temp.err($q$SELECT resilience.page_sql('params_edge_t', 'id', filter => 'id = $1', params => '{1,2}')$q$);
SELECT pg_temp.err($q$SELECT resilience.page_sql('params_edge_t', 'id', filter => 'id = $1', params => '{1}')$q$);

-- The idempotency fingerprint of typed params does not depend on the
-- client's encoding: text-like values (varchar, enum labels, json) are
-- fingerprinted in the server's encoding, so a retry from a client with
-- another client_encoding replays, and a character the client's encoding
-- cannot show does not make the call fail.
DO $$ BEGIN
    EXECUTE format('CREATE TYPE params_edge_mood AS ENUM (%L, %L)', 'caf' || chr(233), 'x');
END $$;
BEGIN;
SELECT resilience.idempotent('params_edge_enc', 'SELECT length($1) AS n', ARRAY[chr(233)::varchar]);
SELECT resilience.idempotent('params_edge_enc3', 'SELECT $1::text = $2::text AS same',
                             ARRAY[('caf' || chr(233))::params_edge_mood, 'x']);
SET LOCAL client_encoding = 'LATIN1';
SELECT resilience.idempotent('params_edge_enc', 'SELECT length($1) AS n', ARRAY[chr(233)::varchar]) ->> 'replayed' AS replayed;
SELECT pg_temp.err($q$SELECT resilience.idempotent('params_edge_enc2', 'SELECT length($1) AS n', ARRAY[chr(128512)::varchar])$q$);
SELECT resilience.idempotent('params_edge_enc3', 'SELECT $1::text = $2::text AS same',
                             ARRAY[('caf' || chr(233))::params_edge_mood, 'x']) ->> 'replayed' AS replayed;
SHOW client_encoding;
ROLLBACK;

-- Typed params are fingerprinted by type name, not OID: a composite whose
-- fields are of other user-defined types (an enum, an array of it), made
-- again as a dump and restore makes them (same names, other OIDs), is the
-- same request.  A changed type is not.
CREATE TYPE params_edge_kind AS ENUM ('a', 'b');
CREATE TYPE params_edge_item AS (kind params_edge_kind, kinds params_edge_kind[], n int);
BEGIN;
SELECT resilience.idempotent('params_edge_oid', 'SELECT ($1).n AS n, ($1).kinds AS k',
                             ARRAY[row('a', '{b,a}', 1)::params_edge_item, NULL]);
DROP TYPE params_edge_item;
DROP TYPE params_edge_kind;
CREATE TYPE params_edge_kind AS ENUM ('a', 'b');
CREATE TYPE params_edge_item AS (kind params_edge_kind, kinds params_edge_kind[], n int);
SELECT resilience.idempotent('params_edge_oid', 'SELECT ($1).n AS n, ($1).kinds AS k',
                             ARRAY[row('a', '{b,a}', 1)::params_edge_item, NULL]) ->> 'replayed' AS replayed;
SELECT pg_temp.err($q$SELECT resilience.idempotent('params_edge_oid', 'SELECT ($1).n AS n, ($1).kinds AS k',
                             ARRAY[row('a', '{a,b}', 1)::params_edge_item, NULL])$q$);
SELECT pg_temp.err($q$SELECT resilience.idempotent('params_edge_oid', 'SELECT ($1).n AS n, ($1).kinds AS k',
                             ARRAY[row('a', '[0:1]={b,a}', 1)::params_edge_item, NULL])$q$);
ALTER TYPE params_edge_item ADD ATTRIBUTE extra int;
SELECT pg_temp.err($q$SELECT resilience.idempotent('params_edge_oid', 'SELECT ($1).n AS n, ($1).kinds AS k',
                             ARRAY[row('a', '{b,a}', 1, NULL)::params_edge_item, NULL])$q$);
ROLLBACK;
DROP TYPE params_edge_item;
DROP TYPE params_edge_kind;
