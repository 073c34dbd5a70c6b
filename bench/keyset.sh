# Keyset pagination on 1M rows: resilience.page() against a hand-written
# prepared keyset query, against OFFSET at depth 900k, and a mixed-direction
# nullable sort against a same-direction one.  Every side is a pgbench run in
# this same process, so the ratios compare like with like.
. ./lib.sh
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT

start=$(date +%s)
psql_q <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS kb;
CREATE TABLE kb AS
SELECT g::bigint AS id,
       '2024-01-01 00:00:00+00'::timestamptz + (g / 2) * interval '1.000001 s' AS created_at,
       (g % 100)::int AS grp,
       CASE WHEN g % 9 = 0 THEN NULL ELSE (g::bigint * 7919 % 1000)::int END AS score,
       'payload ' || g AS payload
FROM generate_series(1, 1000000) g;
ALTER TABLE kb ADD PRIMARY KEY (id), ALTER COLUMN created_at SET NOT NULL, ALTER COLUMN grp SET NOT NULL;
CREATE INDEX kb_created ON kb (created_at, id);
CREATE INDEX kb_grp_score ON kb (grp, score DESC, id DESC);
VACUUM ANALYZE kb;
SQL
echo "built 1M rows and indexes in $(($(date +%s) - start)) s"

# a cursor in the middle, and one at depth 900k (newest first)
mid=$(psql_q -Atc "SELECT resilience.cursor_of(k, 'created_at DESC') FROM kb k WHERE id = 500000")
mid_ts=$(psql_q -Atc "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM kb WHERE id = 500000")
deep=$(psql_q -Atc "SELECT resilience.cursor_of(k, 'created_at DESC') FROM kb k WHERE id = 100001")
mixed=$(psql_q -Atc "SELECT resilience.cursor_of(k, 'grp, score DESC') FROM kb k WHERE id = 500000")

echo "SELECT * FROM resilience.page(NULL::kb, 'created_at DESC', after => :cur, page_size => 50);" >"$d/page.sql"
echo "SELECT * FROM kb WHERE (created_at, id) < (:ts, :id) ORDER BY created_at DESC, id DESC LIMIT 50;" >"$d/hand.sql"
echo "SELECT * FROM kb ORDER BY created_at DESC, id DESC OFFSET 900000 LIMIT 50;" >"$d/offset.sql"
echo "SELECT * FROM resilience.page(NULL::kb, 'grp, score DESC', after => :cur, page_size => 50);" >"$d/mixed.sql"

# the pages compared are the same rows
same=$(psql_q -Atc "SELECT (SELECT array_agg(id) FROM resilience.page(NULL::kb, 'created_at DESC', after => '$mid', page_size => 50))
                         = (SELECT array_agg(id) FROM (SELECT id FROM kb WHERE (created_at, id) < ('$mid_ts', 500000)
                                                       ORDER BY created_at DESC, id DESC LIMIT 50) s)")
deep_same=$(psql_q -Atc "SELECT (SELECT array_agg(id) FROM resilience.page(NULL::kb, 'created_at DESC', after => '$deep', page_size => 50))
                              = (SELECT array_agg(id) FROM (SELECT id FROM kb ORDER BY created_at DESC, id DESC OFFSET 900000 LIMIT 50) s)")
echo "same page as the hand-written query: $same; same page as OFFSET 900000: $deep_same"

hand=$(tps "$d/hand.sql" -D ts="$mid_ts" -D id=500000)
page=$(tps "$d/page.sql" -D cur="$mid")
report "keyset page() vs prepared row-comparison query" "$page" "$hand"

offset=$(tps "$d/offset.sql")
deep_tps=$(tps "$d/page.sql" -D cur="$deep")
report "keyset page() vs OFFSET at depth 900k" "$deep_tps" "$offset"

mixed_tps=$(tps "$d/mixed.sql" -D cur="$mixed")
report "mixed-direction nullable page vs same-direction page" "$mixed_tps" "$page"

psql_q -c 'DROP TABLE kb'
