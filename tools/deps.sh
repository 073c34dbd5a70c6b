#!/bin/bash
# Make sure everything `make demo|test|bench` needs is present.
#
# As root on Debian the missing packages are installed with apt-get; anyone else
# is told the exact command to run.  Quiet when nothing is missing.
set -euo pipefail

. "$(dirname "$0")/pgenv.sh"

# the driver suites' packages (python3-psycopg, node + pg, golang + pgx v4): never fatal
"$(dirname "$0")/deps-drivers.sh"

missing=()
[ -f "$PGINC/postgres.h" ] && [ -f "$PGXS_MK" ] || missing+=("postgresql-server-dev-$PGMAJOR")
[ -x "$PGXSDIR/src/test/isolation/pg_isolation_regress" ] || missing+=("postgresql-server-dev-$PGMAJOR")
perl -MIPC::Run -e1 2>/dev/null || missing+=(libipc-run-perl)
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
command -v make >/dev/null 2>&1 && command -v gcc >/dev/null 2>&1 || missing+=(build-essential)

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
