-- From PostgreSQL 18 a NOT NULL constraint can be added NOT VALID: the
-- column is marked NOT NULL, but rows from before may still hold NULLs.
-- Such a column neither makes a unique index a key that breaks ties (a
-- unique index lets NULLs repeat) nor may be compared as never NULL: paging
-- must not skip the rows where it is NULL.  Once validated it counts.
-- Earlier servers have no NOT VALID not-null constraints: the suite then
-- says it skipped, and expected/keyset_notnull_invalid_1.out is that output.
SELECT current_setting('server_version_num')::int >= 180000 AS have_invalid_nn \gset
\if :have_invalid_nn
\else
\echo skipped: NOT NULL ... NOT VALID needs PostgreSQL 18
\quit
\endif
SET search_path = public;
CREATE TABLE nn_t (id int PRIMARY KEY, u int, v int);
INSERT INTO nn_t VALUES (1, NULL, 0), (2, NULL, 0), (3, 5, 0), (4, 6, 0);
ALTER TABLE nn_t ADD CONSTRAINT nn_t_u_nn NOT NULL u NOT VALID;
CREATE UNIQUE INDEX nn_t_u ON nn_t (u);
CREATE VIEW nn_v AS SELECT * FROM nn_t;
-- the primary key breaks ties; u is compared as a column that can be NULL
SELECT resilience.page_sql('nn_t', 'u', page_size => 2);
SELECT resilience.page_sql('nn_v', 'u', page_size => 2);
-- every row, page by page, both ways
CREATE FUNCTION pg_temp.walk(rel regclass, spec text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    p jsonb;
    c text;
    ids text := '';
BEGIN
    LOOP
        p := resilience.page_json(rel, spec, after => c, page_size => 1);
        ids := ids || coalesce((SELECT string_agg(r->>'id', ',') FROM jsonb_array_elements(p->'rows') r), '') || ' ';
        EXIT WHEN NOT (p->>'has_next')::bool;
        c := p->>'next';
    END LOOP;
    RETURN ids;
END $$;
SELECT pg_temp.walk('nn_t', 'u') AS table_u, pg_temp.walk('nn_t', 'u DESC') AS table_u_desc,
       pg_temp.walk('nn_v', 'u') AS view_u;
-- validated (after the NULLs are gone), the unique index on u is a key
UPDATE nn_t SET u = id * 10 WHERE u IS NULL;
ALTER TABLE nn_t VALIDATE CONSTRAINT nn_t_u_nn;
SELECT resilience.page_sql('nn_t', 'u', page_size => 2);
SELECT resilience.page_sql('nn_v', 'u', page_size => 2);
SELECT pg_temp.walk('nn_t', 'u') AS table_u, pg_temp.walk('nn_v', 'u') AS view_u;
DROP VIEW nn_v;
DROP TABLE nn_t;
