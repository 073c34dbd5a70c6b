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
