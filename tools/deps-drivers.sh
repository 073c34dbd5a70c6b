#!/bin/bash
# What the driver suites (t/030_drivers.pl) need: psycopg 3, node with pg
# (installed into drivers/node/node_modules from package-lock.json), Go
# with pgx v4 from Debian's source packages (built in GOPATH mode, offline),
# and a JDK with Debian's pgjdbc jar (compiled with javac, no Maven).
#
# Called by tools/deps.sh.  As root on Debian the missing packages are
# installed with apt-get; anyone else is told the command.  Never fatal: a
# driver whose dependency is missing is skipped by the test, which says why.
# Quiet when nothing is missing.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)

missing=()
/usr/bin/python3 -c 'import psycopg' 2>/dev/null || missing+=(python3-psycopg)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v go >/dev/null 2>&1 || missing+=(golang-go)
[ -d /usr/share/gocode/src/github.com/jackc/pgx/v4 ] || missing+=(golang-github-jackc-pgx-v4-dev)
# Debian's default JDK (OpenJDK 17 on Debian 12)
command -v javac >/dev/null 2>&1 && command -v java >/dev/null 2>&1 || missing+=(default-jdk-headless)
[ -f /usr/share/java/postgresql.jar ] || missing+=(libpostgresql-jdbc-java)

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "installing the driver suites' dependencies: ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		{ apt-get update -qq && apt-get install -y -qq "${missing[@]}"; } </dev/null >/tmp/resilience-deps-drivers.log 2>&1 ||
			{ echo "could not install ${missing[*]} (see /tmp/resilience-deps-drivers.log): those drivers are skipped" >&2; }
	else
		echo "driver suites: missing ${missing[*]}; those drivers are skipped. Install with:" >&2
		echo "  sudo apt-get install -y ${missing[*]}" >&2
	fi
fi

# node-postgres, pinned by package-lock.json, into the project's drivers/node
if command -v npm >/dev/null 2>&1 && ! [ -f "$top/drivers/node/node_modules/pg/package.json" ]; then
	echo "installing node-postgres into drivers/node (npm ci)"
	(cd "$top/drivers/node" && npm ci --no-audit --no-fund --loglevel=error </dev/null >/tmp/resilience-npm.log 2>&1) ||
		echo "npm ci failed (see /tmp/resilience-npm.log): the Node driver is skipped" >&2
fi
exit 0
