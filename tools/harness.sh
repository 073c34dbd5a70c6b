#!/bin/bash
# Throwaway-server harness behind `make demo`, `make test` and `make bench`,
# and the fuzz run behind `make fuzz` (which needs no server, see below).
#
# It never touches a system cluster nor the system's extension directory:
#   1. mirrors the server's bin/, lib/ and share/ into a private directory, so
#      the staged postgres finds its files there (PostgreSQL locates them
#      relative to its own binary);
#   2. builds the extension and installs it into that mirror (DESTDIR);
#   3. initdb + starts a server there on a free port, its socket in the same
#      directory, as the postgres user when run as root (initdb refuses root);
#   4. runs the demo, the suites or the benchmarks against it (the suites
#      through PGXS's installcheck, so the Makefile's lists are the only
#      ones; make test also checks what the built module exports, and runs
#      the regression suites again on a second server that does not preload
#      the library, all but REGRESS_NEEDS_PRELOAD);
#   5. stops the server and removes everything (KEEP=1 keeps the directory).
set -euo pipefail

mode=${1:?usage: harness.sh demo|test|bench|fuzz|exec CMD...}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. tools/pgenv.sh

# ---- fuzz ----------------------------------------------------------------
# The cursor decoder (src/cursor_codec.c, the extension's own file) under
# libFuzzer with ASan and UBSan, for FUZZ_SECONDS (default 300), from the seed
# corpus fuzz/corpus/.  Inputs found are kept in fuzz/out/corpus/ (ignored by
# git) for the next run; a crash leaves its input in fuzz/out/ and fails.
# One closing line: runs, seconds, executions per second, crashes.
if [ "$mode" = fuzz ]; then
	secs=${FUZZ_SECONDS:-300}
	out=$top/fuzz/out
	mkdir -p "$out/corpus"
	rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* "$out"/slow-unit-*
	fuzzflags=(-g -O1 -DUSE_ASSERT_CHECKING -Wall -Wextra -Wno-unused-parameter
		-Wno-ignored-attributes -Werror -Isrc -I"$PGINC")
	clang "${fuzzflags[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		fuzz/cursor_fuzz.c fuzz/shim.c src/cursor_codec.c src/sha256.c -o "$out/cursor_fuzz"
	start=$(date +%s)
	rc=0
	"$out/cursor_fuzz" -max_total_time="$secs" -max_len=4200 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$out/" "$out/corpus" fuzz/corpus \
		>"$out/fuzz.log" 2>&1 || rc=$?
	elapsed=$(($(date +%s) - start))
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz.log" | tail -n1)
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/fuzz.log" | tail -n1)
	crashes=$(find "$out" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
	if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ] || [ -z "$runs" ]; then
		tail -n 60 "$out/fuzz.log"
		find "$out" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) -printf 'input kept: %p\n'
		[ "$crashes" -gt 0 ] || crashes=1
		echo "fuzz: ${runs:-0} runs in $elapsed s (${eps:-0}/s), $crashes crashes"
		exit 1
	fi
	echo "fuzz: $runs runs in $elapsed s ($eps/s), 0 crashes"
	exit 0
fi

PKGLIB=$("$PG_CONFIG" --pkglibdir)
SHARE=$("$PG_CONFIG" --sharedir)
NPROC=$(nproc 2>/dev/null || echo 2)

# ---- build ---------------------------------------------------------------
# objects compiled for another server (or with other flags) are not reused:
# make cannot tell, so a change of server or of PG_CFLAGS cleans first
stamp="$("$PG_CONFIG" --version) $PG_CONFIG ${PG_CFLAGS:-}"
if [ "$(cat .build-server 2>/dev/null)" != "$stamp" ]; then
	make -s PG_CONFIG="$PG_CONFIG" clean >/dev/null 2>&1 || true
	printf '%s\n' "$stamp" >.build-server
fi
make -s -j"$NPROC" PG_CONFIG="$PG_CONFIG" ${PG_CFLAGS:+PG_CFLAGS="$PG_CFLAGS"} >/dev/null

# ---- stage ---------------------------------------------------------------
STAGE=$(mktemp -d /tmp/resilience.XXXXXX)
chmod 755 "$STAGE"
SERVERS=()
# stop_server DATADIR: stop one of the servers start_server started
stop_server()
{
	as_pg "$SBIN/pg_ctl" -D "$1" -m fast -w stop >/dev/null 2>&1 ||
		as_pg "$SBIN/pg_ctl" -D "$1" -m immediate -w stop >/dev/null 2>&1 || true
}
cleanup()
{
	rc=$?
	for d in "${SERVERS[@]}"; do
		[ -f "$d/postmaster.pid" ] && stop_server "$d"
	done
	if [ "${KEEP:-0}" = 1 ]; then
		echo "kept $STAGE"
	else
		rm -rf "$STAGE"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$STAGE$PGBIN" "$STAGE$PKGLIB" "$STAGE$SHARE"
cp -a "$PGBIN/." "$STAGE$PGBIN/"
find "$PKGLIB" -maxdepth 1 -name '*.so' -exec cp -a {} "$STAGE$PKGLIB/" \;
cp -a "$SHARE/." "$STAGE$SHARE/"
make -s PG_CONFIG="$PG_CONFIG" install DESTDIR="$STAGE" with_llvm=no >/dev/null
SBIN=$STAGE$PGBIN

if [ "$(id -u)" -eq 0 ]; then
	PGOSUSER=postgres
	id "$PGOSUSER" >/dev/null 2>&1 || useradd --system --no-create-home "$PGOSUSER"
	as_pg() { runuser -u "$PGOSUSER" -- "$@"; }
else
	PGOSUSER=$(id -un)
	as_pg() { "$@"; }
fi

# a free TCP port (the server listens on its own socket directory and on
# 127.0.0.1, so the port must not be taken there)
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port()
{
	local p=$((20000 + RANDOM % 30000))
	until port_free "$p"; do p=$((20000 + RANDOM % 30000)); done
	echo "$p"
}

# ---- server --------------------------------------------------------------
mkdir -p "$STAGE/sock" "$STAGE/work"
chown "$PGOSUSER" "$STAGE/sock" "$STAGE/work"
# start_server DIR LOG PORT [CONF]: initdb $STAGE/DIR and start it on PORT,
# its socket in $STAGE/sock, its log $STAGE/work/LOG, with the settings every
# throwaway server has and then the lines CONF
start_server()
{
	local d=$STAGE/$1 log=$STAGE/work/$2 port=$3
	mkdir -p "$d"
	chown "$PGOSUSER" "$d"
	chmod 700 "$d"
	as_pg "$SBIN/initdb" -D "$d" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$STAGE/initdb-$1.log" 2>&1 ||
		{ cat "$STAGE/initdb-$1.log"; return 1; }
	cat >>"$d/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$STAGE/sock'
fsync = off
synchronous_commit = off
full_page_writes = off
jit = off
max_connections = 100
max_prepared_transactions = 10
shared_buffers = 256MB
log_line_prefix = '%m [%p] %q%a '
lc_messages = 'C'
${4:-}
CONF
	SERVERS+=("$d")
	as_pg "$SBIN/pg_ctl" -D "$d" -l "$log" -w -t 60 start >/dev/null
}

PORT=$(free_port)
# rate limits and circuit breakers keep their state in shared memory; room
# for the benchmark's 100k rate limit keys
start_server data server.log "$PORT" "shared_preload_libraries = 'resilience'
resilience.max_rate_limit_keys = 131072"

export PGHOST="$STAGE/sock" PGPORT="$PORT" PGUSER=postgres PGDATABASE=postgres
export PATH="$PGBIN:$PATH"
unset PGSERVICE PGOPTIONS PGPASSWORD

PSQL=(psql -X -v ON_ERROR_STOP=1)

case "$mode" in
demo)
	"${PSQL[@]}" -q -c 'CREATE DATABASE demo' >/dev/null
	for f in demo/*.sql; do
		"${PSQL[@]}" -d demo -a -f "$f"
	done
	;;

test)
	passed=0
	failed=0
	status=0
	# pg_regress / pg_isolation_regress summary: "All N tests passed." or
	# "M of N tests failed." (with optional ", K of these failures ignored");
	# from PostgreSQL 16 on, pg_regress writes TAP, so the line starts "# "
	tally()
	{
		local line n m
		line=$(grep -E '^(# )? *(All [0-9]+ tests passed|[0-9]+ of [0-9]+ tests failed)' "$1" | tail -n1 || true)
		line=${line#"# "}
		line=${line#"${line%%[! ]*}"}
		if [[ $line =~ ^All\ ([0-9]+)\ tests\ passed ]]; then
			passed=$((passed + BASH_REMATCH[1]))
		elif [[ $line =~ ^([0-9]+)\ of\ ([0-9]+)\ tests\ failed ]]; then
			m=${BASH_REMATCH[1]}; n=${BASH_REMATCH[2]}
			passed=$((passed + n - m)); failed=$((failed + m))
		else
			failed=$((failed + 1))
		fi
	}
	# the suites are the Makefile's (REGRESS, ISOLATION, TAP_TESTS), run by
	# PGXS's installcheck against the staged server, one kind at a time so
	# that each summary is counted; bindir points them at the staged binaries.
	# A kind set empty on the command line (make test ISOLATION=) is skipped,
	# not counted as a failure.
	pgxs_check() { make -s PG_CONFIG="$PG_CONFIG" bindir="$SBIN" "$@"; }

	echo "== exported symbols"
	if tools/check-exports.sh "$STAGE$PKGLIB/resilience.so" resilience--*.sql; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
	echo "== cache invalidation callbacks"
	if tools/check-callbacks.sh "$STAGE$PKGLIB/resilience.so"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi

	rm -rf results results-nopreload output_iso regression.diffs regression.out
	if compgen -G 'sql/*.sql' >/dev/null && [ -n "${REGRESS-x}" ]; then
		echo "== regression suites"
		pgxs_check installcheck ISOLATION= TAP_TESTS= 2>&1 | tee "$STAGE/regress.log" || status=1
		tally "$STAGE/regress.log"
		[ -f regression.diffs ] && { echo "== regression.diffs"; cat regression.diffs; }
	fi
	# the same suites but those in REGRESS_NEEDS_PRELOAD, on a second server that
	# does not preload the library: they must give the same expected output there.
	# Outputs and diffs go to results-nopreload/ (make installcheck-nopreload).
	nopreload=
	if compgen -G 'sql/*.sql' >/dev/null && [ -n "${REGRESS-x}" ]; then
		nopreload=$(make -s --no-print-directory PG_CONFIG="$PG_CONFIG" regress-nopreload)
	fi
	if [ -n "$nopreload" ]; then
		echo "== regression suites without shared_preload_libraries"
		port2=$(free_port)
		if ! start_server data-nopreload server-nopreload.log "$port2"; then
			echo "the server without shared_preload_libraries did not start (work/server-nopreload.log)"
			failed=$((failed + 1))
		elif [ -n "$(PGPORT=$port2 psql -X -Atc 'SHOW shared_preload_libraries')" ]; then
			echo "the second server preloads libraries: this pass would prove nothing"
			failed=$((failed + 1))
		else
			PGPORT=$port2 pgxs_check installcheck-nopreload 2>&1 |
				tee "$STAGE/regress-nopreload.log" || status=1
			tally "$STAGE/regress-nopreload.log"
		fi
		stop_server "$STAGE/data-nopreload"
		[ -f results-nopreload/regression.diffs ] &&
			{ echo "== results-nopreload/regression.diffs"; cat results-nopreload/regression.diffs; }
	fi
	if compgen -G 'specs/*.spec' >/dev/null && [ -n "${ISOLATION-x}" ]; then
		echo "== isolation suites"
		pgxs_check installcheck REGRESS= TAP_TESTS= 2>&1 | tee "$STAGE/isolation.log" || status=1
		tally "$STAGE/isolation.log"
		[ -f output_iso/regression.diffs ] && { echo "== output_iso/regression.diffs"; cat output_iso/regression.diffs; }
	fi
	if compgen -G 't/*.pl' >/dev/null && [ -n "${TAP_TESTS-x}" ]; then
		echo "== TAP suites"
		# TAP tests make their own clusters from the staged binaries, so they
		# run as the server's user (initdb refuses root), from a copy of the
		# Makefile and t/ that this user can write its tmp_check into.
		mkdir -p "$STAGE/tap"
		# drivers/, docs/, tools/: the programs t/030_drivers.pl runs, the docs quoting them
		cp -a Makefile resilience.control t drivers docs tools monitoring "$STAGE/tap/"
		chown -R "$PGOSUSER" "$STAGE/tap"
		(cd "$STAGE/tap" && as_pg env PATH="$PATH" make -s PG_CONFIG="$PG_CONFIG" bindir="$SBIN" \
			REGRESS= ISOLATION= installcheck) 2>&1 | tee "$STAGE/tap.log" || status=1
		tapn=$(sed -nE 's/^Files=[0-9]+, Tests=([0-9]+),.*/\1/p' "$STAGE/tap.log" | tail -n1)
		tapf=$(sed -nE 's/.*Failed ([0-9]+)\/[0-9]+ subtests.*/\1/p' "$STAGE/tap.log" | awk '{s+=$1} END {print s+0}')
		tapbad=$(grep -cE '(Wstat: [1-9]|No plan found|Bad plan|Parse errors)' "$STAGE/tap.log" || true)
		passed=$((passed + ${tapn:-0} - tapf)); failed=$((failed + tapf + tapbad))
		if [ "$tapf" -gt 0 ] || [ "$tapbad" -gt 0 ] || ! grep -q '^Result: PASS' "$STAGE/tap.log"; then
			status=1
			for l in "$STAGE"/tap/tmp_check/log/regress_log_*; do
				[ -f "$l" ] && { echo "== $l (tail)"; tail -n 60 "$l"; }
			done
		fi
	fi
	[ "$failed" -gt 0 ] && status=1
	[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
	echo "$passed passed, $failed failed"
	exit $status
	;;

bench)
	export SBIN STAGE
	bench/run.sh
	;;

exec)
	# tools/harness.sh exec CMD...: run a command against the throwaway
	# server (PGHOST/PGPORT set), e.g. to reproduce a race by hand
	shift
	"$@"
	;;
esac
