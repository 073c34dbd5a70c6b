-- page_sql prints every value as an exact literal: the query it shows, run
-- as it stands, returns the rows page() returns, whatever the settings of
-- the session that printed it or of the one that runs it
\set VERBOSITY sqlstate
CREATE TABLE lit (
    id int PRIMARY KEY,
    c char(4), vc varchar(5), b bit(4), vb varbit, n numeric(6,2),
    f4 float4, f8 float8, tz timestamptz, iv interval, t text, by bytea
);
INSERT INTO lit VALUES
 (1, 'a',   'a',   B'0000', B'0',    -1.50, 1,           0.3,                 '2024-01-02 05:00+00', '-1 day -2 hours', 'O''Brien', '\x00'),
 (2, 'ab',  'ab',  B'0101', B'01',    0.00, 1.0000001,   0.30000000000000004, '2024-02-01 05:00+00', '-1 day',          'a\b',      '\x0001'),
 (3, 'abc', 'ab''', B'0110', B'011',  1.25, 1.0000002,   0.30000000000000010, '2024-03-01 05:00+00', '-1 day +2 hours', 'a''''b',   '\x27'),
 (4, 'b',   'b',   B'1000', B'1',     9.99, 2,           1e300,               '2024-01-03 05:00+00', '0',               'z',        '\x5c'),
 (5, NULL,  NULL,  NULL,    NULL,     NULL, NULL,        NULL,                NULL,                  NULL,              NULL,       NULL);

-- settings a session may print a query under, and run it under
CREATE FUNCTION lit_print_settings() RETURNS void LANGUAGE sql AS $$
    SELECT set_config('extra_float_digits', '-3', false),
           set_config('DateStyle', 'SQL, DMY', false),
           set_config('IntervalStyle', 'sql_standard', false),
           set_config('TimeZone', 'America/New_York', false),
           set_config('bytea_output', 'escape', false);
$$;
CREATE FUNCTION lit_run_settings() RETURNS void LANGUAGE sql AS $$
    SELECT set_config('extra_float_digits', '1', false),
           set_config('DateStyle', 'SQL, MDY', false),
           set_config('IntervalStyle', 'postgres', false),
           set_config('TimeZone', 'Asia/Tokyo', false),
           set_config('bytea_output', 'hex', false);
$$;

-- page_sql printed under lit_print_settings(), then run by EXECUTE next to
-- page() under lit_run_settings(): the same rows in the same order, or a
-- NOTICE with both
CREATE FUNCTION lit_same(col text, cursor_id int, filter text DEFAULT NULL,
                         params text[] DEFAULT NULL) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    cur text;
    q text;
    via_page text;
    via_sql text;
BEGIN
    IF cursor_id IS NOT NULL THEN
        EXECUTE format('SELECT resilience.cursor_of(l, %L) FROM lit l WHERE id = $1', col)
            INTO cur USING cursor_id;
    END IF;
    PERFORM lit_print_settings();
    q := resilience.page_sql('lit', col, after => cur, filter => filter, params => params,
                             page_size => 100);
    PERFORM lit_run_settings();
    SELECT string_agg(p.id::text, ',') INTO via_page
        FROM resilience.page(NULL::lit, col, after => cur, filter => filter, params => params,
                             page_size => 100) p;
    EXECUTE format('SELECT string_agg(s.id::text, '','') FROM (%s) s', q) INTO via_sql;
    IF via_page IS DISTINCT FROM via_sql THEN
        RAISE NOTICE '% after row %: page() %, page_sql %', col, cursor_id, via_page, via_sql;
        RAISE NOTICE '%', q;
    END IF;
    RETURN via_page IS NOT DISTINCT FROM via_sql;
END
$$;

SELECT col, cursor_id, lit_same(col, cursor_id) AS same
FROM unnest(ARRAY['c', 'vc', 'b', 'vb', 'n', 'f4', 'f8', 'tz', 'iv', 't', 'by']) AS col,
     unnest(ARRAY[1, 2, 3, 5]) AS cursor_id
ORDER BY col, cursor_id;

-- descending, and NULLs first: other branches, the same literals
SELECT col, lit_same(col || ' DESC NULLS FIRST', 3) AS same
FROM unnest(ARRAY['c', 'b', 'f8', 'tz', 'iv']) AS col ORDER BY col;

-- filter params are literals too, of the type the filter gives them
SELECT lit_same('id', NULL, 'c >= $1', ARRAY['ab']) AS char_param,
       lit_same('id', NULL, 'b >= $1', ARRAY['0101']) AS bit_param,
       lit_same('id', NULL, 'f8 > $1', ARRAY['0.3']) AS float_param,
       lit_same('id', NULL, 'tz < $1', ARRAY['2024-02-01 05:00:00+00']) AS tz_param,
       lit_same('id', NULL, 'iv < $1', ARRAY['-1 day']) AS interval_param;

-- an array holding NULL elements is written as ARRAY[...]::type, which
-- reads back the same under array_nulls = off (where '{NULL}' is the string
-- NULL, or an error for a number); other arrays keep their literals
CREATE TABLE lit_arr (id int PRIMARY KEY, a int[], t text[]);
INSERT INTO lit_arr VALUES
 (1, '{1,NULL}', '{x,NULL}'),
 (2, '{1,2}', '{"NULL",y}'),
 (3, '{{1,NULL},{NULL,4}}', '{{NULL,"a,b"},{"O''Brien",NULL}}'),
 (4, '{NULL}', '{NULL}'),
 (5, '[0:1]={5,6}', '{}'),
 (6, NULL, NULL);
CREATE FUNCTION lit_arr_same(col text, cursor_id int, filter text DEFAULT NULL,
                             params text[] DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    cur text;
    q text;
    via_page text;
    via_sql text;
BEGIN
    IF cursor_id IS NOT NULL THEN
        EXECUTE format('SELECT resilience.cursor_of(l, %L) FROM lit_arr l WHERE id = $1', col)
            INTO cur USING cursor_id;
    END IF;
    q := resilience.page_sql('lit_arr', col, after => cur, filter => filter, params => params,
                             page_size => 100);
    SELECT string_agg(p.id::text, ',') INTO via_page
        FROM resilience.page(NULL::lit_arr, col, after => cur, filter => filter, params => params,
                             page_size => 100) p;
    PERFORM set_config('array_nulls', 'off', true);
    EXECUTE format('SELECT string_agg(s.id::text, '','') FROM (%s) s', q) INTO via_sql;
    PERFORM set_config('array_nulls', 'on', true);
    RETURN CASE WHEN via_page IS NOT DISTINCT FROM via_sql THEN 'same: ' || via_page
                ELSE format('page() %s, page_sql %s', via_page, via_sql) END;
END
$$;
SELECT col, cursor_id, lit_arr_same(col, cursor_id) AS rows
FROM unnest(ARRAY['a', 't']) AS col, unnest(ARRAY[1, 3, 4]) AS cursor_id
ORDER BY col, cursor_id;
SELECT lit_arr_same('id', NULL, 'a = $1', ARRAY['{1,NULL}']) AS int_param,
       lit_arr_same('id', NULL, 't = $1', ARRAY['{NULL}']) AS text_param,
       lit_arr_same('id', NULL, 't = $1', ARRAY['{"NULL",y}']) AS quoted_param;
-- the literals: constructors only where an element is NULL; the lower bound
-- of 0 keeps its literal
SELECT l.id, substring(resilience.page_sql('lit_arr', col, assume_unique => true,
                                           after => resilience.cursor_of(l, col, true))
                       FROM 'WHERE (.*?) ORDER') AS written
FROM lit_arr l, unnest(ARRAY['a', 't']) AS col
WHERE l.id IN (1, 2, 3, 5)
ORDER BY col, l.id;

-- what the literals look like: types as page() binds them (bpchar, not
-- character, which means char(1)), floats to the last digit, dates in ISO
RESET ALL;
SET extra_float_digits = 0;
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
CREATE FUNCTION lit_literals(q text) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT DISTINCT m[1]
    FROM regexp_matches(q, '((?:E?''(?:[^'']|'''')*''|NULL)::(?:[a-z_]+\.)?(?:"bit"|[a-z_]+)(?: precision| varying| with time zone)?(?:\[\])?)', 'g') AS m
    ORDER BY 1
$$;
SELECT lit_literals(resilience.page_sql('lit', 'c, f8, b, tz, iv, t, by', assume_unique => true,
    after => resilience.cursor_of(l, 'c, f8, b, tz, iv, t, by', true))) FROM lit l WHERE id = 2;
SELECT lit_literals(resilience.page_sql('lit', 'id', filter => 'c = $1 OR b = $2 OR f4 = $3',
    params => ARRAY['ab', '0101', '1.0000001']));
RESET ALL;
