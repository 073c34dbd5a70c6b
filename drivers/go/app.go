// resilience from Go (pgx v4, as Debian ships it), used the way an
// application would.
//
// Connects with the libpq environment (PGHOST, PGPORT, ...).  With
// RESILIENCE_POOLER=transaction (PgBouncer in transaction mode, before 1.21)
// it sets statement_cache_mode=describe, pgx's pooler-safe mode; directly it
// keeps pgx's default, named prepared statements.  Every step asserts; the
// program exits non-zero on the first surprise.  Run by t/030_drivers.pl
// after drivers/schema.sql (built in GOPATH mode from golang-github-jackc-pgx-v4-dev);
// docs/drivers.md quotes it.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgx/v4"
	"github.com/jackc/pgx/v4/pgxpool"
)

var (
	ctx    = context.Background()
	pooler = os.Getenv("RESILIENCE_POOLER") == "transaction"
	run    = randomHex(4) // lease names and keys unique to this run
)

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func check(cond bool, format string, args ...interface{}) {
	if !cond {
		fmt.Fprintf(os.Stderr, "assertion failed: "+format+"\n", args...)
		os.Exit(1)
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "unexpected error: %v\n", err)
		os.Exit(1)
	}
}

// sqlstate is the SQLSTATE of a server error, "" for anything else
func sqlstate(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func connect() *pgxpool.Pool {
	dsn := "pool_max_conns=4"
	if pooler {
		// PgBouncer < 1.21 in transaction mode: no named prepared statements
		dsn += " statement_cache_mode=describe"
	}
	pool, err := pgxpool.Connect(ctx, dsn)
	must(err)
	return pool
}

// --- a JSON list endpoint ---------------------------------------------------

type Order struct {
	ID         int64   `json:"id"`
	CustomerID int     `json:"customer_id"`
	CreatedAt  string  `json:"created_at"`
	Total      float64 `json:"total"` // numeric arrives as a JSON number
}

type Page struct {
	Rows    []Order `json:"rows"`
	Next    *string `json:"next"`
	Prev    *string `json:"prev"`
	HasNext bool    `json:"has_next"`
	HasPrev bool    `json:"has_prev"`
}

const pageSQL = `SELECT resilience.page_json('orders', 'created_at DESC',
                   after => $1, before => $2, page_size => $3,
                   filter => 'customer_id = $1', params => $4)`

func listOrders(pool *pgxpool.Pool, customerID int, after, before *string, pageSize int) (Page, error) {
	var page Page // jsonb scans into a struct with encoding/json
	err := pool.QueryRow(ctx, pageSQL, after, before, pageSize,
		[]string{strconv.Itoa(customerID)}).Scan(&page)
	return page, err
}

// Exact is a row with numeric, and bigint beyond 2^53, rendered as JSON strings
type Exact struct {
	Total string `json:"total"` // numeric: its text, as stored
	Big   string `json:"big"`   // bigint beyond 2^53: a string
	Small int64  `json:"small"` // within 2^53: still a number
}

// numeric and large bigint as strings; SET LOCAL lasts for this transaction
// only, which is safe behind a pooler
func exactNumbers(pool *pgxpool.Pool) Exact {
	var rows []Exact
	must(pool.BeginFunc(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL resilience.json_exact_numbers = on"); err != nil {
			return err
		}
		return tx.QueryRow(ctx, "SELECT resilience.retry_statement($1)",
			"SELECT 695.90 AS total, 9007199254740993::int8 AS big, 9007199254740991::int8 AS small",
		).Scan(&rows)
	}))
	check(len(rows) == 1, "exact numbers: %v", rows)
	return rows[0]
}

func walkPages(pool *pgxpool.Pool) (int, int) {
	var expected []int64
	rows, err := pool.Query(ctx, "SELECT id FROM orders WHERE customer_id = 2 ORDER BY created_at DESC, id DESC")
	must(err)
	for rows.Next() {
		var id int64
		must(rows.Scan(&id))
		expected = append(expected, id)
	}
	must(rows.Err())

	page, err := listOrders(pool, 2, nil, nil, 25)
	must(err)
	check(!page.HasPrev, "first page has_prev")
	var forward []int64
	pages := 0
	for {
		pages++
		for _, o := range page.Rows {
			forward = append(forward, o.ID)
		}
		if !page.HasNext {
			break
		}
		page, err = listOrders(pool, 2, page.Next, nil, 25)
		must(err)
	}
	check(reflect.DeepEqual(forward, expected), "forward %v, want %v", forward, expected)
	var backward []int64
	for {
		ids := make([]int64, 0, len(page.Rows))
		for _, o := range page.Rows {
			ids = append(ids, o.ID)
		}
		backward = append(ids, backward...)
		if !page.HasPrev {
			break
		}
		page, err = listOrders(pool, 2, nil, page.Prev, 25)
		must(err)
	}
	check(reflect.DeepEqual(backward, expected), "backward %v, want %v", backward, expected)

	one, err := listOrders(pool, 2, nil, nil, 1)
	must(err)
	exact := exactNumbers(pool)
	check(exact.Total == "695.90" && exact.Big == "9007199254740993" && exact.Small == 9007199254740991,
		"exact numbers: %+v", exact)
	cursor := *one.Next
	tampered := cursor[:len(cursor)-4] + "AAAA"
	if strings.HasSuffix(cursor, "AAAA") {
		tampered = cursor[:len(cursor)-4] + "BBBB"
	}
	_, err = listOrders(pool, 2, &tampered, nil, 25)
	check(sqlstate(err) == "22023", "tampered cursor: %v", err)
	return pages, len(forward)
}

// --- concurrent transfers through retry_transaction -------------------------

const transferSQL = `UPDATE acct SET bal = bal - $3 WHERE id = $1;
                     UPDATE acct SET bal = bal + $3 WHERE id = $2;
                     SELECT id, bal FROM acct WHERE id IN ($1, $2) ORDER BY id`

func transfer(pool *pgxpool.Pool, src, dst, amount int) (int, error) {
	var result []map[string]interface{} // jsonb: one map per row
	var attempts int
	// $2::bigint[]: pgx asks the server for the parameter's type, and then
	// sends a []int as bigint[]; without the cast it is text[], which a
	// []int cannot be converted to
	err := pool.QueryRow(ctx,
		"CALL resilience.retry_transaction($1, $2::bigint[], max_attempts => $3)",
		transferSQL, []int{src, dst, amount}, 50,
	).Scan(&result, &attempts)
	if err != nil {
		return 0, err
	}
	check(len(result) == 2, "transfer result %v", result)
	return attempts, nil
}

func transfers(pool *pgxpool.Pool, workers, each int) (done, failed, maxAttempts, total int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for n := 0; n < workers; n++ {
		wg.Add(1)
		go func(n int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				src := 1 + (n+i)%8
				dst := 1 + (n*3+i*5+1)%8
				if dst == src {
					dst = 1 + src%8
				}
				a, err := transfer(pool, src, dst, 1+(i*7)%40)
				mu.Lock()
				if err != nil {
					failed++
					fmt.Fprintf(os.Stderr, "transfer failed: %s %v\n", sqlstate(err), err)
				} else {
					done++
					total += a
					if a > maxAttempts {
						maxAttempts = a
					}
				}
				mu.Unlock()
			}
		}(n)
	}
	wg.Wait()
	var sum int64
	must(pool.QueryRow(ctx, "SELECT sum(bal)::bigint FROM acct").Scan(&sum))
	check(failed == 0, "%d transfers failed", failed)
	check(done == workers*each, "%d transfers done", done)
	check(sum == 8000, "money was created or lost: total %d", sum)
	return
}

// --- concurrent idempotent payments -----------------------------------------

const paySQL = "INSERT INTO payments (account, amount) VALUES ($1, $2) RETURNING id, amount"

type Idempotent struct {
	Result   []map[string]interface{} `json:"result"`
	Replayed bool                     `json:"replayed"`
}

func createPayment(conn *pgx.Conn, idemKey string, account int, amount string) (int, map[string]interface{}, error) {
	var r Idempotent
	err := conn.BeginFunc(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "SELECT resilience.idempotent($1, $2, $3)",
			idemKey, paySQL, []string{strconv.Itoa(account), amount}).Scan(&r)
	})
	if err != nil {
		return 0, nil, err
	}
	if r.Replayed {
		return 200, r.Result[0], nil
	}
	return 201, r.Result[0], nil
}

func payments(pool *pgxpool.Pool, keys, senders int) int {
	type got struct {
		status int
		id     float64
	}
	results := map[string][]got{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for n := 0; n < senders; n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := pool.Acquire(ctx) // a connection of its own, as an app server has
			must(err)
			defer c.Release()
			for k := 0; k < keys; k++ {
				key := fmt.Sprintf("pay-%s-%d", run, k)
				status, body, err := createPayment(c.Conn(), key, 40+k, "19.99")
				must(err)
				mu.Lock()
				results[key] = append(results[key], got{status, body["id"].(float64)})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for key, g := range results {
		check(len(g) == senders, "%s: %v", key, g)
		var statuses []int
		ids := map[float64]bool{}
		for _, x := range g {
			statuses = append(statuses, x.status)
			ids[x.id] = true
		}
		sort.Ints(statuses)
		check(statuses[senders-1] == 201 && statuses[senders-2] == 200, "%s statuses %v", key, statuses)
		check(len(ids) == 1, "%s ids %v", key, ids)
	}
	var n int
	must(pool.QueryRow(ctx, "SELECT count(*)::int FROM payments").Scan(&n))
	check(n == keys, "%d payments applied for %d keys", n, keys)
	return keys * (senders - 1)
}

// --- lease leader election with fencing -------------------------------------

func leaseElection(pool *pgxpool.Pool) {
	name := "cron:cleanup:" + run
	const acquire = "SELECT resilience.lease_acquire($1, $2, $3::interval)"
	const renew = "SELECT resilience.lease_renew($1, $2, $3, $4::interval)"
	var ta, tb, none *int64
	var ok bool
	must(pool.QueryRow(ctx, acquire, name, "node-a", "2 seconds").Scan(&ta))
	check(ta != nil, "node-a got no lease")
	must(pool.QueryRow(ctx, acquire, name, "node-b", "1 minute").Scan(&none))
	check(none == nil, "node-b got a held lease")
	must(pool.QueryRow(ctx, renew, name, "node-a", *ta, "2 seconds").Scan(&ok))
	check(ok, "node-a could not renew")
	time.Sleep(2500 * time.Millisecond) // node-a stalls past its ttl
	must(pool.QueryRow(ctx, acquire, name, "node-b", "1 minute").Scan(&tb))
	check(tb != nil && *tb > *ta, "takeover tokens %v then %v", ta, tb)
	must(pool.QueryRow(ctx, renew, name, "node-a", *ta, "1 minute").Scan(&ok))
	check(!ok, "node-a renewed a lost lease")

	leaderWrite := func(holder string, token int64) error {
		return pool.BeginFunc(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT resilience.lease_fence($1, $2)", name, token); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO job_runs (holder, token) VALUES ($1, $2)", holder, token)
			return err
		})
	}
	must(leaderWrite("node-b", *tb))
	err := leaderWrite("node-a", *ta)
	var pgErr *pgconn.PgError
	check(errors.As(err, &pgErr) && pgErr.Code == "RL001", "stale token: %v", err)

	var holder string
	var token int64
	var count int
	must(pool.QueryRow(ctx, "SELECT min(holder), min(token), count(*)::int FROM job_runs").Scan(&holder, &token, &count))
	check(count == 1 && holder == "node-b" && token == *tb, "job_runs %s %d %d", holder, token, count)
	must(pool.QueryRow(ctx, "SELECT resilience.lease_release($1, $2, $3)", name, "node-b", *tb).Scan(&ok))
	check(ok, "node-b could not release")
}

// --- a job queue: transactional enqueue, concurrent workers, exactly-once effects

type Job struct {
	ID      int64
	Token   int64
	Payload struct {
		N int `json:"n"`
	}
	Attempt int
}

const claimSQL = `SELECT id, token, payload, attempt FROM resilience.claim($1, max_jobs => $2,
                    lease => $3::interval, wait => $4::interval)`

func claim(conn *pgx.Conn, queue string, maxJobs int, lease, wait string) []Job {
	rows, err := conn.Query(ctx, claimSQL, queue, maxJobs, lease, wait)
	must(err)
	defer rows.Close()
	var jobs []Job
	for rows.Next() {
		var j Job // jsonb payload scans into a struct
		must(rows.Scan(&j.ID, &j.Token, &j.Payload, &j.Attempt))
		jobs = append(jobs, j)
	}
	must(rows.Err())
	return jobs
}

// the job's effect and complete() in one transaction: with a stale token
// complete() fails with RL001 and the effect rolls back with it
func doJob(conn *pgx.Conn, j Job, worker string) error {
	return conn.BeginFunc(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO processed_jobs (job_id, n, worker) VALUES ($1, $2, $3)",
			j.ID, j.Payload.N, worker); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "SELECT resilience.complete($1, $2)", j.ID, j.Token)
		return err
	})
}

func queueJobs(pool *pgxpool.Pool, jobs, workers int) int {
	queue := "mail:" + run
	var created bool
	must(pool.QueryRow(ctx, "SELECT resilience.create_queue($1)", queue).Scan(&created))
	check(created, "create_queue: not created")
	must(pool.QueryRow(ctx, "SELECT resilience.create_queue($1)", queue).Scan(&created))
	check(!created, "create_queue: created twice") // it exists: a no-op

	// enqueue is transactional: a job enqueued in a transaction that rolls back never was
	var lost int64
	rollback := errors.New("roll back")
	err := pool.BeginFunc(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT resilience.enqueue($1, $2)", queue,
			map[string]int{"n": -1}).Scan(&lost); err != nil {
			return err
		}
		return rollback
	})
	check(err == rollback, "rolled-back enqueue: %v", err)
	var ids []int64
	must(pool.BeginFunc(ctx, func(tx pgx.Tx) error {
		for n := 0; n < jobs; n++ {
			var id int64
			if err := tx.QueryRow(ctx, "SELECT resilience.enqueue($1, $2)", queue,
				map[string]int{"n": n}).Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	}))
	var gone, ready int
	must(pool.QueryRow(ctx, "SELECT count(*)::int FROM resilience.jobs WHERE id = $1", lost).Scan(&gone))
	check(gone == 0 && len(ids) == jobs, "a rolled-back enqueue exists: %d %v", lost, ids)
	must(pool.QueryRow(ctx, "SELECT ready::int FROM resilience.queues WHERE queue = $1", queue).Scan(&ready))
	check(ready == jobs, "ready %d", ready)

	// each worker a connection of its own: claim in autocommit, each job in its own transaction
	done := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for n := 0; n < workers; n++ {
		wg.Add(1)
		go func(n int) {
			defer wg.Done()
			c, err := pool.Acquire(ctx)
			must(err)
			defer c.Release()
			for {
				claimed := claim(c.Conn(), queue, 5, "10 seconds", "300 milliseconds")
				if len(claimed) == 0 {
					return
				}
				for _, j := range claimed {
					must(doJob(c.Conn(), j, fmt.Sprintf("worker-%d", n)))
					mu.Lock()
					done[n]++
					mu.Unlock()
				}
			}
		}(n)
	}
	wg.Wait()
	var count, distinct, sumN, total int
	must(pool.QueryRow(ctx, "SELECT count(*)::int, count(DISTINCT job_id)::int, coalesce(sum(n), 0)::int"+
		" FROM processed_jobs").Scan(&count, &distinct, &sumN))
	for _, d := range done {
		total += d
	}
	check(count == jobs && distinct == jobs && sumN == jobs*(jobs-1)/2 && total == jobs,
		"processed %d jobs, %d distinct, sum %d, workers %v", count, distinct, sumN, done)

	ca, err := pool.Acquire(ctx)
	must(err)
	defer ca.Release()
	cb, err := pool.Acquire(ctx)
	must(err)
	defer cb.Release()
	a, b := ca.Conn(), cb.Conn()

	// a stale worker: its lease expires, another worker claims the job again
	_, err = a.Exec(ctx, "SELECT resilience.enqueue($1, $2)", queue, map[string]int{"n": jobs})
	must(err)
	ja := claim(a, queue, 1, "300 milliseconds", "0")
	check(len(ja) == 1 && ja[0].Attempt == 1, "first claim %v", ja)
	time.Sleep(600 * time.Millisecond)
	jb := claim(b, queue, 1, "10 seconds", "5 seconds")
	check(len(jb) == 1 && jb[0].ID == ja[0].ID && jb[0].Token > ja[0].Token && jb[0].Attempt == 2,
		"claims %v then %v", ja, jb)
	err = doJob(a, ja[0], "stale")
	var pgErr *pgconn.PgError
	check(errors.As(err, &pgErr) && pgErr.Code == "RL001", "stale job token: %v", err)
	must(doJob(b, jb[0], "current"))
	var workersOf []string
	must(a.QueryRow(ctx, "SELECT array_agg(worker) FROM processed_jobs WHERE job_id = $1", ja[0].ID).Scan(&workersOf))
	check(reflect.DeepEqual(workersOf, []string{"current"}), "job %d done by %v", ja[0].ID, workersOf)

	// fail(): a retry, then dead at max_attempts
	var jid int64
	must(a.QueryRow(ctx, "SELECT resilience.enqueue($1, $2, max_attempts => 2)", queue,
		map[string]int{"n": jobs + 1}).Scan(&jid))
	var outcomes []string
	for attempt := 1; attempt <= 2; attempt++ {
		j := claim(a, queue, 1, "10 seconds", "5 seconds")
		check(len(j) == 1 && j[0].ID == jid && j[0].Attempt == attempt, "attempt %d: %v", attempt, j)
		var outcome string
		must(a.QueryRow(ctx, "SELECT resilience.fail($1, $2, $3, $4::interval)",
			j[0].ID, j[0].Token, "smtp 421", "0").Scan(&outcome))
		outcomes = append(outcomes, outcome)
	}
	check(reflect.DeepEqual(outcomes, []string{"retry", "dead"}), "fail: %v", outcomes)
	var state, lastError string
	var attempt int
	must(a.QueryRow(ctx, "SELECT state, attempt, last_error FROM resilience.jobs WHERE id = $1", jid).
		Scan(&state, &attempt, &lastError))
	check(state == "dead" && attempt == 2 && lastError == "smtp 421", "dead job: %s %d %s", state, attempt, lastError)
	var dropped bool
	must(a.QueryRow(ctx, "SELECT resilience.drop_queue($1)", queue).Scan(&dropped))
	check(dropped, "drop_queue")
	return len(done)
}

// --- a third-party API shared by every instance: rate limit, breaker ---------

const limitSQL = `SELECT allowed, extract(epoch FROM retry_after)::float8
                  FROM resilience.rate_limit($1, 10, '1 hour')`
const allowSQL = "SELECT resilience.breaker_allow($1, min_calls => 4, open_for => '1 second')"
const statsSQL = "SELECT rate_limit_allowed, rate_limit_denied, breaker_opened FROM resilience.limit_stats"

// together runs fn on n connections of the pool at once
func together(pool *pgxpool.Pool, n int, fn func(conn *pgx.Conn)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := pool.Acquire(ctx)
			must(err)
			defer c.Release()
			<-start
			fn(c.Conn())
		}()
	}
	close(start)
	wg.Wait()
}

func limitStats(pool *pgxpool.Pool) [3]int64 {
	var v [3]int64
	must(pool.QueryRow(ctx, statsSQL).Scan(&v[0], &v[1], &v[2]))
	return v
}

func apiGuard(pool *pgxpool.Pool, clients, each int) int {
	key, name := "email-api:"+run, "payments-api:"+run
	before := limitStats(pool)
	// 10 calls an hour between every client: exactly 10 go ahead, whatever the
	// interleaving; each refused call says how long to wait
	var mu sync.Mutex
	allowed, badWait := 0, 0
	together(pool, clients, func(conn *pgx.Conn) {
		for i := 0; i < each; i++ {
			var ok bool
			var wait float64
			must(conn.QueryRow(ctx, limitSQL, key).Scan(&ok, &wait))
			mu.Lock()
			if ok {
				allowed++
			} else if wait <= 0 {
				badWait++
			}
			mu.Unlock()
		}
	})
	check(allowed == 10 && badWait == 0, "rate limit: %d allowed, %d denied without a wait", allowed, badWait)

	// 4 failures of 4 calls open the breaker for every instance
	var open bool
	for i := 0; i < 4; i++ {
		must(pool.QueryRow(ctx, allowSQL, name).Scan(&open))
		check(open, "breaker_allow refused a call while closed")
		_, err := pool.Exec(ctx, "SELECT resilience.breaker_record($1, false)", name)
		must(err)
	}
	must(pool.QueryRow(ctx, allowSQL, name).Scan(&open))
	check(!open, "breaker_allow let a call through after 4 failures")
	var state string
	must(pool.QueryRow(ctx, "SELECT resilience.breaker_state($1)", name).Scan(&state))
	check(state == "open", "breaker state %q", state)
	time.Sleep(1200 * time.Millisecond)
	// open_for has passed: of all the instances' calls, exactly one probe goes
	probes := 0
	together(pool, clients, func(conn *pgx.Conn) {
		var admitted bool
		must(conn.QueryRow(ctx, allowSQL, name).Scan(&admitted))
		if admitted {
			mu.Lock()
			probes++
			mu.Unlock()
		}
	})
	check(probes == 1, "half-open let %d probes through", probes)
	_, err := pool.Exec(ctx, "SELECT resilience.breaker_record($1, true)", name)
	must(err)
	must(pool.QueryRow(ctx, "SELECT state FROM resilience.breakers WHERE name = $1", name).Scan(&state))
	check(state == "closed", "breaker state after a good probe %q", state)
	after := limitStats(pool)
	check(after[0]-before[0] == 10 && after[1]-before[1] == int64(clients*each-10) && after[2]-before[2] == 1,
		"limit_stats moved from %v to %v", before, after)
	var metrics string
	must(pool.QueryRow(ctx, "SELECT resilience.metrics()").Scan(&metrics))
	check(strings.Contains(metrics, "# TYPE resilience_rate_limit_decisions_total counter"), "metrics: %.200s", metrics)
	return clients * each
}

// --- error handling by SQLSTATE ----------------------------------------------

func errorsBySQLSTATE(pool *pgxpool.Pool) {
	err := pool.BeginFunc(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "CALL resilience.retry_transaction('SELECT 1')")
		return err
	})
	check(sqlstate(err) == "2D000", "CALL in a transaction: %v", err)

	_, err = pool.Exec(ctx, "CALL resilience.retry_transaction('SELECT 1 / 0', max_attempts => 3, "+
		"retry_on => ARRAY['22012'], base_delay => '1ms')")
	var pgErr *pgconn.PgError
	check(errors.As(err, &pgErr) && pgErr.Code == "22012", "1 / 0: %v", err)
	// err.Error() is only "ERROR: division by zero (SQLSTATE 22012)": the
	// CONTEXT line that says why it stopped is pgErr.Where
	check(!strings.Contains(err.Error(), "gave up"), "Error() now shows CONTEXT: %s", err.Error())
	check(strings.Contains(pgErr.Where, "gave up after 3 attempts (max_attempts)"), "Where: %q", pgErr.Where)

	_, err = pool.Exec(ctx, "CALL resilience.retry_transaction('SELECT 1 / 0')")
	check(errors.As(err, &pgErr) && strings.Contains(pgErr.Where, "which is not in retry_on"), "%v", err)
	_, err = pool.Exec(ctx, "SELECT resilience.lock('x', timeout => '-1s')")
	check(sqlstate(err) == "22023", "negative timeout: %v", err)
	_, err = pool.Exec(ctx, "SELECT * FROM resilience.rate_limit('x', 0)")
	check(errors.As(err, &pgErr) && pgErr.Code == "22023" && pgErr.Hint != "", "rate 0: %v", err)
}

func main() {
	where := "direct"
	if pooler {
		where = "pgbouncer (transaction mode)"
	}
	pool := connect()
	defer pool.Close()
	pages, rows := walkPages(pool)
	done, failed, maxAttempts, attempts := transfers(pool, 4, 25)
	replays := payments(pool, 5, 4)
	leaseElection(pool)
	busy := queueJobs(pool, 40, 4)
	limited := apiGuard(pool, 4, 10)
	errorsBySQLSTATE(pool)
	fmt.Printf("go pgx v4 %s: pages=%d rows=%d both ways; transfers=%d failed=%d max_attempts=%d"+
		" attempts=%d total=8000; payments keys=5 applied=5 replays=%d; lease fencing RL001;"+
		" queue jobs=40 workers=4 busy=%d processed once, stale token RL001 rolled back, fail retry dead;"+
		" rate limit allowed=10 of %d, breaker one probe; errors 2D000 22012 22023: ok\n",
		where, pages, rows, done, failed, maxAttempts, attempts, replays, busy, limited)
}
