# Idempotency keys: the cost of a replay and of a first call, against the
# same small INSERT ... RETURNING run bare.
. ./lib.sh
d=$(mktemp -d)
psql_q -o /dev/null <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_pay;
CREATE TABLE bench_pay (id bigserial PRIMARY KEY, account bigint NOT NULL, amount numeric NOT NULL);
DELETE FROM resilience.idempotency_store;
SELECT count(resilience.idempotent('replay-' || g,
       'INSERT INTO bench_pay (account, amount) VALUES ($1, 1) RETURNING id', ARRAY[g::text]))
FROM generate_series(1, 1000) g;
VACUUM ANALYZE bench_pay;
VACUUM ANALYZE resilience.idempotency_store;
SQL
cat >"$d/bare.sql" <<'SQL'
\set k random(1, 1000000000000000)
INSERT INTO bench_pay (account, amount) VALUES (:k, 1) RETURNING id;
SQL
cat >"$d/first.sql" <<'SQL'
\set k random(1, 1000000000000000)
SELECT resilience.idempotent('first-' || :k, 'INSERT INTO bench_pay (account, amount) VALUES ($1, 1) RETURNING id', ARRAY[:k::text]);
SQL
cat >"$d/replay.sql" <<'SQL'
\set k random(1, 1000)
SELECT resilience.idempotent('replay-' || :k, 'INSERT INTO bench_pay (account, amount) VALUES ($1, 1) RETURNING id', ARRAY[:k::text]);
SQL
bare=$(tps "$d/bare.sql")
first=$(tps "$d/first.sql")
replay=$(tps "$d/replay.sql")
report "idempotent replay vs first call" "$replay" "$first"
report "idempotent first call vs bare INSERT" "$first" "$bare"
rm -rf "$d"
