#!/bin/bash
# Build a PostgreSQL server from a source tree archive into a cache directory,
# once, and print the installed pg_config's path on the last line.
#
#   tools/build-pg.sh /path/to/postgresql-18.3.tar.gz
#
# The installation lives in $PG_BUILD_CACHE/pg<major>-<sha256 of the archive>
# (default cache /var/cache/resilience as root, ~/.cache/resilience otherwise),
# so a second run, or a run from another checkout on the same machine, reuses it.
# The server is configured as CI needs it: assertions, TAP tests, OpenSSL (for
# contrib/pgcrypto) and ICU; contrib and the isolation tester are installed too.
#
# Safe to re-run after an interruption: the build happens in a temporary
# directory, and the installation (configured with its final prefix, staged with
# DESTDIR) is renamed into place only when complete, so the cache directory
# either holds a whole installation or does not exist.  A lock keeps two
# concurrent runs from building the same archive twice.
set -euo pipefail

tarball=${1:?usage: build-pg.sh postgresql-X.Y.tar.gz}
[ -f "$tarball" ] || { echo "no such archive: $tarball" >&2; exit 1; }
tarball=$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")

if [ -z "${PG_BUILD_CACHE:-}" ]; then
	if [ "$(id -u)" -eq 0 ]; then
		PG_BUILD_CACHE=/var/cache/resilience
	else
		PG_BUILD_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/resilience
	fi
fi
# source trees are named postgresql-<major>.<minor>[.<patch>]
version=$(basename "$tarball" | sed -nE 's/^postgresql-([0-9]+(\.[0-9]+)*)\.tar\.(gz|bz2|xz)$/\1/p')
[ -n "$version" ] || { echo "cannot read a version from $(basename "$tarball")" >&2; exit 1; }
major=${version%%.*}
sum=$(sha256sum "$tarball" | cut -d' ' -f1)
prefix=$PG_BUILD_CACHE/pg$major-$sum

done_msg() { echo "$prefix/bin/pg_config"; }

complete() { [ -x "$prefix/bin/pg_config" ] && [ -f "$prefix/.complete" ]; }
if complete; then
	done_msg
	exit 0
fi

mkdir -p "$PG_BUILD_CACHE"
exec 9>"$PG_BUILD_CACHE/.pg$major-$sum.lock"
flock 9
# another run may have finished it while we waited for the lock
if complete; then
	done_msg
	exit 0
fi

# build dependencies (Debian); as root they are installed, otherwise named
deps=(bison flex libreadline-dev zlib1g-dev libicu-dev libssl-dev pkg-config libipc-run-perl build-essential)
missing=()
for p in "${deps[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "installing build dependencies of PostgreSQL: ${missing[*]}" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq "${missing[@]}" </dev/null >&2
	else
		echo "missing build dependencies; install them with:" >&2
		echo "  sudo apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
fi

# leftovers of interrupted runs
rm -rf "$PG_BUILD_CACHE"/.build-pg"$major"-"$sum".* "$prefix.partial"
work=$(mktemp -d "$PG_BUILD_CACHE/.build-pg$major-$sum.XXXXXX")
trap 'rm -rf "$work"' EXIT

jobs=${PG_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}
# Run from `make test-majors`, the parent make's MAKELEVEL (1) would reach
# PostgreSQL's make, whose top level then skips building the generated
# headers first (Makefile.global does that only at MAKELEVEL 0), and a
# parallel build races for utils/errcodes.h on a machine with no cache yet.
unset MAKELEVEL MAKEFLAGS MFLAGS
log=$work/build.log
echo "building PostgreSQL $version into $prefix (log: $log; takes a few minutes)" >&2
# (chained with &&: set -e does not apply inside a command list tested by ||)
{
	tar xf "$tarball" -C "$work" &&
		src=$(ls -d "$work"/postgresql-*/ | head -n1) &&
		cd "$src" &&
		./configure --prefix="$prefix" --enable-cassert --enable-tap-tests \
			--with-ssl=openssl --with-icu &&
		make -j"$jobs" &&
		make -C contrib -j"$jobs" &&
		make install DESTDIR="$work/root" &&
		make -C contrib install DESTDIR="$work/root"
} >"$log" 2>&1 || {
	echo "PostgreSQL build failed; the end of $log:" >&2
	tail -n 40 "$log" >&2
	trap - EXIT
	exit 1
}
# what the extension's test harness needs from the installation (pg_config of
# the staged tree answers with staged paths: it locates itself)
pgc=$work/root$prefix/bin/pg_config
pgxsdir=$(dirname "$("$pgc" --pgxs)")/../..
for f in "$("$pgc" --bindir)/postgres" "$pgxsdir/src/test/regress/pg_regress" \
	"$pgxsdir/src/test/isolation/pg_isolation_regress" "$pgxsdir/src/test/isolation/isolationtester" \
	"$pgxsdir/src/test/perl/PostgreSQL/Test/Cluster.pm" "$("$pgc" --pkglibdir)/pgcrypto.so"; do
	[ -e "$f" ] || { echo "the build installed no ${f#"$work/root"}" >&2; exit 1; }
done
touch "$work/root$prefix/.complete"
cp "$log" "$work/root$prefix/build.log"

# the DESTDIR tree holds exactly the prefix: move it into place in one rename
mv "$work/root$prefix" "$prefix.partial"
rm -rf "$prefix"
mv -T "$prefix.partial" "$prefix"
echo "PostgreSQL $version installed in $prefix" >&2
done_msg
