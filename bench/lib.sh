# Helpers for the benchmarks in bench/, sourced by each bench/*.sh.
# The runner (bench/run.sh) provides a throwaway server through PGHOST/PGPORT.
set -euo pipefail

BENCH_SECONDS=${BENCH_SECONDS:-5}
BENCH_CLIENTS=${BENCH_CLIENTS:-2}
BENCH_DB=${BENCH_DB:-bench}

psql_q() { psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" "$@"; }

# tps SCRIPT [extra pgbench args...]: transactions per second of a pgbench
# script (excluding connection time), printed as a number.
tps()
{
	local script=$1
	shift
	pgbench -n -M prepared -c "$BENCH_CLIENTS" -j "$BENCH_CLIENTS" -T "$BENCH_SECONDS" \
		-f "$script" "$@" "$BENCH_DB" 2>&1 |
		sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\)/\1/p'
}

# report NAME VALUE BASELINE [UNIT]: the line every benchmark prints,
# "name: value (baseline: value) ratio"
report()
{
	local name=$1 value=$2 base=$3 unit=${4:-tps}
	awk -v n="$name" -v v="$value" -v b="$base" -v u="$unit" \
		'BEGIN { printf "%s: %.1f %s (baseline: %.1f %s) %.2fx\n", n, v, u, b, u, (b > 0 ? v / b : 0) }'
}
