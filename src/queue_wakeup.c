/*-------------------------------------------------------------------------
 *
 * queue_wakeup.c
 *		Waking waiting claims when a job becomes ready.
 *
 * QUEUE_WAKEUP_SLOTS shared slots (with shared_preload_libraries), each a
 * generation counter and a condition variable; a queue maps to a slot by a
 * hash of its database and name, so a slot may be shared by several queues
 * (a spurious wakeup costs one claim).  A transaction that made jobs ready
 * marks their slots and broadcasts them from the commit callback, never
 * before the commit (a woken claim must see the jobs).  Without the shared
 * slots, waiting claims sleep on their latch for the poll interval.
 *
 *-------------------------------------------------------------------------
 */

#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/procarray.h"
#include "access/transam.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "args.h"
#include "backoff.h"
#include "clock.h"
#include "cron.h"
#include "extension.h"
#include "lease.h"
#include "queue.h"
#include "queue_int.h"
#include "resilience.h"
#include "shmem.h"
#include "spiplan.h"
#include "stats.h"


/*-------------------------------------------------------------------------
 * Wakeups
 *-------------------------------------------------------------------------
 */

typedef struct QueueWakeup
{
	pg_atomic_uint64 generation[QUEUE_WAKEUP_SLOTS];
	ConditionVariable cv[QUEUE_WAKEUP_SLOTS];
} QueueWakeup;

static QueueWakeup *queue_wakeup = NULL;

/* Set up the slots (shmem.c, first attach). */
static void
queue_wakeup_init(void *ptr)
{
	QueueWakeup *w = (QueueWakeup *) ptr;

	for (int i = 0; i < QUEUE_WAKEUP_SLOTS; i++)
	{
		pg_atomic_init_u64(&w->generation[i], 0);
		ConditionVariableInit(&w->cv[i]);
	}
}

ShmemStruct queue_wakeup_struct = {
	"resilience queue wakeups",
	sizeof(QueueWakeup),
	queue_wakeup_init,
	(void **) &queue_wakeup
};

/* slots to broadcast at commit */
static uint64 queue_wake_pending = 0;
static bool queue_xact_callback_registered = false;

/* The wakeup slot of a queue of this database. */
int
queue_wakeup_slot(const char *queue)
{
	return (int) (hash_combine(murmurhash32(MyDatabaseId),
							   hash_bytes((const unsigned char *) queue,
										  strlen(queue))) % QUEUE_WAKEUP_SLOTS);
}

/* At commit, wake the waiters of the queues this transaction made ready. */
static void
queue_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			for (int i = 0; i < QUEUE_WAKEUP_SLOTS && queue_wake_pending != 0; i++)
			{
				if ((queue_wake_pending & ((uint64) 1 << i)) == 0)
					continue;
				queue_wake_pending &= ~((uint64) 1 << i);
				pg_atomic_fetch_add_u64(&queue_wakeup->generation[i], 1);
				ConditionVariableBroadcast(&queue_wakeup->cv[i]);
			}
			queue_wake_pending = 0;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* a prepared transaction's waiters fall back to polling */
			queue_wake_pending = 0;
			break;
		default:
			break;
	}
}

/* Wake queue's waiters when this transaction commits. */
void
queue_wake_at_commit(const char *queue)
{
	if (queue_wakeup == NULL)
		return;
	if (!queue_xact_callback_registered)
	{
		RegisterXactCallback(queue_xact_callback, NULL);
		queue_xact_callback_registered = true;
	}
	queue_wake_pending |= (uint64) 1 << queue_wakeup_slot(queue);
}

/* The slot's generation now (0 without shared memory). */
uint64
queue_wakeup_generation(int slot)
{
	return queue_wakeup != NULL ? pg_atomic_read_u64(&queue_wakeup->generation[slot]) : 0;
}

/*
 * Sleep until the slot's generation moves past gen (a commit made one of
 * its queues ready) or timeout_ms passes; without shared memory, until the
 * latch is set or the timeout.  The caller checks for interrupts.
 */
void
queue_wakeup_sleep(int slot, uint64 gen, long timeout_ms)
{
	if (queue_wakeup != NULL)
	{
		ConditionVariable *cv = &queue_wakeup->cv[slot];

		ConditionVariablePrepareToSleep(cv);
		if (pg_atomic_read_u64(&queue_wakeup->generation[slot]) == gen)
			(void) ConditionVariableTimedSleep(cv, timeout_ms, PG_WAIT_EXTENSION);
		ConditionVariableCancelSleep();
	}
	else
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
