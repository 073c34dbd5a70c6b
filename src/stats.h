/*-------------------------------------------------------------------------
 *
 * stats.h
 *		The monitoring counters: one function per event, called by the
 *		capabilities; read through the views and metrics() (src/stats.sql).
 *
 * Every function here costs one branch when counting is off
 * (resilience.track = off) or the library was not preloaded (no shared
 * memory), and otherwise a few pg_atomic adds on fixed shared counters (no
 * lock).  The per-name events (guards, leases, queues) also look the name
 * up in a bounded partitioned hash table (shmem.c), taking one partition
 * lock in shared mode; see stats.c for its eviction rule.
 *
 * Counts are events as they happen: work that later rolls back still
 * counts, as in pg_stat_statements.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_STATS_H
#define RESILIENCE_STATS_H

#include "postgres.h"

/* which retry function */
typedef enum StatsRetryFunc
{
	STATS_RETRY_TRANSACTION = 0,
	STATS_RETRY_STATEMENT
} StatsRetryFunc;

/* why a keyset cursor was refused */
typedef enum StatsCursorReject
{
	STATS_CURSOR_MALFORMED = 0, /* not a cursor at all */
	STATS_CURSOR_FORGED,		/* signature does not match */
	STATS_CURSOR_RETIRED_KEY,	/* signed by a key that is gone */
	STATS_CURSOR_OTHER_SORT,	/* made for another sort or query */
	STATS_CURSOR_OTHER			/* anything else */
} StatsCursorReject;

/* lease events (counted per lease name) */
typedef enum StatsLeaseEvent
{
	STATS_LEASE_GRANT = 0,		/* a new token issued */
	STATS_LEASE_RENEWAL,		/* the holder extended its lease */
	STATS_LEASE_TAKEOVER,		/* a grant over another holder's expired lease */
	STATS_LEASE_REFUSED,		/* acquire found a live holder */
	STATS_LEASE_FENCE_REJECTED, /* lease_fence raised RL001 */
	STATS_LEASE_RELEASE,		/* the holder gave it up */
	STATS_LEASE_NEVENTS
} StatsLeaseEvent;

/* queue events (counted per queue name); for the job queue */
typedef enum StatsQueueEvent
{
	STATS_QUEUE_ENQUEUED = 0,
	STATS_QUEUE_CLAIMED,
	STATS_QUEUE_COMPLETED,
	STATS_QUEUE_FAILED,			/* an attempt failed, the job will run again */
	STATS_QUEUE_DEAD,			/* out of attempts: moved to the dead jobs */
	STATS_QUEUE_LEASE_EXPIRED,	/* a claim expired before the job finished */
	STATS_QUEUE_FENCE_REJECTED, /* complete/fail/extend raised RL001 */
	STATS_QUEUE_NEVENTS
} StatsQueueEvent;

/* breaker states, as breaker.c names them */
typedef enum StatsBreakerState
{
	STATS_BREAKER_CLOSED = 0,
	STATS_BREAKER_OPEN,
	STATS_BREAKER_HALF_OPEN
} StatsBreakerState;

/* _PG_init: define resilience.track (always) */
extern void stats_define_gucs(void);

/* shmem.c's hooks: the fixed counters' size; attach (and load the file) */
extern Size stats_shmem_size(void);
extern void stats_shmem_startup(void);

/* retry_transaction / retry_statement */
extern void stats_retry_call(StatsRetryFunc func);
extern void stats_retry_commit(StatsRetryFunc func, int attempts,
							   int64 elapsed_us);
extern void stats_retry_gave_up(StatsRetryFunc func, int attempts,
								int sqlerrcode);
extern void stats_retry_slept(StatsRetryFunc func, int64 slept_us);

/*
 * Guards: one call per acquisition attempt of one name.  waited: it had to
 * queue (then wait_us is how long); granted false: timed out.
 */
extern void stats_guard_acquire(const char *name, int len, bool session,
								bool shared, bool waited, int64 wait_us,
								bool granted);
/* the lock manager's table was full (53200) */
extern void stats_guard_lock_table_full(void);

/* Leases, per lease name. */
extern void stats_lease_event(const char *name, int len, StatsLeaseEvent ev);

/* Idempotency. */
extern void stats_idempotency_first(void);
extern void stats_idempotency_replay(void);
extern void stats_idempotency_mismatch(void);
extern void stats_idempotency_wait(void);

/* Keyset pagination. */
extern void stats_keyset_page(int64 rows);
extern void stats_keyset_cursor_rejected(StatsCursorReject why);
extern void stats_keyset_plan_cache(bool hit);

/* Rate limits and breakers. */
extern void stats_limit_decision(bool allowed);
extern void stats_breaker_decision(bool allowed);
extern void stats_breaker_state_change(StatsBreakerState to);

/*
 * Queues, per queue name: n events of one kind; a NULL queue (a refused
 * call for a job that no longer exists) counts in the totals only.
 * stats_queue_pickup: a job was claimed latency_us after it became
 * runnable (also counts STATS_QUEUE_CLAIMED).
 */
extern void stats_queue_event(const char *queue, int len, StatsQueueEvent ev,
							  int64 n);
extern void stats_queue_pickup(const char *queue, int len, int64 latency_us);

#endif							/* RESILIENCE_STATS_H */
