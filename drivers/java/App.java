// resilience from Java (JDBC with pgjdbc, as Debian's libpostgresql-jdbc-java
// ships it), used the way an application would.
//
// Connects with the libpq environment (PGHOST, PGPORT, PGUSER, PGDATABASE).
// pgjdbc speaks TCP only: a PGHOST that is a socket directory is taken as
// 127.0.0.1 on the same port, where t/030_drivers.pl's server also listens.
// With RESILIENCE_POOLER=transaction (PgBouncer in transaction mode, before
// 1.21) it sets prepareThreshold=0, pgjdbc's pooler-safe setting; directly it
// keeps pgjdbc's default, a named server-side statement from a statement's
// fifth run on.  Every step asserts; the program exits non-zero on the first
// surprise.  Run by t/030_drivers.pl after drivers/schema.sql (compiled with
// javac against /usr/share/java/postgresql.jar); docs/drivers.md quotes it.

import java.math.BigDecimal;
import java.security.SecureRandom;
import java.sql.Array;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.CyclicBarrier;

import org.postgresql.util.PSQLException;
import org.postgresql.util.ServerErrorMessage;

public class App {
    static final boolean POOLER = "transaction".equals(System.getenv("RESILIENCE_POOLER"));
    static final String RUN = randomHex(4);  // lease names and keys unique to this run

    static String randomHex(int n) {
        byte[] b = new byte[n];
        new SecureRandom().nextBytes(b);
        StringBuilder s = new StringBuilder();
        for (byte x : b) {
            s.append(String.format("%02x", x));
        }
        return s.toString();
    }

    static void check(boolean cond, String format, Object... args) {
        if (!cond) {
            System.err.println("assertion failed: " + String.format(format, args));
            System.exit(1);
        }
    }

    static void fail(String message) {
        check(false, "%s", message);
    }

    static String env(String name, String otherwise) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? otherwise : v;
    }

    static String url() {
        String host = env("PGHOST", "localhost");
        if (host.startsWith("/")) {
            host = "127.0.0.1";  // a socket directory: pgjdbc has no Unix sockets
        }
        return "jdbc:postgresql://" + host + ":" + env("PGPORT", "5432") + "/"
            + env("PGDATABASE", env("PGUSER", System.getProperty("user.name")));
    }

    static Connection connect() throws SQLException {
        return connect(true);
    }

    static Connection connect(boolean autocommit) throws SQLException {
        Properties props = new Properties();
        props.setProperty("user", env("PGUSER", System.getProperty("user.name")));
        // prepareThreshold=0: behind PgBouncer < 1.21 in transaction mode, a
        // named server-side statement may be missing on the next server
        // connection; pgjdbc's default, 5, names a statement on its fifth run
        props.setProperty("prepareThreshold", POOLER ? "0" : "5");
        Connection conn = DriverManager.getConnection(url(), props);
        // autocommit is JDBC's default; CALL resilience.retry_transaction
        // fails with 2D000 in the transaction that setAutoCommit(false) opens
        conn.setAutoCommit(autocommit);
        return conn;
    }

    // --- small helpers around JDBC ------------------------------------------

    interface Work<T> {
        T run() throws SQLException;
    }

    // work in one transaction of conn: commit when it returns, roll back when
    // it throws; autocommit again after either
    static <T> T inTransaction(Connection conn, Work<T> work) throws SQLException {
        conn.setAutoCommit(false);
        try {
            T result = work.run();
            conn.commit();
            return result;
        } catch (SQLException | RuntimeException e) {
            conn.rollback();
            throw e;
        } finally {
            conn.setAutoCommit(true);
        }
    }

    static PreparedStatement prepare(Connection conn, String sql, Object... args) throws SQLException {
        PreparedStatement st = conn.prepareStatement(sql);
        for (int i = 0; i < args.length; i++) {
            st.setObject(i + 1, args[i]);  // Long: bigint, Integer: integer, String: varchar
        }
        return st;
    }

    static void exec(Connection conn, String sql, Object... args) throws SQLException {
        try (PreparedStatement st = prepare(conn, sql, args)) {
            st.execute();
        }
    }

    // the rows of sql, each an Object[] of its columns' getObject
    static List<Object[]> rows(Connection conn, String sql, Object... args) throws SQLException {
        List<Object[]> rows = new ArrayList<>();
        try (PreparedStatement st = prepare(conn, sql, args); ResultSet rs = st.executeQuery()) {
            int n = rs.getMetaData().getColumnCount();
            while (rs.next()) {
                Object[] row = new Object[n];
                for (int i = 0; i < n; i++) {
                    row[i] = rs.getObject(i + 1);
                }
                rows.add(row);
            }
        }
        return rows;
    }

    // the first column of the one row of sql, as type (null for SQL NULL)
    static <T> T one(Connection conn, Class<T> type, String sql, Object... args) throws SQLException {
        try (PreparedStatement st = prepare(conn, sql, args); ResultSet rs = st.executeQuery()) {
            check(rs.next(), "no row from %s", sql);
            T v = rs.getObject(1, type);
            check(!rs.next(), "more than one row from %s", sql);
            return v;
        }
    }

    // a PostgreSQL array's elements (Long for bigint[], Integer for int[])
    static List<Object> elements(Object array) throws SQLException {
        return Arrays.asList((Object[]) ((Array) array).getArray());
    }

    // the CONTEXT line of a server error: why retry_transaction stopped
    static String where(SQLException e) {
        ServerErrorMessage m = e instanceof PSQLException ? ((PSQLException) e).getServerErrorMessage() : null;
        return m == null || m.getWhere() == null ? "" : m.getWhere();
    }

    static String hint(SQLException e) {
        ServerErrorMessage m = e instanceof PSQLException ? ((PSQLException) e).getServerErrorMessage() : null;
        return m == null ? null : m.getHint();
    }

    interface Body {
        void run(int n) throws Exception;
    }

    // body(0) .. body(n - 1), each on a thread of its own; any exception ends
    // the program
    static void inThreads(int n, Body body) throws InterruptedException {
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int k = i;
            threads.add(new Thread(() -> {
                try {
                    body.run(k);
                } catch (Exception e) {
                    System.err.println("unexpected error: " + e);
                    e.printStackTrace();
                    System.exit(1);
                }
            }));
        }
        for (Thread t : threads) {
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
    }

    // --- JSON ----------------------------------------------------------------
    // JDBC has no JSON type: jsonb arrives as its text (getString; getObject
    // gives an org.postgresql.util.PGobject).  An application sends it on as
    // is, or reads it with its JSON library; this one reads it with a small
    // parser, to Map, List, String, BigDecimal, Boolean and null.

    static final class Json {
        private final String s;
        private int i;

        private Json(String s) {
            this.s = s;
        }

        static Object parse(String s) {
            Json p = new Json(s);
            Object v = p.value();
            p.space();
            check(p.i == s.length(), "JSON: trailing text at %d of %s", p.i, s);
            return v;
        }

        private void space() {
            while (i < s.length() && " \t\r\n".indexOf(s.charAt(i)) >= 0) {
                i++;
            }
        }

        private void expect(char c) {
            space();
            check(i < s.length() && s.charAt(i) == c, "JSON: '%c' expected at %d of %s", c, i, s);
            i++;
        }

        private boolean next(char c) {
            space();
            if (i < s.length() && s.charAt(i) == c) {
                i++;
                return true;
            }
            return false;
        }

        private Object value() {
            space();
            check(i < s.length(), "JSON: a value expected at the end of %s", s);
            if (next('{')) {
                Map<String, Object> m = new LinkedHashMap<>();
                if (next('}')) {
                    return m;
                }
                do {
                    space();
                    String key = string();
                    expect(':');
                    m.put(key, value());
                } while (next(','));
                expect('}');
                return m;
            }
            if (next('[')) {
                List<Object> l = new ArrayList<>();
                if (next(']')) {
                    return l;
                }
                do {
                    l.add(value());
                } while (next(','));
                expect(']');
                return l;
            }
            if (s.charAt(i) == '"') {
                return string();
            }
            for (String word : new String[] {"true", "false", "null"}) {
                if (s.startsWith(word, i)) {
                    i += word.length();
                    return word.equals("null") ? null : Boolean.valueOf(word);
                }
            }
            int start = i;
            while (i < s.length() && "+-.eE0123456789".indexOf(s.charAt(i)) >= 0) {
                i++;
            }
            return new BigDecimal(s.substring(start, i));
        }

        private String string() {
            expect('"');
            StringBuilder b = new StringBuilder();
            for (char c = s.charAt(i++); c != '"'; c = s.charAt(i++)) {
                if (c != '\\') {
                    b.append(c);
                    continue;
                }
                c = s.charAt(i++);
                switch (c) {
                    case 'u':
                        b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                        i += 4;
                        break;
                    case 'b':
                        b.append('\b');
                        break;
                    case 'f':
                        b.append('\f');
                        break;
                    case 'n':
                        b.append('\n');
                        break;
                    case 'r':
                        b.append('\r');
                        break;
                    case 't':
                        b.append('\t');
                        break;
                    default:  // \" \\ \/
                        b.append(c);
                }
            }
            return b.toString();
        }
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> obj(Object v) {
        return (Map<String, Object>) v;
    }

    @SuppressWarnings("unchecked")
    static List<Object> list(Object v) {
        return (List<Object>) v;
    }

    // --- a JSON list endpoint ------------------------------------------------

    static final String PAGE = """
        SELECT resilience.page_json('orders', 'created_at DESC',
               after => ?, before => ?, page_size => ?,
               filter => 'customer_id = $1', params => ?)""";

    static Map<String, Object> listOrders(Connection conn, int customerId, String after, String before,
                                          int pageSize) throws SQLException {
        try (PreparedStatement st = conn.prepareStatement(PAGE)) {
            st.setString(1, after);  // null: SQL NULL
            st.setString(2, before);
            st.setInt(3, pageSize);
            // params: an Integer[] as int4[]: $1 is integer
            st.setArray(4, conn.createArrayOf("int4", new Integer[] {customerId}));
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                // the jsonb's text is the response body: rows, next, prev, has_next, has_prev
                return obj(Json.parse(rs.getString(1)));
            }
        }
    }

    static Map<String, Object> listOrdersExact(Connection conn, int customerId, int pageSize) throws SQLException {
        // numeric (and bigint beyond 2^53) as JSON strings: new BigDecimal(total) is exact.
        // SET LOCAL lasts for this transaction only, which is safe behind a pooler.
        return inTransaction(conn, () -> {
            try (Statement st = conn.createStatement()) {
                st.execute("SET LOCAL resilience.json_exact_numbers = on");
            }
            return listOrders(conn, customerId, null, null, pageSize);
        });
    }

    static List<Long> ids(Map<String, Object> page) {
        List<Long> ids = new ArrayList<>();
        for (Object row : list(page.get("rows"))) {
            ids.add(((BigDecimal) obj(row).get("id")).longValueExact());
        }
        return ids;
    }

    static int[] walkPages(Connection conn) throws SQLException {
        List<Long> expected = new ArrayList<>();
        String ordered = "SELECT id FROM orders WHERE customer_id = 2 ORDER BY created_at DESC, id DESC";
        for (Object[] r : rows(conn, ordered)) {
            expected.add((Long) r[0]);
        }
        List<Long> forward = new ArrayList<>();
        int pages = 0;
        Map<String, Object> page = listOrders(conn, 2, null, null, 25);
        check(Boolean.FALSE.equals(page.get("has_prev")), "first page: %s", page);
        for (;;) {
            pages++;
            forward.addAll(ids(page));
            if (!Boolean.TRUE.equals(page.get("has_next"))) {
                break;
            }
            page = listOrders(conn, 2, (String) page.get("next"), null, 25);
        }
        check(forward.equals(expected), "forward %s, want %s", forward, expected);
        List<Long> backward = new ArrayList<>();
        for (;;) {
            backward.addAll(0, ids(page));
            if (!Boolean.TRUE.equals(page.get("has_prev"))) {
                break;
            }
            page = listOrders(conn, 2, null, (String) page.get("prev"), 25);
        }
        check(backward.equals(expected), "walking back gave other rows");
        // numeric arrives as a JSON number
        Map<String, Object> first = listOrders(conn, 2, null, null, 1);
        check(obj(list(first.get("rows")).get(0)).get("total") instanceof BigDecimal, "%s", first);
        Map<String, Object> exact = obj(list(listOrdersExact(conn, 2, 1).get("rows")).get(0));
        Object total = exact.get("total");
        BigDecimal stored = one(conn, BigDecimal.class, "SELECT total FROM orders WHERE id = ?",
                                ((BigDecimal) exact.get("id")).longValueExact());
        check(total instanceof String && new BigDecimal((String) total).compareTo(stored) == 0,
              "exact total %s, stored %s", total, stored);

        // a client that edits a cursor gets 22023, its API a 400
        String cursor = (String) first.get("next");
        String tampered = cursor.substring(0, cursor.length() - 4) + (cursor.endsWith("AAAA") ? "BBBB" : "AAAA");
        try {
            listOrders(conn, 2, tampered, null, 25);
            fail("a tampered cursor was accepted");
        } catch (SQLException e) {
            check("22023".equals(e.getSQLState()), "tampered cursor: %s %s", e.getSQLState(), e);
        }
        return new int[] {pages, forward.size()};
    }

    // --- concurrent transfers through retry_transaction ----------------------

    static final String TRANSFER = """
        UPDATE acct SET bal = bal - $3 WHERE id = $1;
        UPDATE acct SET bal = bal + $3 WHERE id = $2;
        SELECT id, bal FROM acct WHERE id IN ($1, $2) ORDER BY id""";

    static int transfer(Connection conn, int src, int dst, int amount) throws SQLException {  // conn: autocommit
        try (PreparedStatement st = conn.prepareStatement(
                "CALL resilience.retry_transaction(?, ?, max_attempts => 50)")) {
            st.setString(1, TRANSFER);
            st.setArray(2, conn.createArrayOf("int4", new Integer[] {src, dst, amount}));  // int4[], bound as such
            try (ResultSet rs = st.executeQuery()) {  // CALL's INOUT parameters: one row
                rs.next();
                List<Object> result = list(Json.parse(rs.getString("result")));  // jsonb: its text
                int attempts = rs.getInt("attempts");
                List<Long> ids = new ArrayList<>();
                for (Object r : result) {
                    ids.add(((BigDecimal) obj(r).get("id")).longValueExact());
                }
                check(ids.equals(new ArrayList<>(new TreeSet<>(List.of((long) src, (long) dst)))), "%s", result);
                return attempts;
            }
        }
    }

    static final class TransferStats {
        int done, failed, maxAttempts, attempts;
    }

    static TransferStats transfers(int workers, int each) throws Exception {
        TransferStats stats = new TransferStats();
        inThreads(workers, n -> {
            try (Connection conn = connect()) {
                for (int i = 0; i < each; i++) {
                    int src = 1 + (n + i) % 8;
                    int dst = 1 + (n * 3 + i * 5 + 1) % 8;
                    if (dst == src) {
                        dst = 1 + src % 8;
                    }
                    try {
                        int a = transfer(conn, src, dst, 1 + (i * 7) % 40);
                        synchronized (stats) {
                            stats.done++;
                            stats.attempts += a;
                            stats.maxAttempts = Math.max(stats.maxAttempts, a);
                        }
                    } catch (SQLException e) {
                        synchronized (stats) {
                            stats.failed++;
                        }
                        System.err.println("transfer failed: " + e.getSQLState() + " " + e.getMessage());
                    }
                }
            }
        });
        BigDecimal total;
        try (Connection conn = connect()) {
            total = one(conn, BigDecimal.class, "SELECT sum(bal) FROM acct");
        }
        check(stats.failed == 0, "%d transfers failed", stats.failed);
        check(stats.done == workers * each, "%d transfers done", stats.done);
        check(total.compareTo(BigDecimal.valueOf(8000)) == 0, "money was created or lost: total %s", total);
        return stats;
    }

    // --- concurrent idempotent payments --------------------------------------

    static final String PAY = "INSERT INTO payments (account, amount) VALUES ($1, $2) RETURNING id, amount";

    record Response(int status, Map<String, Object> body) {}

    static Response createPayment(Connection conn, String idemKey, int account, String amount)
            throws SQLException {
        Map<String, Object> row = inTransaction(conn, () -> {
            try (PreparedStatement st = conn.prepareStatement("SELECT resilience.idempotent(?, ?, ?)")) {
                st.setString(1, idemKey);
                st.setString(2, PAY);
                st.setArray(3, conn.createArrayOf("text", new String[] {String.valueOf(account), amount}));
                try (ResultSet rs = st.executeQuery()) {
                    rs.next();
                    return obj(Json.parse(rs.getString(1)));
                }
            }
        });
        int status = Boolean.TRUE.equals(row.get("replayed")) ? 200 : 201;
        return new Response(status, obj(list(row.get("result")).get(0)));
    }

    static int[] payments(int keys, int senders) throws Exception {
        Map<String, List<Response>> results = new HashMap<>();
        CyclicBarrier barrier = new CyclicBarrier(senders);
        inThreads(senders, n -> {
            try (Connection conn = connect()) {
                barrier.await();
                for (int k = 0; k < keys; k++) {
                    String key = "pay-" + RUN + "-" + k;
                    Response r = createPayment(conn, key, 40 + k, "19.99");
                    synchronized (results) {
                        results.computeIfAbsent(key, x -> new ArrayList<>()).add(r);
                    }
                }
            }
        });
        for (Map.Entry<String, List<Response>> e : results.entrySet()) {
            List<Response> got = e.getValue();
            List<Integer> statuses = new ArrayList<>();
            HashSet<Object> ids = new HashSet<>();
            for (Response r : got) {
                statuses.add(r.status());
                ids.add(r.body().get("id"));
            }
            Collections.sort(statuses);
            List<Integer> want = new ArrayList<>(Collections.nCopies(senders - 1, 200));
            want.add(201);
            check(got.size() == senders && statuses.equals(want) && ids.size() == 1, "%s: %s", e.getKey(), got);
        }
        long n;
        try (Connection conn = connect()) {
            n = one(conn, Long.class, "SELECT count(*) FROM payments");
        }
        check(n == keys, "%d payments applied for %d keys", n, keys);
        return new int[] {keys, keys * (senders - 1)};
    }

    // --- lease leader election with fencing ----------------------------------

    static void leaderWrite(Connection conn, String name, String holder, long token) throws SQLException {
        inTransaction(conn, () -> {
            exec(conn, "SELECT resilience.lease_fence(?, ?)", name, token);
            exec(conn, "INSERT INTO job_runs (holder, token) VALUES (?, ?)", holder, token);
            return null;
        });
    }

    static void leaseElection() throws SQLException {
        String name = "cron:cleanup:" + RUN;
        try (Connection a = connect(); Connection b = connect()) {
            String acquire = "SELECT resilience.lease_acquire(?, ?, ?::interval)";
            String renew = "SELECT resilience.lease_renew(?, ?, ?, ?::interval)";
            Long ta = one(a, Long.class, acquire, name, "node-a", "2 seconds");  // bigint, null when taken
            check(ta != null, "node-a did not get the lease");
            check(one(b, Long.class, acquire, name, "node-b", "1 minute") == null, "node-b got a held lease");
            check(Boolean.TRUE.equals(one(a, Boolean.class, renew, name, "node-a", ta, "2 seconds")), "renew");
            // node-a stalls past its ttl; node-b takes over with a larger token
            exec(b, "SELECT pg_sleep(2.5)");
            Long tb = one(b, Long.class, acquire, name, "node-b", "1 minute");
            check(tb != null && tb > ta, "tokens %s then %s", ta, tb);
            check(Boolean.FALSE.equals(one(a, Boolean.class, renew, name, "node-a", ta, "1 minute")),
                  "the stale leader renewed");

            leaderWrite(b, name, "node-b", tb);
            try {
                leaderWrite(a, name, "node-a", ta);  // the stale leader's write
                fail("a stale token was accepted");
            } catch (SQLException e) {
                // RL001 is resilience's own code: JDBC has no class for any SQLSTATE
                check("RL001".equals(e.getSQLState()), "stale token: %s %s", e.getSQLState(), e);
            }
            List<Object[]> rows = rows(a, "SELECT holder, token FROM job_runs");
            check(rows.size() == 1 && "node-b".equals(rows.get(0)[0]) && tb.equals(rows.get(0)[1]),
                  "job_runs: %s", rows.isEmpty() ? "none" : Arrays.deepToString(rows.toArray()));
            check(Boolean.TRUE.equals(one(b, Boolean.class, "SELECT resilience.lease_release(?, ?, ?)",
                                          name, "node-b", tb)), "release");
        }
    }

    // --- a job queue: transactional enqueue, concurrent workers, exactly-once effects

    static final String CLAIM = """
        SELECT id, token, payload, attempt FROM resilience.claim(?, max_jobs => ?,
               lease => ?::interval, wait => ?::interval)""";

    record Job(long id, long token, Map<String, Object> payload, int attempt) {}

    static List<Job> claim(Connection conn, String queue, int maxJobs, String lease, String wait)
            throws SQLException {
        List<Job> jobs = new ArrayList<>();
        try (PreparedStatement st = prepare(conn, CLAIM, queue, maxJobs, lease, wait);
             ResultSet rs = st.executeQuery()) {
            while (rs.next()) {
                jobs.add(new Job(rs.getLong("id"), rs.getLong("token"), obj(Json.parse(rs.getString("payload"))),
                                 rs.getInt("attempt")));
            }
        }
        return jobs;
    }

    static void doJob(Connection conn, Job job, String worker) throws SQLException {
        // the job's effect and complete() in one transaction: with a stale token
        // complete() raises RL001 and the effect rolls back with it
        inTransaction(conn, () -> {
            exec(conn, "INSERT INTO processed_jobs (job_id, n, worker) VALUES (?, ?, ?)",
                 job.id(), ((BigDecimal) job.payload().get("n")).intValueExact(), worker);
            exec(conn, "SELECT resilience.complete(?, ?)", job.id(), job.token());
            return null;
        });
    }

    static int[] queueJobs(int jobs, int workers) throws Exception {
        String queue = "mail:" + RUN;
        try (Connection conn = connect()) {
            String create = "SELECT resilience.create_queue(?)";
            check(Boolean.TRUE.equals(one(conn, Boolean.class, create, queue)), "create_queue");
            check(Boolean.FALSE.equals(one(conn, Boolean.class, create, queue)), "create_queue again");  // a no-op
            // enqueue is transactional: a job enqueued in a transaction that rolls back never was
            conn.setAutoCommit(false);
            long lost = one(conn, Long.class, "SELECT resilience.enqueue(?, ?::jsonb)", queue, "{\"n\": -1}");
            conn.rollback();
            conn.setAutoCommit(true);
            String[] payloads = new String[jobs];
            for (int i = 0; i < jobs; i++) {
                payloads[i] = "{\"n\": " + i + "}";
            }
            List<Object> ids = inTransaction(conn, () -> elements(one(conn, Array.class,
                "SELECT resilience.enqueue_many(?, ?)", queue, conn.createArrayOf("jsonb", payloads))));
            check(ids.size() == jobs && !ids.contains(lost), "lost %d, ids %s", lost, ids);
            check(one(conn, Long.class, "SELECT count(*) FROM resilience.jobs WHERE id = ?", lost) == 0,
                  "a rolled-back enqueue exists");
            check(one(conn, Long.class, "SELECT ready FROM resilience.queues WHERE queue = ?", queue) == jobs,
                  "ready is not %d", jobs);
        }

        Map<Integer, Integer> done = new HashMap<>();
        CyclicBarrier barrier = new CyclicBarrier(workers);
        inThreads(workers, n -> {
            try (Connection conn = connect()) {  // claim in autocommit, each job in its own transaction
                barrier.await();
                for (;;) {
                    List<Job> claimed = claim(conn, queue, 5, "10 seconds", "300 milliseconds");
                    if (claimed.isEmpty()) {
                        return;
                    }
                    for (Job job : claimed) {
                        doJob(conn, job, "worker-" + n);
                        synchronized (done) {
                            done.merge(n, 1, Integer::sum);
                        }
                    }
                }
            }
        });
        try (Connection a = connect(); Connection b = connect()) {
            Object[] r = rows(a, "SELECT count(*), count(DISTINCT job_id), array_agg(n ORDER BY n)"
                              + " FROM processed_jobs").get(0);
            List<Object> ns = elements(r[2]);
            List<Integer> want = new ArrayList<>();
            for (int i = 0; i < jobs; i++) {
                want.add(i);
            }
            check((Long) r[0] == jobs && (Long) r[1] == jobs && ns.equals(want), "%s %s %s", r[0], r[1], ns);
            check(done.values().stream().mapToInt(Integer::intValue).sum() == jobs, "%s", done);

            // a stale worker: its lease expires, another worker claims the job again
            exec(a, "SELECT resilience.enqueue(?, ?::jsonb)", queue, "{\"n\": " + jobs + "}");
            List<Job> ca = claim(a, queue, 1, "300 milliseconds", "0");
            check(ca.size() == 1 && ca.get(0).attempt() == 1, "%s", ca);
            Job ja = ca.get(0);
            Thread.sleep(600);
            List<Job> cb = claim(b, queue, 1, "10 seconds", "5 seconds");
            check(cb.size() == 1, "%s", cb);
            Job jb = cb.get(0);
            check(jb.id() == ja.id() && jb.token() > ja.token() && jb.attempt() == 2, "%s %s", ja, jb);
            try {
                doJob(a, ja, "stale");
                fail("a stale job token was accepted");
            } catch (SQLException e) {
                check("RL001".equals(e.getSQLState()), "stale job token: %s %s", e.getSQLState(), e);
            }
            doJob(b, jb, "current");
            List<Object[]> workersOf = rows(a, "SELECT worker FROM processed_jobs WHERE job_id = ?", ja.id());
            check(workersOf.size() == 1 && "current".equals(workersOf.get(0)[0]), "%d rows", workersOf.size());

            // fail(): a retry, then dead at max_attempts
            long jid = one(a, Long.class, "SELECT resilience.enqueue(?, ?::jsonb, max_attempts => 2)",
                           queue, "{\"n\": " + (jobs + 1) + "}");
            List<String> outcomes = new ArrayList<>();
            for (int attempt = 1; attempt <= 2; attempt++) {
                List<Job> c = claim(a, queue, 1, "10 seconds", "5 seconds");
                check(c.size() == 1 && c.get(0).id() == jid && c.get(0).attempt() == attempt, "%d %s", jid, c);
                outcomes.add(one(a, String.class, "SELECT resilience.fail(?, ?, ?, ?::interval)",
                                 c.get(0).id(), c.get(0).token(), "smtp 421", "0"));
            }
            check(outcomes.equals(List.of("retry", "dead")), "%s", outcomes);
            Object[] state = rows(a, "SELECT state, attempt, last_error FROM resilience.jobs WHERE id = ?",
                                  jid).get(0);
            check(Arrays.equals(state, new Object[] {"dead", 2, "smtp 421"}), "%s", Arrays.toString(state));
            check(Boolean.TRUE.equals(one(a, Boolean.class, "SELECT resilience.drop_queue(?)", queue)),
                  "drop_queue");
        }
        return new int[] {jobs, workers, done.size()};
    }

    // --- a third-party API shared by every instance: rate limit, breaker -----

    static final String LIMIT = """
        SELECT allowed, extract(epoch FROM retry_after)::float8
        FROM resilience.rate_limit(?, 10, '1 hour')""";
    static final String ALLOW = "SELECT resilience.breaker_allow(?, min_calls => 4, open_for => '1 second')";
    static final String STATS =
        "SELECT rate_limit_allowed, rate_limit_denied, breaker_opened FROM resilience.limit_stats";

    interface Call<T> {
        T run(Connection conn) throws Exception;
    }

    // call(conn) from each client at once; their results, in no order
    static <T> List<T> together(int clients, Call<T> call) throws InterruptedException {
        List<T> results = Collections.synchronizedList(new ArrayList<>());
        CyclicBarrier barrier = new CyclicBarrier(clients);
        inThreads(clients, n -> {
            try (Connection conn = connect()) {
                barrier.await();
                results.add(call.run(conn));
            }
        });
        check(results.size() == clients, "%s", results);
        return results;
    }

    static long[] limitStats(Connection conn) throws SQLException {
        try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(STATS)) {
            rs.next();
            return new long[] {rs.getLong(1), rs.getLong(2), rs.getLong(3)};  // bigint
        }
    }

    static int[] apiGuard(int clients, int each) throws Exception {
        String key = "email-api:" + RUN, name = "payments-api:" + RUN;
        long[] before;
        try (Connection conn = connect()) {
            before = limitStats(conn);
        }
        // 10 calls an hour between every client: exactly 10 go ahead, whatever the
        // interleaving; each refused call says how long to wait
        List<List<Object[]>> perClient = together(clients, conn -> {
            List<Object[]> mine = new ArrayList<>();
            for (int i = 0; i < each; i++) {
                mine.addAll(rows(conn, LIMIT, key));
            }
            return mine;
        });
        List<Object[]> calls = new ArrayList<>();
        for (List<Object[]> r : perClient) {
            calls.addAll(r);
        }
        int allowed = 0;
        for (Object[] c : calls) {
            if ((Boolean) c[0]) {
                allowed++;
            } else {
                check((Double) c[1] > 0, "a refused call without a wait: %s", Arrays.toString(c));
            }
        }
        check(allowed == 10, "rate limit: %d of %d allowed", allowed, calls.size());
        try (Connection conn = connect()) {
            // 4 failures of 4 calls open the breaker for every instance
            for (int i = 0; i < 4; i++) {
                check(Boolean.TRUE.equals(one(conn, Boolean.class, ALLOW, name)),
                      "breaker_allow refused a call while closed");
                exec(conn, "SELECT resilience.breaker_record(?, false)", name);
            }
            check(Boolean.FALSE.equals(one(conn, Boolean.class, ALLOW, name)), "breaker_allow after 4 failures");
            check("open".equals(one(conn, String.class, "SELECT resilience.breaker_state(?)", name)), "not open");
            Thread.sleep(1200);
        }
        // open_for has passed: of all the instances' calls, exactly one probe goes
        List<Boolean> probes = together(clients, conn -> one(conn, Boolean.class, ALLOW, name));
        check(Collections.frequency(probes, Boolean.TRUE) == 1, "probes %s", probes);
        try (Connection conn = connect()) {
            exec(conn, "SELECT resilience.breaker_record(?, true)", name);
            String state = one(conn, String.class, "SELECT state FROM resilience.breakers WHERE name = ?", name);
            check("closed".equals(state), "breaker state after a good probe: %s", state);
            long[] after = limitStats(conn);
            check(after[0] - before[0] == 10 && after[1] - before[1] == clients * each - 10
                  && after[2] - before[2] == 1,
                  "limit_stats moved from %s to %s", Arrays.toString(before), Arrays.toString(after));
            String metrics = one(conn, String.class, "SELECT resilience.metrics()");
            check(metrics.contains("# TYPE resilience_rate_limit_decisions_total counter"),
                  "metrics: %.200s", metrics);
        }
        return new int[] {allowed, clients * each};
    }

    // --- error handling by SQLSTATE ------------------------------------------

    static void errors() throws SQLException {
        // setAutoCommit(false) opens a transaction: CALL refuses it
        try (Connection conn = connect(false); Statement st = conn.createStatement()) {
            st.execute("CALL resilience.retry_transaction('SELECT 1')");
            fail("CALL ran inside a transaction");
        } catch (SQLException e) {
            check("2D000".equals(e.getSQLState()), "CALL in a transaction: %s %s", e.getSQLState(), e);
        }
        try (Connection conn = connect(); Statement st = conn.createStatement()) {
            SQLException e = refused(st, "CALL resilience.retry_transaction('SELECT 1 / 0', max_attempts => 3,"
                                     + " retry_on => ARRAY['22012'], base_delay => '1ms')", "22012");
            // the CONTEXT line says why it stopped: pgjdbc's ServerErrorMessage.getWhere()
            check(where(e).contains("gave up after 3 attempts (max_attempts)"), "where: %s", where(e));
            e = refused(st, "CALL resilience.retry_transaction('SELECT 1 / 0')", "22012");
            check(where(e).contains("which is not in retry_on"), "where: %s", where(e));
            refused(st, "SELECT resilience.lock('x', timeout => '-1s')", "22023");
            e = refused(st, "SELECT * FROM resilience.rate_limit('x', 0)", "22023");
            check(hint(e) != null && !hint(e).isEmpty(), "rate 0: no hint: %s", e);
        }
    }

    // sql must fail with sqlstate: its error
    static SQLException refused(Statement st, String sql, String sqlstate) {
        try {
            st.execute(sql);
        } catch (SQLException e) {
            check(sqlstate.equals(e.getSQLState()), "%s: %s %s", sql, e.getSQLState(), e);
            return e;
        }
        fail(sql + " succeeded");
        return null;
    }

    public static void main(String[] args) {
        try {
            String where = POOLER ? "pgbouncer (transaction mode)" : "direct";
            int[] pages;
            String version;
            try (Connection conn = connect()) {
                version = conn.getMetaData().getDriverVersion();
                pages = walkPages(conn);
            }
            TransferStats t = transfers(4, 25);
            int[] pay = payments(5, 4);
            leaseElection();
            int[] q = queueJobs(40, 4);
            int[] g = apiGuard(4, 10);
            errors();
            System.out.printf("java pgjdbc %s %s: pages=%d rows=%d both ways;"
                              + " transfers=%d failed=%d max_attempts=%d attempts=%d total=8000;"
                              + " payments keys=%d applied=%d replays=%d; lease fencing RL001;"
                              + " queue jobs=%d workers=%d busy=%d"
                              + " processed once, stale token RL001 rolled back, fail retry dead;"
                              + " rate limit allowed=%d of %d, breaker one probe;"
                              + " errors 2D000 22012 22023: ok%n",
                              version, where, pages[0], pages[1], t.done, t.failed, t.maxAttempts, t.attempts,
                              pay[0], pay[0], pay[1], q[0], q[1], q[2], g[0], g[1]);
        } catch (Exception e) {
            System.err.println("unexpected error: " + e);
            e.printStackTrace();
            System.exit(1);
        }
    }
}
