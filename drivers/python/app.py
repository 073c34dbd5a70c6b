#!/usr/bin/python3
"""resilience from Python (psycopg 3), used the way an application would.

Connects with the libpq environment (PGHOST, PGPORT, ...).  With
RESILIENCE_POOLER=transaction (PgBouncer in transaction mode, before 1.21) it
turns off psycopg's prepared statements with prepare_threshold=None.  Every
step asserts; the program exits non-zero on the first surprise.  Run by
t/030_drivers.pl after drivers/schema.sql; docs/drivers.md quotes it.
"""
import os
import sys
import threading
import time
import uuid
from decimal import Decimal

import psycopg
import psycopg.errors
from psycopg.types.json import Jsonb

POOLER = os.environ.get("RESILIENCE_POOLER") == "transaction"
RUN = uuid.uuid4().hex[:8]          # lease names and keys unique to this run


def connect(autocommit=True):
    # autocommit=True: psycopg's default is a transaction per connection, in
    # which CALL resilience.retry_transaction fails with 2D000.
    # prepare_threshold=None: behind PgBouncer < 1.21 in transaction mode, a
    # prepared statement may be missing on the next server connection.
    return psycopg.connect("", autocommit=autocommit,
                           prepare_threshold=None if POOLER else 5)


# --- a JSON list endpoint ---------------------------------------------------

PAGE = """SELECT resilience.page_json('orders', 'created_at DESC',
                  after => %s, before => %s, page_size => %s,
                  filter => 'customer_id = $1', params => %s)"""


def list_orders(conn, customer_id, after=None, before=None, page_size=25):
    # params: a list of ints, which psycopg sends as smallint[]: $1 is smallint
    row = conn.execute(PAGE, (after, before, page_size, [customer_id])).fetchone()
    return row[0]   # a dict: rows, next, prev, has_next, has_prev -- send it as is


def list_orders_exact(conn, customer_id, **kw):
    # numeric (and bigint beyond 2^53) as JSON strings: Decimal(total) is exact.
    # SET LOCAL lasts for this transaction only, which is safe behind a pooler.
    with conn.transaction():
        conn.execute("SET LOCAL resilience.json_exact_numbers = on")
        return list_orders(conn, customer_id, **kw)


def walk_pages(conn):
    expected = [r[0] for r in conn.execute(
        "SELECT id FROM orders WHERE customer_id = 2 ORDER BY created_at DESC, id DESC")]
    forward, pages = [], 0
    page = list_orders(conn, 2)
    assert page["has_prev"] is False, page
    while True:
        pages += 1
        forward += [r["id"] for r in page["rows"]]
        if not page["has_next"]:
            break
        page = list_orders(conn, 2, after=page["next"])
    assert forward == expected, (forward, expected)
    backward = []
    while True:
        backward = [r["id"] for r in page["rows"]] + backward
        if not page["has_prev"]:
            break
        page = list_orders(conn, 2, before=page["prev"])
    assert backward == expected, "walking back gave other rows"
    # numeric arrives as a JSON number, which psycopg decodes to float
    one = list_orders(conn, 2, page_size=1)
    assert isinstance(one["rows"][0]["total"], (int, float)), one
    exact = list_orders_exact(conn, 2, page_size=1)
    total = exact["rows"][0]["total"]
    stored = conn.execute("SELECT total FROM orders WHERE id = %s",
                          (exact["rows"][0]["id"],)).fetchone()[0]
    assert isinstance(total, str) and Decimal(total) == stored, (total, stored)

    # a client that edits a cursor gets 22023, its API a 400
    cursor = one["next"]
    tampered = cursor[:-4] + ("AAAA" if not cursor.endswith("AAAA") else "BBBB")
    try:
        list_orders(conn, 2, after=tampered)
        raise AssertionError("a tampered cursor was accepted")
    except psycopg.errors.InvalidParameterValue as e:    # SQLSTATE 22023
        assert e.sqlstate == "22023"
    return pages, len(forward)


# --- concurrent transfers through retry_transaction -------------------------

TRANSFER = """UPDATE acct SET bal = bal - $3 WHERE id = $1;
              UPDATE acct SET bal = bal + $3 WHERE id = $2;
              SELECT id, bal FROM acct WHERE id IN ($1, $2) ORDER BY id"""


def transfer(conn, src, dst, amount):   # conn: psycopg.connect(autocommit=True)
    result, attempts = conn.execute(
        "CALL resilience.retry_transaction(%s, %s, max_attempts => 50)",
        (TRANSFER, [src, dst, amount])).fetchone()   # ints: smallint[], bound as such
    # result is a list of dicts (jsonb is decoded), attempts an int
    assert [r["id"] for r in result] == sorted({src, dst}), result
    return attempts


def transfers(workers=4, each=25):
    stats = {"done": 0, "failed": 0, "max_attempts": 0, "attempts": 0}
    lock = threading.Lock()

    def worker(n):
        with connect() as conn:
            for i in range(each):
                src = 1 + (n + i) % 8
                dst = 1 + (n * 3 + i * 5 + 1) % 8
                if dst == src:
                    dst = 1 + src % 8
                try:
                    a = transfer(conn, src, dst, 1 + (i * 7) % 40)
                    with lock:
                        stats["done"] += 1
                        stats["attempts"] += a
                        stats["max_attempts"] = max(stats["max_attempts"], a)
                except psycopg.Error as e:
                    with lock:
                        stats["failed"] += 1
                    print(f"transfer failed: {e.sqlstate} {e}", file=sys.stderr)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with connect() as conn:
        total = conn.execute("SELECT sum(bal) FROM acct").fetchone()[0]
    assert stats["failed"] == 0, stats
    assert stats["done"] == workers * each, stats
    assert total == 8000, f"money was created or lost: total {total}"
    return stats


# --- concurrent idempotent payments -----------------------------------------

PAY = "INSERT INTO payments (account, amount) VALUES ($1, $2) RETURNING id, amount"


def create_payment(conn, idem_key, account, amount):
    with conn.transaction():
        row = conn.execute("SELECT resilience.idempotent(%s, %s, %s)",
                           (idem_key, PAY, [str(account), str(amount)])).fetchone()[0]
    status = 200 if row["replayed"] else 201
    return status, row["result"][0]


def payments(keys=5, senders=4):
    results = {}
    lock = threading.Lock()
    barrier = threading.Barrier(senders)

    def sender(n):
        with connect() as conn:
            barrier.wait()
            for k in range(keys):
                key = f"pay-{RUN}-{k}"
                status, body = create_payment(conn, key, 40 + k, "19.99")
                with lock:
                    results.setdefault(key, []).append((status, body["id"]))

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for key, got in results.items():
        assert len(got) == senders, got
        assert sorted(s for s, _ in got) == [200] * (senders - 1) + [201], (key, got)
        assert len({i for _, i in got}) == 1, (key, got)
    with connect() as conn:
        n = conn.execute("SELECT count(*) FROM payments").fetchone()[0]
    assert n == keys, f"{n} payments applied for {keys} keys"
    return keys, keys * (senders - 1)


# --- lease leader election with fencing -------------------------------------

def lease_election():
    name = f"cron:cleanup:{RUN}"
    with connect() as a, connect() as b:
        acquire = "SELECT resilience.lease_acquire(%s, %s, %s::interval)"
        ta = a.execute(acquire, (name, "node-a", "2 seconds")).fetchone()[0]
        assert ta is not None
        assert b.execute(acquire, (name, "node-b", "1 minute")).fetchone()[0] is None
        assert a.execute("SELECT resilience.lease_renew(%s, %s, %s, %s::interval)",
                         (name, "node-a", ta, "2 seconds")).fetchone()[0] is True
        # node-a stalls past its ttl; node-b takes over with a larger token
        b.execute("SELECT pg_sleep(2.5)")
        tb = b.execute(acquire, (name, "node-b", "1 minute")).fetchone()[0]
        assert tb is not None and tb > ta, (ta, tb)
        assert a.execute("SELECT resilience.lease_renew(%s, %s, %s, %s::interval)",
                         (name, "node-a", ta, "1 minute")).fetchone()[0] is False

        def leader_write(conn, holder, token):
            with conn.transaction():
                conn.execute("SELECT resilience.lease_fence(%s, %s)", (name, token))
                conn.execute("INSERT INTO job_runs (holder, token) VALUES (%s, %s)",
                             (holder, token))

        leader_write(b, "node-b", tb)
        try:
            leader_write(a, "node-a", ta)       # the stale leader's write
            raise AssertionError("a stale token was accepted")
        except psycopg.Error as e:
            # RL001 has no psycopg class (errors.lookup raises KeyError): test sqlstate
            assert e.sqlstate == "RL001", e.sqlstate
        rows = a.execute("SELECT holder, token FROM job_runs").fetchall()
        assert rows == [("node-b", tb)], rows
        assert b.execute("SELECT resilience.lease_release(%s, %s, %s)",
                         (name, "node-b", tb)).fetchone()[0] is True


# --- a job queue: transactional enqueue, concurrent workers, exactly-once effects

CLAIM = """SELECT id, token, payload, attempt FROM resilience.claim(%s, max_jobs => %s,
                  lease => %s::interval, wait => %s::interval)"""


def do_job(conn, job, worker):
    # the job's effect and complete() in one transaction: with a stale token
    # complete() raises RL001 and the effect rolls back with it
    id, token, payload, _ = job
    with conn.transaction():
        conn.execute("INSERT INTO processed_jobs (job_id, n, worker) VALUES (%s, %s, %s)",
                     (id, payload["n"], worker))
        conn.execute("SELECT resilience.complete(%s, %s)", (id, token))


def queue_jobs(jobs=40, workers=4):
    queue = f"mail:{RUN}"
    with connect() as conn:
        create = "SELECT resilience.create_queue(%s)"
        assert conn.execute(create, (queue,)).fetchone()[0] is True
        assert conn.execute(create, (queue,)).fetchone()[0] is False    # it exists: a no-op
        # enqueue is transactional: a job enqueued in a transaction that rolls back never was
        with conn.transaction():
            lost = conn.execute("SELECT resilience.enqueue(%s, %s)",
                                (queue, Jsonb({"n": -1}))).fetchone()[0]
            raise psycopg.Rollback()
        with conn.transaction():
            ids = conn.execute("SELECT resilience.enqueue_many(%s, %s)",
                               (queue, [Jsonb({"n": i}) for i in range(jobs)])).fetchone()[0]
        assert len(ids) == jobs and lost not in ids, (lost, ids)
        assert conn.execute("SELECT count(*) FROM resilience.jobs WHERE id = %s",
                            (lost,)).fetchone()[0] == 0, "a rolled-back enqueue exists"
        assert conn.execute("SELECT ready FROM resilience.queues WHERE queue = %s",
                            (queue,)).fetchone()[0] == jobs

    done = {}
    lock = threading.Lock()
    barrier = threading.Barrier(workers)

    def worker(n):
        with connect() as conn:      # claim in autocommit, each job in its own transaction
            barrier.wait()
            while True:
                claimed = conn.execute(CLAIM, (queue, 5, "10 seconds", "300 milliseconds")).fetchall()
                if not claimed:
                    return
                for job in claimed:
                    do_job(conn, job, f"worker-{n}")
                    with lock:
                        done[n] = done.get(n, 0) + 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with connect() as a, connect() as b:
        n, distinct, ns = a.execute("SELECT count(*), count(DISTINCT job_id), array_agg(n ORDER BY n)"
                                    " FROM processed_jobs").fetchone()
        assert n == jobs and distinct == jobs and ns == list(range(jobs)), (n, distinct, ns)
        assert sum(done.values()) == jobs, done

        # a stale worker: its lease expires, another worker claims the job again
        a.execute("SELECT resilience.enqueue(%s, %s)", (queue, Jsonb({"n": jobs})))
        ja = a.execute(CLAIM, (queue, 1, "300 milliseconds", "0")).fetchone()
        assert ja is not None and ja[3] == 1, ja
        time.sleep(0.6)
        jb = b.execute(CLAIM, (queue, 1, "10 seconds", "5 seconds")).fetchone()
        assert jb is not None and jb[0] == ja[0] and jb[1] > ja[1] and jb[3] == 2, (ja, jb)
        try:
            do_job(a, ja, "stale")
            raise AssertionError("a stale job token was accepted")
        except psycopg.Error as e:
            assert e.sqlstate == "RL001", e.sqlstate    # no psycopg class: test sqlstate
        do_job(b, jb, "current")
        rows = a.execute("SELECT worker FROM processed_jobs WHERE job_id = %s", (ja[0],)).fetchall()
        assert rows == [("current",)], rows

        # fail(): a retry, then dead at max_attempts
        jid = a.execute("SELECT resilience.enqueue(%s, %s, max_attempts => 2)",
                        (queue, Jsonb({"n": jobs + 1}))).fetchone()[0]
        outcomes = []
        for attempt in (1, 2):
            job = a.execute(CLAIM, (queue, 1, "10 seconds", "5 seconds")).fetchone()
            assert job is not None and job[0] == jid and job[3] == attempt, (jid, job)
            outcomes.append(a.execute("SELECT resilience.fail(%s, %s, %s, %s::interval)",
                                      (job[0], job[1], "smtp 421", "0")).fetchone()[0])
        assert outcomes == ["retry", "dead"], outcomes
        state = a.execute("SELECT state, attempt, last_error FROM resilience.jobs WHERE id = %s",
                          (jid,)).fetchone()
        assert state == ("dead", 2, "smtp 421"), state
        assert a.execute("SELECT resilience.drop_queue(%s)", (queue,)).fetchone()[0] is True
    return jobs, workers, len(done)


# --- a third-party API shared by every instance: rate limit, breaker ---------

LIMIT = "SELECT allowed, retry_after FROM resilience.rate_limit(%s, 10, '1 hour')"
ALLOW = "SELECT resilience.breaker_allow(%s, min_calls => 4, open_for => '1 second')"
STATS = "SELECT rate_limit_allowed, rate_limit_denied, breaker_opened FROM resilience.limit_stats"


def together(clients, call):
    # call(conn) from each client at once; their results, in no order
    results, lock, barrier = [], threading.Lock(), threading.Barrier(clients)

    def client():
        with connect() as conn:
            barrier.wait()
            r = call(conn)
            with lock:
                results.append(r)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == clients, results
    return results


def api_guard(clients=4, each=10):
    key, name = f"email-api:{RUN}", f"payments-api:{RUN}"
    with connect() as conn:
        before = conn.execute(STATS).fetchone()
    # 10 calls an hour between every client: exactly 10 go ahead, whatever the
    # interleaving; each refused call says how long to wait
    calls = [d for r in together(clients, lambda conn: [conn.execute(LIMIT, (key,)).fetchone()
                                                        for _ in range(each)]) for d in r]
    allowed = [a for a, _ in calls if a]
    assert len(allowed) == 10, calls
    assert all(wait.total_seconds() > 0 for a, wait in calls if not a), calls
    with connect() as conn:
        # 4 failures of 4 calls open the breaker for every instance
        for _ in range(4):
            assert conn.execute(ALLOW, (name,)).fetchone()[0] is True
            conn.execute("SELECT resilience.breaker_record(%s, false)", (name,))
        assert conn.execute(ALLOW, (name,)).fetchone()[0] is False
        assert conn.execute("SELECT resilience.breaker_state(%s)", (name,)).fetchone()[0] == "open"
        time.sleep(1.2)
    # open_for has passed: of all the instances' calls, exactly one probe goes
    probes = together(clients, lambda conn: conn.execute(ALLOW, (name,)).fetchone()[0])
    assert probes.count(True) == 1, probes
    with connect() as conn:
        conn.execute("SELECT resilience.breaker_record(%s, true)", (name,))
        assert conn.execute("SELECT state FROM resilience.breakers WHERE name = %s",
                            (name,)).fetchone()[0] == "closed"
        after = conn.execute(STATS).fetchone()
        assert [a - b for a, b in zip(after, before)] == [10, clients * each - 10, 1], (before, after)
        metrics = conn.execute("SELECT resilience.metrics()").fetchone()[0]
        assert '# TYPE resilience_rate_limit_decisions_total counter' in metrics, metrics[:200]
    return len(allowed), clients * each


# --- error handling by SQLSTATE ----------------------------------------------

def errors():
    # psycopg's default (autocommit off) opens a transaction: CALL refuses it
    with connect(autocommit=False) as conn:
        try:
            conn.execute("CALL resilience.retry_transaction('SELECT 1')")
            raise AssertionError("CALL ran inside a transaction")
        except psycopg.errors.InvalidTransactionTermination as e:     # 2D000
            assert e.sqlstate == "2D000"
    with connect() as conn:
        try:
            conn.execute("CALL resilience.retry_transaction('SELECT 1 / 0', max_attempts => 3,"
                         " retry_on => ARRAY['22012'], base_delay => '1ms')")
            raise AssertionError("1 / 0 succeeded")
        except psycopg.errors.DivisionByZero as e:                    # 22012
            # the CONTEXT line says why it stopped
            assert "gave up after 3 attempts (max_attempts)" in e.diag.context, e.diag.context
        try:
            conn.execute("CALL resilience.retry_transaction('SELECT 1 / 0')")
            raise AssertionError("1 / 0 succeeded")
        except psycopg.Error as e:
            assert e.sqlstate == "22012"
            assert "which is not in retry_on" in e.diag.context, e.diag.context
        try:
            conn.execute("SELECT resilience.lock('x', timeout => '-1s')")
            raise AssertionError("a negative timeout was accepted")
        except psycopg.errors.InvalidParameterValue as e:             # 22023
            assert e.sqlstate == "22023"
        try:
            conn.execute("SELECT * FROM resilience.rate_limit('x', 0)")
            raise AssertionError("a rate of 0 was accepted")
        except psycopg.errors.InvalidParameterValue as e:             # 22023
            assert e.diag.message_hint, "no hint"


def main():
    where = "pgbouncer (transaction mode)" if POOLER else "direct"
    with connect() as conn:
        pages, rows = walk_pages(conn)
    t = transfers()
    keys, replays = payments()
    lease_election()
    jobs, workers, busy = queue_jobs()
    allowed, limited = api_guard()
    errors()
    print(f"python psycopg {psycopg.__version__} {where}: pages={pages} rows={rows} both ways;"
          f" transfers={t['done']} failed={t['failed']} max_attempts={t['max_attempts']}"
          f" attempts={t['attempts']} total=8000; payments keys={keys} applied={keys}"
          f" replays={replays}; lease fencing RL001; queue jobs={jobs} workers={workers}"
          f" busy={busy}"
          f" processed once, stale token RL001 rolled back, fail retry dead;"
          f" rate limit allowed={allowed} of {limited}, breaker one probe;"
          f" errors 2D000 22012 22023: ok")


if __name__ == "__main__":
    main()
