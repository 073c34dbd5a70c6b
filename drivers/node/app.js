// resilience from Node (node-postgres), used the way an application would.
//
// Connects with the libpq environment (PGHOST, PGPORT, ...).  Directly, the
// list endpoint uses a named (prepared) query; with
// RESILIENCE_POOLER=transaction (PgBouncer in transaction mode, before 1.21)
// every query is unnamed, which is node-postgres's pooler-safe mode.  Every
// step asserts; the program exits non-zero on the first surprise.  Run by
// t/030_drivers.pl after drivers/schema.sql; docs/drivers.md quotes it.
'use strict';
const assert = require('assert/strict');
const crypto = require('crypto');
const { Pool, Client } = require('pg');

const POOLER = process.env.RESILIENCE_POOLER === 'transaction';
const RUN = crypto.randomBytes(4).toString('hex');   // lease names and keys unique to this run
const pool = new Pool({ max: 4 });

// --- a JSON list endpoint ---------------------------------------------------

const PAGE = `SELECT resilience.page_json('orders', 'created_at DESC',
                after => $1, before => $2, page_size => $3,
                filter => 'customer_id = $1', params => $4) AS page`;

async function listOrders(customerId, { after = null, before = null, pageSize = 25 } = {}) {
  // params: a JS array goes as an untyped array literal, read as text[]: $1 takes its type from the filter
  const query = { text: PAGE, values: [after, before, pageSize, [customerId]] };
  if (!POOLER) query.name = 'list-orders';   // a prepared statement: never behind PgBouncer < 1.21
  const { rows: [{ page }] } = await pool.query(query);
  return page;   // { rows, next, prev, has_next, has_prev }: res.json(page)
}

// numeric, and bigint beyond 2^53, as JSON strings; SET LOCAL lasts for this
// transaction only, which is safe behind a pooler
async function exactNumbers() {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL resilience.json_exact_numbers = on');
    const { rows } = await client.query(
      'SELECT resilience.retry_statement($1, $2::numeric[]) AS r',
      ['SELECT $1 AS total, $2::int8 AS big, $3::int8 AS small',
       ['695.90', '9007199254740993', '9007199254740991']]);
    await client.query('COMMIT');
    return rows[0].r[0];
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    client.release();
  }
}

async function walkPages() {
  const { rows } = await pool.query(
    'SELECT id FROM orders WHERE customer_id = 2 ORDER BY created_at DESC, id DESC');
  // bigint arrives as a string from a query, as a JSON number inside jsonb
  const expected = rows.map((r) => Number(r.id));
  let page = await listOrders(2);
  assert.equal(page.has_prev, false);
  const forward = [];
  let pages = 0;
  for (;;) {
    pages++;
    forward.push(...page.rows.map((r) => r.id));
    if (!page.has_next) break;
    page = await listOrders(2, { after: page.next });
  }
  assert.deepEqual(forward, expected);
  let backward = [];
  for (;;) {
    backward = page.rows.map((r) => r.id).concat(backward);
    if (!page.has_prev) break;
    page = await listOrders(2, { before: page.prev });
  }
  assert.deepEqual(backward, expected);
  const one = await listOrders(2, { pageSize: 1 });
  assert.equal(typeof one.rows[0].total, 'number');   // numeric: a JSON number
  const exact = await exactNumbers();
  assert.equal(exact.total, '695.90');             // numeric: a string, as stored
  assert.equal(exact.big, '9007199254740993');     // bigint beyond 2^53: a string
  assert.equal(exact.small, 9007199254740991);     // within 2^53: still a number

  const tampered = one.next.slice(0, -4) + (one.next.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  await assert.rejects(listOrders(2, { after: tampered }), (e) => e.code === '22023');
  return { pages, rows: forward.length };
}

// --- concurrent transfers through retry_transaction -------------------------

const TRANSFER = `UPDATE acct SET bal = bal - $3 WHERE id = $1;
                  UPDATE acct SET bal = bal + $3 WHERE id = $2;
                  SELECT id, bal FROM acct WHERE id IN ($1, $2) ORDER BY id`;

async function transfer(src, dst, amount) {
  const query = {
    text: 'CALL resilience.retry_transaction($1, $2, max_attempts => $3)',
    values: [TRANSFER, [src, dst, amount], 50],   // numbers: sent as a text[] literal
  };
  if (!POOLER) query.name = 'transfer';   // prepared: never behind PgBouncer < 1.21
  const { rows } = await pool.query(query);
  const { result, attempts } = rows[0];   // result: parsed jsonb, attempts: a number
  assert.deepEqual(result.map((r) => r.id), [src, dst].sort((x, y) => x - y));
  return attempts;
}

async function transfers(workers = 4, each = 25) {
  const stats = { done: 0, failed: 0, maxAttempts: 0, attempts: 0 };
  await Promise.all([...Array(workers).keys()].map(async (n) => {
    for (let i = 0; i < each; i++) {
      const src = 1 + ((n + i) % 8);
      let dst = 1 + ((n * 3 + i * 5 + 1) % 8);
      if (dst === src) dst = 1 + (src % 8);
      try {
        const a = await transfer(src, dst, 1 + ((i * 7) % 40));
        stats.done++;
        stats.attempts += a;
        stats.maxAttempts = Math.max(stats.maxAttempts, a);
      } catch (e) {
        stats.failed++;
        console.error(`transfer failed: ${e.code} ${e.message}`);
      }
    }
  }));
  const { rows: [{ total }] } = await pool.query('SELECT sum(bal)::int AS total FROM acct');
  assert.equal(stats.failed, 0);
  assert.equal(stats.done, workers * each);
  assert.equal(total, 8000, 'money was created or lost');
  return stats;
}

// --- concurrent idempotent payments -----------------------------------------

const PAY = 'INSERT INTO payments (account, amount) VALUES ($1, $2) RETURNING id, amount';

async function createPayment(client, idemKey, account, amount) {
  const { rows } = await client.query(
    'SELECT resilience.idempotent($1, $2, $3) AS r',
    [idemKey, PAY, [String(account), String(amount)]]);
  return { status: rows[0].r.replayed ? 200 : 201, body: rows[0].r.result[0] };
}

async function payments(keys = 5, senders = 4) {
  const results = {};
  // one connection per sender, as separate app servers would have
  const clients = await Promise.all([...Array(senders)].map(async () => {
    const c = new Client();
    await c.connect();
    return c;
  }));
  try {
    await Promise.all(clients.map(async (c) => {
      for (let k = 0; k < keys; k++) {
        const key = `pay-${RUN}-${k}`;
        const { status, body } = await createPayment(c, key, 40 + k, '19.99');
        (results[key] ??= []).push([status, body.id]);
      }
    }));
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
  for (const [key, got] of Object.entries(results)) {
    assert.equal(got.length, senders, key);
    assert.deepEqual(got.map(([s]) => s).sort(), [...Array(senders - 1).fill(200), 201], key);
    assert.equal(new Set(got.map(([, id]) => id)).size, 1, key);
  }
  const { rows: [{ n }] } = await pool.query('SELECT count(*)::int AS n FROM payments');
  assert.equal(n, keys, `${n} payments applied for ${keys} keys`);
  return { keys, replays: keys * (senders - 1) };
}

// --- lease leader election with fencing -------------------------------------

async function leaseElection() {
  const name = `cron:cleanup:${RUN}`;
  const acquire = 'SELECT resilience.lease_acquire($1, $2, $3) AS token';
  const renew = 'SELECT resilience.lease_renew($1, $2, $3, $4) AS ok';
  // a bigint token arrives as a string: pass it back as it came
  const ta = (await pool.query(acquire, [name, 'node-a', '2 seconds'])).rows[0].token;
  assert.notEqual(ta, null);
  assert.equal((await pool.query(acquire, [name, 'node-b', '1 minute'])).rows[0].token, null);
  assert.equal((await pool.query(renew, [name, 'node-a', ta, '2 seconds'])).rows[0].ok, true);
  await new Promise((r) => setTimeout(r, 2500));   // node-a stalls past its ttl
  const tb = (await pool.query(acquire, [name, 'node-b', '1 minute'])).rows[0].token;
  assert.ok(tb !== null && BigInt(tb) > BigInt(ta), `${ta} then ${tb}`);
  assert.equal((await pool.query(renew, [name, 'node-a', ta, '1 minute'])).rows[0].ok, false);

  async function leaderWrite(holder, token) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT resilience.lease_fence($1, $2)', [name, token]);
      await client.query('INSERT INTO job_runs (holder, token) VALUES ($1, $2)', [holder, token]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    } finally {
      client.release();
    }
  }
  await leaderWrite('node-b', tb);
  await assert.rejects(leaderWrite('node-a', ta), (e) => e.code === 'RL001');
  const { rows } = await pool.query('SELECT holder, token FROM job_runs');
  assert.deepEqual(rows, [{ holder: 'node-b', token: tb }]);
  const rel = await pool.query('SELECT resilience.lease_release($1, $2, $3) AS ok', [name, 'node-b', tb]);
  assert.equal(rel.rows[0].ok, true);
}

// --- a job queue: transactional enqueue, concurrent workers, exactly-once effects

async function claim(client, queue, maxJobs, lease, wait) {
  const query = {
    text: 'SELECT id, token, payload, attempt FROM resilience.claim($1, max_jobs => $2, lease => $3, wait => $4)',
    values: [queue, maxJobs, lease, wait],
  };
  if (!POOLER) query.name = 'claim';   // prepared: never behind PgBouncer < 1.21
  return (await client.query(query)).rows;   // id and token: strings (bigint), pass them back as they came
}

// the job's effect and complete() in one transaction: with a stale token
// complete() rejects with RL001 and the effect rolls back with it
async function doJob(client, job, worker) {
  try {
    await client.query('BEGIN');
    await client.query('INSERT INTO processed_jobs (job_id, n, worker) VALUES ($1, $2, $3)',
      [job.id, job.payload.n, worker]);
    await client.query('SELECT resilience.complete($1, $2)', [job.id, job.token]);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }
}

async function newClients(n) {
  return Promise.all([...Array(n)].map(async () => {
    const c = new Client();
    await c.connect();
    return c;
  }));
}

async function queueJobs(jobs = 40, workers = 4) {
  const queue = `mail:${RUN}`;
  const create = 'SELECT resilience.create_queue($1) AS created';
  assert.equal((await pool.query(create, [queue])).rows[0].created, true);
  assert.equal((await pool.query(create, [queue])).rows[0].created, false);   // it exists: a no-op
  // enqueue is transactional: a job enqueued in a transaction that rolls back never was
  const c = await pool.connect();
  let lost, ids;
  try {
    await c.query('BEGIN');
    lost = (await c.query('SELECT resilience.enqueue($1, $2) AS id', [queue, { n: -1 }])).rows[0].id;
    await c.query('ROLLBACK');
    await c.query('BEGIN');
    ids = (await c.query('SELECT resilience.enqueue_many($1, $2::jsonb[]) AS ids',
      [queue, [...Array(jobs).keys()].map((n) => ({ n }))])).rows[0].ids;
    await c.query('COMMIT');
  } finally {
    c.release();
  }
  assert.equal(ids.length, jobs);
  assert.ok(!ids.includes(lost), `${lost} in ${ids}`);
  const gone = await pool.query('SELECT count(*)::int AS n FROM resilience.jobs WHERE id = $1', [lost]);
  assert.equal(gone.rows[0].n, 0, 'a rolled-back enqueue exists');
  const ready = await pool.query('SELECT ready::int FROM resilience.queues WHERE queue = $1', [queue]);
  assert.equal(ready.rows[0].ready, jobs);

  // each worker a connection of its own: claim in autocommit, each job in its own transaction
  const done = {};
  const clients = await newClients(workers);
  try {
    await Promise.all(clients.map(async (client, n) => {
      for (;;) {
        const claimed = await claim(client, queue, 5, '10 seconds', '300 milliseconds');
        if (claimed.length === 0) return;
        for (const job of claimed) {
          await doJob(client, job, `worker-${n}`);
          done[n] = (done[n] ?? 0) + 1;
        }
      }
    }));
  } finally {
    await Promise.all(clients.map((cl) => cl.end()));
  }
  const { rows: [p] } = await pool.query(
    'SELECT count(*)::int AS n, count(DISTINCT job_id)::int AS d, array_agg(n ORDER BY n) AS ns FROM processed_jobs');
  assert.deepEqual(p, { n: jobs, d: jobs, ns: [...Array(jobs).keys()] });
  assert.equal(Object.values(done).reduce((x, y) => x + y, 0), jobs);

  const [a, b] = await newClients(2);
  try {
    // a stale worker: its lease expires, another worker claims the job again
    await a.query('SELECT resilience.enqueue($1, $2)', [queue, { n: jobs }]);
    const [ja] = await claim(a, queue, 1, '300 milliseconds', '0');
    assert.ok(ja && ja.attempt === 1, JSON.stringify(ja));
    await new Promise((r) => setTimeout(r, 600));
    const [jb] = await claim(b, queue, 1, '10 seconds', '5 seconds');
    assert.ok(jb && jb.id === ja.id && BigInt(jb.token) > BigInt(ja.token) && jb.attempt === 2,
      `${JSON.stringify(ja)} then ${JSON.stringify(jb)}`);
    await assert.rejects(doJob(a, ja, 'stale'), (e) => e.code === 'RL001');
    await doJob(b, jb, 'current');
    const { rows } = await a.query('SELECT worker FROM processed_jobs WHERE job_id = $1', [ja.id]);
    assert.deepEqual(rows, [{ worker: 'current' }]);

    // fail(): a retry, then dead at max_attempts
    const jid = (await a.query('SELECT resilience.enqueue($1, $2, max_attempts => 2) AS id',
      [queue, { n: jobs + 1 }])).rows[0].id;
    const outcomes = [];
    for (const attempt of [1, 2]) {
      const [job] = await claim(a, queue, 1, '10 seconds', '5 seconds');
      assert.ok(job && job.id === jid && job.attempt === attempt, JSON.stringify(job));
      outcomes.push((await a.query('SELECT resilience.fail($1, $2, $3, $4) AS outcome',
        [job.id, job.token, 'smtp 421', '0'])).rows[0].outcome);
    }
    assert.deepEqual(outcomes, ['retry', 'dead']);
    const { rows: [st] } = await a.query(
      'SELECT state, attempt, last_error FROM resilience.jobs WHERE id = $1', [jid]);
    assert.deepEqual(st, { state: 'dead', attempt: 2, last_error: 'smtp 421' });
    assert.equal((await a.query('SELECT resilience.drop_queue($1) AS ok', [queue])).rows[0].ok, true);
  } finally {
    await a.end();
    await b.end();
  }
  return { jobs, workers, busy: Object.keys(done).length };
}

// --- a third-party API shared by every instance: rate limit, breaker ---------

const LIMIT = `SELECT allowed, extract(epoch FROM retry_after)::float8 AS wait
               FROM resilience.rate_limit($1, 10, '1 hour')`;
const ALLOW = "SELECT resilience.breaker_allow($1, min_calls => 4, open_for => '1 second') AS go";
const STATS = 'SELECT rate_limit_allowed, rate_limit_denied, breaker_opened FROM resilience.limit_stats';

// fn(client) from n clients at once, each on a connection of its own
async function together(n, fn) {
  const clients = await newClients(n);
  try {
    return await Promise.all(clients.map(fn));
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

async function apiGuard(clients = 4, each = 10) {
  const key = `email-api:${RUN}`;
  const name = `payments-api:${RUN}`;
  const counts = async () => Object.values((await pool.query({ text: STATS, rowMode: 'array' })).rows[0])
    .map(Number);   // bigint columns come back as strings
  const before = await counts();
  // 10 calls an hour between every client: exactly 10 go ahead, whatever the
  // interleaving; each refused call says how long to wait
  const calls = (await together(clients, async (c) => {
    const rows = [];
    for (let i = 0; i < each; i++) rows.push((await c.query(LIMIT, [key])).rows[0]);
    return rows;
  })).flat();
  const allowed = calls.filter((r) => r.allowed).length;
  assert.equal(allowed, 10, JSON.stringify(calls));
  assert.ok(calls.every((r) => r.allowed || r.wait > 0), JSON.stringify(calls));
  // 4 failures of 4 calls open the breaker for every instance
  for (let i = 0; i < 4; i++) {
    assert.equal((await pool.query(ALLOW, [name])).rows[0].go, true);
    await pool.query('SELECT resilience.breaker_record($1, false)', [name]);
  }
  assert.equal((await pool.query(ALLOW, [name])).rows[0].go, false);
  assert.equal((await pool.query('SELECT resilience.breaker_state($1) AS s', [name])).rows[0].s, 'open');
  await new Promise((resolve) => setTimeout(resolve, 1200));
  // open_for has passed: of all the instances' calls, exactly one probe goes
  const probes = await together(clients, async (c) => (await c.query(ALLOW, [name])).rows[0].go);
  assert.equal(probes.filter((go) => go).length, 1, JSON.stringify(probes));
  await pool.query('SELECT resilience.breaker_record($1, true)', [name]);
  assert.equal((await pool.query('SELECT state FROM resilience.breakers WHERE name = $1', [name]))
    .rows[0].state, 'closed');
  const after = await counts();
  assert.deepEqual(after.map((v, i) => v - before[i]), [10, clients * each - 10, 1]);
  const { rows: [{ m }] } = await pool.query('SELECT resilience.metrics() AS m');
  assert.ok(m.includes('# TYPE resilience_rate_limit_decisions_total counter'), m.slice(0, 200));
  return { allowed, calls: clients * each };
}

// --- error handling by SQLSTATE ----------------------------------------------

async function errors() {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await assert.rejects(client.query("CALL resilience.retry_transaction('SELECT 1')"),
      (e) => e.code === '2D000');
    await client.query('ROLLBACK');
  } finally {
    client.release();
  }
  await assert.rejects(
    pool.query("CALL resilience.retry_transaction('SELECT 1 / 0', max_attempts => 3, " +
      "retry_on => ARRAY['22012'], base_delay => '1ms')"),
    (e) => e.code === '22012' && e.where.includes('gave up after 3 attempts (max_attempts)'));
  await assert.rejects(pool.query("CALL resilience.retry_transaction('SELECT 1 / 0')"),
    (e) => e.code === '22012' && e.where.includes('which is not in retry_on'));
  await assert.rejects(pool.query("SELECT resilience.lock('x', timeout => '-1s')"),
    (e) => e.code === '22023');
  await assert.rejects(pool.query("SELECT * FROM resilience.rate_limit('x', 0)"),
    (e) => e.code === '22023' && e.hint !== undefined);
}

async function main() {
  const where = POOLER ? 'pgbouncer (transaction mode)' : 'direct';
  const p = await walkPages();
  const t = await transfers();
  const pay = await payments();
  await leaseElection();
  const q = await queueJobs();
  const g = await apiGuard();
  await errors();
  const version = require('pg/package.json').version;
  console.log(`node pg ${version} ${where}: pages=${p.pages} rows=${p.rows} both ways;` +
    ` transfers=${t.done} failed=${t.failed} max_attempts=${t.maxAttempts}` +
    ` attempts=${t.attempts} total=8000; payments keys=${pay.keys} applied=${pay.keys}` +
    ` replays=${pay.replays}; lease fencing RL001; queue jobs=${q.jobs} workers=${q.workers}` +
    ` busy=${q.busy} processed once, stale token RL001 rolled back, fail retry dead;` +
    ` rate limit allowed=${g.allowed} of ${g.calls}, breaker one probe; errors 2D000 22012 22023: ok`);
}

main().then(() => pool.end(), (e) => {
  console.error(e);
  process.exit(1);
});
