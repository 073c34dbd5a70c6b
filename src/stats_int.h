/*-------------------------------------------------------------------------
 *
 * stats_int.h
 *		What the monitoring files share: the counter and histogram lists,
 *		the shared layout, the per-name entry, and the few functions one
 *		file calls in another.
 *
 * stats.c owns the shared state and the events that add to it;
 * stats_read.c the SQL functions that read it (the views, metrics(),
 * stats_reset()); stats_file.c the file that carries it across a clean
 * restart.  Only stats.c writes counters; the others read them, except
 * that a reset and a load at startup rewrite them (see stats_zero).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_STATS_INT_H
#define RESILIENCE_STATS_INT_H

#include "postgres.h"

#include "port/atomics.h"

#include "shmem.h"
#include "stats.h"

#define STATS_NBUCKETS		32
#define STATS_GAVE_UP_SLOTS 64
#define STATS_NAME_NCOUNTERS 8
/* once the name table is full: 1 in this many uncontended locks adds a name */
#define STATS_ADMIT_ONE_IN	64

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
	X(QUEUE_LEASE_EXPIRED, "queue", "lease_expired", "resilience_queue_events_total", "event=\"lease_expired\"", 1, NULL) \
	X(QUEUE_FENCE_REJECTED, "queue", "fence_rejections", "resilience_queue_events_total", "event=\"fence_rejected\"", 1, NULL)

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
extern const StatsDef stats_counter_defs[STATS_NCOUNTERS];
extern const StatsDef stats_hist_defs[STATS_NHISTS];

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
	/* what the slots' sums are offset by: see StatsSlot */
	pg_atomic_uint64 counters[STATS_NCOUNTERS];
	StatsHist	hists[STATS_NHISTS];
	StatsGaveUp gave_up[STATS_GAVE_UP_SLOTS];
	pg_atomic_uint64 gave_up_other; /* pairs that found no free slot */
	int			nslots;			/* slots of backends (one per PGPROC) */
} StatsShared;

/*
 * One backend's share of the fixed counters and histograms.  A backend adds
 * to the slot of its PGPROC with a plain read and write: no locked
 * instruction, and no cache line that another backend writes.  A slot
 * outlives its backend (the next backend given that PGPROC adds on), so
 * its values only grow.  A counter's value is its offset in StatsShared
 * plus the sum of the slots, modulo 2^64: a reset sets the offset to minus
 * the sum, a load at startup (slots all zero) to the saved value.  One
 * more slot, after the backends' ones, is added to with atomics, by any
 * process without a PGPROC of its own.
 */
typedef struct StatsSlot
{
	pg_atomic_uint64 counters[STATS_NCOUNTERS];
	StatsHist	hists[STATS_NHISTS];
} StatsSlot;

/* the totals of the fixed counters and histograms, as readers see them */
typedef struct StatsTotals
{
	uint64		counters[STATS_NCOUNTERS];
	uint64		buckets[STATS_NHISTS][STATS_NBUCKETS];
	uint64		sums[STATS_NHISTS];
} StatsTotals;

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
/* stats_queue_event adds to SC_QUEUE_ENQUEUED + event */
StaticAssertDecl(SC_QUEUE_FENCE_REJECTED - SC_QUEUE_ENQUEUED == STATS_QUEUE_FENCE_REJECTED &&
				 STATS_QUEUE_FENCE_REJECTED == STATS_QUEUE_NEVENTS - 1,
				 "queue counters in StatsQueueEvent order");


extern bool stats_track;
extern StatsShared *stats_shared;
extern ShmemTable stats_name_table;

/* stats.c */
extern void stats_name_init(StatsNameEntry *e);
extern void stats_totals(StatsTotals *t);
extern void stats_zero(void);

/* stats_read.c */
extern void stats_hist_read(StatsHist *h, uint64 *buckets, uint64 *sum);

/* stats_file.c */
extern void stats_load(void);
extern void stats_shmem_shutdown(int code, Datum arg);

#endif							/* RESILIENCE_STATS_INT_H */
