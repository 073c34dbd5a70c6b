-- Cursors are authenticated before anything in them is read (the doom
-- principle): a cursor this database did not sign gets one message, whatever
-- was changed in it and wherever.  An authentic cursor whose value its type
-- refuses is 22023 naming the type.  A database cloned as TEMPLATE refuses
-- the original's cursors.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE TABLE ca (id int PRIMARY KEY, t text NOT NULL UNIQUE, n numeric NOT NULL UNIQUE);
INSERT INTO ca SELECT g, 'row ' || g, g / 4.0 FROM generate_series(1, 20) g;

-- a cursor's bytes and back: base64url without padding
CREATE FUNCTION ca_bytes(c text) RETURNS bytea LANGUAGE sql IMMUTABLE
AS $$ SELECT decode(rpad(translate(c, '-_', '+/'), (length(c) + 3) / 4 * 4, '='), 'base64') $$;
CREATE FUNCTION ca_text(b bytea) RETURNS text LANGUAGE sql IMMUTABLE
AS $$ SELECT rtrim(translate(encode(b, 'base64'), E'+/\n', '-_'), '=') $$;

-- what page() says to a cursor: SQLSTATE, message, detail and hint
CREATE FUNCTION ca_try(c text, order_by text DEFAULT 'id') RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    d text;
    h text;
BEGIN
    PERFORM count(*) FROM resilience.page(NULL::ca, order_by, after => c);
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || ' ' || SQLERRM || E'\n' || d || E'\n' || h;
END $$;

SELECT resilience.cursor_of(a, 'id') AS c FROM ca a WHERE id = 5 \gset
SELECT ca_try(:'c') AS genuine;

-- the one message, in full
SELECT count(*) FROM resilience.page(NULL::ca, 'id', after => left(:'c', -1));

-- every single-bit flip, by the part of the cursor it hits: one outcome
CREATE TEMP TABLE flips AS
SELECT CASE WHEN bit < 8 THEN '1 version'
            WHEN bit < 40 THEN '2 key id'
            WHEN bit < 104 THEN '3 fingerprint'
            WHEN bit < 112 THEN '4 value count'
            WHEN bit < (length(b) - 32) * 8 THEN '5 values'
            ELSE '6 signature' END AS part,
       ca_try(ca_text(set_bit(b, bit, 1 - get_bit(b, bit)))) AS outcome
FROM (SELECT ca_bytes(:'c') AS b) c, generate_series(0, length(ca_bytes(:'c')) * 8 - 1) bit;
SELECT part, count(*) AS flips, count(DISTINCT outcome) AS outcomes FROM flips GROUP BY 1 ORDER BY 1;
-- truncated to every length, extended in several ways, respelled
CREATE TEMP TABLE cut AS
SELECT 'truncated' AS how, ca_try(left(:'c', n)) AS outcome FROM generate_series(0, length(:'c') - 1) n
UNION ALL
SELECT 'extended', ca_try(:'c' || x)
FROM unnest(ARRAY['A', 'AA', 'AAA', 'AAAA', 'AAAAAA', :'c', repeat('A', 5000)]) x
UNION ALL
SELECT 'extended bytes', ca_try(ca_text(ca_bytes(:'c') || x))
FROM unnest(ARRAY['\x00'::bytea, '\x0000', '\xffffffff', ca_bytes(:'c')]) x
UNION ALL
SELECT 'bytes dropped', ca_try(ca_text(overlay(ca_bytes(:'c') placing '' from n for 1)))
FROM generate_series(1, length(ca_bytes(:'c'))) n
UNION ALL
SELECT 'respelled', ca_try(x)
FROM unnest(ARRAY[:'c' || '=', translate(:'c', '-_', '+/') || '+', replace(:'c', 'A', 'a'), ' ' || :'c',
                  left(:'c', -1) || translate(right(:'c', 1), 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
                                                              'BCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_A')]) x;
SELECT how, count(*) AS cursors, count(DISTINCT outcome) AS outcomes FROM cut GROUP BY 1 ORDER BY 1;
-- and it is the same one everywhere
SELECT count(DISTINCT outcome) AS messages, min(outcome) = max(outcome) AS same
FROM (SELECT outcome FROM flips UNION ALL SELECT outcome FROM cut) o;
SELECT min(outcome) AS the_message FROM flips;

-- Signed by whoever holds the key (here a superuser reading it): the
-- database's signing key is HMAC(stored key, 'resilience cursor v2' || OID).
CREATE FUNCTION ca_sign(body bytea) RETURNS text LANGUAGE sql AS $$
    SELECT ca_text(body || hmac(body,
        hmac('resilience cursor v2'::bytea || oidsend(d.oid), k.key, 'sha256'), 'sha256'))
    FROM (SELECT key FROM resilience.cursor_keys ORDER BY id DESC LIMIT 1) k,
         pg_database d WHERE d.datname = current_database()
$$;
SELECT ca_sign(substr(ca_bytes(:'c'), 1, length(ca_bytes(:'c')) - 32)) = :'c' AS derivation_matches;
-- the header of an 'id' cursor: version, key id, fingerprint, one value
SELECT substr(ca_bytes(:'c'), 1, 14) AS hid \gset
SELECT resilience.cursor_of(a, 't') AS ct FROM ca a WHERE id = 5 \gset
SELECT resilience.cursor_of(a, 'n') AS cn FROM ca a WHERE id = 5 \gset
SELECT substr(ca_bytes(:'ct'), 1, 14) AS htx, substr(ca_bytes(:'cn'), 1, 14) AS hnum \gset
-- values their types' receive functions refuse: 22023 naming the type
SELECT ca_try(ca_sign(:'hid'::bytea || '\x01'::bytea || int4send(3) || '\x000005'::bytea)) AS int4_short;
SELECT ca_try(ca_sign(:'hid'::bytea || '\x01'::bytea || int4send(5) || '\x0000000500'::bytea)) AS int4_long;
SELECT ca_try(ca_sign(:'htx'::bytea || '\x01'::bytea || int4send(2) || '\xc328'::bytea), 't') AS text_not_utf8;
SELECT ca_try(ca_sign(:'hnum'::bytea || '\x01'::bytea || int4send(8) || '\x0001000012340000'::bytea), 'n') AS numeric_bad_sign;
-- authentic but not well formed: the one message again
SELECT ca_try(ca_sign(:'hid'::bytea || '\x02'::bytea || int4send(4) || int4send(5))) = min(outcome) AS bad_null_flag,
       ca_try(ca_sign(:'hid'::bytea || '\x01'::bytea || int4send(40) || int4send(5))) = min(outcome) AS length_past_end,
       ca_try(ca_sign(:'hid'::bytea || '\x01'::bytea || int4send(4) || int4send(5) || '\x00'::bytea)) = min(outcome) AS trailing_byte,
       ca_try(ca_sign(:'hid'::bytea || '\x01'::bytea || int4send(4))) = min(outcome) AS value_missing,
       ca_try(ca_sign(set_byte(:'hid'::bytea, 0, 3) || '\x01'::bytea || int4send(4) || int4send(5))) = min(outcome) AS other_version
FROM flips;
-- authentic, for another sort: says so
SELECT ca_try(ca_sign(set_byte(:'hid'::bytea, 13, 2) || '\x01'::bytea || int4send(4) || int4send(5) || '\x00'::bytea)) AS two_values;
SELECT ca_try(ca_sign(:'hid'::bytea || '\x01'::bytea || int4send(4) || int4send(7))) AS crafted_but_well_formed;
-- a cursor as 1.0 made it (version 1, signed with the stored key itself)
SELECT ca_try(ca_text(b || hmac(b, (SELECT key FROM resilience.cursor_keys ORDER BY id DESC LIMIT 1), 'sha256')))
       = (SELECT min(outcome) FROM flips) AS version_1_refused
FROM (SELECT set_byte(:'hid'::bytea, 0, 1) || '\x01'::bytea || int4send(4) || int4send(5) AS b) v;

-- a value that became invalid for its type under a cursor
CREATE DOMAIN ca_small AS int;
CREATE TABLE cad (id ca_small PRIMARY KEY);
INSERT INTO cad SELECT generate_series(1, 5);
SELECT resilience.cursor_of(x, 'id') AS cd FROM cad x WHERE id = 4 \gset
ALTER DOMAIN ca_small ADD CONSTRAINT ca_small_check CHECK (VALUE < 3) NOT VALID;
SELECT count(*) FROM resilience.page(NULL::cad, 'id', after => :'cd');

-- a database cloned from this one as TEMPLATE: same stored key, other cursors
SELECT current_database() AS home \gset
CREATE DATABASE regress_cursor_origin;
\c regress_cursor_origin
CREATE EXTENSION resilience;
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t SELECT generate_series(1, 5);
SELECT resilience.cursor_of(t, 'id') AS oc FROM t WHERE id = 2 \gset
SELECT key AS okey FROM resilience.cursor_keys \gset
SELECT count(*) AS origin_pages FROM resilience.page(NULL::t, 'id', after => :'oc');
\c :home
CREATE DATABASE regress_cursor_clone TEMPLATE regress_cursor_origin;
\c regress_cursor_clone
SELECT array_agg(key) = ARRAY[:'okey'::bytea] AS same_stored_key FROM resilience.cursor_keys;
SELECT count(*) FROM resilience.page(NULL::t, 'id', after => :'oc');
SELECT resilience.cursor_of(t, 'id') <> :'oc' AS clone_signs_otherwise,
       (SELECT count(*) FROM resilience.page(NULL::t, 'id', after => resilience.cursor_of(t, 'id'))) AS clone_pages
FROM t WHERE id = 2;
\c regress_cursor_origin
SELECT count(*) AS origin_still_pages FROM resilience.page(NULL::t, 'id', after => :'oc');
\c :home
DROP DATABASE regress_cursor_clone;
DROP DATABASE regress_cursor_origin;

DROP TABLE ca, cad;
DROP DOMAIN ca_small;
DROP FUNCTION ca_try(text, text), ca_sign(bytea), ca_bytes(text), ca_text(bytea);
DROP EXTENSION pgcrypto;
