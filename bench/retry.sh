# Write skew ("doctors on call": take a doctor off call only if two or more
# of the shift remain on call) under SERIALIZABLE with 8 clients, two ways:
#   CALL resilience.retry_transaction(...)   one round trip, retried inside
#                                            the server with jittered backoff
#   BEGIN ISOLATION LEVEL SERIALIZABLE; ...; END   under pgbench
#                                            --max-tries=10000 (client-side
#                                            retries, no backoff)
# Same SQL, same data, same run.  Clients connect over TCP to 127.0.0.1, as
# an application would.  Prints committed tps (target ratio >= 2.0),
# failed transactions (target 0), retries per commit and p99 latency.
. ./lib.sh
CLIENTS=8
SHIFTS=${RETRY_SHIFTS:-4}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT

setup()
{
	psql_q -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS doctors" \
		-c "CREATE TABLE doctors (shift int, doc int, on_call bool NOT NULL, PRIMARY KEY (shift, doc))" \
		-c "INSERT INTO doctors SELECT s, d, true FROM generate_series(1, $SHIFTS) s, generate_series(1, 3) d" \
		-c "VACUUM ANALYZE doctors"
}

toggle='UPDATE doctors SET on_call = CASE WHEN (SELECT count(*) FROM doctors WHERE shift = $1 AND on_call) >= 2 THEN NOT on_call ELSE true END WHERE shift = $1 AND doc = $2'
cat >"$d/call.sql" <<SQL
\\set s random(1, $SHIFTS)
\\set d random(1, 3)
CALL resilience.retry_transaction('$toggle', ARRAY[:s, :d]::text[], max_attempts => 10000);
SQL
cat >"$d/client.sql" <<SQL
\\set s random(1, $SHIFTS)
\\set d random(1, 3)
BEGIN ISOLATION LEVEL SERIALIZABLE;
$(echo "$toggle" | sed -e 's/\$1/:s/g' -e 's/\$2/:d/g');
END;
SQL

# run NAME SCRIPT [pgbench args]: pgbench output in $d/NAME.out, per-
# transaction log in $d/NAME.log.*
run()
{
	local name=$1 script=$2
	shift 2
	setup
	pgbench -n -h 127.0.0.1 -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$BENCH_SECONDS" \
		--log --log-prefix="$d/$name.log" -f "$script" "$@" "$BENCH_DB" >"$d/$name.out" 2>&1
}
field() { sed -nE "s/^$2/\1/p" "$d/$1.out" | head -n1; }
p99() { cat "$d/$1".log.* | awk '{ print $3 }' | sort -n | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.3f", v[i] / 1000 }'; }
rollbacks() { psql_q -Atc "SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()"; }

r0=$(rollbacks)
run call "$d/call.sql"
sleep 1	# backends flush their statistics on exit
r1=$(rollbacks)
run client "$d/client.sql" --max-tries=10000 --failures-detailed

for f in call client; do
	grep -q '^tps = ' "$d/$f.out" || { cat "$d/$f.out"; exit 1; }
done
call_tps=$(field call 'tps = ([0-9.]+) \(without initial connection time\)')
base_tps=$(field client 'tps = ([0-9.]+) \(without initial connection time\)')
call_n=$(field call 'number of transactions actually processed: ([0-9]+).*')
base_n=$(field client 'number of transactions actually processed: ([0-9]+).*')
call_failed=$(field call 'number of failed transactions: ([0-9]+).*')
base_failed=$(field client 'number of failed transactions: ([0-9]+).*')
base_retries=$(field client 'total number of retries: ([0-9]+).*')
# every failed attempt inside the CALL is one rolled-back transaction
call_retries=$((r1 - r0))

report "write skew committed tps, CALL retry_transaction vs BEGIN SERIALIZABLE...END --max-tries=10000 ($CLIENTS clients, $SHIFTS shifts)" "$call_tps" "$base_tps"
awk -v v="$call_tps" -v b="$base_tps" 'BEGIN { printf "write skew committed tps ratio: %.2f (target >= 2.0)\n", (b > 0 ? v / b : 0) }'
echo "write skew failed transactions: ${call_failed:-?} (baseline: ${base_failed:-?})"
awk -v cr="$call_retries" -v cn="$call_n" -v br="${base_retries:-0}" -v bn="$base_n" \
	'BEGIN { v = cn > 0 ? cr / cn : 0; b = bn > 0 ? br / bn : 0;
	         printf "write skew retries per commit: %.3f (baseline: %.3f) %.2fx\n", v, b, (b > 0 ? v / b : 0) }'
awk -v v="$(p99 call)" -v b="$(p99 client)" \
	'BEGIN { printf "write skew p99 latency: %.3f ms (baseline: %.3f ms) %.2fx\n", v, b, (b > 0 ? v / b : 0) }'
