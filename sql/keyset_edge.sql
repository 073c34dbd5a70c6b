-- Edge cases of keyset pagination: composite sort keys, inheritance, client
-- encodings, renamed indexes, cursor spellings, filters under "$user",
-- column privileges.

-- walk(rel, spec, ord, size): all pages forward, then all pages backward
-- from the last row; both must list the rows exactly as ORDER BY ord does
CREATE FUNCTION walk(rel regclass, spec text, ord text, size int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    fwd text[] := '{}';
    bwd text[];
    expected text[];
    cur text;
    j jsonb;
BEGIN
    EXECUTE format('SELECT array_agg(to_jsonb(t)::text ORDER BY %s) FROM %s t', ord, rel)
    INTO expected;
    LOOP
        j := resilience.page_json(rel, spec, after => cur, page_size => size);
        fwd := fwd || ARRAY(SELECT r::text FROM jsonb_array_elements(j->'rows') r);
        cur := coalesce(j->>'next', cur);
        EXIT WHEN NOT (j->>'has_next')::boolean;
    END LOOP;
    bwd := ARRAY[fwd[cardinality(fwd)]];
    LOOP
        j := resilience.page_json(rel, spec, before => cur, page_size => size);
        bwd := ARRAY(SELECT r::text FROM jsonb_array_elements(j->'rows') r) || bwd;
        EXIT WHEN NOT (j->>'has_prev')::boolean;
        cur := j->>'prev';
    END LOOP;
    RETURN CASE WHEN fwd = expected AND bwd = expected THEN 'ok'
                ELSE format('forward %s backward %s expected %s', fwd, bwd, expected) END;
END $$;

-- a composite key is NULL as a value, not when its fields are: ROW(NULL, NULL)
-- is a value that sorts after ROW(1, 2), and a NULL pair sorts last
CREATE TYPE pair AS (x int, y int);
CREATE TABLE tc (id int PRIMARY KEY, c pair);
INSERT INTO tc VALUES (1, ROW(1, 2)), (2, ROW(NULL, NULL)), (3, NULL), (4, ROW(1, NULL)), (5, NULL);
SELECT walk('tc', 'c', 'c, id', 1) AS asc_1, walk('tc', 'c NULLS FIRST', 'c NULLS FIRST, id', 2) AS nf_2,
       walk('tc', 'c DESC', 'c DESC, id DESC', 1) AS desc_1, walk('tc', 'c DESC NULLS LAST', 'c DESC NULLS LAST, id DESC', 3) AS dnl_3;
SELECT p.id FROM tc, LATERAL resilience.page(NULL::tc, 'c', after => resilience.cursor_of(tc, 'c')) p WHERE tc.id = 1;
-- the NULL tests are ROW(c) IS [NOT] NULL: the value's, and indexable
SELECT resilience.page_sql('tc', 'c NULLS FIRST', page_size => 2,
    after => (SELECT resilience.cursor_of(t, 'c NULLS FIRST') FROM tc t WHERE id = 3));

-- a parent's primary key does not cover its inheritance children
CREATE TABLE par (id int PRIMARY KEY, v int);
CREATE TABLE chi () INHERITS (par);
INSERT INTO par VALUES (1, 10), (2, 20);
INSERT INTO chi VALUES (1, 11), (2, 21);
SELECT * FROM resilience.page(NULL::par, 'id');
SELECT count(*) FROM resilience.page(NULL::par, 'id, v', assume_unique => true);
-- a partitioned table's primary key covers every partition
CREATE TABLE pt (id int PRIMARY KEY, v int) PARTITION BY RANGE (id);
CREATE TABLE pt1 PARTITION OF pt FOR VALUES FROM (0) TO (10);
CREATE TABLE pt2 PARTITION OF pt FOR VALUES FROM (10) TO (20);
INSERT INTO pt SELECT g, g % 3 FROM generate_series(1, 19) g;
SELECT walk('pt', 'v DESC', 'v DESC, id DESC', 4) AS partitioned;

-- NOT NULL is not trusted when a foreign table is among the partitions:
-- the remote side does not enforce it, so NULLs get their own branch
CREATE EXTENSION file_fdw;
CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;
CREATE TABLE pp (id int NOT NULL, k int NOT NULL) PARTITION BY RANGE (id);
CREATE TABLE pp1 PARTITION OF pp FOR VALUES FROM (0) TO (10);
SELECT resilience.page_sql('pp', 'k, id', assume_unique => true,
    after => resilience.cursor_of(ROW(1, 1)::pp, 'k, id', true));
CREATE FOREIGN TABLE pp2 PARTITION OF pp FOR VALUES FROM (10) TO (20)
    SERVER files OPTIONS (filename '/dev/null', format 'csv');
SELECT resilience.page_sql('pp', 'k, id', assume_unique => true,
    after => resilience.cursor_of(ROW(1, 1)::pp, 'k, id', true));
DROP TABLE pp;
DROP EXTENSION file_fdw CASCADE;

-- cursors do not depend on client_encoding: text travels in the server's
CREATE TABLE enc (id int PRIMARY KEY, name text COLLATE "C" NOT NULL);
INSERT INTO enc VALUES (1, 'caf' || chr(233)), (2, 'caf' || chr(233) || 'a'), (3, chr(26085) || chr(26412));
SELECT resilience.cursor_of(e, 'name') AS c1 FROM enc e WHERE id = 1 \gset
SELECT resilience.cursor_of(e, 'name') AS c3 FROM enc e WHERE id = 3 \gset
SET client_encoding = 'LATIN1';
SELECT resilience.cursor_of(e, 'name') = :'c1' AS same_cursor FROM enc e WHERE id = 1;
SELECT id FROM resilience.page(NULL::enc, 'name', after => :'c1');
-- a value the client encoding cannot represent still makes a cursor
SELECT resilience.cursor_of(e, 'name') = :'c3' AS same_cursor FROM enc e WHERE id = 3;
SELECT id FROM resilience.page(NULL::enc, 'name', before => :'c3');
RESET client_encoding;
SELECT id FROM resilience.page(NULL::enc, 'name', after => :'c1');

-- renaming an index changes which of two equally narrow unique indexes
-- breaks ties; cached specs follow the rename
CREATE TABLE ix (a int NOT NULL, b int NOT NULL, x int);
CREATE UNIQUE INDEX u_a ON ix (a);
CREATE UNIQUE INDEX u_b ON ix (b);
SELECT resilience.page_sql('ix', 'x');
ALTER INDEX u_a RENAME TO z_a;
SELECT resilience.page_sql('ix', 'x');

-- a cursor has one spelling: base64url with the unused bits zero
CREATE TABLE sp (id int PRIMARY KEY);
INSERT INTO sp SELECT generate_series(1, 3);
SELECT resilience.cursor_of(s, 'id') AS c FROM sp s WHERE id = 1 \gset
SELECT length(:'c') % 4 AS tail_chars;
SELECT count(*) FROM resilience.page(NULL::sp, 'id', after => :'c');
\set VERBOSITY default
SELECT count(*) FROM resilience.page(NULL::sp, 'id',
    after => left(:'c', -1) || translate(right(:'c', 1), 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
                                                         'BCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_A'));
\set VERBOSITY default

-- a filter's parameter types are inferred under the caller's "$user"
CREATE ROLE regress_ke_alice;
CREATE SCHEMA regress_ke_alice AUTHORIZATION regress_ke_alice;
CREATE FUNCTION public.f(int) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'public' $$;
CREATE FUNCTION regress_ke_alice.f(text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'alice' $$;
GRANT SELECT ON sp TO regress_ke_alice;
GRANT USAGE ON SCHEMA regress_ke_alice TO regress_ke_alice;
SET search_path = "$user", public;
SELECT count(*) AS as_owner FROM resilience.page(NULL::public.sp, 'id', filter => 'f($1) = ''public''', params => '{1}');
SET ROLE regress_ke_alice;
SELECT count(*) AS as_alice FROM resilience.page(NULL::public.sp, 'id', filter => 'f($1) = ''alice''', params => '{1}');
RESET ROLE;
RESET search_path;

-- SELECT on every column is as good as SELECT on the table
CREATE ROLE regress_ke_cols;
GRANT SELECT (id) ON sp TO regress_ke_cols;
CREATE TABLE two (id int PRIMARY KEY, secret text);
INSERT INTO two VALUES (1, 's');
GRANT SELECT (id) ON two TO regress_ke_cols;
SET ROLE regress_ke_cols;
SELECT id FROM resilience.page(NULL::sp, 'id', page_size => 2);
\set VERBOSITY sqlstate
SELECT id FROM resilience.page(NULL::two, 'id');
\set VERBOSITY default
RESET ROLE;

DROP TABLE two;
DROP FUNCTION public.f(int);
DROP SCHEMA regress_ke_alice CASCADE;
REVOKE ALL ON sp FROM regress_ke_alice, regress_ke_cols;
DROP ROLE regress_ke_alice;
DROP ROLE regress_ke_cols;

-- a key column whose type is a domain over a type whose btree operators
-- live in a schema another role may create in (citext here): an operator
-- planted there for exactly the domain must not be what page() calls.
-- Both sides are cast to the family's input type, whose operator is the
-- one exact match.
CREATE SCHEMA regress_ke_ext;
CREATE EXTENSION citext SCHEMA regress_ke_ext;
CREATE DOMAIN regress_ke_ext.cdom AS regress_ke_ext.citext;
CREATE TABLE tagged (name regress_ke_ext.cdom PRIMARY KEY, v int);
INSERT INTO tagged VALUES ('a', 1), ('B', 2), ('c', 3), ('D', 4);
CREATE ROLE regress_ke_planter;
GRANT USAGE, CREATE ON SCHEMA regress_ke_ext TO regress_ke_planter;
SET ROLE regress_ke_planter;
CREATE FUNCTION regress_ke_ext.planted_gt(regress_ke_ext.cdom, regress_ke_ext.cdom)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'planted > runs as %', current_user;
    RETURN true;
END
$$;
CREATE OPERATOR regress_ke_ext.> (LEFTARG = regress_ke_ext.cdom,
    RIGHTARG = regress_ke_ext.cdom, FUNCTION = regress_ke_ext.planted_gt);
RESET ROLE;
SELECT resilience.cursor_of(t, 'name') AS tc FROM tagged t WHERE v = 2 \gset
SELECT name, v FROM resilience.page(NULL::tagged, 'name', after => :'tc');
SELECT resilience.page_sql('tagged', 'name', after => :'tc');
DROP TABLE tagged;
DROP SCHEMA regress_ke_ext CASCADE;
DROP ROLE regress_ke_planter;
