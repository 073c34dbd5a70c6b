# backoff_delay micro-benchmark: one call per pgbench transaction, against the
# cheapest built-in volatile function returning an interval from random().
. ./lib.sh
d=$(mktemp -d)
echo "SELECT resilience.backoff_delay(5, '10ms', '10s', 'full');" >"$d/backoff.sql"
echo "SELECT random() * interval '160ms';" >"$d/baseline.sql"
base=$(tps "$d/baseline.sql")
val=$(tps "$d/backoff.sql")
report "backoff_delay select" "$val" "$base"
# many calls per statement: the function's own cost, not the round trip
echo "SELECT count(resilience.backoff_delay((g % 30) + 1, '10ms', '10s', 'full')) FROM generate_series(1, 100000) g;" >"$d/backoff_bulk.sql"
echo "SELECT count(random() * interval '160ms') FROM generate_series(1, 100000) g;" >"$d/baseline_bulk.sql"
base=$(tps "$d/baseline_bulk.sql")
val=$(tps "$d/backoff_bulk.sql")
report "backoff_delay x100k per statement" "$val" "$base"
rm -rf "$d"
