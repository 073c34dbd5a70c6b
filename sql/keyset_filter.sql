-- filters: the check that a filter is one boolean expression, the limit on
-- its parameters, and how its literals are read
\set VERBOSITY sqlstate
CREATE TABLE ft (id int PRIMARY KEY, ts timestamptz NOT NULL, d date NOT NULL,
                 iv interval NOT NULL, s text NOT NULL);
INSERT INTO ft
SELECT g, '2024-01-01 00:00+00'::timestamptz + g * interval '30 min',
       date '2024-01-01' + g, g * interval '1 hour', 's' || g
FROM generate_series(1, 6) g;

-- what "SELECT <filter>" takes but "WHERE (<filter>)" does not is refused
-- at the check (22023), never by a syntax error inside the page query
SELECT id FROM resilience.page(NULL::ft, 'id', filter => 'ALL true');
SELECT id FROM resilience.page(NULL::ft, 'id', filter => 'ALL id > 1');
SELECT id FROM resilience.page(NULL::ft, 'id', filter => 'true;');
SELECT id FROM resilience.page(NULL::ft, 'id', filter => 'true; ');
SELECT resilience.page_sql('ft', 'id', filter => 'ALL true');
SELECT resilience.page_json('ft', 'id', filter => 'ALL true');
-- and what parses in WHERE but not as one expression, as before
SELECT id FROM resilience.page(NULL::ft, 'id', filter => 'true) OR (true');
SELECT id FROM resilience.page(NULL::ft, 'id', filter => 'DISTINCT true');
-- a filter that is one expression still works, a comment included
SELECT id FROM resilience.page(NULL::ft, 'id', filter => 'id > 4 -- the tail');
\set VERBOSITY default
SELECT id FROM resilience.page(NULL::ft, 'id', filter => 'ALL true');
\set VERBOSITY sqlstate

-- a filter's literals are read as the same WHERE clause reads them now:
-- under the TimeZone, DateStyle, IntervalStyle and string syntax in effect,
-- and 'now' at the start of the current transaction, however often the
-- backend has run that filter before
CREATE FUNCTION ft_ids(filter text) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '-')
    FROM resilience.page(NULL::ft, 'id', filter => filter)
$$;
CREATE FUNCTION ft_where(filter text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
    EXECUTE format('SELECT coalesce(string_agg(id::text, %L ORDER BY id), %L) FROM ft WHERE %s',
                   ',', '-', filter) INTO r;
    RETURN r;
END
$$;
CREATE FUNCTION ft_both(filter text, OUT via_page text, OUT via_where text)
LANGUAGE sql AS $$ SELECT ft_ids(filter), ft_where(filter) $$;
SET TimeZone = 'UTC';
SELECT * FROM ft_both($$ts >= '2024-01-01 02:00'$$);
SET TimeZone = 'Europe/Berlin';
SELECT * FROM ft_both($$ts >= '2024-01-01 02:00'$$);
SET TimeZone = 'UTC';
SELECT * FROM ft_both($$ts >= '2024-01-01 02:00'$$);
SET DateStyle = 'ISO, MDY';
SELECT * FROM ft_both($$d <= '01/03/2024'$$);
SET DateStyle = 'ISO, DMY';
SELECT * FROM ft_both($$d <= '01/03/2024'$$);
SET IntervalStyle = 'postgres';
SELECT * FROM ft_both($$iv > '1 day'::interval + '-1 2:00:00'$$);
SET IntervalStyle = 'sql_standard';
SELECT * FROM ft_both($$iv > '1 day'::interval + '-1 2:00:00'$$);
SET escape_string_warning = off;
SET standard_conforming_strings = on;
SELECT * FROM ft_both($$length('\\') = 1$$);
SET standard_conforming_strings = off;
SELECT * FROM ft_both($$length('\\') = 1$$);
RESET standard_conforming_strings;
SET timezone_abbreviations = 'Default';
SELECT * FROM ft_both($$ts >= '2024-01-01 03:00 IST'$$);
SET timezone_abbreviations = 'India';
SELECT * FROM ft_both($$ts >= '2024-01-01 03:00 IST'$$);
SET array_nulls = on;
SELECT * FROM ft_both($$array_position('{NULL}'::text[], 'NULL') IS NULL$$);
SET array_nulls = off;
SELECT * FROM ft_both($$array_position('{NULL}'::text[], 'NULL') IS NULL$$);
SET transform_null_equals = off;
SELECT * FROM ft_both($$(s = NULL) IS NULL$$);
SET transform_null_equals = on;
SELECT * FROM ft_both($$(s = NULL) IS NULL$$);
RESET ALL;
\set VERBOSITY sqlstate

-- 'now' is the start of the transaction that runs the filter
BEGIN;
SELECT ft_ids($$'now'::timestamptz = now()$$) AS first_transaction;
COMMIT;
SELECT pg_sleep(0.01);
BEGIN;
SELECT ft_ids($$'now'::timestamptz = now()$$) AS second_transaction;
SELECT ft_ids($$'now'::timestamptz = now()$$) AS again_in_it;
COMMIT;
SELECT count(*) AS via_page_json FROM jsonb_array_elements(
    resilience.page_json('ft', 'id', filter => $$'today'::date = current_date AND 'now'::timestamptz = now()$$)->'rows');

-- at most 100 filter params, in every entry point
SELECT string_agg(format('$%s::int', g), ' + ') || ' > 0' AS f100,
       array_agg(g::text) AS p100
FROM generate_series(1, 100) g \gset
SELECT string_agg(format('$%s::int', g), ' + ') || ' > 0' AS f101,
       array_agg(g::text) AS p101
FROM generate_series(1, 101) g \gset
SELECT count(*) FROM resilience.page(NULL::ft, 'id', filter => :'f100', params => :'p100');
SELECT count(*) FROM resilience.page(NULL::ft, 'id', filter => :'f101', params => :'p101');
SELECT resilience.page_json('ft', 'id', filter => :'f101', params => :'p101');
SELECT resilience.page_sql('ft', 'id', filter => :'f101', params => :'p101');
\set VERBOSITY default
SELECT resilience.page_sql('ft', 'id', filter => 'true', params => :'p101');
