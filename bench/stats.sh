# Monitoring counters: what counting costs.
# 1. lock(name) on one hot name and on 10k distinct names (more than
#    resilience.stats_max_names holds, so the per-name table evicts as it
#    goes), page(), retry_transaction and an idempotent replay, each with
#    resilience.track = on against off: 8 clients (BENCH_CLIENTS=8 by
#    default here); the goal is a ratio of at least 0.98x.
# 2. Reading: the views and metrics() with 5000 tracked names, latency of
#    one call from one client; the goal is under 20 ms.
# 3. Counting's share of CPU with tracking on, under perf when installed:
#    a figure of one run, which the host's drift cannot move (see below).
# Run with: make bench BENCH_ONLY=stats (or tools/harness.sh exec bench/run.sh).
. ./lib.sh
BENCH_CLIENTS=${STATS_BENCH_CLIENTS:-8}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT

# tps with counting on or off (resilience.track is SUSET: the benchmark
# connects as a superuser)
tps_track()
{
	local track=$1 script=$2
	PGOPTIONS="-c resilience.track=$track" tps "$script"
}

# The machine is shared: off and on through lib.sh's alternate
# (ALT_ROUNDS alternated rounds of BENCH_SECONDS each side; the ratio is
# the median of the per-round ratios).
pair_script=
t_off() { tps_track off "$pair_script"; }
t_on() { tps_track on "$pair_script"; }

psql_q <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_stats_items;
CREATE TABLE bench_stats_items (id int PRIMARY KEY, v text);
INSERT INTO bench_stats_items SELECT g, md5(g::text) FROM generate_series(1, 10000) g;
VACUUM ANALYZE bench_stats_items;
SELECT resilience.stats_reset();
SQL
# one replayable record per client
for c in $(seq 0 $((BENCH_CLIENTS - 1))); do
	psql_q -c "SELECT resilience.idempotent('bench-stats-$c', 'SELECT 1 AS one', NULL, '1 day')" >/dev/null
done

cat >"$d/hot.sql" <<'SQL'
SELECT resilience.lock('hot');
SQL
cat >"$d/names.sql" <<'SQL'
\set n random(1, 10000)
SELECT resilience.lock('name-' || :n);
SQL
cat >"$d/page.sql" <<'SQL'
SELECT count(*) FROM resilience.page(NULL::bench_stats_items, 'id', page_size => 20);
SQL
cat >"$d/retry.sql" <<'SQL'
CALL resilience.retry_transaction('SELECT 1');
SQL
cat >"$d/replay.sql" <<'SQL'
SELECT resilience.idempotent('bench-stats-' || :client_id, 'SELECT 1 AS one', NULL, '1 day');
SQL

for pair in "hot:lock(name), one hot name" "names:lock(name), 10k names" "page:page()" \
	"retry:retry_transaction" "replay:idempotent replay"; do
	pair_script=$d/${pair%%:*}.sql
	report_alternate "${pair#*:}, track on vs off ($BENCH_CLIENTS clients)" "$(alternate t_off t_on)"
done

# reading with 5000 tracked names
psql_q <<'SQL' >/dev/null
SELECT resilience.stats_reset();
SELECT count(*) FROM generate_series(1, 5000) g
WHERE resilience.try_session_lock('read-' || g) AND resilience.session_unlock('read-' || g);
SQL
echo "tracked names: $(psql_q -At -c 'SELECT names FROM resilience.stats_info()')"
# latency average of one call, 1 client, 50 calls (metrics() whole, as a
# scraper reads it: length() would add a count of its 1.4 MB of characters)
lat()
{
	echo "$1" >"$d/read.sql"
	pgbench -n -M prepared -c 1 -j 1 -t 50 -f "$d/read.sql" "$BENCH_DB" 2>&1 |
		sed -nE 's/^latency average = ([0-9.]+) ms/\1/p'
}
for q in "SELECT count(*) FROM resilience.stats" \
	"SELECT count(*) FROM resilience.guard_name_stats" \
	"SELECT count(*) FROM resilience.retry_stats" \
	"SELECT resilience.metrics()"; do
	awk -v n="$q" -v v="$(lat "$q")" 'BEGIN { printf "%s: %.2f ms (goal: < 20 ms)\n", n, v }'
done

# 3. What counting costs, measured inside one run, so the host's drift
# (rounds of the same side differ by 15% here) cancels: each workload runs
# with tracking on under perf (if installed: Debian's linux-perf), and the
# share of all CPU samples, server and pgbench alike (they share the cores),
# with one of the counting functions (stats_*) on their stack is what
# counting costs; the tps ratio it implies is 1 minus that share.
if command -v perf >/dev/null 2>&1 && perf record -q -o /dev/null -- true >/dev/null 2>&1; then
	for pair in "hot:lock(name), one hot name" "names:lock(name), 10k names" "page:page()" \
		"retry:retry_transaction" "replay:idempotent replay"; do
		script=$d/${pair%%:*}.sql
		PGOPTIONS="-c resilience.track=on" pgbench -n -M prepared -c "$BENCH_CLIENTS" \
			-j "$BENCH_CLIENTS" -T $((BENCH_SECONDS + 4)) -f "$script" "$BENCH_DB" >/dev/null 2>&1 &
		sleep 2
		perf record -q -a -g -o "$d/perf.data" -- sleep "$BENCH_SECONDS" >/dev/null 2>&1
		wait
		perf script -i "$d/perf.data" 2>/dev/null | awk -v n="${pair#*:}" '
			/^[^ \t]/ { if (any) { all++; if (hit) mine++ } any = 1; hit = 0; next }
			NF >= 2 && $2 ~ /^stats_/ { hit = 1 }
			END { if (any) { all++; if (hit) mine++ }
			      printf "%s, track on: counting is %.2f%% of CPU samples (%d of %d), so %.3fx (goal: >= 0.98x)\n",
			             n, 100 * mine / all, mine, all, 1 - mine / all }'
	done
else
	echo "counting's share of CPU: not measured (perf is not installed or not permitted)"
fi
