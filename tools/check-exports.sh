#!/bin/bash
# tools/check-exports.sh MODULE.so SCRIPT.sql...
#
# The module must export exactly its magic block, _PG_init and, for every C
# symbol the install and upgrade scripts bind (AS 'MODULE_PATHNAME', 'sym'),
# sym and pg_finfo_sym.  Extensions load with RTLD_GLOBAL, so anything else
# exported could capture another library's calls; a bound symbol missing
# would make CREATE FUNCTION fail.  Exit status 1, listing the offenders.
set -euo pipefail

so=${1:?usage: check-exports.sh MODULE.so SCRIPT.sql...}
shift
[ $# -gt 0 ] || { echo "check-exports.sh: no SQL scripts given" >&2; exit 2; }

bound=$(sed -nE "s/.*'MODULE_PATHNAME' *, *'([A-Za-z_][A-Za-z0-9_]*)'.*/\1/p" "$@" | sort -u)
[ -n "$bound" ] || { echo "check-exports.sh: no MODULE_PATHNAME symbols in $*" >&2; exit 2; }
allowed=$( { echo Pg_magic_func; echo _PG_init; for s in $bound; do echo "$s"; echo "pg_finfo_$s"; done; } | sort -u)
# the ELF linker's own markers, which some toolchains export from every .so
exported=$(nm -D --defined-only "$so" | awk '{print $NF}' |
	grep -vxE '_init|_fini|_edata|_end|__bss_start' | sort -u)

extra=$(comm -13 <(echo "$allowed") <(echo "$exported"))
missing=$(comm -23 <(echo "$allowed") <(echo "$exported"))
status=0
if [ -n "$extra" ]; then
	echo "exported but not an SQL entry point (hide it: static, or not PGDLLEXPORT):"
	echo "$extra" | sed 's/^/  /'
	status=1
fi
if [ -n "$missing" ]; then
	echo "bound by the SQL scripts but not exported (declare it with RESILIENCE_FUNCTION):"
	echo "$missing" | sed 's/^/  /'
	status=1
fi
[ $status -eq 0 ] && echo "ok: $(echo "$exported" | wc -l) symbols, all of them entry points the SQL binds"
exit $status
