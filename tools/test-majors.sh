#!/bin/bash
# `make test` on every PostgreSQL major the project supports (what CI runs):
#   1. the installed server (PostgreSQL 15 on Debian 12, or PG_CONFIG);
#   2. each server built from a source archive postgresql-*.tar.* found in
#      $PG_SOURCES, else in ../shared/pg beside the checkout, else in
#      /work/shared/pg (built once per archive and cached by tools/build-pg.sh).
# No archive found: that part is skipped, saying so.  Each major's summary is
# printed as it finishes; the last line is the total, "N passed, M failed",
# and the exit status is non-zero if any major failed.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

passed=0
failed=0
status=0
summaries=()
log=$(mktemp /tmp/resilience-majors.XXXXXX)
trap 'rm -f "$log"' EXIT

# run_major LABEL [VAR=VALUE...]: make test with that environment, and add up
# its closing "N passed, M failed"
run_major()
{
	local label=$1 rc line
	shift
	echo "=== make test on $label"
	env "$@" make --no-print-directory test 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n1)
	if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		passed=$((passed + BASH_REMATCH[1]))
		failed=$((failed + BASH_REMATCH[2]))
		[ "$rc" -ne 0 ] && [ "${BASH_REMATCH[2]}" -eq 0 ] && failed=$((failed + 1))
	else
		# it stopped before the suites (build error, server did not start)
		line="no result (make test exited with $rc)"
		failed=$((failed + 1))
	fi
	[ "$rc" -ne 0 ] && status=1
	summaries+=("$label: $line")
}

run_major "PostgreSQL $(. tools/pgenv.sh && "$PG_CONFIG" --version | sed 's/^PostgreSQL //') (installed)"

# PG_SOURCES, when set, is the only place looked at (set it to an empty
# directory to test the installed server alone)
if [ -n "${PG_SOURCES:-}" ]; then
	places=("$PG_SOURCES")
else
	places=("$(dirname "$top")/shared/pg" /work/shared/pg)
fi
sources=
for d in "${places[@]}"; do
	if compgen -G "$d/postgresql-*.tar.*" >/dev/null; then
		sources=$d
		break
	fi
done
if [ -z "$sources" ]; then
	summaries+=("PostgreSQL built from source: skipped, no postgresql-*.tar.* archive in ${places[*]}")
	echo "=== ${summaries[-1]}"
else
	for tarball in "$sources"/postgresql-*.tar.*; do
		name=$(basename "$tarball")
		if pgc=$(tools/build-pg.sh "$tarball" | tail -n1) && [ -x "$pgc" ]; then
			run_major "PostgreSQL $("$pgc" --version | sed 's/^PostgreSQL //') (built from $tarball)" PG_CONFIG="$pgc"
		else
			summaries+=("$name: the server did not build")
			failed=$((failed + 1))
			status=1
		fi
	done
fi
echo "=== summary"
printf '%s\n' "${summaries[@]}"
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "$passed passed, $failed failed"
exit $status
