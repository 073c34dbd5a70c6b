-- params of any array type: cases where the plan caches, the idempotency
-- fingerprint or the session's settings could make one request behave
-- like another.
\set VERBOSITY terse
SET search_path = public;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE TABLE params_edge_t (id int PRIMARY KEY, name text);
INSERT INTO params_edge_t VALUES (1, 'one'), (2, 'two'), (3, 'three');

-- A typed params array may have more elements than the filter uses.  How
-- many it has is part of the page plan's key: a plan prepared for two
-- elements is not reused for one (nor the other way round), whatever ran
-- before in the session.
SELECT id FROM resilience.page(NULL::params_edge_t, 'id', filter => 'id = $1', params => ARRAY[1, 2]);
SELECT id FROM resilience.page(NULL::params_edge_t, 'id', filter => 'id = $1', params => ARRAY[2]);
SELECT id FROM resilience.page(NULL::params_edge_t, 'id', filter => 'id = $1', params => ARRAY[3, 1, 2]);
SELECT resilience.page_json('params_edge_t', 'id', filter => 'id >= $1', params => ARRAY[3]) -> 'rows';
SELECT resilience.page_json('params_edge_t', 'id', filter => 'id >= $1', params => '[0:1]={2,9}'::int[]) -> 'rows';
-- text[] still needs exactly as many elements as the filter uses
SELECT pg_temp.err($q$SELECT resilience.page_sql('params_edge_t', 'id', filter => 'id = $1', params => '{1}')$q$);
SELECT pg_temp.err($q$SELECT resilience.page_sql('params_edge_t', 'id', filter => 'id = $1', params => '{1,2}')$q$);
SELECT pg_temp.err($q$SELECT resilience.page_sql('params_edge_t', 'id', filter => 'id = $1', params => '{1}')$q$);

