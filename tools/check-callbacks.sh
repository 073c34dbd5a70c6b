#!/bin/bash
# tools/check-callbacks.sh MODULE.so
#
# PostgreSQL keeps a fixed number of relcache callbacks per backend for every
# loaded module together (10 in PostgreSQL 15; one more is FATAL), so the
# module registers one relcache and one syscache callback, in src/inval.c,
# and its caches listen through it.  The built module must call each
# registration function from exactly one place.  Exit status 1 otherwise.
set -euo pipefail

so=${1:?usage: check-callbacks.sh MODULE.so}
status=0
for fn in CacheRegisterRelcacheCallback CacheRegisterSyscacheCallback; do
	n=$(objdump -d "$so" | grep -cE "(call|jmp)[^<]*<$fn(@plt)?>" || true)
	if [ "$n" -ne 1 ]; then
		echo "$fn is called from $n places in $so, not 1: register through inval_listen() (src/inval.h)"
		status=1
	fi
done
[ $status -eq 0 ] && echo "ok: one relcache and one syscache callback registration"
exit $status
