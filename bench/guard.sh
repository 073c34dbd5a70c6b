# Guards and leases.
# 1. resilience.lock(name) against the usual hand-rolled advisory lock,
#    pg_advisory_xact_lock(hashtextextended(name, 0)), with the same names:
#    one lock per pgbench transaction, released at commit.
# 2. A lease cycle (acquire + renew + release, one lease per client) against
#    the same three statements written by hand on a plain table.
. ./lib.sh
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT

cat >"$d/guard.sql" <<'SQL'
\set n random(1, 1000)
SELECT resilience.lock('job-' || :n);
SQL
cat >"$d/advisory.sql" <<'SQL'
\set n random(1, 1000)
SELECT pg_advisory_xact_lock(hashtextextended('job-' || :n, 0));
SQL
base=$(tps "$d/advisory.sql")
val=$(tps "$d/guard.sql")
report "lock(name) vs pg_advisory_xact_lock(hashtextextended)" "$val" "$base"

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
base=$(tps "$d/lease_raw.sql")
val=$(tps "$d/lease.sql")
report "lease acquire+renew+release" "$val" "$base" "cycles/s"
