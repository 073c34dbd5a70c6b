/*-------------------------------------------------------------------------
 *
 * stats.c
 *		The monitoring counters (see stats.h): shared counters, histograms,
 *		per-name entries, their file across restarts, and the SQL functions
 *		behind the views and metrics() in src/stats.sql.
 *
 * Shared state, set up by shmem.c's hooks when preloading:
 *  - StatsShared: fixed arrays of pg_atomic_uint64, one per counter (see
 *	  STATS_COUNTERS below), per histogram bucket, and a small table of
 *	  (retry function, SQLSTATE) slots claimed by compare-and-swap.  Events
 *	  add to them with pg_atomic_fetch_add_u64: no lock at all.
 *  - stats_name_table: a ShmemTable (shmem.c) of per-name entries for
 *	  guards, leases and queues, bounded by resilience.stats_max_names.  An
 *	  event takes the name's partition lock in shared mode and adds to the
 *	  entry's atomics; only a name's first event takes it exclusively.
 *	  Eviction rule: when the table is full, the tenth of the entries with
 *	  the fewest events (at least one entry) is dropped in one pass (a sort
 *	  of the event counts with every partition lock held), so a full table
 *	  pays that pass once per max/10 new names.  The global counters keep
 *	  counting every name; only the per-name rows are lost.
 *
 * Histograms: bucket i (0..STATS_NBUCKETS-2) counts values v with
 * 2^(i-1) < v <= 2^i (bucket 0: v <= 1); the last bucket counts the rest
 * (+Inf).  Durations are microseconds.
 *
 * Persistence: the postmaster writes everything to STATS_DUMP_FILE when it
 * exits normally, and reads (then removes) it when it creates the shared
 * memory, as pg_stat_statements does.  The file is read only if pg_control
 * says the server was shut down cleanly: after a crash or an immediate
 * shutdown (which also exits the postmaster normally) the counts start over.  A file with
 * another magic number, version or layout is ignored with a LOG line.
 *
 * Reset races: an event that runs during stats_reset() may be lost or may
 * survive it; nothing else is ever lost.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "catalog/pg_type.h"
#include "catalog/pg_control.h"
#include "commands/dbcommands.h"
#include "common/controldata_utils.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "executor/spi.h"
#include "catalog/pg_collation.h"
#include "port/atomics.h"
#include "port/pg_bitutils.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "args.h"
#include "extension.h"
#include "resilience.h"
#include "shmem.h"
#include "spiplan.h"
#include "stats.h"

RESILIENCE_FUNCTION(stats_counters);
RESILIENCE_FUNCTION(stats_histograms);
RESILIENCE_FUNCTION(stats_names);
RESILIENCE_FUNCTION(stats_gave_up);
RESILIENCE_FUNCTION(stats_info);
RESILIENCE_FUNCTION(stats_quantile);
RESILIENCE_FUNCTION(stats_reset);
RESILIENCE_FUNCTION(stats_metrics);
RESILIENCE_FUNCTION(stats_lease_trigger);
RESILIENCE_FUNCTION(stats_lease_note);

#define STATS_DUMP_FILE		PGSTAT_STAT_PERMANENT_DIRECTORY "/resilience.stat"
#define STATS_FILE_MAGIC	0x52535431	/* "RST1" */
#define STATS_FILE_VERSION	1

#define STATS_NBUCKETS		32
#define STATS_GAVE_UP_SLOTS 64
#define STATS_NAME_NCOUNTERS 8

/*
 * The counters: id, area and counter (the rows of resilience.stats), the
 * Prometheus metric family, its labels, its unit scale (1 = a count,
 * 1000000 = microseconds exported as seconds) and its help text.  Samples
 * of one family must be contiguous (the exposition format wants them so).
 */
#define STATS_COUNTERS(X) \
	X(RETRY_TX_CALLS, "retry_transaction", "calls", "resilience_retry_calls_total", "function=\"retry_transaction\"", 1, "Calls of the retry functions.") \
	X(RETRY_ST_CALLS, "retry_statement", "calls", "resilience_retry_calls_total", "function=\"retry_statement\"", 1, NULL) \
	X(RETRY_TX_COMMITS, "retry_transaction", "commits", "resilience_retry_commits_total", "function=\"retry_transaction\"", 1, "Calls of the retry functions that succeeded.") \
	X(RETRY_ST_COMMITS, "retry_statement", "commits", "resilience_retry_commits_total", "function=\"retry_statement\"", 1, NULL) \
	X(RETRY_TX_GAVE_UP, "retry_transaction", "gave_up", "resilience_retry_gave_up_total", "function=\"retry_transaction\"", 1, "Calls of the retry functions that raised their last attempt's error.") \
	X(RETRY_ST_GAVE_UP, "retry_statement", "gave_up", "resilience_retry_gave_up_total", "function=\"retry_statement\"", 1, NULL) \
	X(RETRY_TX_ATTEMPTS, "retry_transaction", "attempts", "resilience_retry_attempts_run_total", "function=\"retry_transaction\"", 1, "Attempts run by the retry functions.") \
	X(RETRY_ST_ATTEMPTS, "retry_statement", "attempts", "resilience_retry_attempts_run_total", "function=\"retry_statement\"", 1, NULL) \
	X(RETRY_TX_SLEEP_US, "retry_transaction", "backoff_us", "resilience_retry_backoff_seconds_total", "function=\"retry_transaction\"", 1000000, "Time the retry functions slept in backoff.") \
	X(RETRY_ST_SLEEP_US, "retry_statement", "backoff_us", "resilience_retry_backoff_seconds_total", "function=\"retry_statement\"", 1000000, NULL) \
	X(GUARD_XACT_EXCL, "guard", "acquired_xact_exclusive", "resilience_guard_acquisitions_total", "scope=\"xact\",mode=\"exclusive\"", 1, "Locks granted, by scope and mode.") \
	X(GUARD_XACT_SHARED, "guard", "acquired_xact_shared", "resilience_guard_acquisitions_total", "scope=\"xact\",mode=\"shared\"", 1, NULL) \
	X(GUARD_SESSION_EXCL, "guard", "acquired_session_exclusive", "resilience_guard_acquisitions_total", "scope=\"session\",mode=\"exclusive\"", 1, NULL) \
	X(GUARD_SESSION_SHARED, "guard", "acquired_session_shared", "resilience_guard_acquisitions_total", "scope=\"session\",mode=\"shared\"", 1, NULL) \
	X(GUARD_WAITS, "guard", "waits", "resilience_guard_waits_total", "", 1, "Lock requests that had to wait.") \
	X(GUARD_TIMEOUTS, "guard", "timeouts", "resilience_guard_timeouts_total", "", 1, "Lock requests not granted in time.") \
	X(GUARD_LOCK_TABLE_FULL, "guard", "lock_table_full", "resilience_guard_lock_table_full_total", "", 1, "Lock requests refused because the lock table was full.") \
	X(LEASE_GRANTS, "lease", "grants", "resilience_lease_events_total", "event=\"grant\"", 1, "Lease events.") \
	X(LEASE_RENEWALS, "lease", "renewals", "resilience_lease_events_total", "event=\"renewal\"", 1, NULL) \
	X(LEASE_TAKEOVERS, "lease", "takeovers", "resilience_lease_events_total", "event=\"takeover\"", 1, NULL) \
	X(LEASE_REFUSED, "lease", "refused", "resilience_lease_events_total", "event=\"refused\"", 1, NULL) \
	X(LEASE_FENCE_REJECTED, "lease", "fence_rejections", "resilience_lease_events_total", "event=\"fence_rejected\"", 1, NULL) \
	X(LEASE_RELEASES, "lease", "releases", "resilience_lease_events_total", "event=\"release\"", 1, NULL) \
	X(IDEM_FIRST, "idempotency", "first_calls", "resilience_idempotency_calls_total", "outcome=\"first\"", 1, "Calls of idempotent(), by outcome.") \
	X(IDEM_REPLAYS, "idempotency", "replays", "resilience_idempotency_calls_total", "outcome=\"replay\"", 1, NULL) \
	X(IDEM_MISMATCHES, "idempotency", "mismatches", "resilience_idempotency_calls_total", "outcome=\"mismatch\"", 1, NULL) \
	X(IDEM_WAITS, "idempotency", "waits", "resilience_idempotency_waits_total", "", 1, "Calls of idempotent() that waited behind a concurrent duplicate.") \
	X(KEYSET_PAGES, "keyset", "pages", "resilience_keyset_pages_total", "", 1, "Pages served.") \
	X(KEYSET_ROWS, "keyset", "rows", "resilience_keyset_rows_total", "", 1, "Rows served in pages.") \
	X(KEYSET_REJ_MALFORMED, "keyset", "rejected_malformed", "resilience_keyset_cursor_rejections_total", "reason=\"malformed\"", 1, "Cursors refused, by reason.") \
	X(KEYSET_REJ_FORGED, "keyset", "rejected_forged", "resilience_keyset_cursor_rejections_total", "reason=\"forged\"", 1, NULL) \
	X(KEYSET_REJ_RETIRED, "keyset", "rejected_retired_key", "resilience_keyset_cursor_rejections_total", "reason=\"retired_key\"", 1, NULL) \
	X(KEYSET_REJ_SORT, "keyset", "rejected_other_sort", "resilience_keyset_cursor_rejections_total", "reason=\"other_sort\"", 1, NULL) \
	X(KEYSET_REJ_OTHER, "keyset", "rejected_other", "resilience_keyset_cursor_rejections_total", "reason=\"other\"", 1, NULL) \
	X(KEYSET_PLAN_HITS, "keyset", "plan_cache_hits", "resilience_keyset_plan_cache_total", "result=\"hit\"", 1, "Page plan cache lookups.") \
	X(KEYSET_PLAN_MISSES, "keyset", "plan_cache_misses", "resilience_keyset_plan_cache_total", "result=\"miss\"", 1, NULL) \
	X(LIMIT_ALLOWED, "rate_limit", "allowed", "resilience_rate_limit_decisions_total", "decision=\"allowed\"", 1, "Rate limit decisions.") \
	X(LIMIT_DENIED, "rate_limit", "denied", "resilience_rate_limit_decisions_total", "decision=\"denied\"", 1, NULL) \
	X(BREAKER_ALLOWED, "breaker", "allowed", "resilience_breaker_decisions_total", "decision=\"allowed\"", 1, "Circuit breaker decisions.") \
	X(BREAKER_DENIED, "breaker", "denied", "resilience_breaker_decisions_total", "decision=\"denied\"", 1, NULL) \
	X(BREAKER_TO_CLOSED, "breaker", "to_closed", "resilience_breaker_state_changes_total", "to=\"closed\"", 1, "Circuit breaker state changes, by new state.") \
	X(BREAKER_TO_OPEN, "breaker", "to_open", "resilience_breaker_state_changes_total", "to=\"open\"", 1, NULL) \
	X(BREAKER_TO_HALF_OPEN, "breaker", "to_half_open", "resilience_breaker_state_changes_total", "to=\"half_open\"", 1, NULL) \
	X(QUEUE_ENQUEUED, "queue", "enqueued", "resilience_queue_events_total", "event=\"enqueued\"", 1, "Job queue events, all queues.") \
	X(QUEUE_CLAIMED, "queue", "claimed", "resilience_queue_events_total", "event=\"claimed\"", 1, NULL) \
	X(QUEUE_COMPLETED, "queue", "completed", "resilience_queue_events_total", "event=\"completed\"", 1, NULL) \
	X(QUEUE_FAILED, "queue", "failed", "resilience_queue_events_total", "event=\"failed\"", 1, NULL) \
	X(QUEUE_DEAD, "queue", "dead", "resilience_queue_events_total", "event=\"dead\"", 1, NULL) \
	X(QUEUE_LEASE_EXPIRED, "queue", "lease_expired", "resilience_queue_events_total", "event=\"lease_expired\"", 1, NULL)

#define STATS_HISTOGRAMS(X) \
	X(H_RETRY_TX_ATTEMPTS, "retry_transaction", "attempts", "resilience_retry_attempts", "function=\"retry_transaction\"", 1, "Attempts per finished call of the retry functions.") \
	X(H_RETRY_ST_ATTEMPTS, "retry_statement", "attempts", "resilience_retry_attempts", "function=\"retry_statement\"", 1, NULL) \
	X(H_RETRY_TX_COMMIT, "retry_transaction", "time_to_commit_us", "resilience_retry_time_to_commit_seconds", "function=\"retry_transaction\"", 1000000, "Time from the first attempt to the commit, per succeeding call.") \
	X(H_RETRY_ST_COMMIT, "retry_statement", "time_to_commit_us", "resilience_retry_time_to_commit_seconds", "function=\"retry_statement\"", 1000000, NULL) \
	X(H_GUARD_WAIT, "guard", "wait_us", "resilience_guard_wait_seconds", "", 1000000, "Time lock requests waited (granted or not).") \
	X(H_QUEUE_PICKUP, "queue", "pickup_latency_us", "resilience_queue_pickup_latency_seconds", "", 1000000, "Time from a job becoming runnable to its claim, all queues.")

#define STATS_ENUM(id, area, counter, family, labels, scale, help) SC_##id,
typedef enum StatsCounterId
{
	STATS_COUNTERS(STATS_ENUM)
	STATS_NCOUNTERS
} StatsCounterId;

typedef enum StatsHistId
{
	STATS_HISTOGRAMS(STATS_ENUM)
	STATS_NHISTS
} StatsHistId;

typedef struct StatsDef
{
	const char *area;
	const char *counter;
	const char *family;
	const char *labels;
	int64		scale;
	const char *help;
} StatsDef;

#define STATS_DEF(id, area, counter, family, labels, scale, help) {area, counter, family, labels, scale, help},
static const StatsDef stats_counter_defs[STATS_NCOUNTERS] = {STATS_COUNTERS(STATS_DEF)};
static const StatsDef stats_hist_defs[STATS_NHISTS] = {STATS_HISTOGRAMS(STATS_DEF)};

/* a histogram: bucket counts and the sum of the values */
typedef struct StatsHist
{
	pg_atomic_uint64 buckets[STATS_NBUCKETS];
	pg_atomic_uint64 sum;
} StatsHist;

/* a (retry function, SQLSTATE) pair with its gave-up count; key 0 = free */
typedef struct StatsGaveUp
{
	pg_atomic_uint32 key;		/* (function + 1) << 30 | sqlerrcode */
	pg_atomic_uint64 calls;
} StatsGaveUp;

typedef struct StatsShared
{
	pg_atomic_uint64 since;		/* TimestampTz of the last reset */
	pg_atomic_uint64 counters[STATS_NCOUNTERS];
	StatsHist	hists[STATS_NHISTS];
	StatsGaveUp gave_up[STATS_GAVE_UP_SLOTS];
	pg_atomic_uint64 gave_up_other; /* pairs that found no free slot */
} StatsShared;

/*
 * A per-name entry.  key.name[0] is the kind (STATS_KIND_*), the name
 * follows.  counters: guards: acquisitions, waits, timeouts, wait_us;
 * leases and queues: one per StatsLeaseEvent / StatsQueueEvent.  hist:
 * queues' pickup latency.  events: every event, the eviction weight.
 */
typedef struct StatsNameEntry
{
	ShmemKey	key;
	pg_atomic_uint64 events;
	pg_atomic_uint64 counters[STATS_NAME_NCOUNTERS];
	StatsHist	hist;
} StatsNameEntry;

#define STATS_KIND_GUARD	'g'
#define STATS_KIND_LEASE	'l'
#define STATS_KIND_QUEUE	'q'

#define NAME_GUARD_ACQUIRED		0
#define NAME_GUARD_WAITS		1
#define NAME_GUARD_TIMEOUTS		2
#define NAME_GUARD_WAIT_US		3

StaticAssertDecl(STATS_LEASE_NEVENTS <= STATS_NAME_NCOUNTERS, "lease events fit");
StaticAssertDecl(STATS_QUEUE_NEVENTS <= STATS_NAME_NCOUNTERS, "queue events fit");

bool		stats_track = true;
static StatsShared *stats_shared = NULL;

static int	stats_evict(HTAB *htab, int count, int max);

/* qsort comparator of uint64 */
static int
stats_cmp_u64(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return (x > y) - (x < y);
}

ShmemTable	stats_name_table = {
	.name = "resilience stats names",
	.entrysize = sizeof(StatsNameEntry),
	.max_entries = &shmem_max_stats_names,
	.setting = "resilience.stats_max_names",
	.evict = stats_evict,
};

/* counting is on and the shared memory exists */
#define STATS_ACTIVE() (stats_shared != NULL && stats_track)

/* _PG_init: resilience.track. */
void
stats_define_gucs(void)
{
	DefineCustomBoolVariable("resilience.track",
							 "Counts what resilience's functions do, for the monitoring views.",
							 "Needs resilience in shared_preload_libraries.",
							 &stats_track,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
}

/* Shared memory the fixed counters need (shmem.c's request hook). */
Size
stats_shmem_size(void)
{
	return MAXALIGN(sizeof(StatsShared));
}

static void stats_shmem_shutdown(int code, Datum arg);
static void stats_load(void);
static void stats_zero(StatsShared *s);

/*
 * shmem.c's startup hook, after the tables are attached: create or attach
 * to the fixed counters; the postmaster loads the file and arranges to
 * write it at exit.
 */
void
stats_shmem_startup(void)
{
	bool		found;

	stats_shared = ShmemInitStruct("resilience stats", sizeof(StatsShared), &found);
	if (!found)
	{
		pg_atomic_init_u64(&stats_shared->since, 0);
		for (int i = 0; i < STATS_NCOUNTERS; i++)
			pg_atomic_init_u64(&stats_shared->counters[i], 0);
		for (int h = 0; h < STATS_NHISTS; h++)
		{
			for (int b = 0; b < STATS_NBUCKETS; b++)
				pg_atomic_init_u64(&stats_shared->hists[h].buckets[b], 0);
			pg_atomic_init_u64(&stats_shared->hists[h].sum, 0);
		}
		for (int i = 0; i < STATS_GAVE_UP_SLOTS; i++)
		{
			pg_atomic_init_u32(&stats_shared->gave_up[i].key, 0);
			pg_atomic_init_u64(&stats_shared->gave_up[i].calls, 0);
		}
		pg_atomic_init_u64(&stats_shared->gave_up_other, 0);
		pg_atomic_write_u64(&stats_shared->since, (uint64) GetCurrentTimestamp());
		stats_load();
	}
	if (!IsUnderPostmaster)
		on_shmem_exit(stats_shmem_shutdown, (Datum) 0);
}

/* add n to a counter */
static inline void
stats_add(StatsCounterId c, uint64 n)
{
	pg_atomic_fetch_add_u64(&stats_shared->counters[c], n);
}

/* the bucket of a value: 0 for <= 1, i for 2^(i-1) < v <= 2^i */
static inline int
stats_bucket(int64 v)
{
	int			b;

	if (v <= 1)
		return 0;
	b = pg_leftmost_one_pos64((uint64) (v - 1)) + 1;
	return Min(b, STATS_NBUCKETS - 1);
}

/* one value into a histogram */
static inline void
stats_hist_add(StatsHist *h, int64 v)
{
	if (v < 0)
		v = 0;
	pg_atomic_fetch_add_u64(&h->buckets[stats_bucket(v)], 1);
	pg_atomic_fetch_add_u64(&h->sum, (uint64) v);
}

/* init a fresh name entry's counters (its key is set) */
static void
stats_name_init(StatsNameEntry *e)
{
	pg_atomic_init_u64(&e->events, 0);
	for (int i = 0; i < STATS_NAME_NCOUNTERS; i++)
		pg_atomic_init_u64(&e->counters[i], 0);
	for (int b = 0; b < STATS_NBUCKETS; b++)
		pg_atomic_init_u64(&e->hist.buckets[b], 0);
	pg_atomic_init_u64(&e->hist.sum, 0);
}

/*
 * The entry of (kind, name) in this database, created on demand, with its
 * partition lock held (*lock); release it after adding.  A name longer than
 * the key holds is cut at a character boundary.
 */
static StatsNameEntry *
stats_name_get(char kind, const char *name, int len, LWLock **lock)
{
	ShmemKey	key;
	StatsNameEntry *e;
	bool		found;

	if (len > SHMEM_NAME_MAX - 1)
		len = pg_mbcliplen(name, len, SHMEM_NAME_MAX - 1);
	key.dbid = MyDatabaseId;
	key.len = (uint16) (len + 1);
	key.name[0] = kind;
	memcpy(key.name + 1, name, len);
	key.name[len + 1] = '\0';
	e = (StatsNameEntry *) shmem_lookup(&stats_name_table, &key, true, &found, lock);
	if (!found)
		stats_name_init(e);
	return e;
}

/*
 * Eviction (see the file header): drop the tenth of the entries with the
 * fewest events, at least one.  Runs with every partition lock held.
 */
static int
stats_evict(HTAB *htab, int count, int max)
{
	HASH_SEQ_STATUS status;
	StatsNameEntry *e;
	uint64	   *weights;
	int			n = 0;
	int			quota = Max(count / 10, 1);
	uint64		threshold;
	int			removed = 0;

	/* no memory for the sort: drop the first quota entries rather than fail */
	weights = palloc_extended(sizeof(uint64) * Max(count, 1), MCXT_ALLOC_NO_OOM);
	if (weights == NULL)
	{
		hash_seq_init(&status, htab);
		while ((e = (StatsNameEntry *) hash_seq_search(&status)) != NULL)
		{
			hash_search(htab, &e->key, HASH_REMOVE, NULL);
			if (++removed >= quota)
			{
				hash_seq_term(&status);
				break;
			}
		}
		return removed;
	}
	hash_seq_init(&status, htab);
	while ((e = (StatsNameEntry *) hash_seq_search(&status)) != NULL)
	{
		if (n < count)
			weights[n++] = pg_atomic_read_u64(&e->events);
	}
	if (n == 0)
	{
		pfree(weights);
		return 0;
	}
	qsort(weights, n, sizeof(uint64), stats_cmp_u64);
	threshold = weights[Min(quota, n) - 1];
	pfree(weights);

	/* below the threshold first, then ties, until the quota is met */
	for (int pass = 0; pass < 2 && removed < quota; pass++)
	{
		hash_seq_init(&status, htab);
		while ((e = (StatsNameEntry *) hash_seq_search(&status)) != NULL)
		{
			uint64		w = pg_atomic_read_u64(&e->events);

			if (removed >= quota)
			{
				hash_seq_term(&status);
				break;
			}
			if (pass == 0 ? w < threshold : w == threshold)
			{
				hash_search(htab, &e->key, HASH_REMOVE, NULL);
				removed++;
			}
		}
	}
	return removed;
}

/* ---- the events ---- */

/* A call of a retry function starts. */
void
stats_retry_call(StatsRetryFunc func)
{
	if (!STATS_ACTIVE())
		return;
	stats_add(func == STATS_RETRY_TRANSACTION ? SC_RETRY_TX_CALLS : SC_RETRY_ST_CALLS, 1);
}

/* A call committed (succeeded) after attempts, elapsed_us after it began. */
void
stats_retry_commit(StatsRetryFunc func, int attempts, int64 elapsed_us)
{
	bool		tx = func == STATS_RETRY_TRANSACTION;

	if (!STATS_ACTIVE())
		return;
	stats_add(tx ? SC_RETRY_TX_COMMITS : SC_RETRY_ST_COMMITS, 1);
	stats_add(tx ? SC_RETRY_TX_ATTEMPTS : SC_RETRY_ST_ATTEMPTS, attempts);
	stats_hist_add(&stats_shared->hists[tx ? SC_H_RETRY_TX_ATTEMPTS : SC_H_RETRY_ST_ATTEMPTS], attempts);
	stats_hist_add(&stats_shared->hists[tx ? SC_H_RETRY_TX_COMMIT : SC_H_RETRY_ST_COMMIT], elapsed_us);
}

/* A call gave up after attempts, raising sqlerrcode. */
void
stats_retry_gave_up(StatsRetryFunc func, int attempts, int sqlerrcode)
{
	bool		tx = func == STATS_RETRY_TRANSACTION;
	uint32		key = ((uint32) (func + 1) << 30) | ((uint32) sqlerrcode & 0x3FFFFFFF);

	if (!STATS_ACTIVE())
		return;
	stats_add(tx ? SC_RETRY_TX_GAVE_UP : SC_RETRY_ST_GAVE_UP, 1);
	stats_add(tx ? SC_RETRY_TX_ATTEMPTS : SC_RETRY_ST_ATTEMPTS, attempts);
	stats_hist_add(&stats_shared->hists[tx ? SC_H_RETRY_TX_ATTEMPTS : SC_H_RETRY_ST_ATTEMPTS], attempts);

	/* find the pair's slot, or claim a free one */
	for (int i = 0; i < STATS_GAVE_UP_SLOTS; i++)
	{
		StatsGaveUp *slot = &stats_shared->gave_up[i];
		uint32		cur = pg_atomic_read_u32(&slot->key);

		if (cur == 0)
		{
			uint32		expected = 0;

			if (pg_atomic_compare_exchange_u32(&slot->key, &expected, key))
				cur = key;
			else
				cur = expected;
		}
		if (cur == key)
		{
			pg_atomic_fetch_add_u64(&slot->calls, 1);
			return;
		}
	}
	pg_atomic_fetch_add_u64(&stats_shared->gave_up_other, 1);
}

/* A retry function slept slept_us in backoff. */
void
stats_retry_slept(StatsRetryFunc func, int64 slept_us)
{
	if (!STATS_ACTIVE() || slept_us <= 0)
		return;
	stats_add(func == STATS_RETRY_TRANSACTION ? SC_RETRY_TX_SLEEP_US : SC_RETRY_ST_SLEEP_US,
			  (uint64) slept_us);
}

/* One acquisition attempt of a guard name. */
void
stats_guard_acquire(const char *name, int len, bool session, bool shared,
					bool waited, int64 wait_us, bool granted)
{
	StatsNameEntry *e;
	LWLock	   *lock;

	if (!STATS_ACTIVE())
		return;
	if (granted)
		stats_add(session ? (shared ? SC_GUARD_SESSION_SHARED : SC_GUARD_SESSION_EXCL) :
				  (shared ? SC_GUARD_XACT_SHARED : SC_GUARD_XACT_EXCL), 1);
	else
		stats_add(SC_GUARD_TIMEOUTS, 1);
	if (waited)
	{
		stats_add(SC_GUARD_WAITS, 1);
		stats_hist_add(&stats_shared->hists[SC_H_GUARD_WAIT], wait_us);
	}

	e = stats_name_get(STATS_KIND_GUARD, name, len, &lock);
	pg_atomic_fetch_add_u64(&e->events, 1);
	if (granted)
		pg_atomic_fetch_add_u64(&e->counters[NAME_GUARD_ACQUIRED], 1);
	else
		pg_atomic_fetch_add_u64(&e->counters[NAME_GUARD_TIMEOUTS], 1);
	if (waited)
	{
		pg_atomic_fetch_add_u64(&e->counters[NAME_GUARD_WAITS], 1);
		pg_atomic_fetch_add_u64(&e->counters[NAME_GUARD_WAIT_US], (uint64) Max(wait_us, 0));
	}
	LWLockRelease(lock);
}

/* The lock manager's table was full. */
void
stats_guard_lock_table_full(void)
{
	if (!STATS_ACTIVE())
		return;
	stats_add(SC_GUARD_LOCK_TABLE_FULL, 1);
}

/* A lease event of lease name. */
void
stats_lease_event(const char *name, int len, StatsLeaseEvent ev)
{
	static const StatsCounterId totals[STATS_LEASE_NEVENTS] = {
		SC_LEASE_GRANTS, SC_LEASE_RENEWALS, SC_LEASE_TAKEOVERS,
		SC_LEASE_REFUSED, SC_LEASE_FENCE_REJECTED, SC_LEASE_RELEASES
	};
	StatsNameEntry *e;
	LWLock	   *lock;

	if (!STATS_ACTIVE() || (int) ev < 0 || ev >= STATS_LEASE_NEVENTS)
		return;
	stats_add(totals[ev], 1);
	e = stats_name_get(STATS_KIND_LEASE, name, len, &lock);
	pg_atomic_fetch_add_u64(&e->events, 1);
	pg_atomic_fetch_add_u64(&e->counters[ev], 1);
	LWLockRelease(lock);
}

/* idempotent(): the first call of a key ran the request */
void
stats_idempotency_first(void)
{
	if (STATS_ACTIVE())
		stats_add(SC_IDEM_FIRST, 1);
}

/* idempotent(): a recorded result was replayed */
void
stats_idempotency_replay(void)
{
	if (STATS_ACTIVE())
		stats_add(SC_IDEM_REPLAYS, 1);
}

/* idempotent(): a key came with another request (22023) */
void
stats_idempotency_mismatch(void)
{
	if (STATS_ACTIVE())
		stats_add(SC_IDEM_MISMATCHES, 1);
}

/* idempotent(): waited behind a concurrent call of the same key */
void
stats_idempotency_wait(void)
{
	if (STATS_ACTIVE())
		stats_add(SC_IDEM_WAITS, 1);
}

/* A page of rows rows was served. */
void
stats_keyset_page(int64 rows)
{
	if (!STATS_ACTIVE())
		return;
	stats_add(SC_KEYSET_PAGES, 1);
	stats_add(SC_KEYSET_ROWS, (uint64) Max(rows, 0));
}

/* A cursor was refused. */
void
stats_keyset_cursor_rejected(StatsCursorReject why)
{
	static const StatsCounterId ids[] = {
		SC_KEYSET_REJ_MALFORMED, SC_KEYSET_REJ_FORGED,
		SC_KEYSET_REJ_RETIRED, SC_KEYSET_REJ_SORT, SC_KEYSET_REJ_OTHER
	};

	if (!STATS_ACTIVE())
		return;
	stats_add(ids[(int) why >= 0 && why <= STATS_CURSOR_OTHER ? why : STATS_CURSOR_OTHER], 1);
}

/* A page plan was looked up in the plan cache. */
void
stats_keyset_plan_cache(bool hit)
{
	if (STATS_ACTIVE())
		stats_add(hit ? SC_KEYSET_PLAN_HITS : SC_KEYSET_PLAN_MISSES, 1);
}

/* rate_limit() decided. */
void
stats_limit_decision(bool allowed)
{
	if (STATS_ACTIVE())
		stats_add(allowed ? SC_LIMIT_ALLOWED : SC_LIMIT_DENIED, 1);
}

/* A breaker decided whether a call may go ahead. */
void
stats_breaker_decision(bool allowed)
{
	if (STATS_ACTIVE())
		stats_add(allowed ? SC_BREAKER_ALLOWED : SC_BREAKER_DENIED, 1);
}

/* A breaker changed state. */
void
stats_breaker_state_change(StatsBreakerState to)
{
	if (!STATS_ACTIVE())
		return;
	stats_add(to == STATS_BREAKER_OPEN ? SC_BREAKER_TO_OPEN :
			  to == STATS_BREAKER_HALF_OPEN ? SC_BREAKER_TO_HALF_OPEN :
			  SC_BREAKER_TO_CLOSED, 1);
}

/* A queue event of queue. */
void
stats_queue_event(const char *queue, int len, StatsQueueEvent ev, int64 n)
{
	StatsNameEntry *e;
	LWLock	   *lock;

	if (!STATS_ACTIVE() || (int) ev < 0 || ev >= STATS_QUEUE_NEVENTS || n <= 0)
		return;
	stats_add((StatsCounterId) (SC_QUEUE_ENQUEUED + ev), n);
	e = stats_name_get(STATS_KIND_QUEUE, queue, len, &lock);
	pg_atomic_fetch_add_u64(&e->events, n);
	pg_atomic_fetch_add_u64(&e->counters[ev], n);
	LWLockRelease(lock);
}

/* A job of queue was claimed latency_us after it became runnable. */
void
stats_queue_pickup(const char *queue, int len, int64 latency_us)
{
	StatsNameEntry *e;
	LWLock	   *lock;

	if (!STATS_ACTIVE())
		return;
	stats_add(SC_QUEUE_CLAIMED, 1);
	stats_hist_add(&stats_shared->hists[SC_H_QUEUE_PICKUP], latency_us);
	e = stats_name_get(STATS_KIND_QUEUE, queue, len, &lock);
	pg_atomic_fetch_add_u64(&e->events, 1);
	pg_atomic_fetch_add_u64(&e->counters[STATS_QUEUE_CLAIMED], 1);
	stats_hist_add(&e->hist, latency_us);
	LWLockRelease(lock);
}

/*
 * The trigger on resilience.lease_state (AFTER INSERT OR UPDATE, each row):
 * what the row change means.  An insert or a new token is a grant, a grant
 * over another holder's row a takeover; the same token and holder is a
 * renewal; a holder cleared a release.  Only a role that may write the
 * table can cause counts, and only by changing a lease.
 */
Datum
stats_lease_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	newtup;
	int			name_att,
				holder_att,
				token_att;
	bool		isnull;
	bool		newholder_null;
	Datum		name;
	text	   *nametext;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("resilience.stats_lease_trigger() must be called as an AFTER ROW trigger")));
	newtup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	if (!STATS_ACTIVE())
		return PointerGetDatum(newtup);

	desc = td->tg_relation->rd_att;
	name_att = SPI_fnumber(desc, "name");
	holder_att = SPI_fnumber(desc, "holder");
	token_att = SPI_fnumber(desc, "token");
	if (name_att <= 0 || holder_att <= 0 || token_att <= 0)
		return PointerGetDatum(newtup);
	name = heap_getattr(newtup, name_att, desc, &isnull);
	if (isnull)
		return PointerGetDatum(newtup);
	nametext = DatumGetTextPP(name);
	(void) heap_getattr(newtup, holder_att, desc, &newholder_null);

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		stats_lease_event(VARDATA_ANY(nametext), VARSIZE_ANY_EXHDR(nametext), STATS_LEASE_GRANT);
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		HeapTuple	oldtup = td->tg_trigtuple;
		bool		oldholder_null;
		bool		tnull1,
					tnull2;
		Datum		oldholder = heap_getattr(oldtup, holder_att, desc, &oldholder_null);
		Datum		newholder = heap_getattr(newtup, holder_att, desc, &newholder_null);
		Datum		oldtoken = heap_getattr(oldtup, token_att, desc, &tnull1);
		Datum		newtoken = heap_getattr(newtup, token_att, desc, &tnull2);
		bool		same_holder = !oldholder_null && !newholder_null &&
			DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID, oldholder, newholder));
		const char *n = VARDATA_ANY(nametext);
		int			len = VARSIZE_ANY_EXHDR(nametext);

		if (!tnull1 && !tnull2 && DatumGetInt64(oldtoken) != DatumGetInt64(newtoken))
		{
			stats_lease_event(n, len, STATS_LEASE_GRANT);
			if (!oldholder_null && !same_holder)
				stats_lease_event(n, len, STATS_LEASE_TAKEOVER);
		}
		else if (newholder_null && !oldholder_null)
			stats_lease_event(n, len, STATS_LEASE_RELEASE);
		else if (same_holder)
			stats_lease_event(n, len, STATS_LEASE_RENEWAL);
	}
	return PointerGetDatum(newtup);
}

/*
 * stats_lease_note(event text, name text, holder text, token bigint): the
 * lease events that write nothing, called by lease_acquire ('refused') and
 * lease_fence ('fence_rejected').  The event counts only if the lease is in
 * the state that causes it, as the caller sees lease_state now: a live lease
 * of another holder, or no live lease with that token.  So a direct call
 * counts only what the lease function would have counted in its place.
 * Without preloading or with resilience.track = off it does nothing at all.
 */
Datum
stats_lease_note(PG_FUNCTION_ARGS)
{
	text	   *event;
	text	   *name;
	bool		refused;
	Oid			relid;
	char	   *sql;
	Oid			argtypes[3] = {TEXTOID, TEXTOID, INT8OID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	int			rc;
	bool		found;

	/* holder or token may be NULL (each event uses one); these may not */
	args_not_null(fcinfo, 0, "event");
	args_not_null(fcinfo, 1, "name");
	if (!STATS_ACTIVE())
		PG_RETURN_VOID();
	event = PG_GETARG_TEXT_PP(0);
	name = PG_GETARG_TEXT_PP(1);
	if (strcmp(text_to_cstring(event), "refused") == 0)
		refused = true;
	else if (strcmp(text_to_cstring(event), "fence_rejected") == 0)
		refused = false;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized lease event \"%s\"", text_to_cstring(event)),
				 errhint("Valid events are \"refused\" and \"fence_rejected\".")));
	if (refused ? PG_ARGISNULL(2) : PG_ARGISNULL(3))
		PG_RETURN_VOID();

	relid = resilience_member_table("lease_state", NULL);
	sql = refused ?
		psprintf("SELECT FROM %s l WHERE l.name OPERATOR(pg_catalog.=) $1"
				 " AND l.holder OPERATOR(pg_catalog.<>) $2"
				 " AND l.expires_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp()",
				 resilience_member_table_name(relid)) :
		psprintf("SELECT FROM %s l WHERE l.name OPERATOR(pg_catalog.=) $1"
				 " AND l.token OPERATOR(pg_catalog.=) $3 AND l.holder IS NOT NULL"
				 " AND l.expires_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp()",
				 resilience_member_table_name(relid));
	values[0] = PointerGetDatum(name);
	values[1] = refused ? PG_GETARG_DATUM(2) : (Datum) 0;
	nulls[1] = refused ? ' ' : 'n';
	values[2] = refused ? (Datum) 0 : PG_GETARG_DATUM(3);
	nulls[2] = refused ? 'n' : ' ';

	spiplan_connect();
	rc = SPI_execute_with_args(sql, 3, argtypes, values, nulls, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading lease state failed: %s", SPI_result_code_string(rc));
	found = SPI_processed > 0;
	SPI_finish();

	/* refused: a live lease of another holder; rejected: none with the token */
	if (refused == found)
		stats_lease_event(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name),
						  refused ? STATS_LEASE_REFUSED : STATS_LEASE_FENCE_REJECTED);
	PG_RETURN_VOID();
}

/* ---- reading ---- */

/* 55000 unless the shared memory exists. */
static void
stats_require(const char *funcname)
{
	if (stats_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s needs resilience in shared_preload_libraries", funcname),
				 errdetail("The monitoring counters live in shared memory, which is set up only when the server starts."),
				 errhint("Add resilience to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/* a copy of one name entry, read without holding its lock afterwards */
typedef struct StatsNameCopy
{
	Oid			dbid;
	char		kind;
	char		name[SHMEM_NAME_MAX + 1];
	uint64		counters[STATS_NAME_NCOUNTERS];
	uint64		buckets[STATS_NBUCKETS];
	uint64		sum;
} StatsNameCopy;

/* Copy every name entry (every partition lock shared for the scan). */
static StatsNameCopy *
stats_copy_names(int *n)
{
	HASH_SEQ_STATUS status;
	StatsNameEntry *e;
	StatsNameCopy *copies;
	int			max = *stats_name_table.max_entries;
	int			i = 0;

	copies = palloc(sizeof(StatsNameCopy) * Max(max, 1));
	shmem_lock_all(&stats_name_table, LW_SHARED);
	hash_seq_init(&status, stats_name_table.htab);
	while ((e = (StatsNameEntry *) hash_seq_search(&status)) != NULL)
	{
		StatsNameCopy *c;

		if (i >= max)
		{
			hash_seq_term(&status);
			break;
		}
		c = &copies[i++];
		c->dbid = e->key.dbid;
		c->kind = e->key.name[0];
		memcpy(c->name, e->key.name + 1, e->key.len - 1);
		c->name[e->key.len - 1] = '\0';
		for (int j = 0; j < STATS_NAME_NCOUNTERS; j++)
			c->counters[j] = pg_atomic_read_u64(&e->counters[j]);
		for (int b = 0; b < STATS_NBUCKETS; b++)
			c->buckets[b] = pg_atomic_read_u64(&e->hist.buckets[b]);
		c->sum = pg_atomic_read_u64(&e->hist.sum);
	}
	shmem_unlock_all(&stats_name_table);
	*n = i;
	return copies;
}

/* an int8[] of n values */
static Datum
stats_int8_array(const uint64 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * n);

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum((int64) v[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* read a histogram's buckets and sum */
static void
stats_hist_read(StatsHist *h, uint64 *buckets, uint64 *sum)
{
	for (int b = 0; b < STATS_NBUCKETS; b++)
		buckets[b] = pg_atomic_read_u64(&h->buckets[b]);
	*sum = pg_atomic_read_u64(&h->sum);
}

/* the name of a kind */
static const char *
stats_kind_name(char kind)
{
	switch (kind)
	{
		case STATS_KIND_GUARD:
			return "guard";
		case STATS_KIND_LEASE:
			return "lease";
		case STATS_KIND_QUEUE:
			return "queue";
	}
	return "unknown";
}

/* stats_counters() RETURNS TABLE (area text, counter text, value bigint) */
Datum
stats_counters(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	stats_require("resilience.stats_counters()");
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < STATS_NCOUNTERS; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(stats_counter_defs[i].area);
		values[1] = CStringGetTextDatum(stats_counter_defs[i].counter);
		values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&stats_shared->counters[i]));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * stats_histograms() RETURNS TABLE (area text, histogram text,
 *		buckets bigint[], count bigint, sum bigint)
 */
Datum
stats_histograms(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	stats_require("resilience.stats_histograms()");
	InitMaterializedSRF(fcinfo, 0);
	for (int h = 0; h < STATS_NHISTS; h++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};
		uint64		buckets[STATS_NBUCKETS];
		uint64		sum;
		uint64		count = 0;

		stats_hist_read(&stats_shared->hists[h], buckets, &sum);
		for (int b = 0; b < STATS_NBUCKETS; b++)
			count += buckets[b];
		values[0] = CStringGetTextDatum(stats_hist_defs[h].area);
		values[1] = CStringGetTextDatum(stats_hist_defs[h].counter);
		values[2] = stats_int8_array(buckets, STATS_NBUCKETS);
		values[3] = Int64GetDatum((int64) count);
		values[4] = Int64GetDatum((int64) sum);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * stats_names() RETURNS TABLE (dbid oid, kind text, name text,
 *		counters bigint[], buckets bigint[], sum bigint)
 */
Datum
stats_names(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	StatsNameCopy *copies;
	int			n;

	stats_require("resilience.stats_names()");
	InitMaterializedSRF(fcinfo, 0);
	copies = stats_copy_names(&n);
	for (int i = 0; i < n; i++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};
		StatsNameCopy *c = &copies[i];

		values[0] = ObjectIdGetDatum(c->dbid);
		values[1] = CStringGetTextDatum(stats_kind_name(c->kind));
		values[2] = CStringGetTextDatum(c->name);
		values[3] = stats_int8_array(c->counters, STATS_NAME_NCOUNTERS);
		if (c->kind == STATS_KIND_QUEUE)
		{
			values[4] = stats_int8_array(c->buckets, STATS_NBUCKETS);
			values[5] = Int64GetDatum((int64) c->sum);
		}
		else
			nulls[4] = nulls[5] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* the text of a retry function */
static const char *
stats_retry_func_name(uint32 key)
{
	return (key >> 30) == STATS_RETRY_TRANSACTION + 1 ? "retry_transaction" : "retry_statement";
}

/* stats_gave_up() RETURNS TABLE (function text, sqlstate text, calls bigint) */
Datum
stats_gave_up(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	uint64		other;

	stats_require("resilience.stats_gave_up()");
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < STATS_GAVE_UP_SLOTS; i++)
	{
		uint32		key = pg_atomic_read_u32(&stats_shared->gave_up[i].key);
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		if (key == 0)
			continue;
		values[0] = CStringGetTextDatum(stats_retry_func_name(key));
		values[1] = CStringGetTextDatum(unpack_sql_state(key & 0x3FFFFFFF));
		values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&stats_shared->gave_up[i].calls));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	other = pg_atomic_read_u64(&stats_shared->gave_up_other);
	if (other > 0)
	{
		Datum		values[3];
		bool		nulls[3] = {true, true, false};

		values[2] = Int64GetDatum((int64) other);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * stats_info(OUT stats_since timestamptz, OUT names int, OUT max_names int,
 *		OUT names_evicted bigint, OUT track boolean)
 */
Datum
stats_info(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	stats_require("resilience.stats_info()");
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = TimestampTzGetDatum((TimestampTz) pg_atomic_read_u64(&stats_shared->since));
	values[1] = Int32GetDatum((int32) pg_atomic_read_u32(&stats_name_table.header->count));
	values[2] = Int32GetDatum(*stats_name_table.max_entries);
	values[3] = Int64GetDatum((int64) pg_atomic_read_u64(&stats_name_table.header->evicted));
	values[4] = BoolGetDatum(stats_track);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* the upper bound of bucket b (2^b), or infinity for the last one */
static double
stats_bucket_bound(int b)
{
	return b >= STATS_NBUCKETS - 1 ? get_float8_infinity() : ldexp(1.0, b);
}

/*
 * stats_quantile(buckets bigint[], q float8) RETURNS float8: the upper bound
 * of the bucket holding the q-quantile (never below the true value, less
 * than twice it); NULL when empty.
 */
Datum
stats_quantile(PG_FUNCTION_ARGS)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	double		q;
	double		total = 0;
	double		rank;
	double		seen = 0;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	arr = PG_GETARG_ARRAYTYPE_P(0);
	q = PG_GETARG_FLOAT8(1);
	if (!(q >= 0 && q <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("quantile must be between 0 and 1"),
				 errhint("Use 0.5 for the median, 0.99 for the 99th percentile.")));
	deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			total += (double) DatumGetInt64(elems[i]);
	if (total <= 0)
		PG_RETURN_NULL();
	rank = Max(q * total, 1);
	for (int i = 0; i < n; i++)
	{
		if (!nulls[i])
			seen += (double) DatumGetInt64(elems[i]);
		if (seen >= rank)
			PG_RETURN_FLOAT8(i >= n - 1 && n == STATS_NBUCKETS ?
							 get_float8_infinity() : ldexp(1.0, i));
	}
	PG_RETURN_FLOAT8(get_float8_infinity());
}

/* Zero every counter (not stats_since). */
static void
stats_zero(StatsShared *s)
{
	for (int i = 0; i < STATS_NCOUNTERS; i++)
		pg_atomic_write_u64(&s->counters[i], 0);
	for (int h = 0; h < STATS_NHISTS; h++)
	{
		for (int b = 0; b < STATS_NBUCKETS; b++)
			pg_atomic_write_u64(&s->hists[h].buckets[b], 0);
		pg_atomic_write_u64(&s->hists[h].sum, 0);
	}
	for (int i = 0; i < STATS_GAVE_UP_SLOTS; i++)
	{
		pg_atomic_write_u64(&s->gave_up[i].calls, 0);
		pg_atomic_write_u32(&s->gave_up[i].key, 0);
	}
	pg_atomic_write_u64(&s->gave_up_other, 0);
}

/*
 * stats_reset() RETURNS void: every counter and per-name entry, all
 * databases; the extension's owner or a superuser only.
 */
Datum
stats_reset(PG_FUNCTION_ARGS)
{
	ResilienceExtension ext;
	HASH_SEQ_STATUS status;
	StatsNameEntry *e;
	int			removed = 0;

	stats_require("resilience.stats_reset()");
	resilience_extension_lookup(&ext);
	if (!superuser() && !has_privs_of_role(GetUserId(), ext.owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to reset resilience statistics"),
				 errdetail("Only the owner of extension resilience or a superuser may reset them.")));

	shmem_lock_all(&stats_name_table, LW_EXCLUSIVE);
	hash_seq_init(&status, stats_name_table.htab);
	while ((e = (StatsNameEntry *) hash_seq_search(&status)) != NULL)
	{
		hash_search(stats_name_table.htab, &e->key, HASH_REMOVE, NULL);
		removed++;
	}
	pg_atomic_sub_fetch_u32(&stats_name_table.header->count, removed);
	pg_atomic_write_u64(&stats_name_table.header->evicted, 0);
	stats_zero(stats_shared);
	pg_atomic_write_u64(&stats_shared->since, (uint64) GetCurrentTimestamp());
	shmem_unlock_all(&stats_name_table);
	PG_RETURN_VOID();
}

/* ---- Prometheus text ---- */

/* a label value, escaped as the exposition format wants (\\, \", \n) */
static void
stats_append_label(StringInfo buf, const char *s)
{
	/* most names need no escape: one copy */
	if (strpbrk(s, "\\\"\n") == NULL)
	{
		appendStringInfoString(buf, s);
		return;
	}
	for (; *s; s++)
	{
		if (*s == '\\')
			appendStringInfoString(buf, "\\\\");
		else if (*s == '"')
			appendStringInfoString(buf, "\\\"");
		else if (*s == '\n')
			appendStringInfoString(buf, "\\n");
		else
			appendStringInfoChar(buf, *s);
	}
}

/* a value, scaled: counts as integers, microseconds as seconds */
static void
stats_append_value(StringInfo buf, uint64 v, int64 scale)
{
	if (scale == 1)
	{
		char		digits[MAXINT8LEN + 1];
		int			len = pg_ulltoa_n(v, digits);

		appendBinaryStringInfo(buf, digits, len);
	}
	else
		appendStringInfo(buf, "%.6f", (double) v / (double) scale);
}

/* HELP and TYPE of a family */
static void
stats_append_family(StringInfo buf, const char *family, const char *type,
					const char *help)
{
	appendStringInfo(buf, "# HELP %s %s\n# TYPE %s %s\n", family, help, family, type);
}

/*
 * One histogram's samples: cumulative buckets, _sum and _count.  labels
 * are preformatted (may be empty).
 */
static void
stats_append_hist(StringInfo buf, const char *family, const char *labels,
				  const uint64 *buckets, uint64 sum, int64 scale)
{
	uint64		cum = 0;
	const char *sep = labels[0] ? "," : "";

	for (int b = 0; b < STATS_NBUCKETS; b++)
	{
		cum += buckets[b];
		appendStringInfo(buf, "%s_bucket{%s%sle=\"", family, labels, sep);
		if (b == STATS_NBUCKETS - 1)
			appendStringInfoString(buf, "+Inf");
		else if (scale == 1)
			appendStringInfo(buf, "%.0f", stats_bucket_bound(b));
		else
			appendStringInfo(buf, "%g", stats_bucket_bound(b) / (double) scale);
		appendStringInfoString(buf, "\"} ");
		appendStringInfo(buf, UINT64_FORMAT "\n", cum);
	}
	appendStringInfo(buf, "%s_sum%s%s%s ", family, labels[0] ? "{" : "", labels, labels[0] ? "}" : "");
	stats_append_value(buf, sum, scale);
	appendStringInfo(buf, "\n%s_count%s%s%s " UINT64_FORMAT "\n", family,
					 labels[0] ? "{" : "", labels, labels[0] ? "}" : "", cum);
}

/*
 * The labels of every name copy, datname="...",name="..." (queue="..." for
 * queues), built once per metrics() call; database names looked up once each.
 */
static char **
stats_name_labels(StatsNameCopy *copies, int n)
{
	char	  **labels = palloc(sizeof(char *) * Max(n, 1));
	Oid			cached_db = InvalidOid;
	char	   *cached_name = NULL;
	StringInfoData lab;

	initStringInfo(&lab);
	for (int i = 0; i < n; i++)
	{
		StatsNameCopy *c = &copies[i];

		if (cached_db != c->dbid)
		{
			cached_name = get_database_name(c->dbid);
			cached_db = c->dbid;
		}
		resetStringInfo(&lab);
		appendStringInfoString(&lab, "datname=\"");
		stats_append_label(&lab, cached_name ? cached_name : "");
		appendStringInfoString(&lab, c->kind == STATS_KIND_QUEUE ? "\",queue=\"" : "\",name=\"");
		stats_append_label(&lab, c->name);
		appendStringInfoChar(&lab, '"');
		labels[i] = pnstrdup(lab.data, lab.len);
	}
	pfree(lab.data);
	return labels;
}

/* per-name families: one family, every entry of kind */
static void
stats_append_name_family(StringInfo buf, char **labels, StatsNameCopy *copies,
						 int n, char kind, const char *family, const char *help,
						 int counter, const char *event,
						 int64 scale, bool *emitted)
{
	int			flen = strlen(family);

	for (int i = 0; i < n; i++)
	{
		if (copies[i].kind != kind)
			continue;
		if (!*emitted)
		{
			stats_append_family(buf, family, "counter", help);
			*emitted = true;
		}
		appendBinaryStringInfo(buf, family, flen);
		appendStringInfoChar(buf, '{');
		appendStringInfoString(buf, labels[i]);
		if (event)
		{
			appendStringInfoString(buf, ",event=\"");
			appendStringInfoString(buf, event);
			appendStringInfoChar(buf, '"');
		}
		appendBinaryStringInfo(buf, "} ", 2);
		stats_append_value(buf, copies[i].counters[counter], scale);
		appendStringInfoChar(buf, '\n');
	}
}

/* metrics() RETURNS text: everything, in the Prometheus text format */
Datum
stats_metrics(PG_FUNCTION_ARGS)
{
	static const char *const lease_events[STATS_LEASE_NEVENTS] = {
		"grant", "renewal", "takeover", "refused", "fence_rejected", "release"
	};
	static const char *const queue_events[STATS_QUEUE_NEVENTS] = {
		"enqueued", "claimed", "completed", "failed", "dead", "lease_expired"
	};
	StringInfoData buf;
	const char *family = NULL;
	StatsNameCopy *copies;
	char	  **labels;
	int			n;
	bool		emitted;

	stats_require("resilience.metrics()");
	initStringInfo(&buf);

	for (int i = 0; i < STATS_NCOUNTERS; i++)
	{
		const StatsDef *d = &stats_counter_defs[i];

		if (family == NULL || strcmp(family, d->family) != 0)
		{
			stats_append_family(&buf, d->family, "counter", d->help);
			family = d->family;
		}
		appendStringInfoString(&buf, d->family);
		if (d->labels[0])
			appendStringInfo(&buf, "{%s}", d->labels);
		appendStringInfoChar(&buf, ' ');
		stats_append_value(&buf, pg_atomic_read_u64(&stats_shared->counters[i]), d->scale);
		appendStringInfoChar(&buf, '\n');
	}

	stats_append_family(&buf, "resilience_retry_gave_up_by_sqlstate_total", "counter",
						"Calls of the retry functions that gave up, by the SQLSTATE raised.");
	for (int i = 0; i < STATS_GAVE_UP_SLOTS; i++)
	{
		uint32		key = pg_atomic_read_u32(&stats_shared->gave_up[i].key);

		if (key == 0)
			continue;
		appendStringInfo(&buf, "resilience_retry_gave_up_by_sqlstate_total{function=\"%s\",sqlstate=\"%s\"} " UINT64_FORMAT "\n",
						 stats_retry_func_name(key), unpack_sql_state(key & 0x3FFFFFFF),
						 pg_atomic_read_u64(&stats_shared->gave_up[i].calls));
	}
	appendStringInfo(&buf, "resilience_retry_gave_up_by_sqlstate_total{function=\"\",sqlstate=\"other\"} " UINT64_FORMAT "\n",
					 pg_atomic_read_u64(&stats_shared->gave_up_other));

	family = NULL;
	for (int h = 0; h < STATS_NHISTS; h++)
	{
		const StatsDef *d = &stats_hist_defs[h];
		uint64		buckets[STATS_NBUCKETS];
		uint64		sum;

		if (family == NULL || strcmp(family, d->family) != 0)
		{
			stats_append_family(&buf, d->family, "histogram", d->help);
			family = d->family;
		}
		stats_hist_read(&stats_shared->hists[h], buckets, &sum);
		stats_append_hist(&buf, d->family, d->labels, buckets, sum, d->scale);
	}

	stats_append_family(&buf, "resilience_stats_names", "gauge",
						"Names (guards, leases, queues) tracked in shared memory.");
	appendStringInfo(&buf, "resilience_stats_names %u\n",
					 pg_atomic_read_u32(&stats_name_table.header->count));
	stats_append_family(&buf, "resilience_stats_names_evicted_total", "counter",
						"Tracked names dropped to make room (resilience.stats_max_names).");
	appendStringInfo(&buf, "resilience_stats_names_evicted_total " UINT64_FORMAT "\n",
					 pg_atomic_read_u64(&stats_name_table.header->evicted));

	copies = stats_copy_names(&n);
	labels = stats_name_labels(copies, n);
	emitted = false;
	stats_append_name_family(&buf, labels, copies, n, STATS_KIND_GUARD,
							 "resilience_guard_name_acquisitions_total",
							 "Locks granted, per lock name.",
							 NAME_GUARD_ACQUIRED, NULL, 1, &emitted);
	emitted = false;
	stats_append_name_family(&buf, labels, copies, n, STATS_KIND_GUARD,
							 "resilience_guard_name_waits_total",
							 "Lock requests that waited, per lock name.",
							 NAME_GUARD_WAITS, NULL, 1, &emitted);
	emitted = false;
	stats_append_name_family(&buf, labels, copies, n, STATS_KIND_GUARD,
							 "resilience_guard_name_timeouts_total",
							 "Lock requests not granted in time, per lock name.",
							 NAME_GUARD_TIMEOUTS, NULL, 1, &emitted);
	emitted = false;
	stats_append_name_family(&buf, labels, copies, n, STATS_KIND_GUARD,
							 "resilience_guard_name_wait_seconds_total",
							 "Time lock requests waited, per lock name.",
							 NAME_GUARD_WAIT_US, NULL, 1000000, &emitted);
	emitted = false;
	for (int ev = 0; ev < STATS_LEASE_NEVENTS; ev++)
		stats_append_name_family(&buf, labels, copies, n, STATS_KIND_LEASE,
								 "resilience_lease_name_events_total",
								 "Lease events, per lease name.",
								 ev, lease_events[ev], 1, &emitted);
	emitted = false;
	for (int ev = 0; ev < STATS_QUEUE_NEVENTS; ev++)
		stats_append_name_family(&buf, labels, copies, n, STATS_KIND_QUEUE,
								 "resilience_queue_name_events_total",
								 "Job queue events, per queue.",
								 ev, queue_events[ev], 1, &emitted);
	emitted = false;
	for (int i = 0; i < n; i++)
	{
		if (copies[i].kind != STATS_KIND_QUEUE)
			continue;
		if (!emitted)
		{
			stats_append_family(&buf, "resilience_queue_name_pickup_latency_seconds", "histogram",
								"Time from a job becoming runnable to its claim, per queue.");
			emitted = true;
		}
		stats_append_hist(&buf, "resilience_queue_name_pickup_latency_seconds", labels[i],
						  copies[i].buckets, copies[i].sum, 1000000);
	}

	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

/* ---- the file ---- */

/* the layout a file must match */
typedef struct StatsFileHeader
{
	uint32		magic;
	uint32		version;
	uint32		ncounters;
	uint32		nhists;
	uint32		nbuckets;
	uint32		ngaveup;
	uint32		nnamecounters;
	uint32		nnames;
	int64		since;
} StatsFileHeader;

/* a name in the file */
typedef struct StatsFileName
{
	Oid			dbid;
	uint16		len;
	char		name[SHMEM_NAME_MAX + 1];
	uint64		events;
	uint64		counters[STATS_NAME_NCOUNTERS];
	uint64		buckets[STATS_NBUCKETS];
	uint64		sum;
} StatsFileName;

/* write a histogram's values */
static bool
stats_write_hist(FILE *f, StatsHist *h)
{
	uint64		v[STATS_NBUCKETS + 1];

	stats_hist_read(h, v, &v[STATS_NBUCKETS]);
	return fwrite(v, sizeof(v), 1, f) == 1;
}

/*
 * Postmaster exit: write everything to the file, unless this is a crash or
 * an immediate shutdown (code != 0), so those reset the counts.
 */
static void
stats_shmem_shutdown(int code, Datum arg)
{
	FILE	   *f;
	StatsFileHeader hdr;
	HASH_SEQ_STATUS status;
	StatsNameEntry *e;
	bool		ok = true;
	uint32		trailer = STATS_FILE_MAGIC;

	if (code != 0 || stats_shared == NULL || stats_name_table.htab == NULL)
		return;

	f = AllocateFile(STATS_DUMP_FILE ".tmp", PG_BINARY_W);
	if (f == NULL)
		goto error;

	memset(&hdr, 0, sizeof(hdr));
	hdr.magic = STATS_FILE_MAGIC;
	hdr.version = STATS_FILE_VERSION;
	hdr.ncounters = STATS_NCOUNTERS;
	hdr.nhists = STATS_NHISTS;
	hdr.nbuckets = STATS_NBUCKETS;
	hdr.ngaveup = STATS_GAVE_UP_SLOTS;
	hdr.nnamecounters = STATS_NAME_NCOUNTERS;
	hdr.nnames = (uint32) hash_get_num_entries(stats_name_table.htab);
	hdr.since = (int64) pg_atomic_read_u64(&stats_shared->since);
	ok = fwrite(&hdr, sizeof(hdr), 1, f) == 1;
	for (int i = 0; ok && i < STATS_NCOUNTERS; i++)
	{
		uint64		v = pg_atomic_read_u64(&stats_shared->counters[i]);

		ok = fwrite(&v, sizeof(v), 1, f) == 1;
	}
	for (int h = 0; ok && h < STATS_NHISTS; h++)
		ok = stats_write_hist(f, &stats_shared->hists[h]);
	for (int i = 0; ok && i < STATS_GAVE_UP_SLOTS; i++)
	{
		uint32		key = pg_atomic_read_u32(&stats_shared->gave_up[i].key);
		uint64		calls = pg_atomic_read_u64(&stats_shared->gave_up[i].calls);

		ok = fwrite(&key, sizeof(key), 1, f) == 1 &&
			fwrite(&calls, sizeof(calls), 1, f) == 1;
	}
	if (ok)
	{
		uint64		other = pg_atomic_read_u64(&stats_shared->gave_up_other);

		ok = fwrite(&other, sizeof(other), 1, f) == 1;
	}

	/* the postmaster is alone now: no locks needed */
	hash_seq_init(&status, stats_name_table.htab);
	while ((e = (StatsNameEntry *) hash_seq_search(&status)) != NULL)
	{
		StatsFileName fn;

		if (!ok)
		{
			hash_seq_term(&status);
			break;
		}
		memset(&fn, 0, sizeof(fn));
		fn.dbid = e->key.dbid;
		fn.len = e->key.len;
		memcpy(fn.name, e->key.name, e->key.len);
		fn.events = pg_atomic_read_u64(&e->events);
		for (int j = 0; j < STATS_NAME_NCOUNTERS; j++)
			fn.counters[j] = pg_atomic_read_u64(&e->counters[j]);
		stats_hist_read(&e->hist, fn.buckets, &fn.sum);
		ok = fwrite(&fn, sizeof(fn), 1, f) == 1;
	}
	if (ok)
		ok = fwrite(&trailer, sizeof(trailer), 1, f) == 1;
	if (!ok)
		goto error;
	if (FreeFile(f))
	{
		f = NULL;
		goto error;
	}
	(void) durable_rename(STATS_DUMP_FILE ".tmp", STATS_DUMP_FILE, LOG);
	return;

error:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("could not write file \"%s\": %m", STATS_DUMP_FILE ".tmp")));
	if (f)
		FreeFile(f);
	unlink(STATS_DUMP_FILE ".tmp");
}

/* read a histogram's values */
static bool
stats_read_hist(FILE *f, StatsHist *h)
{
	uint64		v[STATS_NBUCKETS + 1];

	if (fread(v, sizeof(v), 1, f) != 1)
		return false;
	for (int b = 0; b < STATS_NBUCKETS; b++)
		pg_atomic_write_u64(&h->buckets[b], v[b]);
	pg_atomic_write_u64(&h->sum, v[STATS_NBUCKETS]);
	return true;
}

/*
 * Postmaster start: load the file written at the last clean shutdown, then
 * remove it, so a crash before the next clean shutdown starts from zero.
 */
static void
stats_load(void)
{
	FILE	   *f;
	StatsFileHeader hdr;
	uint32		trailer = 0;
	uint32		loaded = 0;
	ControlFileData *control;
	bool		crc_ok;

	/*
	 * Only a clean shutdown leaves pg_control saying so: after an immediate
	 * shutdown or a crash the file (if any) is stale, as is the rest of
	 * the statistics, which PostgreSQL discards then too.
	 */
	control = get_controlfile(DataDir, &crc_ok);
	if (!crc_ok || (control->state != DB_SHUTDOWNED &&
					control->state != DB_SHUTDOWNED_IN_RECOVERY))
	{
		pfree(control);
		unlink(STATS_DUMP_FILE);
		return;
	}
	pfree(control);

	f = AllocateFile(STATS_DUMP_FILE, PG_BINARY_R);
	if (f == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", STATS_DUMP_FILE)));
		return;
	}
	if (fread(&hdr, sizeof(hdr), 1, f) != 1 ||
		hdr.magic != STATS_FILE_MAGIC || hdr.version != STATS_FILE_VERSION ||
		hdr.ncounters != STATS_NCOUNTERS || hdr.nhists != STATS_NHISTS ||
		hdr.nbuckets != STATS_NBUCKETS || hdr.ngaveup != STATS_GAVE_UP_SLOTS ||
		hdr.nnamecounters != STATS_NAME_NCOUNTERS)
		goto bad;
	pg_atomic_write_u64(&stats_shared->since, (uint64) hdr.since);
	for (int i = 0; i < STATS_NCOUNTERS; i++)
	{
		uint64		v;

		if (fread(&v, sizeof(v), 1, f) != 1)
			goto bad;
		pg_atomic_write_u64(&stats_shared->counters[i], v);
	}
	for (int h = 0; h < STATS_NHISTS; h++)
		if (!stats_read_hist(f, &stats_shared->hists[h]))
			goto bad;
	for (int i = 0; i < STATS_GAVE_UP_SLOTS; i++)
	{
		uint32		key;
		uint64		calls;

		if (fread(&key, sizeof(key), 1, f) != 1 ||
			fread(&calls, sizeof(calls), 1, f) != 1)
			goto bad;
		pg_atomic_write_u32(&stats_shared->gave_up[i].key, key);
		pg_atomic_write_u64(&stats_shared->gave_up[i].calls, calls);
	}
	{
		uint64		other;

		if (fread(&other, sizeof(other), 1, f) != 1)
			goto bad;
		pg_atomic_write_u64(&stats_shared->gave_up_other, other);
	}
	for (uint32 i = 0; i < hdr.nnames; i++)
	{
		StatsFileName fn;
		ShmemKey	key;
		StatsNameEntry *e;
		bool		found;

		if (fread(&fn, sizeof(fn), 1, f) != 1 || fn.len < 1 || fn.len > SHMEM_NAME_MAX)
			goto bad;
		if (loaded >= (uint32) *stats_name_table.max_entries)
			continue;			/* the setting was lowered: keep the first */
		key.dbid = fn.dbid;
		key.len = fn.len;
		memcpy(key.name, fn.name, fn.len);
		key.name[fn.len] = '\0';
		e = hash_search(stats_name_table.htab, &key, HASH_ENTER_NULL, &found);
		if (e == NULL)
			continue;
		if (!found)
		{
			stats_name_init(e);
			pg_atomic_fetch_add_u32(&stats_name_table.header->count, 1);
			loaded++;
		}
		pg_atomic_write_u64(&e->events, fn.events);
		for (int j = 0; j < STATS_NAME_NCOUNTERS; j++)
			pg_atomic_write_u64(&e->counters[j], fn.counters[j]);
		for (int b = 0; b < STATS_NBUCKETS; b++)
			pg_atomic_write_u64(&e->hist.buckets[b], fn.buckets[b]);
		pg_atomic_write_u64(&e->hist.sum, fn.sum);
	}
	if (fread(&trailer, sizeof(trailer), 1, f) != 1 || trailer != STATS_FILE_MAGIC)
		goto bad;
	FreeFile(f);
	unlink(STATS_DUMP_FILE);
	return;

bad:
	ereport(LOG,
			(errmsg("ignoring resilience statistics file \"%s\": not written by this version, or truncated",
					STATS_DUMP_FILE)));
	FreeFile(f);
	unlink(STATS_DUMP_FILE);
	/* start from zero rather than from half a file */
	stats_zero(stats_shared);
	pg_atomic_write_u64(&stats_shared->since, (uint64) GetCurrentTimestamp());
	{
		HASH_SEQ_STATUS status;
		StatsNameEntry *e;

		hash_seq_init(&status, stats_name_table.htab);
		while ((e = (StatsNameEntry *) hash_seq_search(&status)) != NULL)
		{
			hash_search(stats_name_table.htab, &e->key, HASH_REMOVE, NULL);
			pg_atomic_sub_fetch_u32(&stats_name_table.header->count, 1);
		}
	}
}
