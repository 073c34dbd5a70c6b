# Retryable transactions, three workloads.  Clients connect over TCP to
# 127.0.0.1, as an application would.  Variants of one workload run in
# alternation, RETRY_ROUNDS rounds of RETRY_PHASE_SECONDS each (in one
# order, then the reverse), so that a machine shared with other work slows
# them alike; the ratio printed is of the sums, and the per-round ratios
# follow (min, median, max), with their geometric mean and its 95% interval:
# the sums weigh the fast rounds more, and a host whose speed drifts from
# phase to phase moves them, where the paired per-round ratios cancel it.
#
# 1. Write skew ("doctors on call": take a doctor off call only if two or
#    more of the shift remain on call) under SERIALIZABLE with 8 clients:
#      CALL resilience.retry_transaction(...)   one round trip, retried
#                                               inside the server
#      BEGIN ISOLATION LEVEL SERIALIZABLE; ...; END   under pgbench
#                                               --max-tries=10000 (client-
#                                               side retries, no backoff)
#    and the CALL without its retry lane (escalate_after => NULL), and with
#    escalate_after => 1 (for context: the setting docs/retry.md advises for
#    a hot table whose transactions all conflict).  Targets, with every
#    other argument at its default: ratio >= 2.5, 0 failed, the lane not
#    slower than no lane.  Then the lane and no lane as a fixed batch of
#    calls per client (RETRY_BATCH), timed to the last call (no target).
# 2. Uncontended: each client updates its own row, CALL with the lane vs
#    without (escalate_after => NULL).  Target: >= 0.98.
# 3. Transfers among 10 accounts, SERIALIZABLE, every argument at its
#    default, at 8, 32 and 64 clients (the server needs max_connections
#    above 64): failed calls (target 0), the total conserved, the most
#    attempts any call needed; and the same without the lane.
. ./lib.sh
CLIENTS=8
SHIFTS=${RETRY_SHIFTS:-4}
ROUNDS=${RETRY_ROUNDS:-10}
PHASE=${RETRY_PHASE_SECONDS:-4}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT

PARTS=${RETRY_PARTS:-skew uncontended transfers}

# idle: wait until no other session is connected to the database.  A backend
# whose client has gone (pgbench -T ends mid-CALL) finishes its CALL first,
# retries included, and would compete with the next run.
idle()
{
	local i
	for i in $(seq 600); do
		[ "$(psql_q -Atc "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")" = 0 ] && return
		sleep 0.1
	done
}

# phase NAME SCRIPT CLIENTS [pgbench args]: one run; appends its output to
# $d/NAME.out and its per-transaction log to $d/NAME.log.*
phase()
{
	local name=$1 script=$2 clients=$3 threads
	shift 3
	idle
	threads=$((clients < 8 ? clients : 8))
	pgbench -n -h 127.0.0.1 -M prepared -c "$clients" -j "$threads" -T "$PHASE" \
		--log --log-prefix="$d/$name.$round.log" -f "$script" "$@" "$BENCH_DB" >>"$d/$name.out" 2>&1
}
# sum NAME PATTERN: the sum of a pgbench output field over NAME's rounds
sum() { sed -nE "s/^$2.*/\1/p" "$d/$1.out" | awk '{ s += $1 } END { print s + 0 }'; }
# tpsum NAME: committed transactions per second over all of NAME's rounds
tpsum()
{
	local n
	n=$(sum "$1" 'number of transactions actually processed: ([0-9]+)')
	awk -v n="$n" -v t="$((ROUNDS * PHASE))" 'BEGIN { printf "%.1f", n / t }'
}
# rounds A B: "min/median/max" of the per-round tps ratios of A over B
rounds()
{
	paste <(sed -nE 's/^tps = ([0-9.]+) \(without.*/\1/p' "$d/$1.out") \
		<(sed -nE 's/^tps = ([0-9.]+) \(without.*/\1/p' "$d/$2.out") |
		awk '$2 > 0 { print $1 / $2 }' | sort -n |
		awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
		       printf "%.2f/%.2f/%.2f", v[1], m, v[NR] }'
}
# interval A B: the geometric mean of the per-round tps ratios of A over B
# and its 95% confidence interval (Student's t on the logarithms), as
# "mean (95% interval low-high)"
interval()
{
	paste <(sed -nE 's/^tps = ([0-9.]+) \(without.*/\1/p' "$d/$1.out") \
		<(sed -nE 's/^tps = ([0-9.]+) \(without.*/\1/p' "$d/$2.out") |
		awk '$1 > 0 && $2 > 0 { print log($1 / $2) }' |
		awk '{ x[NR] = $1; m += $1 }
		END {
			# two-sided 95% quantiles of Student t, by degrees of freedom
			split("12.71 4.30 3.18 2.78 2.57 2.45 2.36 2.31 2.26 2.23 2.20 2.18 2.16 2.14 2.13", t, " ")
			n = NR; m /= n
			for (i = 1; i <= n; i++) v += (x[i] - m) ^ 2
			h = n > 1 ? (n - 1 <= 15 ? t[n - 1] : 2.0) * sqrt(v / (n - 1) / n) : 0
			printf "%.2fx (95%% interval %.2f-%.2f)", exp(m), exp(m - h), exp(m + h)
		}'
}
p99() { cat "$d/$1".*.log* | awk '{ print $3 }' | sort -n | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.3f", v[i] / 1000 }'; }
rollbacks() { psql_q -Atc "SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()"; }

# ---- 1. write skew --------------------------------------------------------
if [[ " $PARTS " == *" skew "* ]]; then
# Every phase starts from a new table of 12 rows in one page, where each
# transaction's sequential scan takes a relation-level SSI lock.  The table
# grows while the phases run, and once autovacuum has counted a few dozen
# pages the plans are index scans with finer SSI locks, which conflict far
# less (a table of 51 pages: rollbacks per commit 0.22 with the lane, 0.6 on
# the new table): sharing one table, later variants and later rounds ran
# another workload than the first.
doctors()
{
	idle
	psql_q -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS doctors" \
		-c "CREATE TABLE doctors (shift int, doc int, on_call bool NOT NULL, PRIMARY KEY (shift, doc))" \
		-c "INSERT INTO doctors SELECT s, d, true FROM generate_series(1, $SHIFTS) s, generate_series(1, 3) d" \
		-c "VACUUM ANALYZE doctors"
}
toggle='UPDATE doctors SET on_call = CASE WHEN (SELECT count(*) FROM doctors WHERE shift = $1 AND on_call) >= 2 THEN NOT on_call ELSE true END WHERE shift = $1 AND doc = $2'
for v in call:'' nolane:', escalate_after => NULL' esc1:', escalate_after => 1'; do
	cat >"$d/${v%%:*}.sql" <<SQL
\\set s random(1, $SHIFTS)
\\set d random(1, 3)
CALL resilience.retry_transaction('$toggle', ARRAY[:s, :d]::text[], max_attempts => 10000${v#*:});
SQL
done
cat >"$d/client.sql" <<SQL
\\set s random(1, $SHIFTS)
\\set d random(1, 3)
BEGIN ISOLATION LEVEL SERIALIZABLE;
$(echo "$toggle" | sed -e 's/\$1/:s/g' -e 's/\$2/:d/g');
END;
SQL

# Each round runs the four variants forward, the next one backward, so that
# a drift of the machine's speed within a round favours none of them.
call_rb=0
skew_phase()
{
	local r0 r1
	doctors
	case $1 in
	call)
		r0=$(rollbacks)
		phase call "$d/call.sql" "$CLIENTS"
		sleep 0.5	# backends flush their statistics on exit
		r1=$(rollbacks)
		call_rb=$((call_rb + r1 - r0))
		;;
	client) phase client "$d/client.sql" "$CLIENTS" --max-tries=10000 --failures-detailed ;;
	*) phase "$1" "$d/$1.sql" "$CLIENTS" ;;
	esac
}
for round in $(seq "$ROUNDS"); do
	if [ $((round % 2)) -eq 1 ]; then order="call client nolane esc1"; else order="esc1 nolane client call"; fi
	for v in $order; do skew_phase "$v"; done
done
for f in call client nolane esc1; do
	grep -q '^tps = ' "$d/$f.out" || { cat "$d/$f.out"; exit 1; }
done
call_n=$(sum call 'number of transactions actually processed: ([0-9]+)')
base_n=$(sum client 'number of transactions actually processed: ([0-9]+)')
base_retries=$(sum client 'total number of retries: ([0-9]+)')

report "write skew committed tps, CALL retry_transaction vs BEGIN SERIALIZABLE...END --max-tries=10000 ($CLIENTS clients, $SHIFTS shifts, $ROUNDS alternated rounds of ${PHASE}s)" "$(tpsum call)" "$(tpsum client)"
awk -v v="$(tpsum call)" -v b="$(tpsum client)" -v r="$(rounds call client)" \
-v g="$(interval call client)" \
	'BEGIN { printf "write skew committed tps ratio: %.2f (target >= 2.5), per round min/median/max %s, geometric mean %s\n", (b > 0 ? v / b : 0), r, g }'
echo "write skew failed transactions: $(sum call 'number of failed transactions: ([0-9]+)') (baseline: $(sum client 'number of failed transactions: ([0-9]+)'))"
# every failed attempt inside the CALL is one rolled-back transaction
awk -v cr="$call_rb" -v cn="$call_n" -v br="$base_retries" -v bn="$base_n" \
	'BEGIN { v = cn > 0 ? cr / cn : 0; b = bn > 0 ? br / bn : 0;
	         printf "write skew retries per commit: %.3f (baseline: %.3f) %.2fx\n", v, b, (b > 0 ? v / b : 0) }'
awk -v v="$(p99 call)" -v b="$(p99 client)" \
	'BEGIN { printf "write skew p99 latency: %.3f ms (baseline: %.3f ms) %.2fx\n", v, b, (b > 0 ? v / b : 0) }'
report "write skew committed tps, CALL with its retry lane vs without (escalate_after => NULL)" "$(tpsum call)" "$(tpsum nolane)"
echo "write skew lane vs no lane per round min/median/max: $(rounds call nolane), geometric mean $(interval call nolane) (target: not lower)"
report "write skew committed tps, CALL with escalate_after => 1 vs BEGIN SERIALIZABLE...END --max-tries=10000 (no target)" "$(tpsum esc1)" "$(tpsum client)"
echo "write skew escalate_after => 1 vs the default (6), per round min/median/max: $(rounds esc1 call)"

# The same calls as a fixed batch: each client makes RETRY_BATCH calls, and
# the batch is done when its last call is.  Without the lane, an unlucky call
# sleeps ever longer backoffs (up to max_delay), so fewer clients compete
# while it sleeps and the others commit more; fixed-time tps counts that as
# throughput, a batch waits for the unlucky call.  pgbench -t reports the
# calls over the time to the last one.
BATCH=${RETRY_BATCH:-2500}
for round in $(seq "$ROUNDS"); do
	if [ $((round % 2)) -eq 1 ]; then order="call nolane"; else order="nolane call"; fi
	for v in $order; do
		doctors
		idle
		pgbench -n -h 127.0.0.1 -M prepared -c "$CLIENTS" -j "$CLIENTS" -t "$BATCH" \
			-f "$d/$v.sql" "$BENCH_DB" >>"$d/batch_$v.out" 2>&1
	done
done
for v in call nolane; do
	grep -q '^tps = ' "$d/batch_$v.out" || { cat "$d/batch_$v.out"; exit 1; }
done
echo "write skew, a batch of $BATCH calls per client, lane vs no lane (calls per second to the last call), per round min/median/max: $(rounds batch_call batch_nolane), geometric mean $(interval batch_call batch_nolane)"
fi

# ---- 2. uncontended -------------------------------------------------------
if [[ " $PARTS " == *" uncontended "* ]]; then
psql_q -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS own_rows" \
	-c "CREATE TABLE own_rows (id int PRIMARY KEY, n bigint NOT NULL)" \
	-c "INSERT INTO own_rows SELECT g, 0 FROM generate_series(1, 64) g" -c "VACUUM ANALYZE own_rows"
for v in lane:'' nolane_u:', escalate_after => NULL'; do
	cat >"$d/${v%%:*}.sql" <<SQL
CALL resilience.retry_transaction('UPDATE own_rows SET n = n + 1 WHERE id = \$1', ARRAY[:client_id + 1]::text[]${v#*:});
SQL
done
# Both variants in the same pgbench run, each transaction choosing one at
# random: they share every moment of the machine's load.  The cost of the
# lane is the ratio of their mean latencies without the slowest 10% (pgbench's
# per-transaction log names the script of each transaction; trimming drops
# the preemptions that a shared machine adds to a few transactions).
for round in $(seq "$ROUNDS"); do
	phase mixed "$d/lane.sql@1" "$BENCH_CLIENTS" -f "$d/nolane_u.sql@1"
done
# trimmed mean latency (us) of script $1 (0: with the lane, 1: without) in
# round $2
trimmed() { cat "$d/mixed.$2.log"* | awk -v s="$1" '$4 == s { print $3 }' | sort -n | awk '{ v[NR] = $1 } END { k = int(NR * 0.9); for (i = 1; i <= k; i++) t += v[i]; printf "%.2f", (k > 0 ? t / k : 0) }'; }
for round in $(seq "$ROUNDS"); do
	echo "$(trimmed 1 "$round") $(trimmed 0 "$round")"
done >"$d/mixed.lat"
lane_ratio=$(awk '{ s1 += $1; s2 += $2 } END { printf "%.3f", (s2 > 0 ? s1 / s2 : 0) }' "$d/mixed.lat")
lane_rounds=$(awk '$2 > 0 { print $1 / $2 }' "$d/mixed.lat" | sort -n |
	awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f/%.3f/%.3f", v[1], m, v[NR] }')
echo "uncontended committed tps, CALL with its retry lane vs without ($BENCH_CLIENTS clients, own rows, mixed in one run): ${lane_ratio}x (target >= 0.98), per round min/median/max $lane_rounds"
echo "uncontended trimmed mean latency us, without the lane / with, per round: $(awk '{ printf "%s/%s ", $1, $2 }' "$d/mixed.lat")"
fi

# ---- 3. transfers at 8, 32 and 64 clients ---------------------------------
if [[ " $PARTS " == *" transfers "* ]]; then
# each call records the previous call's attempt count (0 before the first)
# in its own transaction, so that no transaction runs outside the lane
transfer='WITH d AS (UPDATE accounts SET balance = balance - $3 WHERE id = $1 AND balance >= $3 RETURNING id) UPDATE accounts SET balance = balance + $3 WHERE id = $2 AND EXISTS (SELECT FROM d); INSERT INTO calls SELECT $4::int WHERE $4::int > 0'
for v in defaults:'' nolane_t:', escalate_after => NULL'; do
	cat >"$d/${v%%:*}.sql" <<SQL
\\set a random(1, 10)
\\set b (:a + random(0, 8)) % 10 + 1
\\set amt random(1, 100)
CALL resilience.retry_transaction('$transfer', ARRAY[:a, :b, :amt, :attempts]::text[]${v#*:}) \\gset
SQL
done
for clients in 8 32 64; do
	for v in defaults nolane_t; do
		psql_q -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS accounts, calls" \
			-c "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)" \
			-c "INSERT INTO accounts SELECT g, 1000 FROM generate_series(1, 10) g" \
			-c "CREATE UNLOGGED TABLE calls (attempts int NOT NULL)" -c "VACUUM ANALYZE accounts"
		idle
		pgbench -n -h 127.0.0.1 -M prepared -D attempts=0 -c "$clients" -j 8 -T "$BENCH_SECONDS" \
			-f "$d/$v.sql" "$BENCH_DB" >"$d/t.out" 2>&1 || true
		tps=$(sed -nE 's/^tps = ([0-9.]+) \(without.*/\1/p' "$d/t.out")
		failed=$(sed -nE 's/^number of failed transactions: ([0-9]+).*/\1/p' "$d/t.out")
		errors=$(grep -c 'ERROR' "$d/t.out" || true)
		stats=$(psql_q -Atc "SELECT count(*) || ' calls, ' || count(*) FILTER (WHERE attempts > 1) || ' retried, at most ' || coalesce(max(attempts), 0) || ' attempts, total ' || (SELECT sum(balance) FROM accounts) || ' (of 10000)' FROM calls")
		label="transfers $clients clients"
		[ "$v" = nolane_t ] && label="$label without the lane"
		echo "$label: ${tps:-?} tps, ${failed:-?} failed, $errors errors, $stats"
	done
done
fi
