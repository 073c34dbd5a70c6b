# Guards and leases.
# 1. resilience.lock(name) against the usual hand-rolled advisory lock,
#    pg_advisory_xact_lock(hashtextextended(name, 0)), with the same names:
#    one lock per pgbench transaction, released at commit.
# 2. A lease cycle (acquire + renew + release, one lease per client) against
#    the same three statements written by hand on a plain table.
. ./lib.sh
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT

# The machine is shared: run baseline and candidate alternately, twice each,
# and keep each side's best run, so a burst of outside load hits both sides.
best_pair()
{
	local b1 v1 b2 v2
	b1=$(tps "$1"); v1=$(tps "$2"); b2=$(tps "$1"); v2=$(tps "$2")
	awk -v b1="$b1" -v b2="$b2" -v v1="$v1" -v v2="$v2" \
		'BEGIN { printf "%s %s\n", (b1 > b2 ? b1 : b2), (v1 > v2 ? v1 : v2) }'
}

cat >"$d/guard.sql" <<'SQL'
\set n random(1, 1000)
SELECT resilience.lock('job-' || :n);
SQL
cat >"$d/advisory.sql" <<'SQL'
\set n random(1, 1000)
SELECT pg_advisory_xact_lock(hashtextextended('job-' || :n, 0));
SQL
read -r base val < <(best_pair "$d/advisory.sql" "$d/guard.sql")
report "lock(name) vs pg_advisory_xact_lock(hashtextextended)" "$val" "$base"

# the functions' own cost, without the round trip: 10k session lock+unlock
# pairs per statement
cat >"$d/guard_bulk.sql" <<'SQL'
SELECT count(*) FROM generate_series(1, 10000) g
WHERE resilience.try_session_lock('job-' || g % 100) AND resilience.session_unlock('job-' || g % 100);
SQL
cat >"$d/advisory_bulk.sql" <<'SQL'
SELECT count(*) FROM generate_series(1, 10000) g
WHERE pg_try_advisory_lock(hashtextextended('job-' || g % 100, 0))
  AND pg_advisory_unlock(hashtextextended('job-' || g % 100, 0));
SQL
read -r base val < <(best_pair "$d/advisory_bulk.sql" "$d/guard_bulk.sql")
report "session lock+unlock x10k per statement" "$val" "$base"

psql_q <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_lease;
CREATE TABLE bench_lease (name text PRIMARY KEY, holder text, token bigint NOT NULL,
                          acquired_at timestamptz, renewed_at timestamptz, expires_at timestamptz);
DELETE FROM resilience.lease_state WHERE name LIKE 'bench-%';
SQL
cat >"$d/lease.sql" <<'SQL'
SELECT resilience.lease_acquire('bench-' || :client_id, 'c' || :client_id, '1 min') AS token \gset
SELECT resilience.lease_renew('bench-' || :client_id, 'c' || :client_id, :token, '1 min');
SELECT resilience.lease_release('bench-' || :client_id, 'c' || :client_id, :token);
SQL
cat >"$d/lease_raw.sql" <<'SQL'
INSERT INTO bench_lease AS l VALUES ('bench-' || :client_id, 'c' || :client_id, 1, now(), now(), now() + '1 min')
ON CONFLICT (name) DO UPDATE SET token = l.token + 1, holder = excluded.holder,
    acquired_at = excluded.acquired_at, renewed_at = excluded.renewed_at, expires_at = excluded.expires_at
WHERE l.holder IS NULL OR l.expires_at <= now()
RETURNING token \gset
UPDATE bench_lease SET renewed_at = now(), expires_at = now() + '1 min'
WHERE name = 'bench-' || :client_id AND holder = 'c' || :client_id AND token = :token AND expires_at > now();
UPDATE bench_lease SET holder = NULL, expires_at = now()
WHERE name = 'bench-' || :client_id AND holder = 'c' || :client_id AND token = :token AND expires_at > now();
SQL
read -r base val < <(best_pair "$d/lease_raw.sql" "$d/lease.sql")
report "lease acquire+renew+release" "$val" "$base" "cycles/s"
