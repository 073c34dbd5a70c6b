# Job queues: resilience's queue against a hand-written SKIP LOCKED queue in
# plain SQL (the baseline) and against the peers, all on this one server:
# graphile-worker and pg-boss (npm, pinned by bench/peers/package-lock.json,
# driven by bench/peers/peer.js through their own APIs) and PgQ (the Debian
# package postgresql-15-pgq3, its ticker driven by calling pgq.ticker()).
# A peer that cannot be installed is skipped with a line saying so.
#
# 1. enqueue: jobs/s from QUEUE_CLIENTS (4) clients, one job per call and 100
#    per call (enqueue_many; INSERT ... SELECT; add_jobs; insert).
# 2. drain: QUEUE_JOBS (100k) no-op jobs enqueued beforehand, QUEUE_CLIENTS
#    workers, jobs/s until the queue is empty, one job per claim and 100 per
#    claim; goals: >= 2x the fastest peer at equal batching, >= 1.0x the SQL.
#    resilience and the SQL queue run the same pgbench script shape: a claim
#    that commits on its own, then one transaction completing what it got
#    (complete(), or complete_many() for a batch; DELETE ... WHERE (id,
#    token) IN for the SQL).
# 3. pickup latency, enqueue call -> claim returned, at a steady
#    QUEUE_RATE (1000) jobs/s for QUEUE_LATENCY_SECONDS (10), workers waiting
#    in claim(wait => '1s') (the SQL queue: LISTEN, NOTIFY in the enqueue);
#    p50 and p99 (goal: p99 <= 20 ms).
# 4. QUEUE_STEADY_SECONDS (60) of steady
#    load (each client: enqueue, claim, complete) with a REPEATABLE READ
#    transaction holding the xmin horizon, against the same run without it:
#    jobs/s (goal: >= 0.8x) and n_dead_tup of the queue's tables at the end.
. ./lib.sh
CLIENTS=${QUEUE_CLIENTS:-4}
BENCH_CLIENTS=$CLIENTS
JOBS=${QUEUE_JOBS:-100000}
RATE=${QUEUE_RATE:-1000}
LAT_SECS=${QUEUE_LATENCY_SECONDS:-10}
STEADY=${QUEUE_STEADY_SECONDS:-60}
# the parts to run (all by default), for shorter runs while developing
PARTS=" ${QUEUE_PARTS:-enqueue drain latency steady} "
part() { [[ "$PARTS" == *" $1 "* ]]; }
here=$(pwd)
d=$(mktemp -d)
holder=
cleanup()
{
	[ -n "$holder" ] && kill "$holder" 2>/dev/null
	rm -rf "$d"
}
trap cleanup EXIT

# now in nanoseconds
ns() { date +%s%N; }
# rate JOBS START END: jobs per second
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.1f", n / ((b - a) / 1e9) }'; }
best() { printf '%s\n' "$@" | sort -g | tail -n1; }

# ---- the hand-written queue ------------------------------------------------
# A fair SKIP LOCKED queue: a lease and a token per job, so a claim commits on
# its own and a stale worker's DELETE removes nothing, as with resilience.
psql_q <<'SQL'
CREATE TABLE sqlq (
	id bigserial PRIMARY KEY,
	queue text NOT NULL,
	payload jsonb NOT NULL DEFAULT '{}',
	priority int NOT NULL DEFAULT 0,
	run_at timestamptz NOT NULL DEFAULT now(),
	attempt int NOT NULL DEFAULT 0,
	max_attempts int NOT NULL DEFAULT 25,
	token bigint NOT NULL DEFAULT 0,
	lease_expires_at timestamptz,
	enqueued_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX sqlq_ready ON sqlq (queue, priority, id);
SQL
# sql_claim QUEUE N: the baseline's claim of up to N jobs
sql_claim()
{
	cat <<SQL
UPDATE sqlq SET token = token + 1, attempt = attempt + 1, lease_expires_at = now() + interval '30s'
 WHERE id IN (SELECT id FROM sqlq
               WHERE queue = '$1' AND run_at <= now()
                 AND (lease_expires_at IS NULL OR lease_expires_at < now())
               ORDER BY priority, id FOR UPDATE SKIP LOCKED LIMIT $2)
RETURNING id, token
SQL
}

for q in enqueue drain steady latency; do
	psql_q -c "SELECT resilience.create_queue('$q')" >/dev/null
done

# ---- peers -------------------------------------------------------------------
pgq=0
if psql_q -c 'CREATE EXTENSION pgq' >/dev/null 2>"$d/pgq.err"; then
	pgq=1
	for q in enqueue drain; do
		psql_q -c "SELECT pgq.create_queue('$q')" >/dev/null
	done
	# one tick per 100 events: PgQ's consumers read batches between ticks
	psql_q -c "SELECT pgq.set_queue_config('drain', 'ticker_max_count', '100')" >/dev/null
	psql_q -c "SELECT pgq.register_consumer('drain', 'bench')" >/dev/null
	echo "pgq: $(psql_q -At -c "SELECT extversion FROM pg_extension WHERE extname = 'pgq'")"
else
	echo "pgq: skipped ($(head -n1 "$d/pgq.err"); install postgresql-$(psql_q -At -c "SELECT current_setting('server_version_num')::int / 10000")-pgq3)"
fi

# graphile-worker and pg-boss: npm ci into bench/peers/node_modules (ignored)
node_ok=0
peers=$here/peers
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
	if ! cmp -s "$peers/package-lock.json" "$peers/node_modules/.package-lock.json.ci" 2>/dev/null; then
		(cd "$peers" && npm ci --no-audit --no-fund --loglevel=error </dev/null >"$d/npm.log" 2>&1) &&
			cp "$peers/package-lock.json" "$peers/node_modules/.package-lock.json.ci" ||
			echo "npm ci failed: $(tail -n3 "$d/npm.log" | tr '\n' ' ')"
	fi
	[ -f "$peers/node_modules/.package-lock.json.ci" ] && node_ok=1
fi
peer() { (cd "$peers" && BENCH_DB=$BENCH_DB node peer.js "$@"); }
# peer_try LOG ARGS...: peer ARGS, its errors in LOG; a failure says so (on
# stderr) and prints nothing, so that the figure is left out
peer_try()
{
	local log=$1
	shift
	peer "$@" 2>>"$d/$log.err" && return 0
	echo "$log: peer.js $* failed: $(tail -n1 "$d/$log.err")" >&2
	return 1
}
gw=0 boss=0
if [ "$node_ok" = 1 ]; then
	peer setup graphile >/dev/null 2>"$d/gw.err" && gw=1 ||
		echo "graphile-worker: skipped ($(tail -n1 "$d/gw.err"))"
	peer setup pgboss >/dev/null 2>"$d/boss.err" && boss=1 ||
		echo "pg-boss: skipped ($(tail -n1 "$d/boss.err"))"
	ver() { node -p "require('$peers/node_modules/$1/package.json').version"; }
	[ "$gw" = 1 ] && echo "graphile-worker: $(ver graphile-worker)"
	[ "$boss" = 1 ] && echo "pg-boss: $(ver pg-boss)"
else
	echo "graphile-worker, pg-boss: skipped (node and npm, and the npm registry, are needed)"
fi

# vs NAME VALUE PEER_NAME PEER_VALUE: one line against a peer (when measured)
vs()
{
	[ -n "$4" ] && report "$1 vs $3" "$2" "$4" "jobs/s"
	return 0
}

# between runs: every queue empty, as at the start (defined before the
# parts: QUEUE_PARTS may run any of them alone)
reset_tables()
{
	psql_q -c 'TRUNCATE sqlq' -c 'DELETE FROM resilience.job_state' >/dev/null
	[ "$gw" = 1 ] && psql_q -c 'DELETE FROM graphile_worker._private_jobs' >/dev/null
	[ "$boss" = 1 ] && psql_q -c 'DELETE FROM pgboss.job' >/dev/null
	psql_q -c 'VACUUM' >/dev/null 2>&1
	return 0
}

# ---- 1. enqueue --------------------------------------------------------------
if part enqueue; then
echo "SELECT resilience.enqueue('enqueue');" >"$d/e1.sql"
echo "SELECT resilience.enqueue_many('enqueue', array_fill('{}'::jsonb, ARRAY[100]));" >"$d/e100.sql"
echo "INSERT INTO sqlq (queue) VALUES ('enqueue');" >"$d/s1.sql"
echo "INSERT INTO sqlq (queue, payload) SELECT 'enqueue', p FROM unnest(array_fill('{}'::jsonb, ARRAY[100])) p;" >"$d/s100.sql"
echo "SELECT pgq.insert_event('enqueue', 'noop', '{}');" >"$d/q1.sql"
echo "SELECT count(pgq.insert_event('enqueue', 'noop', '{}')) FROM generate_series(1, 100);" >"$d/q100.sql"
echo "SELECT graphile_worker.add_job('noop');" >"$d/g1.sql"
echo "SELECT count(*) FROM graphile_worker.add_jobs((SELECT array_agg(ROW('noop', '{}'::json, NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec) FROM generate_series(1, 100)));" >"$d/g100.sql"
for b in 1 100; do
	res=$(awk -v t="$(tps "$d/e$b.sql")" -v b="$b" 'BEGIN { print t * b }')
	sql=$(awk -v t="$(tps "$d/s$b.sql")" -v b="$b" 'BEGIN { print t * b }')
	report "enqueue, $b per call, $CLIENTS clients: resilience vs SQL" "$res" "$sql" "jobs/s"
	[ "$pgq" = 1 ] && vs "enqueue, $b per call: resilience" "$res" PgQ \
		"$(awk -v t="$(tps "$d/q$b.sql")" -v b="$b" 'BEGIN { print t * b }')"
	[ "$gw" = 1 ] && vs "enqueue, $b per call: resilience" "$res" graphile-worker \
		"$(awk -v t="$(tps "$d/g$b.sql")" -v b="$b" 'BEGIN { print t * b }')"
	[ "$boss" = 1 ] && vs "enqueue, $b per call: resilience" "$res" pg-boss \
		"$(peer_try boss enqueue pgboss "$b" "$BENCH_SECONDS" "$CLIENTS")"
	reset_tables
done
fi

# ---- 2. drain ----------------------------------------------------------------
if part drain; then
# Each pgbench client claims, then completes what it claimed; a claim that
# finds nothing checks whether anything is left and ends its client (a
# division by zero) when the queue is empty.  Time: start to the last client.
res_left="SELECT 1 / count(*)::int FROM (SELECT 1 FROM resilience.job_state WHERE queue = 'drain' LIMIT 1) s;"
sql_left="SELECT 1 / count(*)::int FROM (SELECT 1 FROM sqlq WHERE queue = 'drain' LIMIT 1) s;"
cat >"$d/rd1.sql" <<SQL
SELECT coalesce(max(id), 0) AS id, coalesce(max(token), 0) AS token FROM resilience.claim('drain') \gset
\if :id > 0
SELECT resilience.complete(:id, :token);
\else
$res_left
\endif
SQL
cat >"$d/rd100.sql" <<SQL
SELECT count(*) AS n, coalesce(array_agg(id), '{}') AS ids, coalesce(array_agg(token), '{}') AS tokens FROM resilience.claim('drain', 100) \gset
\if :n > 0
SELECT resilience.complete_many(:ids::bigint[], :tokens::bigint[]);
\else
$res_left
\endif
SQL
cat >"$d/sd1.sql" <<SQL
WITH c AS ($(sql_claim drain 1)) SELECT coalesce(max(id), 0) AS id, coalesce(max(token), 0) AS token FROM c \gset
\if :id > 0
DELETE FROM sqlq WHERE id = :id AND token = :token;
\else
$sql_left
\endif
SQL
cat >"$d/sd100.sql" <<SQL
WITH c AS ($(sql_claim drain 100)) SELECT count(*) AS n, coalesce(array_agg(id), '{}') AS ids, coalesce(array_agg(token), '{}') AS tokens FROM c \gset
\if :n > 0
DELETE FROM sqlq WHERE (id, token) IN (SELECT * FROM unnest(:ids::bigint[], :tokens::bigint[]));
\else
$sql_left
\endif
SQL
# PgQ: one consumer reads each batch (PgQ hands every event to every
# consumer; cooperative consumers are a separate module), a batch per tick
cat >"$d/qd.sql" <<'SQL'
SELECT coalesce(pgq.next_batch('drain', 'bench'), 0) AS b \gset
\if :b > 0
SELECT count(*) FROM pgq.get_batch_events(:b);
SELECT pgq.finish_batch(:b);
\else
SELECT 1 / 0;
\endif
SQL
# drain_pgbench SCRIPT CLIENTS: seconds*1e9 of pgbench running SCRIPT until its clients end
drain_pgbench()
{
	local t0 t1
	t0=$(ns)
	timeout 900 pgbench -n -M prepared -c "$2" -j "$2" -t 100000000 -f "$1" "$BENCH_DB" >"$d/drain.log" 2>&1 || true
	t1=$(ns)
	grep -v -E 'division by zero|aborted in command|^pgbench|^transaction type|^scaling|^query mode|^number of|^latency|^initial|^tps|^duration|^maximum' "$d/drain.log" | head -n3 >&2 || true
	echo "$t0 $t1"
}
# (in the select list: a function in FROM that does not depend on the row
# would run once, its result read again for every row)
fill_res() { psql_q -c "SELECT count(resilience.enqueue_many('drain', array_fill('{}'::jsonb, ARRAY[1000]))) FROM generate_series(1, $JOBS / 1000)" >/dev/null; }
fill_sql() { psql_q -c "INSERT INTO sqlq (queue) SELECT 'drain' FROM generate_series(1, $JOBS)" >/dev/null; }
fill_pgq()
{
	# 100 events per transaction, then a tick (ticker_max_count = 100)
	for _ in $(seq $((JOBS / 100))); do
		echo "SELECT count(pgq.insert_event('drain', 'noop', '{}')) FROM generate_series(1, 100);"
		echo "SELECT pgq.ticker('drain');"
	done >"$d/qfill.sql"
	psql_q -f "$d/qfill.sql" >/dev/null
}
# filled SQL: the drain starts from JOBS jobs, or the benchmark stops
filled()
{
	local n
	n=$(psql_q -At -c "$1")
	[ "$n" = "$JOBS" ] || { echo "error: $n jobs enqueued for the drain, not $JOBS" >&2; exit 1; }
}
check_empty()
{
	local left
	left=$(psql_q -At -c "$1")
	[ "$left" = 0 ] || echo "warning: $left jobs left after the drain" >&2
}
for b in 1 100; do
	psql_q -c 'CHECKPOINT' >/dev/null
	fill_res; psql_q -c 'VACUUM ANALYZE' >/dev/null
	filled "SELECT count(*) FROM resilience.job_state WHERE queue = 'drain'"
	read -r t0 t1 < <(drain_pgbench "$d/rd$b.sql" "$CLIENTS")
	res=$(rate "$JOBS" "$t0" "$t1")
	check_empty "SELECT count(*) FROM resilience.job_state WHERE queue = 'drain'"
	fill_sql; psql_q -c 'VACUUM ANALYZE sqlq' >/dev/null
	filled "SELECT count(*) FROM sqlq"
	read -r t0 t1 < <(drain_pgbench "$d/sd$b.sql" "$CLIENTS")
	sql=$(rate "$JOBS" "$t0" "$t1")
	check_empty "SELECT count(*) FROM sqlq"
	report "drain $JOBS jobs, $b per claim, $CLIENTS workers: resilience vs SQL" "$res" "$sql" "jobs/s"
	fastest=0 fname=
	note_peer()
	{
		vs "drain, $b per claim: resilience" "$res" "$1" "$2"
		if [ -n "$2" ] && awk -v a="$2" -v b="$fastest" 'BEGIN { exit !(a > b) }'; then
			fastest=$2 fname=$1
		fi
	}
	# drain_peer LOG NAME PEER: a node peer's drain, capped at QUEUE_DRAIN_MAX_SECONDS
	drain_peer()
	{
		local r done
		read -r r done < <(peer_try "$1" fill "$3" "$JOBS" && peer_try "$1" drain "$3" "$b" "$CLIENTS") || true
		[ -n "${done:-}" ] && [ "${done%/*}" != "${done#*/}" ] &&
			echo "$2: stopped after ${QUEUE_DRAIN_MAX_SECONDS:-120} s with $done jobs done; the rate is theirs"
		note_peer "$2" "${r:-}"
	}
	[ "$gw" = 1 ] && drain_peer gw graphile-worker graphile
	[ "$boss" = 1 ] && drain_peer boss pg-boss pgboss
	if [ "$pgq" = 1 ] && [ "$b" = 100 ]; then
		fill_pgq
		read -r t0 t1 < <(drain_pgbench "$d/qd.sql" 1)
		note_peer "PgQ (1 consumer)" "$(rate "$JOBS" "$t0" "$t1")"
	fi
	[ -n "$fname" ] && report "drain, $b per claim: resilience vs the fastest peer ($fname; goal 2x)" "$res" "$fastest" "jobs/s"
	reset_tables
done
[ "$pgq" = 1 ] && echo "drain, 1 per claim: PgQ not measured (its consumers read a batch per tick)"
fi

# ---- 3. pickup latency ---------------------------------------------------------
if part latency; then
latency()
{
	local out
	peer_try lat latency "$1" "$RATE" "$LAT_SECS" "$CLIENTS" || true
}
read -r rp50 rp99 rrate rgot < <(latency resilience)
read -r sp50 sp99 srate sgot < <(latency sql)
echo "latency: resilience $rrate jobs/s offered, $rgot picked up; SQL $srate jobs/s, $sgot"
report "pickup latency p50 at $RATE jobs/s: resilience vs SQL (LISTEN/NOTIFY)" "$rp50" "$sp50" ms
report "pickup latency p99 at $RATE jobs/s: resilience vs SQL (LISTEN/NOTIFY; goal <= 20 ms)" "$rp99" "$sp99" ms
if [ "$gw" = 1 ]; then
	read -r gp50 gp99 grate ggot < <(latency graphile)
	echo "latency: graphile-worker $grate jobs/s offered, $ggot picked up"
	report "pickup latency p99: resilience vs graphile-worker" "$rp99" "$gp99" ms
fi
if [ "$boss" = 1 ]; then
	read -r bp50 bp99 brate bgot < <(latency pgboss)
	echo "latency: pg-boss (polling every 0.5 s, 250 jobs per fetch) $brate jobs/s offered, $bgot picked up"
	report "pickup latency p99: resilience vs pg-boss" "$rp99" "$bp99" ms
fi
reset_tables
fi

# ---- 4. steady load, with and without a transaction holding xmin ---------------
part steady || exit 0
psql_q -c "SELECT count(*) FROM resilience.enqueue_many('steady', array_fill('{}'::jsonb, ARRAY[1000]))" >/dev/null
psql_q -c "INSERT INTO sqlq (queue) SELECT 'steady' FROM generate_series(1, 1000)" >/dev/null
cat >"$d/rs.sql" <<'SQL'
SELECT resilience.enqueue('steady');
SELECT coalesce(max(id), 0) AS id, coalesce(max(token), 0) AS token FROM resilience.claim('steady') \gset
\if :id > 0
SELECT resilience.complete(:id, :token);
\endif
SQL
cat >"$d/ss.sql" <<SQL
INSERT INTO sqlq (queue) VALUES ('steady');
WITH c AS ($(sql_claim steady 1)) SELECT coalesce(max(id), 0) AS id, coalesce(max(token), 0) AS token FROM c \gset
\if :id > 0
DELETE FROM sqlq WHERE id = :id AND token = :token;
\endif
SQL
res_dead="SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables WHERE schemaname = 'resilience'"
sql_dead="SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'sqlq'"
# steady SCRIPT DEADSQL HOLD: "jobs/s dead_tuples" after STEADY seconds
steady()
{
	local t dead
	if [ "$3" = 1 ]; then
		# a snapshot taken, then a long sleep in the same transaction
		PGAPPNAME=xmin_holder psql -X -q -d "$BENCH_DB" -c 'BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM pg_class; SELECT pg_sleep(86400); COMMIT' >/dev/null 2>&1 &
		holder=$!
		until [ "$(psql_q -At -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'xmin_holder' AND backend_xmin IS NOT NULL")" = 1 ]; do sleep 0.1; done
	fi
	t=$(BENCH_SECONDS=$STEADY tps "$1")
	sleep 1	# the clients' statistics are flushed as they exit
	dead=$(psql_q -At -c "$2")
	if [ "$3" = 1 ]; then
		psql_q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'xmin_holder'" >/dev/null
		kill "$holder" 2>/dev/null || true
		wait "$holder" 2>/dev/null || true
		holder=
	fi
	psql_q -c 'VACUUM' >/dev/null
	echo "$t $dead"
}
read -r rfree rfree_dead < <(steady "$d/rs.sql" "$res_dead" 0)
read -r rheld rheld_dead < <(steady "$d/rs.sql" "$res_dead" 1)
read -r sfree sfree_dead < <(steady "$d/ss.sql" "$sql_dead" 0)
read -r sheld sheld_dead < <(steady "$d/ss.sql" "$sql_dead" 1)
echo "steady ${STEADY}s, $CLIENTS clients: n_dead_tup at the end: resilience $rfree_dead free, $rheld_dead with xmin held; SQL $sfree_dead free, $sheld_dead with xmin held"
report "steady load with xmin held vs without: resilience (goal 0.8x)" "$rheld" "$rfree" "jobs/s"
report "steady load with xmin held vs without: SQL" "$sheld" "$sfree" "jobs/s"
report "steady load with xmin held: resilience vs SQL" "$rheld" "$sheld" "jobs/s"
report "dead tuples with xmin held: resilience vs SQL" "$rheld_dead" "$sheld_dead" "tuples"
