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

# alternate BASE_FN VALUE_FN: the two commands (each prints one tps figure)
# run ALT_ROUNDS times each (default 6), in turn and in alternating order
# (base first, then value first), so drifting load from outside hits both
# sides alike.  Prints "base value ratio min max": the mean tps of each side,
# then the median, lowest and highest of the per-round ratios value/base.
alternate()
{
	local i b v rows=""
	for i in $(seq "${ALT_ROUNDS:-6}"); do
		if [ $((i % 2)) -eq 1 ]; then b=$($1); v=$($2); else v=$($2); b=$($1); fi
		rows+="$b $v"$'\n'
	done
	printf '%s' "$rows" | awk '{ print ($1 > 0 ? $2 / $1 : 0), $1, $2 }' | sort -g |
		awk '{ r[NR] = $1; b += $2; v += $3 }
		END { m = (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2;
		      printf "%.1f %.1f %.4f %.4f %.4f\n", b / NR, v / NR, m, r[1], r[NR] }'
}

# report_alternate NAME "base value ratio min max" [UNIT]: the report line of
# an alternate run; the ratio is the median of the per-round ratios.
report_alternate()
{
	local name=$1 unit=${3:-tps} b v r lo hi
	read -r b v r lo hi <<<"$2"
	awk -v n="$name" -v v="$v" -v b="$b" -v r="$r" -v lo="$lo" -v hi="$hi" -v u="$unit" \
		-v k="${ALT_ROUNDS:-6}" \
		'BEGIN { printf "%s: %.1f %s (baseline: %.1f %s) %.2fx (median of %d alternated rounds, range %.2f-%.2f)\n", n, v, u, b, u, r, k, lo, hi }'
}
