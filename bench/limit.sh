# Rate limits and circuit breakers, from 8 clients (LIMIT_CLIENTS):
# 1. SELECT allowed FROM resilience.rate_limit('hot', 1000000): one hot key,
#    against pgbench's SELECT 1 (goal: >= 0.9x);
# 2. the same on 100k keys, each call a random one (goal: >= 0.9x);
#    (and, for context, the same call in the select list, without the
#    FunctionScan node a function in FROM costs);
# 3. breaker_allow + breaker_record against SELECT 1; SELECT 1 (goal >= 0.9x);
# 4. for context (no goal): the same limiter decisions made by a GCRA Lua
#    script in Redis (redis-server on loopback, driven by redis-benchmark with
#    the same number of clients), when redis-server is installed.
. ./lib.sh
BENCH_CLIENTS=${LIMIT_CLIENTS:-8}
d=$(mktemp -d)
redis_pid=
cleanup()
{
	[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null
	rm -rf "$d"
}
trap cleanup EXIT

# The machine may be shared: each pair runs through lib.sh's alternate
# (ALT_ROUNDS alternated rounds of BENCH_SECONDS each side; the ratio is
# the median of the per-round ratios).
t_select1() { tps "$d/select1.sql"; }
t_select1x2() { tps "$d/select1x2.sql"; }
t_hot() { tps "$d/hot.sql"; }
t_hot_expr() { tps "$d/hot_expr.sql"; }
t_keys() { tps "$d/keys.sql"; }
t_breaker() { tps "$d/breaker.sql"; }

echo 'SELECT 1;' >"$d/select1.sql"
printf 'SELECT 1;\nSELECT 1;\n' >"$d/select1x2.sql"
echo "SELECT allowed FROM resilience.rate_limit('hot', 1000000);" >"$d/hot.sql"
# the key is the random number itself, bound as a text parameter
cat >"$d/keys.sql" <<'SQL'
\set k random(1, 100000)
SELECT allowed FROM resilience.rate_limit(:k, 1000000);
SQL
cat >"$d/breaker.sql" <<'SQL'
SELECT resilience.breaker_allow('bench-api');
SELECT resilience.breaker_record('bench-api', true);
SQL

# the 100k keys exist before the clock starts (the table holds them:
# resilience.max_rate_limit_keys is raised in the bench server's config)
psql_q -c "SELECT count(*) FROM generate_series(1, 100000) g, LATERAL resilience.rate_limit(g::text, 1000000) r" >/dev/null
psql_q -c "SELECT resilience.breaker_allow('bench-api')" >/dev/null

echo "SELECT (resilience.rate_limit('hot', 1000000)).allowed;" >"$d/hot_expr.sql"
r_hot=$(alternate t_select1 t_hot)
report_alternate "rate_limit, 1 hot key, $BENCH_CLIENTS clients vs SELECT 1" "$r_hot"
# the same decision without a FunctionScan node (for context: no goal)
report_alternate "(rate_limit('hot', 1000000)).allowed in the select list vs SELECT 1" \
	"$(alternate t_select1 t_hot_expr)"
r_keys=$(alternate t_select1 t_keys)
report_alternate "rate_limit, 100k keys, $BENCH_CLIENTS clients vs SELECT 1" "$r_keys"
report_alternate "breaker_allow + breaker_record vs SELECT 1; SELECT 1" \
	"$(alternate t_select1x2 t_breaker)"
hot=$(echo "$r_hot" | cut -d' ' -f2)
keys=$(echo "$r_keys" | cut -d' ' -f2)
psql_q -At -c "SELECT 'check: hot key allowed ' || allowed || ', denied ' || denied FROM resilience.rate_limits WHERE key = 'hot'"

# ---- Redis, for context ----------------------------------------------------
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-benchmark >/dev/null 2>&1; then
	echo "redis: skipped (install redis-server for the comparison)"
	exit 0
fi
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
rport=$((20000 + RANDOM % 30000))
until port_free "$rport"; do rport=$((20000 + RANDOM % 30000)); done
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
	--dir "$d" --daemonize no --loglevel warning >"$d/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done

# GCRA as rate_limit computes it, in microseconds (Lua numbers are doubles):
# ARGV = emission interval, tolerance (emission * burst), increment
cat >"$d/gcra.lua" <<'LUA'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local increment = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + increment
local allow_at = new_tat - tolerance
local ttl
if now < allow_at then
  ttl = tat - now
  local nxt = tolerance - ttl
  return {0, nxt > -emission and math.floor(nxt / emission) or 0, allow_at - now, ttl}
end
ttl = new_tat - now
redis.call('SET', KEYS[1], new_tat, 'PX', math.floor(ttl / 1000) + 1)
local nxt = tolerance - ttl
return {1, nxt > -emission and math.floor(nxt / emission) or 0, 0, ttl}
LUA
sha=$(redis-cli -p "$rport" SCRIPT LOAD "$(cat "$d/gcra.lua")")
# rate 1000000 per second, burst = rate: emission 1us, tolerance 1s
rb()
{
	redis-benchmark -h 127.0.0.1 -p "$rport" -c "$BENCH_CLIENTS" -n "${REDIS_REQUESTS:-200000}" -q "$@" 2>/dev/null |
		tr '\r' '\n' | sed -nE 's/.*: ([0-9.]+) requests per second.*/\1/p' | tail -n1
}
rhot=$(rb EVALSHA "$sha" 1 hot 1 1000000 1)
rkeys=$(rb -r 100000 EVALSHA "$sha" 1 __rand_int__ 1 1000000 1)
echo "redis: $(redis-server --version | sed -E 's/.*v=([0-9.]+).*/\1/'), $BENCH_CLIENTS clients, $(redis-cli -p "$rport" GET hot >/dev/null && echo 'GCRA Lua script via EVALSHA')"
report "rate_limit (1 hot key) vs Redis GCRA script" "$hot" "$rhot" "calls/s"
report "rate_limit (100k keys) vs Redis GCRA script" "$keys" "$rkeys" "calls/s"
