# Sourced by the tools: locate the PostgreSQL installation to build against.
# PG_CONFIG may be set by the caller; otherwise the newest installed server wins.
if [ -z "${PG_CONFIG:-}" ]; then
	PG_CONFIG=$(ls -d /usr/lib/postgresql/*/bin/pg_config 2>/dev/null | sort -V | tail -n1)
	[ -n "$PG_CONFIG" ] || PG_CONFIG=$(command -v pg_config || true)
fi
if [ -z "$PG_CONFIG" ] || ! [ -x "$PG_CONFIG" ]; then
	echo "no PostgreSQL installation found (pg_config); install postgresql first" >&2
	exit 1
fi
export PG_CONFIG
PGBIN=$("$PG_CONFIG" --bindir)
PGMAJOR=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
PGINC=$("$PG_CONFIG" --includedir-server)
PGXSDIR=$(dirname "$("$PG_CONFIG" --pgxs)")/../..
PGXS_MK=$("$PG_CONFIG" --pgxs)
