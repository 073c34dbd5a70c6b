-- resilience.page(): walking every page forward and backward equals ORDER BY,
-- for every mix of direction and NULLS placement over 1 to 3 columns, with
-- NULLs, heavy ties, quotes and accents, microsecond timestamps.
SELECT setseed(0.31);
CREATE TABLE ko (
    id integer PRIMARY KEY,
    i integer,
    t text,
    ts timestamptz
);
INSERT INTO ko
SELECT g,
       CASE WHEN random() < 0.2 THEN NULL ELSE (random() * 3)::int END,
       CASE WHEN random() < 0.2 THEN NULL
            ELSE (ARRAY['a', 'B', 'é', 'e''q', '"x"', 'Ä', ''])[1 + (random() * 6)::int] END,
       CASE WHEN random() < 0.2 THEN NULL
            ELSE '2024-02-29 23:59:59.999999+00'::timestamptz + (random() * 3)::int * interval '0.000001 s' END
FROM generate_series(1, 50) g;
SELECT count(*) AS rows, count(DISTINCT i) AS i_values, count(DISTINCT t) AS t_values,
       count(DISTINCT ts) AS ts_values, count(*) FILTER (WHERE t IS NULL) AS t_nulls
FROM ko;

-- every spec: column lists of 1, 2 and 3 columns, each column ASC/DESC with
-- the default or the opposite NULLS placement
CREATE TEMP TABLE specs AS
WITH cols(c) AS (VALUES ('i'), ('t'), ('ts')),
     mods(m, last_dir) AS (VALUES ('', 'ASC'), (' NULLS FIRST', 'ASC'),
                                  (' DESC', 'DESC'), (' DESC NULLS LAST', 'DESC')),
     one AS (SELECT 1 AS n, c1.c || m1.m AS spec, m1.last_dir FROM cols c1, mods m1),
     two AS (SELECT 2, c1.c || m1.m || ', ' || c2.c || m2.m, m2.last_dir
             FROM cols c1, mods m1, cols c2, mods m2 WHERE c1.c <> c2.c),
     three AS (SELECT 3, p.a || m1.m || ', ' || p.b || m2.m || ', ' || p.c || m3.m, m3.last_dir
               FROM (VALUES ('i', 't', 'ts'), ('ts', 'i', 't')) p(a, b, c), mods m1, mods m2, mods m3)
SELECT * FROM one UNION ALL SELECT * FROM two UNION ALL SELECT * FROM three;
SELECT n AS columns, count(*) AS specs FROM specs GROUP BY n ORDER BY n;

-- Walk forward with page() and cursor_of(), then backward from the last
-- row with page_json(before => prev) and with page(before => cursor_of());
-- compare each with ORDER BY (the spec plus the primary key in the last
-- column's direction, as documented), and check has_next/has_prev on every
-- page_json page.
CREATE FUNCTION walk(spec text, last_dir text, psize int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    expected int[];
    fwd int[] := '{}';
    bwd int[] := '{}';
    r ko;
    got int;
    cur text;
    j jsonb;
    ids int[];
    first_page boolean := true;
BEGIN
    EXECUTE format('SELECT array_agg(id ORDER BY %s, id %s) FROM ko', spec, last_dir) INTO expected;
    LOOP
        got := 0;
        FOR r IN SELECT * FROM resilience.page(NULL::ko, spec, after => cur, page_size => psize) LOOP
            fwd := fwd || r.id;
            got := got + 1;
        END LOOP;
        EXIT WHEN got = 0;
        cur := resilience.cursor_of(r, spec);
    END LOOP;
    IF fwd IS DISTINCT FROM expected THEN
        RETURN 'forward ' || fwd::text || ' <> ' || expected::text;
    END IF;

    -- from the last row backward
    bwd := ARRAY[expected[array_length(expected, 1)]];
    cur := resilience.cursor_of((SELECT k FROM ko k WHERE k.id = bwd[1]), spec);
    LOOP
        j := resilience.page_json('ko', spec, before => cur, page_size => psize);
        SELECT coalesce(array_agg((e->>'id')::int ORDER BY o), '{}') INTO ids
        FROM jsonb_array_elements(j->'rows') WITH ORDINALITY AS x(e, o);
        EXIT WHEN cardinality(ids) = 0;
        IF NOT (j->>'has_next')::boolean THEN
            RETURN 'backward page before ' || bwd[1] || ' says has_next false';
        END IF;
        bwd := ids || bwd;
        IF (j->>'has_prev')::boolean <> (cardinality(bwd) < cardinality(expected)) THEN
            RETURN 'backward has_prev wrong at ' || bwd::text;
        END IF;
        cur := j->>'prev';
    END LOOP;
    IF bwd IS DISTINCT FROM expected THEN
        RETURN 'backward ' || bwd::text || ' <> ' || expected::text;
    END IF;

    -- backward again with page() and cursor_of() of each page's first row
    bwd := ARRAY[expected[array_length(expected, 1)]];
    cur := resilience.cursor_of((SELECT k FROM ko k WHERE k.id = bwd[1]), spec);
    LOOP
        ids := '{}';
        FOR r IN SELECT * FROM resilience.page(NULL::ko, spec, before => cur, page_size => psize) LOOP
            ids := ids || r.id;
        END LOOP;
        EXIT WHEN cardinality(ids) = 0;
        bwd := ids || bwd;
        cur := resilience.cursor_of((SELECT k FROM ko k WHERE k.id = ids[1]), spec);
    END LOOP;
    IF bwd IS DISTINCT FROM expected THEN
        RETURN 'backward page() ' || bwd::text || ' <> ' || expected::text;
    END IF;
    RETURN 'ok';
END $$;

CREATE TEMP TABLE results AS
SELECT s.n, s.spec, p.psize, walk(s.spec, s.last_dir, p.psize) AS res
FROM specs s, (VALUES (1), (7), (100)) p(psize);

SELECT n AS columns, psize AS page_size, count(*) AS walks,
       count(*) FILTER (WHERE res = 'ok') AS exact
FROM results GROUP BY 1, 2 ORDER BY 1, 2;

-- any failure, in detail (expect none)
SELECT spec, psize, res FROM results WHERE res <> 'ok' ORDER BY 1, 2 LIMIT 5;
