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
       (g / 10000)::int AS grp,
       CASE WHEN g % 9 = 0 THEN NULL ELSE 10000 - g % 10000 END AS score,
       'payload ' || g AS payload
FROM generate_series(1, 1000000) g;
ALTER TABLE kb ADD PRIMARY KEY (id), ALTER COLUMN created_at SET NOT NULL, ALTER COLUMN grp SET NOT NULL;
CREATE INDEX kb_created ON kb (created_at, id);
CREATE INDEX kb_grp_score ON kb (grp, score DESC, id DESC);
VACUUM ANALYZE kb;
SQL
echo "built 1M rows and indexes in $(($(date +%s) - start)) s"

# Both sorts follow the heap order (created_at grows with id; within a grp,
# score DESC NULLS FIRST walks ids upwards), so the mixed/same ratio measures
# the predicate, not random heap reads, which would dominate either sort.
# a cursor in the middle, and one at depth 900k (newest first)
mid=$(psql_q -Atc "SELECT resilience.cursor_of(k, 'created_at DESC') FROM kb k WHERE id = 500000")
mid_ts=$(psql_q -Atc "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM kb WHERE id = 500000")
deep=$(psql_q -Atc "SELECT resilience.cursor_of(k, 'created_at DESC') FROM kb k WHERE id = 100001")
mixed=$(psql_q -Atc "SELECT resilience.cursor_of(k, 'grp, score DESC') FROM kb k WHERE id = 500005")

echo "SELECT * FROM resilience.page(NULL::kb, 'created_at DESC', after => :cur, page_size => 50);" >"$d/page.sql"
echo "SELECT * FROM kb WHERE (created_at, id) < (:ts, :id) ORDER BY created_at DESC, id DESC LIMIT 50;" >"$d/hand.sql"
echo "SELECT * FROM kb ORDER BY created_at DESC, id DESC OFFSET 900000 LIMIT 50;" >"$d/offset.sql"
echo "SELECT * FROM resilience.page(NULL::kb, 'grp, score DESC', after => :cur, page_size => 50);" >"$d/mixed.sql"
# the hand-written query behind a PL/pgSQL set-returning function: what any
# function in FROM costs (a function scan, a nested executor, a tuplestore)
echo "SELECT * FROM kb_wrapped(:ts, :id);" >"$d/wrapped.sql"
psql_q <<'SQL'
CREATE FUNCTION kb_wrapped(p_ts timestamptz, p_id bigint) RETURNS SETOF kb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT * FROM kb WHERE (created_at, id) < (p_ts, p_id)
                 ORDER BY created_at DESC, id DESC LIMIT 50;
END $$;
SQL

# the pages compared are the same rows
same=$(psql_q -Atc "SELECT (SELECT array_agg(id) FROM resilience.page(NULL::kb, 'created_at DESC', after => '$mid', page_size => 50))
                         = (SELECT array_agg(id) FROM (SELECT id FROM kb WHERE (created_at, id) < ('$mid_ts', 500000)
                                                       ORDER BY created_at DESC, id DESC LIMIT 50) s)")
deep_same=$(psql_q -Atc "SELECT (SELECT array_agg(id) FROM resilience.page(NULL::kb, 'created_at DESC', after => '$deep', page_size => 50))
                              = (SELECT array_agg(id) FROM (SELECT id FROM kb ORDER BY created_at DESC, id DESC OFFSET 900000 LIMIT 50) s)")
echo "same page as the hand-written query: $same; same page as OFFSET 900000: $deep_same"

# pair NAME VALUE_SCRIPT VALUE_ARGS BASE_SCRIPT BASE_ARGS: baseline and value
# alternately, in 4 rounds of half BENCH_SECONDS each, so load from outside
# the benchmark (shared cores) hits both sides alike; report the mean tps
pair()
{
	local name=$1 vs=$2 va=$3 bs=$4 ba=$5 v=0 b=0 t
	local secs=$(((BENCH_SECONDS + 1) / 2))
	for _ in 1 2 3 4; do
		t=$(BENCH_SECONDS=$secs tps "$bs" $ba); b=$(awk -v a="$b" -v t="$t" 'BEGIN { print a + t / 4 }')
		t=$(BENCH_SECONDS=$secs tps "$vs" $va); v=$(awk -v a="$v" -v t="$t" 'BEGIN { print a + t / 4 }')
	done
	report "$name" "$v" "$b"
}

pair "keyset page() vs prepared row-comparison query" \
	"$d/page.sql" "-D cur=$mid" "$d/hand.sql" "-D ts=$mid_ts -D id=500000"
pair "keyset page() vs OFFSET at depth 900k" \
	"$d/page.sql" "-D cur=$deep" "$d/offset.sql" ""
pair "mixed-direction nullable page vs same-direction page" \
	"$d/mixed.sql" "-D cur=$mixed" "$d/page.sql" "-D cur=$mid"
# not a target: how much of the gap to the hand-written query is the price
# of being a function at all
pair "keyset page() vs the same query in a PL/pgSQL function" \
	"$d/page.sql" "-D cur=$mid" "$d/wrapped.sql" "-D ts=$mid_ts -D id=500000"

psql_q -c 'DROP FUNCTION kb_wrapped' -c 'DROP TABLE kb'
