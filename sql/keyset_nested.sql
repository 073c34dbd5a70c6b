-- resilience keyset pagination called from inside itself: a filter, view or
-- row-level security policy may run page() while an outer page() is using a
-- cached spec and plan.  The inner calls fill and evict the caches (256
-- entries each); the outer call's entries must survive until it is done.
SET client_min_messages = warning;

CREATE TABLE nt (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO nt SELECT g, g % 7 FROM generate_series(1, 6000) g;

-- a wide table gives 300 distinct sort specs (c1 .. c300)
DO $$
BEGIN
    EXECUTE (SELECT format('CREATE TABLE wide (%s)',
                           string_agg(format('c%s int', g), ', ' ORDER BY g))
             FROM generate_series(1, 300) g);
END $$;
INSERT INTO wide SELECT FROM generate_series(1, 3);

-- 300 distinct plans (one filter each), with page sizes that all differ
CREATE FUNCTION public.nested_plans() RETURNS SETOF int
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    FOR i IN 1..300 LOOP
        SELECT count(*) INTO n
        FROM resilience.page(NULL::nt, 'id', page_size => 1000 + i,
                             filter => format('id > %s', i));
    END LOOP;
    RETURN QUERY SELECT g FROM generate_series(1, 6000) g;
END $$;

-- 300 distinct specs, then 300 spellings of the outer spec
CREATE FUNCTION public.nested_specs() RETURNS SETOF int
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    FOR i IN 1..300 LOOP
        SELECT count(*) INTO n
        FROM resilience.page(NULL::wide, format('c%s', i), page_size => 2,
                             assume_unique => true);
        SELECT count(*) INTO n
        FROM resilience.page(NULL::nt, 'v' || repeat(' ', i) || ', id DESC', page_size => 3);
    END LOOP;
    RETURN QUERY SELECT g FROM generate_series(1, 6000) g;
END $$;

-- the plan cache full before the outer call (the reported crash)
DO $$
DECLARE
    n bigint;
BEGIN
    FOR i IN 1..255 LOOP
        SELECT count(*) INTO n FROM resilience.page(NULL::nt, 'id', page_size => i,
                                                    filter => format('id <> %s', i));
    END LOOP;
END $$;

-- the outer plan stays valid while the inner calls evict everything else
SELECT count(*) FROM resilience.page(NULL::nt, 'id', page_size => 5001,
                                     filter => 'id IN (SELECT * FROM public.nested_plans())');
SELECT count(*), min(id), max(id)
FROM resilience.page(NULL::nt, 'id DESC', page_size => 4000,
                     filter => 'id IN (SELECT * FROM public.nested_plans())');

-- the outer spec stays valid: page_json's cursors are made with it
SELECT j->'rows'->-1 AS last_row,
       j->>'next' = resilience.cursor_of(n, 'v, id DESC') AS next_is_right,
       j->>'prev' = resilience.cursor_of(f, 'v, id DESC') AS prev_is_right,
       j->'has_next' AS has_next, j->'has_prev' AS has_prev
FROM resilience.page_json('nt', 'v, id DESC', page_size => 5,
                          filter => 'id IN (SELECT * FROM public.nested_specs())') j,
     nt n, nt f
WHERE n.id = (j->'rows'->-1->>'id')::int AND f.id = (j->'rows'->0->>'id')::int;

-- and the cursor continues the walk
SELECT id, v FROM resilience.page(NULL::nt, 'v, id DESC', page_size => 3,
    after => (SELECT resilience.page_json('nt', 'v, id DESC', page_size => 5,
                  filter => 'id IN (SELECT * FROM public.nested_specs())')->>'next'));

-- equivalent spellings share one spec: same cursor, accepted by each other
SELECT resilience.cursor_of(n, 'v , id DESC') = resilience.cursor_of(n, '"v"  ASC,ID desc')
       AS same_cursor
FROM nt n WHERE id = 10;

-- the relation changes (a relcache invalidation) while the outer call runs:
-- the inner call replaces the stale entries, the outer one keeps its own
CREATE FUNCTION public.nested_grant() RETURNS SETOF int
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    GRANT SELECT ON nt TO PUBLIC;
    SELECT count(*) INTO n FROM resilience.page(NULL::nt, 'v, id DESC', page_size => 2);
    REVOKE SELECT ON nt FROM PUBLIC;
    SELECT count(*) INTO n FROM resilience.page(NULL::nt, 'v, id DESC', page_size => 2);
    RETURN QUERY SELECT g FROM generate_series(1, 6000) g;
END $$;
SELECT j->>'next' = resilience.cursor_of(n, 'v, id DESC') AS next_is_right
FROM resilience.page_json('nt', 'v, id DESC', page_size => 4,
                          filter => 'id IN (SELECT * FROM public.nested_grant())') j,
     nt n
WHERE n.id = (j->'rows'->-1->>'id')::int;

-- an inner call that fails, caught or not, releases what it was using
CREATE FUNCTION public.nested_fail(caught bool) RETURNS SETOF int
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    FOR i IN 1..300 LOOP
        BEGIN
            SELECT count(*) INTO n
            FROM resilience.page(NULL::nt, 'id', page_size => 2,
                                 filter => format('id / (%s - id) > 0', i));
        EXCEPTION WHEN division_by_zero THEN
            IF NOT caught THEN
                RAISE;
            END IF;
        END;
    END LOOP;
    RETURN QUERY SELECT g FROM generate_series(1, 6000) g;
END $$;
SELECT count(*) FROM resilience.page(NULL::nt, 'id', page_size => 10,
                                     filter => 'id IN (SELECT * FROM public.nested_fail(true))');
\set VERBOSITY sqlstate
SELECT count(*) FROM resilience.page(NULL::nt, 'id', page_size => 10,
                                     filter => 'id IN (SELECT * FROM public.nested_fail(false))');
\set VERBOSITY default
-- the failed calls' entries are evicted normally afterwards
SELECT count(*) FROM resilience.page(NULL::nt, 'id', page_size => 5001,
                                     filter => 'id IN (SELECT * FROM public.nested_plans())');

-- the page size is not part of the plan: pages of any size are exact
SELECT array_agg(c ORDER BY s) = array_agg(s ORDER BY s) AS sizes_exact
FROM (SELECT s, (SELECT count(*)::int FROM resilience.page(NULL::nt, 'v DESC', page_size => s)) AS c
      FROM generate_series(1, 70) s) t;
SELECT (resilience.page_json('nt', 'id', page_size => s)->'rows'->-1->>'id')::int AS last_id,
       resilience.page_json('nt', 'id', page_size => s)->'has_next' AS has_next
FROM unnest(ARRAY[1, 63, 64, 65, 5999, 6000]) s;
-- page_sql shows the exact page size
SELECT resilience.page_sql('nt', 'id', page_size => 33);

DROP FUNCTION public.nested_plans(), public.nested_specs(), public.nested_grant(),
    public.nested_fail(bool);
DROP TABLE nt, wide;
