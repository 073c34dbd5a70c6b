#!/bin/bash
# Runs every benchmark in bench/ (bench/*.sh but lib.sh and run.sh) against the
# server given by PGHOST/PGPORT, each printing "name: value (baseline: value) ratio".
set -euo pipefail
cd "$(dirname "$0")"
psql -X -q -c 'DROP DATABASE IF EXISTS bench' -c 'CREATE DATABASE bench' >/dev/null 2>&1
psql -X -q -d bench -c 'CREATE EXTENSION resilience' >/dev/null
for b in *.sh; do
	case "$b" in lib.sh | run.sh) continue ;; esac
	[ -n "${BENCH_ONLY:-}" ] && [[ "$b" != *"$BENCH_ONLY"* ]] && continue
	echo "== ${b%.sh}"
	bash "$b"
done
