// The node side of bench/queue.sh: graphile-worker and pg-boss driven through
// their own APIs, and the pickup-latency driver for every queue.
//
//   node peer.js setup    graphile|pgboss
//   node peer.js fill     graphile|pgboss N                 N no-op jobs, not timed
//   node peer.js drain    graphile|pgboss BATCH WORKERS     jobs/s until the queue is empty
//                                                           (and jobs done/jobs there)
//   node peer.js enqueue  pgboss 1|BATCH SECONDS CLIENTS    jobs/s
//   node peer.js latency  resilience|sql|graphile|pgboss RATE SECONDS WORKERS
//                                                           p50 and p99 in ms
// Each timed mode prints one line "value [value]" on stdout, nothing else.
// The connection comes from PGHOST, PGPORT, PGUSER and BENCH_DB.
'use strict';

const { fork } = require('child_process');
const { performance } = require('perf_hooks');
const pg = require('pg');

const conn = {
  host: process.env.PGHOST,
  port: Number(process.env.PGPORT || 5432),
  user: process.env.PGUSER || 'postgres',
  database: process.env.BENCH_DB || 'bench',
};
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const QUEUE = 'bench';

// graphile-worker: one runner, its documented throughput settings when
// batching (a local queue of BATCH jobs, completions batched)
async function graphileRunner(concurrency, batch, taskList) {
  const { run } = require('graphile-worker');
  const worker = {
    connectionString: undefined,
    concurrentJobs: concurrency,
    maxPoolSize: concurrency + 2,
    pollInterval: 2000,
  };
  if (batch > 1) {
    worker.localQueue = { size: batch };
    worker.completeJobBatchDelay = 0;
  }
  const pgPool = new pg.Pool({ ...conn, max: concurrency + 2 });
  const runner = await run({
    pgPool,
    concurrency,
    noHandleSignals: true,
    logger: quietLogger(),
    taskList,
    preset: { worker },
  });
  return { runner, pgPool };
}

function quietLogger() {
  const { Logger } = require('graphile-worker');
  return new Logger(() => () => {});
}

async function bossStart(max) {
  const PgBoss = require('pg-boss');
  // no maintenance, cron or monitoring while measuring: only the queue's own SQL
  const boss = new PgBoss({
    ...conn,
    max,
    supervise: false,
    schedule: false,
    migrate: true,
  });
  boss.on('error', (e) => console.error('pg-boss:', e.message));
  await boss.start();
  return boss;
}

async function remaining(client, peer) {
  const sql =
    peer === 'graphile'
      ? 'SELECT count(*)::int AS n FROM graphile_worker._private_jobs'
      : `SELECT count(*)::int AS n FROM pgboss.job WHERE name = '${QUEUE}' AND state < 'completed'`;
  return (await client.query(sql)).rows[0].n;
}

async function setup(peer) {
  if (peer === 'graphile') {
    const { runMigrations } = require('graphile-worker');
    const pgPool = new pg.Pool({ ...conn, max: 2 });
    await runMigrations({ pgPool, logger: quietLogger() });
    await pgPool.end();
  } else {
    const boss = await bossStart(2);
    await boss.deleteQueue(QUEUE).catch(() => {});
    await boss.createQueue(QUEUE);
    await boss.stop({ graceful: false, wait: true });
  }
}

async function fill(peer, n) {
  if (peer === 'graphile') {
    const c = new pg.Client(conn);
    await c.connect();
    await c.query(
      `SELECT count(*) FROM graphile_worker.add_jobs(
         (SELECT array_agg(ROW('noop', '{}'::json, NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec)
          FROM generate_series(1, $1)))`,
      [n]
    );
    await c.end();
  } else {
    const boss = await bossStart(2);
    for (let i = 0; i < n; i += 1000) {
      const k = Math.min(1000, n - i);
      await boss.insert(Array.from({ length: k }, () => ({ name: QUEUE, data: {} })));
    }
    await boss.stop({ graceful: false, wait: true });
  }
}

// one drain worker (a child process): ready, then work until told to stop
async function drainChild(peer, batch) {
  if (peer === 'graphile') {
    let go;
    const started = new Promise((r) => (go = r));
    const { runner } = await graphileRunner(1, batch, {
      noop: async () => {
        await started;
      },
    });
    process.send('ready');
    process.on('message', async (m) => {
      if (m === 'go') go();
      if (m === 'stop') {
        await runner.stop().catch(() => {});
        process.exit(0);
      }
    });
  } else {
    const boss = await bossStart(2);
    let stop = false;
    process.send('ready');
    process.on('message', async (m) => {
      if (m === 'stop') {
        stop = true;
        return;
      }
      // pg-boss's work() sleeps up to its polling interval (0.5 s at the
      // least) between fetches; fetch + complete is its API for throughput
      while (!stop) {
        const jobs = await boss.fetch(QUEUE, { batchSize: batch });
        if (!jobs || jobs.length === 0) {
          await sleep(5);
          continue;
        }
        await boss.complete(QUEUE, jobs.map((j) => j.id));
      }
      await boss.stop({ graceful: false, wait: true });
      process.exit(0);
    });
  }
}

async function drain(peer, batch, workers) {
  const c = new pg.Client(conn);
  await c.connect();
  const total = await remaining(c, peer);
  const kids = [];
  await Promise.all(
    Array.from({ length: workers }, () => {
      const k = fork(__filename, ['drain-child', peer, String(batch)]);
      kids.push(k);
      return new Promise((r) => k.once('message', r));
    })
  );
  const t0 = now();
  kids.forEach((k) => k.send('go'));
  // a slow peer is stopped after QUEUE_DRAIN_MAX_SECONDS: its rate is then
  // that of the jobs it finished, and the line says how many
  const cap = Number(process.env.QUEUE_DRAIN_MAX_SECONDS || 120) * 1000;
  let left;
  for (;;) {
    left = await remaining(c, peer);
    if (left === 0 || now() - t0 > cap) break;
    await sleep(10);
  }
  const secs = (now() - t0) / 1000;
  kids.forEach((k) => k.send('stop'));
  await Promise.all(kids.map((k) => new Promise((r) => k.once('exit', r))));
  await c.end();
  console.log(`${((total - left) / secs).toFixed(1)} ${total - left}/${total}`);
}

async function enqueuePgboss(batch, seconds, clients) {
  const boss = await bossStart(clients + 1);
  const jobs = Array.from({ length: batch }, () => ({ name: QUEUE, data: {} }));
  let n = 0;
  const end = now() + seconds * 1000;
  const t0 = now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (now() < end) {
        if (batch === 1) await boss.send(QUEUE, {});
        else await boss.insert(jobs);
        n += batch;
      }
    })
  );
  const secs = (now() - t0) / 1000;
  await boss.stop({ graceful: false, wait: true });
  console.log((n / secs).toFixed(1));
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// pickup latency: a producer at RATE jobs/s (its payload carries the time the
// enqueue was sent), WORKERS consumers waiting for work; the latency of a job
// is the time from the enqueue call to its claim returning in a consumer
async function latency(kind, rate, seconds, workers) {
  const lat = [];
  let stop = false;
  const consumers = [];
  let producer;
  let enqueue;
  let cleanup = async () => {};

  if (kind === 'resilience' || kind === 'sql') {
    for (let i = 0; i < workers; i++) {
      const c = new pg.Client(conn);
      await c.connect();
      consumers.push(c);
    }
    producer = new pg.Client(conn);
    await producer.connect();
    if (kind === 'resilience') {
      enqueue = (t) =>
        producer.query({ name: 'enq', text: 'SELECT resilience.enqueue($1, $2)', values: ['latency', { t }] });
      for (const c of consumers) {
        (async () => {
          while (!stop) {
            const r = await c.query({
              name: 'claim',
              text: "SELECT id, token, payload FROM resilience.claim($1, 1, '30s', '1s')",
              values: ['latency'],
            });
            const got = now();
            for (const j of r.rows) {
              lat.push(got - j.payload.t);
              await c.query({ name: 'done', text: 'SELECT resilience.complete($1, $2)', values: [j.id, j.token] });
            }
          }
        })().catch((e) => { if (!stop) console.error(e.message); });
      }
    } else {
      // the hand-written queue wakes its workers with NOTIFY, committed with the job
      enqueue = (t) =>
        producer.query({
          name: 'enq',
          text: "WITH j AS (INSERT INTO sqlq (queue, payload) VALUES ('latency', $1) RETURNING id) SELECT pg_notify('sqlq_latency', '') FROM j",
          values: [{ t }],
        });
      for (const c of consumers) {
        await c.query('LISTEN sqlq_latency');
        let wake = null;
        c.on('notification', () => { if (wake) { const w = wake; wake = null; w(); } });
        (async () => {
          while (!stop) {
            const r = await c.query({
              name: 'claim',
              text: `UPDATE sqlq SET token = token + 1, attempt = attempt + 1, lease_expires_at = now() + interval '30s'
                      WHERE id IN (SELECT id FROM sqlq
                                    WHERE queue = 'latency' AND run_at <= now()
                                      AND (lease_expires_at IS NULL OR lease_expires_at < now())
                                    ORDER BY priority, id FOR UPDATE SKIP LOCKED LIMIT 1)
                  RETURNING id, token, payload`,
            });
            const got = now();
            if (r.rows.length === 0) {
              // nothing ready: wait for a NOTIFY, polling each second anyway
              await new Promise((res) => { wake = res; setTimeout(res, 1000); });
              wake = null;
              continue;
            }
            for (const j of r.rows) {
              lat.push(got - j.payload.t);
              await c.query({ name: 'done', text: 'DELETE FROM sqlq WHERE id = $1 AND token = $2', values: [j.id, j.token] });
            }
          }
        })().catch((e) => { if (!stop) console.error(e.message); });
      }
    }
    cleanup = async () => {
      await producer.end();
      // the consumers may be inside a 1 s wait: end their connections
      await Promise.all(consumers.map((c) => c.end().catch(() => {})));
    };
  } else if (kind === 'graphile') {
    const { runner, pgPool } = await graphileRunner(workers, 1, {
      noop: async (payload) => { lat.push(now() - payload.t); },
    });
    producer = new pg.Client(conn);
    await producer.connect();
    enqueue = (t) =>
      producer.query({ name: 'enq', text: "SELECT graphile_worker.add_job('noop', $1::json)", values: [JSON.stringify({ t })] });
    cleanup = async () => {
      await runner.stop();
      await pgPool.end().catch(() => {});
      await producer.end();
    };
  } else {
    // pg-boss polls: its shortest interval (0.5 s), one work() per worker,
    // batches large enough to keep up with the rate
    const boss = await bossStart(workers + 2);
    const batchSize = Math.max(1, Math.ceil((rate * 0.5 * 2) / workers));
    for (let i = 0; i < workers; i++) {
      await boss.work(QUEUE, { pollingIntervalSeconds: 0.5, batchSize }, async (jobs) => {
        const got = now();
        for (const job of jobs) lat.push(got - job.data.t);
      });
    }
    enqueue = (t) => boss.send(QUEUE, { t });
    cleanup = async () => boss.stop({ graceful: false, wait: true });
  }

  await sleep(500); // the consumers are waiting
  const t0 = now();
  let sent = 0;
  const end = t0 + seconds * 1000;
  while (now() < end) {
    const due = Math.floor(((now() - t0) / 1000) * rate) - sent;
    if (due <= 0) {
      await sleep(1);
      continue;
    }
    for (let i = 0; i < due; i++) {
      await enqueue(now());
      sent++;
    }
  }
  const achieved = sent / ((now() - t0) / 1000);
  // let the last jobs arrive
  const drainEnd = now() + 3000;
  while (lat.length < sent && now() < drainEnd) await sleep(10);
  stop = true;
  await cleanup();
  const s = lat.slice().sort((a, b) => a - b);
  console.log(`${percentile(s, 50).toFixed(2)} ${percentile(s, 99).toFixed(2)} ${achieved.toFixed(0)} ${s.length}/${sent}`);
}

async function main() {
  const [mode, peer, ...rest] = process.argv.slice(2);
  switch (mode) {
    case 'setup': return setup(peer);
    case 'fill': return fill(peer, Number(rest[0]));
    case 'drain': return drain(peer, Number(rest[0]), Number(rest[1]));
    case 'drain-child': return drainChild(peer, Number(rest[0]));
    case 'enqueue': return enqueuePgboss(Number(rest[0]), Number(rest[1]), Number(rest[2]));
    case 'latency': return latency(peer, Number(rest[0]), Number(rest[1]), Number(rest[2]));
    default: throw new Error(`unknown mode ${mode}`);
  }
}

main().then(
  () => { if (process.argv[2] !== 'drain-child') process.exit(0); },
  (e) => { console.error(e.stack || e.message); process.exit(1); }
);
