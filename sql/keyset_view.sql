-- A simple view that shows its table's primary key (or a unique index on
-- NOT NULL columns) as plain columns is total, as the table is: the key is
-- appended to the sort as for the table.  Any other view still needs
-- assume_unique.
SET search_path = public;
-- the SQLSTATE and message of a statement that fails
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE TABLE kv_acct (id int PRIMARY KEY, name text NOT NULL, amount numeric, region text);
INSERT INTO kv_acct SELECT g, 'n' || (g % 4), g * 1.5, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END
FROM generate_series(1, 12) g;
CREATE TABLE kv_region (code text PRIMARY KEY, label text);
INSERT INTO kv_region VALUES ('eu', 'Europe'), ('us', 'America');

-- accepted: a filter, renamed and reordered columns, security barrier and
-- invoker options
CREATE VIEW v_simple AS SELECT id, name, amount FROM kv_acct WHERE amount > 3;
CREATE VIEW v_renamed AS SELECT name, id AS acct_id, upper(region) AS r FROM kv_acct;
CREATE VIEW v_barrier WITH (security_barrier) AS SELECT * FROM kv_acct WHERE region = 'eu';
CREATE VIEW v_invoker WITH (security_invoker) AS SELECT id, name FROM kv_acct;
SELECT resilience.page_sql('v_simple', 'name', page_size => 3);
SELECT resilience.page_sql('v_renamed', 'name DESC', page_size => 3);
SELECT id, name FROM resilience.page(NULL::v_barrier, 'name', page_size => 4);
SELECT id, name FROM resilience.page(NULL::v_invoker, 'name DESC', page_size => 4);
-- the key already in the sort: nothing appended
SELECT resilience.page_sql('v_renamed', 'acct_id', page_size => 3);

-- every row once, both ways, through pages of 5
CREATE FUNCTION walk_view(psize int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    fwd int[] := '{}';
    back int[] := '{}';
    expected int[];
    page jsonb;
    cur text;
BEGIN
    SELECT array_agg(id ORDER BY name, id) INTO expected FROM v_simple;
    LOOP
        page := resilience.page_json('v_simple', 'name', after => cur, page_size => psize);
        fwd := fwd || ARRAY(SELECT (r->>'id')::int FROM jsonb_array_elements(page->'rows') r);
        EXIT WHEN NOT (page->>'has_next')::boolean;
        cur := page->>'next';
    END LOOP;
    cur := page->>'prev';
    back := ARRAY(SELECT (r->>'id')::int FROM jsonb_array_elements(page->'rows') r);
    WHILE (page->>'has_prev')::boolean LOOP
        page := resilience.page_json('v_simple', 'name', before => cur, page_size => psize);
        back := ARRAY(SELECT (r->>'id')::int FROM jsonb_array_elements(page->'rows') r) || back;
        cur := page->>'prev';
    END LOOP;
    RETURN format('forward %s, backward %s', fwd = expected, back = expected);
END $$;
SELECT walk_view(5);

-- a unique index on NOT NULL columns serves as well as a primary key
CREATE TABLE kv_coded (code text NOT NULL, n int);
CREATE UNIQUE INDEX kv_coded_code ON kv_coded (code);
INSERT INTO kv_coded VALUES ('b', 1), ('a', 1), ('c', 2);
CREATE VIEW v_coded AS SELECT n, code FROM kv_coded;
SELECT code, n FROM resilience.page(NULL::v_coded, 'n');

-- refused: the key through an expression, a join, DISTINCT, GROUP BY,
-- aggregates, a set operation, LIMIT, a set-returning function, a view of a
-- view, a view of an inheritance parent, a view not showing the key
CREATE VIEW v_expr AS SELECT id::text AS id, name FROM kv_acct;
CREATE VIEW v_join AS SELECT a.id, a.name, r.label FROM kv_acct a JOIN kv_region r ON r.code = a.region;
CREATE VIEW v_distinct AS SELECT DISTINCT id, name FROM kv_acct;
CREATE VIEW v_group AS SELECT id, name FROM kv_acct GROUP BY id, name;
CREATE VIEW v_agg AS SELECT max(id) AS id, 'x'::text AS name FROM kv_acct;
CREATE VIEW v_union AS SELECT id, name FROM kv_acct UNION ALL SELECT id, name FROM kv_acct;
CREATE VIEW v_limit AS SELECT id, name FROM kv_acct LIMIT 5;
CREATE VIEW v_srf AS SELECT id, name, generate_series(1, 2) AS k FROM kv_acct;
CREATE VIEW v_view AS SELECT id, name FROM v_simple;
CREATE VIEW v_nokey AS SELECT name, amount FROM kv_acct;
CREATE TABLE kv_parent (id int PRIMARY KEY, name text);
CREATE TABLE kv_child () INHERITS (kv_parent);
CREATE VIEW v_parent AS SELECT id, name FROM kv_parent;
CREATE VIEW v_only AS SELECT id, name FROM ONLY kv_parent;
SELECT v AS view, pg_temp.err(format('SELECT resilience.page_sql(%L, %L)', v, 'name')) AS result
FROM unnest(ARRAY['v_expr', 'v_join', 'v_distinct', 'v_group', 'v_agg', 'v_union', 'v_limit',
                  'v_srf', 'v_view', 'v_nokey', 'v_parent']) v;
-- the full message once
SELECT resilience.page_sql('v_join', 'name');
-- ONLY the parent's own rows: its primary key holds
SELECT resilience.page_sql('v_only', 'name');
-- assume_unique still works where the view cannot tell
SELECT id, name FROM resilience.page(NULL::v_expr, 'id', assume_unique => true, page_size => 3);
SELECT id, name FROM resilience.page(NULL::v_join, 'id', assume_unique => true, page_size => 3);

-- the table's key changes: the view's cached spec follows
SELECT id FROM resilience.page(NULL::v_invoker, 'name', page_size => 1);
ALTER TABLE kv_acct DROP CONSTRAINT kv_acct_pkey;
SELECT pg_temp.err($$SELECT resilience.page_sql('v_invoker', 'name')$$);
ALTER TABLE kv_acct ALTER id DROP NOT NULL;
CREATE UNIQUE INDEX kv_acct_id ON kv_acct (id);
-- unique, but id is nullable now
SELECT pg_temp.err($$SELECT resilience.page_sql('v_invoker', 'name')$$);
ALTER TABLE kv_acct ALTER id SET NOT NULL;
SELECT id FROM resilience.page(NULL::v_invoker, 'name', page_size => 1);
-- the view redefined to show the key through an expression
CREATE OR REPLACE VIEW v_invoker WITH (security_invoker) AS SELECT id + 0 AS id, name FROM kv_acct;
SELECT pg_temp.err($$SELECT resilience.page_sql('v_invoker', 'name')$$);

-- nothing the caller sets changes the decision: the view's table is the one
-- it was defined on, whatever a look-alike earlier on the search_path
CREATE SCHEMA plant;
CREATE TABLE plant.acct (id int, name text, amount numeric);
SET search_path = plant, public;
SELECT resilience.page_sql('public.v_simple', 'name', page_size => 1);
RESET search_path;
-- row-level security on the table leaves rows out, never adds any
CREATE ROLE regress_kv_reader;
GRANT SELECT ON kv_acct, v_invoker, v_simple TO regress_kv_reader;
ALTER TABLE kv_acct ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_us ON kv_acct FOR SELECT TO regress_kv_reader USING (region = 'us');
CREATE OR REPLACE VIEW v_invoker WITH (security_invoker) AS SELECT id, name FROM kv_acct;
SET ROLE regress_kv_reader;
SELECT id, name FROM resilience.page(NULL::v_invoker, 'name', page_size => 4);
RESET ROLE;

DROP SCHEMA plant CASCADE;
DROP OWNED BY regress_kv_reader;
DROP ROLE regress_kv_reader;
DROP VIEW v_simple, v_renamed, v_barrier, v_invoker, v_coded, v_expr, v_join, v_distinct, v_group,
          v_agg, v_union, v_limit, v_srf, v_view, v_nokey, v_parent, v_only;
DROP TABLE kv_acct, kv_region, kv_coded, kv_child, kv_parent;
DROP FUNCTION walk_view(int);
