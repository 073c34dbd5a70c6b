-- resilience keyset pagination: page(), page_json(), page_sql(), cursor_of()
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET extra_float_digits = 0;

CREATE TABLE orders (
    id bigint PRIMARY KEY,
    created_at timestamptz NOT NULL,
    customer text,
    amount numeric NOT NULL,
    status text NOT NULL
);
INSERT INTO orders
SELECT g,
       '2024-01-01 00:00:00+00'::timestamptz + (g / 3) * interval '1.000001 s',
       CASE WHEN g % 4 = 0 THEN NULL ELSE 'cust' || (g % 5) END,
       (g * 7 % 11) + 0.25,
       CASE WHEN g % 3 = 0 THEN 'open' ELSE 'paid' END
FROM generate_series(1, 20) g;

-- first page; the primary key is appended (here: id DESC, the direction of
-- the last column) so ties on created_at are broken
SELECT id, created_at FROM resilience.page(NULL::orders, 'created_at DESC', page_size => 4);

-- the next page continues from the cursor of the last row
SELECT id, created_at
FROM resilience.page(NULL::orders, 'created_at DESC',
                     after => (SELECT resilience.cursor_of(o, 'created_at DESC') FROM orders o WHERE id = 17),
                     page_size => 4);

-- ... and before fetches the page preceding a row, in the normal order
SELECT id, created_at
FROM resilience.page(NULL::orders, 'created_at DESC',
                     before => (SELECT resilience.cursor_of(o, 'created_at DESC') FROM orders o WHERE id = 13),
                     page_size => 4);

-- page_json: rows and cursors in one call
SELECT j->'rows' AS rows, j->'has_next' AS has_next, j->'has_prev' AS has_prev,
       j->>'next' IS NOT NULL AS has_next_cursor, j->>'prev' IS NOT NULL AS has_prev_cursor
FROM resilience.page_json('orders', 'id', page_size => 2) j;

-- walk forward through all pages with page_json
CREATE FUNCTION walk_json(spec text, psize int, flt text DEFAULT NULL, prm text[] DEFAULT NULL)
RETURNS TABLE (page int, ids text, has_next boolean, has_prev boolean)
LANGUAGE plpgsql AS $$
DECLARE
    j jsonb;
    cur text;
BEGIN
    page := 0;
    LOOP
        j := resilience.page_json('orders', spec, after => cur, page_size => psize,
                                  filter => flt, params => prm);
        page := page + 1;
        SELECT string_agg(e->>'id', ',' ORDER BY o) INTO ids
        FROM jsonb_array_elements(j->'rows') WITH ORDINALITY x(e, o);
        has_next := (j->>'has_next')::boolean;
        has_prev := (j->>'has_prev')::boolean;
        RETURN NEXT;
        EXIT WHEN NOT has_next;
        cur := j->>'next';
    END LOOP;
END $$;
SELECT * FROM walk_json('amount DESC', 6);

-- nullable column: NULLs last by default for ASC, first with NULLS FIRST
SELECT * FROM walk_json('customer', 7);
SELECT * FROM walk_json('customer DESC NULLS LAST, amount', 7);

-- a quoted identifier, with quotes and spaces
ALTER TABLE orders ADD COLUMN "Weird ""Name""" integer;
UPDATE orders SET "Weird ""Name""" = id % 3;
SELECT * FROM walk_json('"Weird ""Name""" DESC', 8);
-- unquoted names are case-folded, as in SQL
SELECT * FROM walk_json('  STATUS   desc  NULLS   first ,ID', 10);

-- filter and params: text values typed by context, NULL elements are SQL NULL
SELECT * FROM walk_json('id', 3, 'status = $1 AND amount > $2', ARRAY['open', '3']);
SELECT * FROM walk_json('id', 3, 'customer IS NOT DISTINCT FROM $1', ARRAY[NULL]);
SELECT id FROM resilience.page(NULL::orders, 'id', filter => 'id = ANY ($1)', params => '{"{2,4,99}"}');

-- has_next / has_prev at the edges, and on an empty page
SELECT j->'has_next' AS has_next, j->'has_prev' AS has_prev, jsonb_array_length(j->'rows') AS n,
       j->'next' AS next, j->'prev' AS prev
FROM resilience.page_json('orders', 'id',
                          after => (SELECT resilience.cursor_of(o, 'id') FROM orders o WHERE id = 20)) j;
SELECT j->'has_next' AS has_next, j->'has_prev' AS has_prev, jsonb_array_length(j->'rows') AS n
FROM resilience.page_json('orders', 'id',
                          before => (SELECT resilience.cursor_of(o, 'id') FROM orders o WHERE id = 1)) j;
SELECT j->'has_next' AS has_next, j->'has_prev' AS has_prev, j->'rows' AS rows
FROM resilience.page_json('orders', 'id', page_size => 2,
                          before => (SELECT resilience.cursor_of(o, 'id') FROM orders o WHERE id = 3)) j;
SELECT j->'has_next' AS has_next, j->'has_prev' AS has_prev, j->'rows' AS rows
FROM resilience.page_json('orders', 'id', page_size => 2,
                          after => (SELECT resilience.cursor_of(o, 'id') FROM orders o WHERE id = 17)) j;

-- a cursor holds values: paging continues after its row is deleted and rows
-- are inserted around it
SELECT resilience.cursor_of(o, 'created_at DESC') AS c FROM orders o WHERE id = 10 \gset
DELETE FROM orders WHERE id = 10;
INSERT INTO orders VALUES (100, '2024-01-01 00:00:03.000003+00', 'new', 1, 'open'),
                          (101, '2024-01-01 00:00:02.000002+00', 'new', 1, 'open');
SELECT id, created_at FROM resilience.page(NULL::orders, 'created_at DESC', after => :'c', page_size => 5);
DELETE FROM orders WHERE id >= 100;

-- page_sql: the exact query, values as typed literals
SELECT resilience.page_sql('orders', 'created_at DESC', page_size => 3,
                           after => (SELECT resilience.cursor_of(o, 'created_at DESC') FROM orders o WHERE id = 5));
SELECT resilience.page_sql('orders', 'customer', page_size => 3,
                           after => (SELECT resilience.cursor_of(o, 'customer') FROM orders o WHERE id = 4),
                           filter => 'status = $1 AND customer <> $2', params => ARRAY['open', 'it''s']);
-- the literal query returns what page() returns (for before, it reads
-- backwards and page() reverses the rows)
SELECT resilience.page_sql('orders', 'customer DESC', page_size => 5,
                           before => (SELECT resilience.cursor_of(o, 'customer DESC') FROM orders o WHERE id = 7)) AS q \gset
SELECT array_agg(s.id) AS via_page_sql FROM (:q) s;
SELECT array_agg(id) AS via_page
FROM resilience.page(NULL::orders, 'customer DESC', page_size => 5,
                     before => (SELECT resilience.cursor_of(o, 'customer DESC') FROM orders o WHERE id = 7));

-- the generated SQL is schema-qualified: operators planted earlier in the
-- search_path change nothing (only the filter sees the caller's path)
CREATE SCHEMA evil;
CREATE FUNCTION evil.yes(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.yes);
CREATE OPERATOR evil.< (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.yes);
SELECT array_agg(id) AS before_planting
FROM resilience.page(NULL::orders, 'status, id', page_size => 5,
                     after => (SELECT resilience.cursor_of(o, 'status, id') FROM orders o WHERE id = 15));
SET search_path = evil, pg_catalog, public;
SELECT array_agg(id) AS with_evil_first
FROM resilience.page(NULL::orders, 'status, id', page_size => 5,
                     after => (SELECT resilience.cursor_of(o, 'status, id') FROM orders o WHERE id = 15));
RESET search_path;
DROP SCHEMA evil CASCADE;

-- cursor values are lossless: every type round-trips through a cursor
CREATE TABLE vals (
    id integer PRIMARY KEY,
    ts timestamptz,
    n numeric,
    f float8,
    u uuid,
    b bytea,
    t text,
    d date,
    a int[]
);
INSERT INTO vals VALUES
 (1, '2024-01-01 00:00:00.000001+00', 1.000000000000000000001, 'NaN', '00000000-0000-0000-0000-000000000001', '\x00', E'new\nline', 'infinity', '{1,2}'),
 (2, '2024-01-01 00:00:00.000002+00', 1.000000000000000000002, 'Infinity', '00000000-0000-0000-0000-000000000002', '\x0001', E'tab\tand ''quote''', '-infinity', '{1,3}'),
 (3, 'infinity', 'NaN', '-Infinity', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '\xff', 'ünïcödé 🐘', '2024-02-29', '{}'),
 (4, '-infinity', '-1e-30', -0.0, NULL, '', '', NULL, '{NULL}'),
 (5, NULL, NULL, NULL, '00000000-0000-0000-0000-000000000000', NULL, NULL, '2000-01-01', NULL),
 (6, '2024-01-01 00:00:00.000001+00', 1.000000000000000000001, 1e-300, '00000000-0000-0000-0000-000000000001', '\x00', E'new\nline', 'infinity', '{1,2}');
CREATE FUNCTION walk_vals(spec text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    expected int[];
    got int[] := '{}';
    r vals;
    cur text;
    n int;
BEGIN
    EXECUTE format('SELECT array_agg(id ORDER BY %s, id) FROM vals', spec) INTO expected;
    LOOP
        n := 0;
        FOR r IN SELECT * FROM resilience.page(NULL::vals, spec, after => cur, page_size => 1) LOOP
            got := got || r.id;
            n := n + 1;
        END LOOP;
        EXIT WHEN n = 0;
        cur := resilience.cursor_of(r, spec);
    END LOOP;
    RETURN got = expected;
END $$;
SELECT c, walk_vals(c) AS asc_exact, walk_vals(c || ' DESC, id') AS desc_exact
FROM unnest(ARRAY['ts', 'n', 'f', 'u', 'b', 't', 'd', 'a']) c;

-- a simple view showing its table's primary key is total, as the table is
-- (sql/keyset_view.sql has the rules); assume_unique is accepted as well
CREATE VIEW paid AS SELECT id, amount FROM orders WHERE status = 'paid';
SELECT id FROM resilience.page(NULL::paid, 'amount', page_size => 3);
SELECT id FROM resilience.page(NULL::paid, 'id', page_size => 3, assume_unique => true);
SELECT id FROM resilience.page(NULL::paid, 'id', page_size => 3, assume_unique => true,
                               after => (SELECT resilience.cursor_of(p, 'id', true) FROM paid p WHERE id = 5));
-- on a view, the UNION ALL branches are merged by an outer ORDER BY (a view
-- may hide foreign tables, whose Append need not keep branch order)
SELECT resilience.page_sql('paid', 'amount DESC, id', page_size => 2, assume_unique => true,
                           after => (SELECT resilience.cursor_of(p, 'amount DESC, id', true) FROM paid p WHERE id = 5));
CREATE FUNCTION walk_paid(spec text, psize int) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    expected int[];
    got int[] := '{}';
    r paid;
    cur text;
    n int;
BEGIN
    EXECUTE format('SELECT array_agg(id ORDER BY %s) FROM paid', spec) INTO expected;
    LOOP
        n := 0;
        FOR r IN SELECT * FROM resilience.page(NULL::paid, spec, after => cur, page_size => psize,
                                               assume_unique => true) LOOP
            got := got || r.id::int;
            n := n + 1;
        END LOOP;
        EXIT WHEN n = 0;
        cur := resilience.cursor_of(r, spec, true);
    END LOOP;
    RETURN got = expected;
END $$;
SELECT walk_paid('amount DESC, id', 1) AS desc_1, walk_paid('amount, id DESC', 3) AS asc_3,
       walk_paid('id DESC', 4) AS id_4;
-- a unique index on NOT NULL columns makes the order total when the spec contains it
CREATE TABLE tags (name text NOT NULL, rank int);
SELECT * FROM resilience.page(NULL::tags, 'name');
CREATE UNIQUE INDEX tags_name ON tags (name);
INSERT INTO tags VALUES ('b', 1), ('a', 1), ('c', NULL);
SELECT * FROM resilience.page(NULL::tags, 'name');
-- ... and is appended when it does not
SELECT * FROM resilience.page(NULL::tags, 'rank DESC');
-- a unique index on a nullable column does not count
CREATE TABLE loose (k int UNIQUE, v int);
SELECT * FROM resilience.page(NULL::loose, 'k');
-- a unique index counts only if it compares as the sort does
CREATE COLLATION ks_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE names (n text COLLATE ks_ci NOT NULL, p text NOT NULL);
CREATE UNIQUE INDEX names_n_c ON names (n COLLATE "C");
INSERT INTO names VALUES ('a', 'x'), ('A', 'y'), ('b', 'z');
-- 'a' and 'A' tie in the sort: an index that tells them apart proves nothing
\set VERBOSITY sqlstate
SELECT * FROM resilience.page(NULL::names, 'n');
\set VERBOSITY default
CREATE UNIQUE INDEX names_p_pattern ON names (p text_pattern_ops);
SELECT resilience.page_sql('names', 'n');
SELECT resilience.page_sql('names', 'p');
DROP TABLE names;
DROP COLLATION ks_ci;
-- record_image_ops compares bytes, not values
CREATE TYPE ks_pair AS (a numeric, b int);
CREATE TABLE pairs (v ks_pair NOT NULL);
CREATE UNIQUE INDEX pairs_v ON pairs (v record_image_ops);
INSERT INTO pairs VALUES (ROW(1.0, 1)), (ROW(1.00, 1));
\set VERBOSITY sqlstate
SELECT * FROM resilience.page(NULL::pairs, 'v');
\set VERBOSITY default
DROP TABLE pairs;
DROP TYPE ks_pair;

-- bad input: full messages first
SELECT resilience.page_sql('orders', 'nope');
SELECT resilience.page_sql('orders', 'id, ID');
SELECT resilience.page_sql('orders', '   ');
SELECT resilience.page_sql('orders', 'id ASC DESC');
SELECT resilience.page_sql('orders', 'id, ');
SELECT resilience.page_sql('orders', 'id NULLS');
SELECT resilience.page_sql('orders', '"id');
SELECT resilience.page_sql('orders', 'lower(status)');
SELECT resilience.page_sql('orders', 'id; DROP TABLE orders');
SELECT resilience.page_sql('orders', 'id', page_size => 0);
SELECT * FROM resilience.page(NULL::orders, 'id', after => 'x', before => 'y');
SELECT * FROM resilience.page(NULL::integer, 'id');
SELECT resilience.page_json('orders', 'id', filter => 'true; DELETE FROM orders');
SELECT resilience.page_json('orders', 'id', filter => 'true) OR (true');
SELECT resilience.page_json('orders', 'id', filter => 'true FROM pg_class');
SELECT resilience.page_json('orders', 'id', filter => 'id > $1');
SELECT resilience.page_json('orders', 'id', filter => '$1 IS NULL', params => ARRAY['x']);
SELECT resilience.page_json('orders', 'id', params => ARRAY['x']);

-- then SQLSTATEs
\set VERBOSITY sqlstate
SELECT resilience.page_sql('orders', NULL);
SELECT resilience.page_sql('orders', 'id', page_size => NULL);
SELECT resilience.page_sql('orders', 'id', page_size => -1);
SELECT resilience.page_sql('orders', 'id', page_size => 10001);
SELECT resilience.page_sql('orders', 'id NULLS MIDDLE');
SELECT resilience.page_sql('orders', 'id,,created_at');
SELECT resilience.page_sql('orders', 'id DESC ASC');
SELECT resilience.page_sql('orders', '""');
SELECT resilience.page_sql('orders', 'ctid');
SELECT resilience.page_sql(NULL, 'id');
SELECT resilience.page_sql('orders', 'id', filter => 'id > 1 ORDER BY 1');
SELECT resilience.page_sql('orders', 'id', filter => '1 AS x');
SELECT resilience.page_sql('orders', 'id', filter => 'id > $1', params => ARRAY['1', '2']);
SELECT resilience.page_sql('orders', 'id', filter => 'id > $1', params => ARRAY[['1'], ['2']]);
SELECT resilience.page_sql('orders', 'id', filter => 'no_such_column > 1');
SELECT resilience.page_json('orders', 'id', filter => 'amount');
CREATE TABLE nosort (id int PRIMARY KEY, j json, p point);
SELECT resilience.page_sql('nosort', 'j');
SELECT resilience.page_sql('nosort', 'p');
SELECT resilience.cursor_of(ROW(1, 2), 'id');
\set VERBOSITY default

-- a comment in the filter cannot swallow the rest of the query
SELECT resilience.page_sql('orders', 'id', filter => 'true --');

-- resilience.max_page_size bounds page_size; only superusers set it
SET resilience.max_page_size = 5;
SELECT resilience.page_sql('orders', 'id', page_size => 6);
SELECT count(*) FROM resilience.page(NULL::orders, 'id', page_size => 5);
RESET resilience.max_page_size;

-- cursors: tampering, truncation, wrong relation or sort, size
SELECT resilience.cursor_of(o, 'id') AS c FROM orders o WHERE id = 5 \gset
SELECT count(*) FROM resilience.page(NULL::orders, 'id', after => :'c');
SELECT count(*) FROM resilience.page(NULL::orders, 'id', after => '');
SELECT count(*) FROM resilience.page(NULL::orders, 'id', after => 'not a cursor!');
SELECT count(*) FROM resilience.page(NULL::orders, 'id', after => left(:'c', 10));
SELECT count(*) FROM resilience.page(NULL::orders, 'id', after => left(:'c', -3));
SELECT count(*) FROM resilience.page(NULL::orders, 'id', after => :'c' || 'AAAA');
-- one character changed: in a length, in the value, in the signature (one
-- message for all: nothing is read before the signature matched)
SELECT count(*) FROM resilience.page(NULL::orders, 'id',
    after => overlay(:'c' placing CASE WHEN substr(:'c', 20, 1) = 'A' THEN 'B' ELSE 'A' END from 20 for 1));
SELECT count(*) FROM resilience.page(NULL::orders, 'id',
    after => overlay(:'c' placing CASE WHEN substr(:'c', 34, 1) = 'A' THEN 'B' ELSE 'A' END from 34 for 1));
SELECT count(*) FROM resilience.page(NULL::orders, 'id',
    after => overlay(:'c' placing CASE WHEN substr(:'c', 60, 1) = 'A' THEN 'B' ELSE 'A' END from 60 for 1));
-- another version byte (cursors are version 2)
SELECT count(*) FROM resilience.page(NULL::orders, 'id', after => 'Aw' || substr(:'c', 3));
SELECT count(*) FROM resilience.page(NULL::orders, 'id DESC', after => :'c');
SELECT count(*) FROM resilience.page(NULL::orders, 'id', after => (SELECT resilience.cursor_of(t, 'name') FROM tags t LIMIT 1));
SELECT count(*) FROM resilience.page(NULL::orders, 'id', after => repeat('A', 5000));
-- equivalent specs share cursors: defaults made explicit, the key appended
SELECT count(*) FROM resilience.page(NULL::orders, 'id ASC NULLS LAST', after => :'c');
SELECT resilience.cursor_of(o, 'created_at DESC') = resilience.cursor_of(o, 'created_at DESC NULLS FIRST, id DESC') AS same
FROM orders o WHERE id = 5;

-- keys: no ordinary role can read them; rotation needs the owner
CREATE ROLE regress_ks_reader;
GRANT USAGE ON SCHEMA public TO regress_ks_reader;
GRANT SELECT ON orders TO regress_ks_reader;
SET ROLE regress_ks_reader;
SELECT count(*) FROM resilience.cursor_keys;
SELECT resilience.rotate_cursor_key();
SET resilience.max_page_size = 100000;
-- ... yet the role can page, make and use cursors
SELECT count(*) FROM resilience.page(NULL::orders, 'id', after => :'c');
RESET ROLE;
SELECT has_table_privilege('regress_ks_reader', 'resilience.cursor_keys', 'SELECT') AS reader_can_select,
       has_table_privilege('public', 'resilience.cursor_keys', 'SELECT') AS public_can_select;

-- row-level security applies to page() (SECURITY INVOKER)
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_open ON orders FOR SELECT TO regress_ks_reader USING (status = 'open');
SET ROLE regress_ks_reader;
SELECT id FROM resilience.page(NULL::orders, 'id', page_size => 100);
SELECT jsonb_array_length(j->'rows') AS n, j->'has_next' AS has_next
FROM resilience.page_json('orders', 'id', page_size => 100) j;
RESET ROLE;
ALTER TABLE orders DISABLE ROW LEVEL SECURITY;
-- no SELECT privilege, no rows
SET ROLE regress_ks_reader;
\set VERBOSITY sqlstate
SELECT count(*) FROM resilience.page(NULL::tags, 'name');
\set VERBOSITY default
RESET ROLE;

-- rotation: one keeps old cursors valid, two retire them
SELECT resilience.rotate_cursor_key();
SELECT count(*) FROM resilience.page(NULL::orders, 'id', after => :'c');
SELECT resilience.cursor_of(o, 'id') <> :'c' AS new_key_signs FROM orders o WHERE id = 5;
SELECT resilience.rotate_cursor_key();
SELECT count(*) FROM resilience.page(NULL::orders, 'id', after => :'c');
SELECT count(*) FROM resilience.page(NULL::orders, 'id',
    after => (SELECT resilience.cursor_of(o, 'id') FROM orders o WHERE id = 5));
SELECT count(*) AS keys_kept FROM resilience.cursor_keys;

-- a renamed schema: cached entries follow it (no relation is invalidated)
CREATE SCHEMA ks_old;
CREATE TABLE ks_old.t (id int PRIMARY KEY);
INSERT INTO ks_old.t SELECT generate_series(1, 3);
SELECT id FROM resilience.page(NULL::ks_old.t, 'id', page_size => 2);
ALTER SCHEMA ks_old RENAME TO ks_new;
SELECT resilience.page_sql('ks_new.t', 'id', page_size => 2);
SELECT id FROM resilience.page(NULL::ks_new.t, 'id',
    before => (SELECT resilience.cursor_of(t, 'id') FROM ks_new.t t WHERE id = 3));
DROP SCHEMA ks_new CASCADE;

-- cached specs and plans follow DDL
SELECT count(*) FROM resilience.page(NULL::tags, 'rank');
DROP TABLE tags;
CREATE TABLE tags (name text PRIMARY KEY, rank text);
INSERT INTO tags VALUES ('x', 'r1');
SELECT * FROM resilience.page(NULL::tags, 'rank');
SELECT resilience.cursor_of(t, 'rank') AS tc FROM tags t \gset
ALTER TABLE tags ALTER COLUMN rank TYPE varchar(10);
SELECT * FROM resilience.page(NULL::tags, 'rank', after => :'tc');
SELECT * FROM resilience.page(NULL::tags, 'rank', after => (SELECT resilience.cursor_of(t, 'rank') FROM tags t));
-- a dropped column in the middle: rows still match the row type
INSERT INTO tags VALUES ('y', 'r0'), ('z', 'r2');
ALTER TABLE tags ADD COLUMN gone int, ADD COLUMN extra int DEFAULT 7;
ALTER TABLE tags DROP COLUMN gone;
SELECT * FROM resilience.page(NULL::tags, 'rank', page_size => 2);
SELECT * FROM resilience.page(NULL::tags, 'rank', page_size => 2,
                              before => (SELECT resilience.cursor_of(t, 'rank') FROM tags t WHERE name = 'z'));
SELECT resilience.page_json('tags', 'rank', page_size => 1)->'rows' AS rows;
ALTER TABLE tags DROP CONSTRAINT tags_pkey;
SELECT * FROM resilience.page(NULL::tags, 'rank');

DROP OWNED BY regress_ks_reader;
DROP ROLE regress_ks_reader;
