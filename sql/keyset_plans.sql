-- resilience.page_sql(): with a matching index, every page is index scans
-- and no Sort, for same-direction and mixed-direction nullable sorts.
SET TimeZone = 'UTC';
CREATE TABLE events (
    id bigint PRIMARY KEY,
    created_at timestamptz NOT NULL,
    grp integer NOT NULL,
    score integer,
    payload text
);
INSERT INTO events
SELECT g, '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 s', g % 50,
       CASE WHEN g % 7 = 0 THEN NULL ELSE g % 100 END, 'payload ' || g
FROM generate_series(1, 20000) g;
-- the index for "created_at DESC" (+ id DESC, appended)
CREATE INDEX events_created ON events (created_at, id);
-- the index for "grp, score DESC" (+ id DESC, appended in the last direction)
CREATE INDEX events_grp_score ON events (grp, score DESC, id DESC);
ANALYZE events;
-- plans must not depend on statistics luck
SET enable_seqscan = off;
SET enable_bitmapscan = off;

CREATE FUNCTION plan(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || q;
END $$;
CREATE FUNCTION cur(id bigint, spec text) RETURNS text LANGUAGE sql AS $$
    SELECT resilience.cursor_of(e, spec) FROM events e WHERE e.id = cur.id
$$;

-- same direction, NOT NULL keys: one row comparison, an index condition
SELECT plan(resilience.page_sql('events', 'created_at DESC', page_size => 20,
                                after => cur(10000, 'created_at DESC')));
SELECT plan(resilience.page_sql('events', 'created_at DESC', page_size => 20,
                                before => cur(10000, 'created_at DESC')));
-- the first page
SELECT plan(resilience.page_sql('events', 'created_at DESC', page_size => 20));

-- mixed directions, nullable score: UNION ALL branches, each an index scan
-- with an equality prefix and one range, concatenated in order
SELECT plan(resilience.page_sql('events', 'grp, score DESC', page_size => 20,
                                after => cur(1234, 'grp, score DESC')));
-- the cursor row has score NULL (NULLS FIRST under DESC): the IS NOT NULL branch
SELECT plan(resilience.page_sql('events', 'grp, score DESC', page_size => 20,
                                after => cur(1239, 'grp, score DESC')));
-- backwards: every direction and NULLS placement flipped, same index
SELECT plan(resilience.page_sql('events', 'grp, score DESC', page_size => 20,
                                before => cur(1234, 'grp, score DESC')));
-- with a filter
SELECT plan(resilience.page_sql('events', 'grp, score DESC', page_size => 20,
                                after => cur(1234, 'grp, score DESC'),
                                filter => 'payload <> $1', params => ARRAY['x']));

-- the pages these plans return are the right ones
SELECT array_agg(id) AS ids
FROM resilience.page(NULL::events, 'grp, score DESC', page_size => 6,
                     after => cur(1239, 'grp, score DESC'));
WITH o AS (SELECT id, row_number() OVER (ORDER BY grp, score DESC, id DESC) AS rn FROM events)
SELECT array_agg(id ORDER BY rn) AS expected
FROM o WHERE rn > (SELECT rn FROM o WHERE id = 1239) AND rn <= (SELECT rn FROM o WHERE id = 1239) + 6;
