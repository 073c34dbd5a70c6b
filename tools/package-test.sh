#!/bin/bash
# Build the Debian package (debian/, pg_buildext), install it with dpkg, run
# the regression and isolation suites against the installed files on a
# throwaway cluster made with the system's own binaries and a stock
# configuration, then remove the package again.  The system is left as it was:
# the package is removed (dpkg -r) and the cluster deleted whatever happens.
#
# Needs root (dpkg -i).  Installs the build dependencies (debhelper,
# postgresql-server-dev-all, postgresql-common) if missing.  Refuses to run if
# postgresql-<major>-resilience is installed already, or if resilience's files
# are in the system's extension directory without a package owning them (a
# `make install`): removing the package would then not restore the system.
# First checks META.json (tools/meta-check.py).  Ends with "package-test: ..." saying what ran; exits non-zero on a failure.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

# PGXN: META.json against the meta spec 1.0.0
/usr/bin/python3 tools/meta-check.py META.json || exit 1

if [ "$(id -u)" -ne 0 ]; then
	echo "package-test: skipped: installing a package needs root" >&2
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive

need=()
command -v dpkg-buildpackage >/dev/null 2>&1 || need+=(dpkg-dev)
command -v dh >/dev/null 2>&1 || need+=(debhelper)
command -v pg_buildext >/dev/null 2>&1 || need+=(postgresql-common)
dpkg -s postgresql-server-dev-all >/dev/null 2>&1 || need+=(postgresql-server-dev-all)
if [ ${#need[@]} -gt 0 ]; then
	echo "package-test: installing build dependencies: ${need[*]}"
	apt-get update -qq </dev/null
	apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${need[@]}" </dev/null >/dev/null
fi

VERSION=$(dpkg-parsechangelog -l debian/changelog -S Version)
UPSTREAM=${VERSION%-*}
MAJORS=$(/usr/share/postgresql-common/supported-versions 2>/dev/null | sort -n)
PGMAJOR=$(for v in $MAJORS; do [ -x "/usr/lib/postgresql/$v/bin/pg_config" ] && echo "$v"; done | tail -n1)
[ -n "$PGMAJOR" ] || { echo "package-test: no supported PostgreSQL server with headers installed" >&2; exit 1; }
PKG=postgresql-$PGMAJOR-resilience
PGBIN=/usr/lib/postgresql/$PGMAJOR/bin
PGXSDIR=/usr/lib/postgresql/$PGMAJOR/lib/pgxs
EXTDIR=/usr/share/postgresql/$PGMAJOR/extension

if dpkg -s "$PKG" 2>/dev/null | grep -q '^Status: install ok installed'; then
	echo "package-test: $PKG is installed already; remove it first (dpkg -r $PKG)" >&2
	exit 1
fi
for f in "$EXTDIR"/resilience.control "/usr/lib/postgresql/$PGMAJOR/lib/resilience.so"; do
	if [ -e "$f" ]; then
		echo "package-test: $f exists without a package (make install?); remove it first" >&2
		exit 1
	fi
done

WORK=$(mktemp -d /tmp/resilience-pkg.XXXXXX)
chmod 755 "$WORK"
INSTALLED=0
SERVER_UP=0
as_pg() { runuser -u postgres -- "$@"; }
# dpkg takes no lock timeout: wait while another apt or dpkg holds its lock
dpkg_retry()
{
	local i out
	for i in $(seq 1 60); do
		if out=$(dpkg "$@" 2>&1); then
			return 0
		fi
		grep -q 'lock' <<<"$out" || { echo "$out" >&2; return 1; }
		sleep 5
	done
	echo "$out" >&2
	return 1
}
cleanup()
{
	rc=$?
	if [ "$SERVER_UP" = 1 ]; then
		as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	if [ "$INSTALLED" = 1 ]; then
		dpkg_retry -r "$PKG" >/dev/null || { echo "package-test: dpkg -r $PKG failed" >&2; rc=1; }
	fi
	if [ "$rc" -ne 0 ] && [ -f "$WORK/log/server.log" ]; then
		echo "== server.log (tail)"; tail -n 30 "$WORK/log/server.log"
	fi
	rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build: from a copy of the tree (committed and untracked files, not
# ignored ones), so the .deb files land in $WORK, not beside the checkout
SRC=$WORK/resilience-$UPSTREAM
mkdir "$SRC"
if git rev-parse --git-dir >/dev/null 2>&1; then
	git ls-files -co --exclude-standard -z | tar --null -cf - -T - | tar -xf - -C "$SRC"
else
	tar --exclude=./drivers/node/node_modules -cf - . | tar -xf - -C "$SRC"
fi
echo "package-test: building $PKG $VERSION (dpkg-buildpackage -us -uc -b)"
if ! (cd "$SRC" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -us -uc -b) >"$WORK/build.log" 2>&1; then
	tail -n 40 "$WORK/build.log"
	echo "package-test: the package build failed"
	exit 1
fi
DEB=$WORK/${PKG}_${VERSION}_$(dpkg --print-architecture).deb
[ -f "$DEB" ] || { echo "package-test: $DEB was not built" >&2; exit 1; }

# ---- install
dpkg_retry -i "$DEB" || { echo "package-test: dpkg -i failed (missing dependencies?)"; exit 1; }
INSTALLED=1
for f in "$EXTDIR/resilience.control" "$EXTDIR/resilience--$UPSTREAM.sql" \
	"$EXTDIR/resilience--1.0--$UPSTREAM.sql" "/usr/lib/postgresql/$PGMAJOR/lib/resilience.so"; do
	dpkg -S "$f" >/dev/null 2>&1 || { echo "package-test: $PKG does not install $f" >&2; exit 1; }
done

# ---- a stock cluster from the system's binaries (max_prepared_transactions
# = 0 and every other setting at its default but the preload), private
# socket, no TCP
id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
mkdir -p "$WORK/data" "$WORK/sock" "$WORK/log" "$WORK/out" "$WORK/out_iso"
chown postgres "$WORK/data" "$WORK/sock" "$WORK/log" "$WORK/out" "$WORK/out_iso"
chmod 700 "$WORK/data"
as_pg "$PGBIN/initdb" -D "$WORK/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$WORK/initdb.log" 2>&1 ||
	{ cat "$WORK/initdb.log"; exit 1; }
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=$((20000 + RANDOM % 30000))
until port_free "$PORT"; do PORT=$((20000 + RANDOM % 30000)); done
# shared_preload_libraries: the install step the README asks of the
# features with shared memory (rate limits, breakers)
cat >>"$WORK/data/postgresql.conf" <<CONF
shared_preload_libraries = 'resilience'
port = $PORT
listen_addresses = ''
unix_socket_directories = '$WORK/sock'
CONF
as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/log/server.log" -w -t 60 start >/dev/null
SERVER_UP=1

# ---- the suites, against the installed extension (make installcheck's
# REGRESS and ISOLATION lists)
cp -a sql expected specs "$WORK/out/" 2>/dev/null || true
chown -R postgres "$WORK/out"
mapfile -t regress < <(ls sql/*.sql | xargs -rn1 basename | sed 's/\.sql$//' | sort)
mapfile -t isolation < <(ls specs/*.spec 2>/dev/null | xargs -rn1 basename | sed 's/\.spec$//' | sort)
status=0
(cd "$WORK/out" && as_pg "$PGXSDIR/src/test/regress/pg_regress" --inputdir=. --outputdir=. \
	--bindir="$PGBIN" --host="$WORK/sock" --port="$PORT" --user=postgres \
	--dbname=contrib_regression --load-extension=resilience "${regress[@]}") >"$WORK/regress.log" 2>&1 || status=1
if [ ${#isolation[@]} -gt 0 ]; then
	(cd "$WORK/out" && as_pg "$PGXSDIR/src/test/isolation/pg_isolation_regress" --inputdir=. \
		--outputdir="$WORK/out_iso" --bindir="$PGBIN" --host="$WORK/sock" --port="$PORT" --user=postgres \
		--dbname=isolation_regression --load-extension=resilience "${isolation[@]}") >"$WORK/isolation.log" 2>&1 || status=1
fi
grep -E '^(test |ok |not ok |# )| tests? (passed|failed)' "$WORK/regress.log" "$WORK/isolation.log" 2>/dev/null |
	sed "s|^$WORK/||" || true
# the stock server has no prepared transactions: those parts must say they skipped
grep -q 'skipped: max_prepared_transactions = 0' "$WORK/out/results/guard_prepared.out" 2>/dev/null ||
	{ echo "package-test: guard_prepared did not take its stock-server branch" >&2; status=1; }
if [ "$status" -ne 0 ]; then
	for d in "$WORK/out/regression.diffs" "$WORK/out_iso/regression.diffs"; do
		[ -f "$d" ] && { echo "== $d"; head -n 200 "$d"; }
	done
	echo "package-test: FAILED: suites against the installed $PKG $VERSION"
	exit 1
fi
echo "package-test: ok: built $PKG $VERSION, installed it with dpkg, ran ${#regress[@]} regression and ${#isolation[@]} isolation suites against it on a stock server; removing it"
