#!/bin/bash
# Make sure everything `make demo|test|bench|fuzz` needs is present; the
# argument is the target (`tools/deps.sh fuzz` also wants clang and its
# libFuzzer and sanitizer runtimes, `tools/deps.sh bench` redis-server, PgQ
# and node, which no other target needs).
#
# As root on Debian the missing packages are installed with apt-get; anyone else
# is told the exact command to run.  Quiet when nothing is missing.
set -euo pipefail

. "$(dirname "$0")/pgenv.sh"

# the driver suites' packages (python3-psycopg, node + pg, golang + pgx v4,
# a JDK + libpostgresql-jdbc-java) for make test and CI (no argument): never
# fatal
case "${1:-test}" in test) "$(dirname "$0")/deps-drivers.sh" ;; esac

# the exporter test (t/090_stats.pl) runs Debian's prometheus-postgres-exporter
# and reads it with curl: never fatal, the test skips and says why
if [ "${1:-test}" = test ] && { ! [ -x /usr/bin/prometheus-postgres-exporter ] || ! command -v curl >/dev/null 2>&1; }; then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "installing the exporter test's dependencies: prometheus-postgres-exporter curl"
		{ DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-postgres-exporter curl; } \
			</dev/null >/tmp/resilience-deps-exporter.log 2>&1 ||
			echo "could not install prometheus-postgres-exporter (see /tmp/resilience-deps-exporter.log): the exporter test is skipped" >&2
	else
		echo "exporter test: missing prometheus-postgres-exporter or curl; it is skipped. Install with:" >&2
		echo "  sudo apt-get install -y prometheus-postgres-exporter curl" >&2
	fi
fi

missing=()
case "$PG_CONFIG" in
/usr/lib/postgresql/* | /usr/bin/pg_config)
	# Debian's packages
	[ -f "$PGINC/postgres.h" ] && [ -f "$PGXS_MK" ] || missing+=("postgresql-server-dev-$PGMAJOR")
	[ -x "$PGXSDIR/src/test/isolation/pg_isolation_regress" ] || missing+=("postgresql-server-dev-$PGMAJOR")
	;;
*)
	# a server built from source (tools/build-pg.sh): no package can help
	for f in "$PGINC/postgres.h" "$PGXS_MK" "$PGXSDIR/src/test/regress/pg_regress" \
		"$PGXSDIR/src/test/isolation/pg_isolation_regress"; do
		if ! [ -e "$f" ]; then
			echo "$PG_CONFIG: the installation has no $f;" >&2
			echo "build the server with tools/build-pg.sh, which installs what the tests need" >&2
			exit 1
		fi
	done
	;;
esac
perl -MIPC::Run -e1 2>/dev/null || missing+=(libipc-run-perl)
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
# the benchmark compares rate_limit with a GCRA script in Redis (context only),
# and the queue with PgQ (Debian's postgresql-N-pgq3, for the installed server
# only: a server built from source has no package) and the npm peers (node)
if [ "${1:-}" = bench ]; then
	command -v redis-server >/dev/null 2>&1 && command -v redis-benchmark >/dev/null 2>&1 || missing+=(redis-server)
	case "$PG_CONFIG" in
	/usr/lib/postgresql/* | /usr/bin/pg_config)
		[ -f "$("$PG_CONFIG" --sharedir)/extension/pgq.control" ] || missing+=("postgresql-$PGMAJOR-pgq3")
		;;
	esac
	command -v node >/dev/null 2>&1 || missing+=(nodejs)
	command -v npm >/dev/null 2>&1 || missing+=(npm)
fi
command -v make >/dev/null 2>&1 && command -v gcc >/dev/null 2>&1 || missing+=(build-essential)
if [ "${1:-}" = fuzz ]; then
	command -v clang >/dev/null 2>&1 || missing+=(clang)
	# libFuzzer and the ASan/UBSan runtimes: Debian ships them apart from clang
	rt=$(clang -print-resource-dir 2>/dev/null || true)
	[ -n "$rt" ] && compgen -G "$rt/lib/linux/libclang_rt.fuzzer-*.a" >/dev/null || missing+=(libclang-rt-dev)
fi

[ ${#missing[@]} -eq 0 ] && exit 0
# de-duplicate
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "installing missing build dependencies: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${missing[@]}" </dev/null
else
	echo "missing build dependencies; install them with:" >&2
	echo "  sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
