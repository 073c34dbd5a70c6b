/*-------------------------------------------------------------------------
 *
 * queue_int.h
 *		What the job queue's files share: its limits, the saved statements
 *		(queue_plan.c) and the wakeup slots (queue_wakeup.c).
 *
 * queue.c holds the workers' SQL functions and every rule about a job's
 * state; queue_claim.c claim(); queue_admin.c the operators' functions
 * (create and drop a queue, cancel, redrive, purge).  The last two use
 * queue.c's rules through the functions declared at the end;
 * queue_plan.c only the statements' text, their preparation against the
 * member tables found by membership and their execution; queue_wakeup.c
 * only the shared slots waiting claims sleep on and the commit callback
 * that wakes them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_QUEUE_INT_H
#define RESILIENCE_QUEUE_INT_H

#include "postgres.h"

#include "access/xact.h"
#include "datatype/timestamp.h"
#include "fmgr.h"

/* advisory lock tag field4 of group locks (guards use 29287) */
#define QUEUE_GROUP_LOCKTAG_FIELD4	29288

#define QUEUE_NAME_MAX			200
#define QUEUE_MAX_JOBS			1000	/* per claim */
#define QUEUE_MAX_BATCH			10000	/* per enqueue_many, complete_many */
#define QUEUE_MAX_WAIT_USEC		(3600 * USECS_PER_SEC)
#define QUEUE_REAP_INTERVAL		(100 * 1000)	/* microseconds */
#define QUEUE_REAP_INTERVAL_HELD	(1000 * 1000)	/* with the horizon held */
#define QUEUE_HORIZON_CHECK		(100 * 1000)	/* how often it is looked at */
#define QUEUE_HORIZON_LAG		1000	/* xids: "held" beyond this */
#define QUEUE_HINT_MARGIN		(250 * 1000)	/* run_at before the hint */
#define QUEUE_REAP_BATCH		"100"
#define QUEUE_REAP_FULL			(10 * USECS_PER_SEC)
#define QUEUE_WAKEUP_SLOTS		64

/* fail()'s backoff: resilience.backoff_delay(attempt)'s defaults */
#define QUEUE_BACKOFF_BASE		(10 * 1000)
#define QUEUE_BACKOFF_CAP		(10 * USECS_PER_SEC)

#define UNFINISHED "ARRAY['pending', 'blocked', 'running']"

typedef enum QueuePlan
{
	QP_QUEUE_EXISTS,
	QP_QUEUE_CREATE,
	QP_QUEUE_LOCK_JOBS,
	QP_QUEUE_DROP,
	QP_QUEUE_DROP_JOBS,
	/* each enqueue in 4 variants: + QUEUE_VARIANT_LOCKED, + QUEUE_VARIANT_GROUPED */
	QP_ENQUEUE,
	QP_ENQUEUE_DEDUP = QP_ENQUEUE + 4,
	QP_ENQUEUE_MANY = QP_ENQUEUE_DEDUP + 4,
	QP_DEDUP_FIND = QP_ENQUEUE_MANY + 4,
	QP_CLAIM,
	QP_CLAIM_FROM,
	QP_REAP,
	QP_REAP_GROUPED_FIND,
	QP_REAP_GROUPED,
	QP_PROMOTE,
	QP_COMPLETE,
	QP_COMPLETE_GROUPED,
	QP_COMPLETE_MANY,
	QP_JOB_READ,
	QP_JOB_READ_LOCK,
	QP_FAIL_UPDATE,
	QP_EXTEND,
	QP_CANCEL,
	QP_REDRIVE_GROUPS,
	QP_REDRIVE,
	QP_REDRIVE_SKIPPED,
	QP_PURGE,
	QP_COUNT
} QueuePlan;

#define QUEUE_VARIANT_LOCKED	1	/* the queue's row FOR KEY SHARE */
#define QUEUE_VARIANT_GROUPED	2	/* a group_key: head or blocked */

/* The variant of an enqueue statement for this call. */
static inline QueuePlan
queue_enqueue_plan(QueuePlan base, bool grouped)
{
	return (QueuePlan) (base + (IsolationUsesXactSnapshot() ? QUEUE_VARIANT_LOCKED : 0) +
						(grouped ? QUEUE_VARIANT_GROUPED : 0));
}

/* queue_plan.c */
extern void queue_connect(void);
extern uint64 queue_exec(QueuePlan which, Datum *values, const char *nulls,
						 int expected);
extern Datum queue_running_datum(void);

/* queue_wakeup.c (its shared struct is listed in shmem.h) */
extern int	queue_wakeup_slot(const char *queue);
extern void queue_wake_at_commit(const char *queue);
extern uint64 queue_wakeup_generation(int slot);
extern void queue_wakeup_sleep(int slot, uint64 gen, long timeout_ms);

/* A job as read for checks (queue.c's queue_read_job). */
typedef struct QueueJobRow
{
	bool		found;
	char	   *queue;
	char	   *state;
	int64		token;
	char	   *group_key;		/* NULL if none */
	int32		attempt;
	int32		max_attempts;
} QueueJobRow;

/* queue.c: argument checks and job rules the other queue files share */
extern char *queue_name_arg(FunctionCallInfo fcinfo, int argno);
extern void queue_require(const char *queue);
extern TimestampTz queue_time_add(TimestampTz now, int64 us, const char *name);
extern void queue_check_primary(const char *what);
extern bool queue_jobs_under_rls(void);
extern int64 queue_positive_interval(FunctionCallInfo fcinfo, int argno,
									 const char *name);
extern uint64 queue_group_key(const char *queue, const char *group);
extern void queue_lock_group_key(uint64 key);
extern void queue_lock_group_keys(uint64 *keys, int n);
extern void queue_lock_group(const char *queue, const char *group);
extern bool queue_try_lock_group(const char *queue, const char *group);
extern void queue_promote(const char *queue, const char *group);
extern void queue_read_job(QueuePlan which, int64 id, QueueJobRow *row);

#endif							/* RESILIENCE_QUEUE_INT_H */
