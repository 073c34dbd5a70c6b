/*-------------------------------------------------------------------------
 *
 * queue_claim.c
 *		Claiming jobs: resilience.claim(), the reaping of expired leases it
 *		does first, the scan hint that keeps it fast while the xmin horizon
 *		is held, its long-poll, and the two settings that tune them.
 *
 * The rules of a job's state are queue.c's (see its header: claims,
 * groups, tokens); this file only applies them.  Invariants:
 *  - A claim is one UPDATE of the ids a materialized CTE picks with FOR NO
 *    KEY UPDATE SKIP LOCKED: concurrent claimers never get the same job and
 *    never wait for each other; a claimed job's token strictly increases.
 *  - Reaping returns an expired job to pending, or to dead after its last
 *    attempt, and promotes the next job of a group whose head died, under
 *    the group's lock.  It runs at most every QUEUE_REAP_INTERVAL of the
 *    clock per backend and queue.
 *  - A waiting claim sleeps on its queue's wakeup slot (queue_wakeup.c)
 *    only after checking the generation it saw before its last attempt, so
 *    a commit between the two is never missed; it stops at once on cancel
 *    or terminate, and never waits in a transaction-snapshot isolation
 *    level.  Each of its attempts runs in a subtransaction, rolled back
 *    when it found nothing, so it sleeps holding no lock its statements
 *    took; an attempt that claimed, reaped or enqueued scheduled periods
 *    ends the wait (those rows stay locked until commit).
 *  - A reap that put jobs back to pending wakes the queue's waiting claims
 *    at its commit, as an enqueue does.
 *  - The per-backend state below (last reap, scan hint, horizon check) is a
 *    hint: losing it (a new backend, another queue) costs a full scan,
 *    never a wrong answer; a reap undone by an abort makes the next reap
 *    a full one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "args.h"
#include "clock.h"
#include "cron.h"
#include "lease.h"
#include "queue.h"
#include "queue_int.h"
#include "resilience.h"
#include "stats.h"
#include "subxact.h"

RESILIENCE_FUNCTION(queue_claim);

/* resilience.queue_poll_interval, milliseconds */
static int	queue_poll_interval = 100;

/* resilience.queue_rescan_interval, milliseconds (0: always a full scan) */
static int	queue_rescan_interval = 1000;

/* a claim returned a job that had been ready for latency_us */
static inline void
queue_note_claimed(const char *queue, int64 latency_us)
{
	stats_queue_pickup(queue, strlen(queue), Max(latency_us, 0));
}

/* n expired leases were reaped, dead of them out of attempts */
static inline void
queue_note_expired(const char *queue, int n, int dead)
{
	stats_queue_event(queue, strlen(queue), STATS_QUEUE_LEASE_EXPIRED, n);
	stats_queue_event(queue, strlen(queue), STATS_QUEUE_DEAD, dead);
}

/*-------------------------------------------------------------------------
 * Claim
 *-------------------------------------------------------------------------
 */

/*
 * The queue and clock value of this backend's last reap, and of its last
 * full one.  In between full reaps (every QUEUE_REAP_FULL of the clock,
 * and after a reap that filled its batch) a reap looks only at leases that
 * expired since a second before its previous reap: earlier ones that
 * previous reap took, so the scan does not step over the index entries of
 * every job completed since VACUUM last ran.
 */
static char *reap_last_queue = NULL;	/* in TopMemoryContext */
static TimestampTz reap_last_at = 0;
static TimestampTz reap_full_at = 0;
static bool reap_full_next = true;

/*
 * A reap's changes are undone if its transaction, or the subtransaction it
 * ran in, aborts: the jobs it took are expired again, though earlier than
 * the next reap would look.  reap_uncommitted says the current transaction
 * reaped; an abort then makes the next reap a full one.
 */
static bool reap_uncommitted = false;
static bool reap_callbacks_registered = false;

static void
queue_reap_xact_callback(XactEvent event, void *arg)
{
	if (!reap_uncommitted)
		return;
	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:	/* it may be rolled back later */
			reap_full_next = true;
			reap_uncommitted = false;
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			reap_uncommitted = false;
			break;
		default:
			break;
	}
}

static void
queue_reap_subxact_callback(SubXactEvent event, SubTransactionId subid,
							SubTransactionId parent, void *arg)
{
	/* not knowing which subtransaction reaped: any abort will do */
	if (reap_uncommitted && event == SUBXACT_EVENT_ABORT_SUB)
		reap_full_next = true;
}

/* The current transaction's reap changed jobs. */
static void
queue_reap_changed(void)
{
	if (!reap_callbacks_registered)
	{
		RegisterXactCallback(queue_reap_xact_callback, NULL);
		RegisterSubXactCallback(queue_reap_subxact_callback, NULL);
		reap_callbacks_registered = true;
	}
	reap_uncommitted = true;
}

/*
 * Bloat under a held horizon.  Claimed and completed jobs leave index
 * entries behind that only VACUUM removes, and it cannot while a snapshot
 * older than them exists (a long REPEATABLE READ transaction, a replica's
 * hot_standby_feedback): a scan from the start of the ready index then
 * steps over every job claimed since, and slows down linearly.  So while
 * the horizon lags the next xid by more than QUEUE_HORIZON_LAG, a claim
 * starts its scan QUEUE_HINT_MARGIN of run_at before the key of the first
 * job this backend's previous claim of the queue took: everything before
 * it was then claimed, locked or dead, and the margin takes in enqueues
 * that committed a little after later ones (waiting claimers hold their
 * statement's snapshot, so a busy queue with waiters is in this state
 * too).  A job that lands before that point later (an enqueue that
 * committed long after it ran, a higher priority, a claim rolled back) is
 * found by the
 * full scan each backend still makes every resilience.queue_rescan_interval
 * (default 1s; 0 scans in full every time); only then, and only while the
 * horizon is held, can it wait longer than strict
 * claim order would make it.  With the horizon moving, every claim scans
 * from the start, where the dead entries have been marked killed.
 */
typedef struct QueueClaimHint
{
	char	   *queue;			/* in TopMemoryContext; NULL: none */
	bool		valid;
	int64		priority_key;
	TimestampTz run_at;
	int64		id;
	TimestampTz last_full;		/* real clock of the last full scan */
} QueueClaimHint;

static QueueClaimHint claim_hint = {NULL, false, 0, 0, 0, 0};
static TimestampTz horizon_checked_at = 0;
static bool horizon_held = false;

/* Is the xmin horizon held back (checked at most every QUEUE_HORIZON_CHECK)? */
static bool
queue_horizon_held(void)
{
	TimestampTz now = GetCurrentTimestamp();

	if (now - horizon_checked_at >= QUEUE_HORIZON_CHECK || now < horizon_checked_at)
	{
		TransactionId horizon = GetOldestNonRemovableTransactionId(NULL);
		TransactionId next = ReadNextTransactionId();

		horizon_held = TransactionIdIsNormal(horizon) &&
			(int32) (next - horizon) > QUEUE_HORIZON_LAG;
		horizon_checked_at = now;
	}
	return horizon_held;
}

/*
 * Reap queue's expired leases, at most every QUEUE_REAP_INTERVAL of the
 * clock per backend; true if any job changed (this transaction then holds
 * their rows).
 */
static bool
queue_reap(const char *queue, TimestampTz now)
{
	Datum		v[3];
	uint64		n;
	int			dead = 0;
	int			grouped = 0;
	TimestampTz from;

	if (reap_last_queue != NULL && strcmp(reap_last_queue, queue) == 0 &&
		now >= reap_last_at &&
		now - reap_last_at < (queue_horizon_held() ? QUEUE_REAP_INTERVAL_HELD :
							  QUEUE_REAP_INTERVAL))
		return false;
	if (reap_last_queue == NULL || strcmp(reap_last_queue, queue) != 0)
	{
		if (reap_last_queue)
			pfree(reap_last_queue);
		reap_last_queue = MemoryContextStrdup(TopMemoryContext, queue);
		reap_full_next = true;
	}
	if (now < reap_last_at || now - reap_full_at >= QUEUE_REAP_FULL)
		reap_full_next = true;
	if (reap_full_next)
	{
		TIMESTAMP_NOBEGIN(from);
		reap_full_at = now;
	}
	else
		from = reap_last_at - USECS_PER_SEC;
	reap_last_at = now;

	v[0] = CStringGetTextDatum(queue);
	v[1] = TimestampTzGetDatum(now);
	v[2] = TimestampTzGetDatum(from);
	n = queue_exec(QP_REAP, v, NULL, SPI_OK_UPDATE_RETURNING);
	reap_full_next = (n >= 100);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;

		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)))
			dead++;
	}

	/* grouped heads out of attempts: the group's next job takes over */
	if (queue_exec(QP_REAP_GROUPED_FIND, v, NULL, SPI_OK_SELECT) > 0)
	{
		SPITupleTable *tt = SPI_tuptable;
		uint64		found = SPI_processed;

		for (uint64 i = 0; i < found; i++)
		{
			bool		isnull;
			Datum		rv[3];
			char	   *group = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);

			rv[0] = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull);
			rv[1] = TimestampTzGetDatum(now);
			rv[2] = queue_running_datum();

			/*
			 * A claim never waits: a group whose lock another transaction
			 * holds (an enqueue into it, not yet committed) is left to a
			 * later reap, which looks at every expired lease again.
			 */
			if (!queue_try_lock_group(queue, group))
			{
				reap_full_next = true;
				continue;
			}
			if (queue_exec(QP_REAP_GROUPED, rv, NULL, SPI_OK_UPDATE_RETURNING) > 0)
			{
				grouped++;
				queue_promote(queue, group);
			}
			else
			{
				/*
				 * Changed since the find, or locked by the worker's open
				 * transaction (an extend(), skipped rather than waited
				 * for): a later reap looks again.
				 */
				reap_full_next = true;
			}
		}
	}
	if (n + grouped > 0)
	{
		queue_reap_changed();
		queue_note_expired(queue, (int) n + grouped, dead + grouped);
	}
	/* jobs back to pending: wake the claimers waiting for one */
	if (n > (uint64) dead)
		queue_wake_at_commit(queue);
	return n + grouped > 0;
}

/*
 * One claim attempt: reap, then claim up to max_jobs into tupstore.  The
 * number claimed; *changed if the reap changed jobs or scheduled periods
 * were enqueued.
 */
static uint64
queue_claim_once(const char *queue, int32 max_jobs, int64 lease_us,
				 Tuplestorestate *tupstore, TupleDesc outdesc, bool *changed)
{
	TimestampTz now;
	Datum		v[8];
	uint64		n;
	uint64		total;
	bool		hinted;

	queue_connect();
	now = clock_now();

	/*
	 * Periodic schedules put their due periods of this queue here, before
	 * the claim and at the claim's time, so the claim can take them.
	 */
	*changed = cron_claim_tick(queue, now);
	if (queue_reap(queue, now))
		*changed = true;
	v[0] = CStringGetTextDatum(queue);
	v[1] = Int32GetDatum(max_jobs);
	v[2] = TimestampTzGetDatum(now);
	v[3] = TimestampTzGetDatum(queue_time_add(now, lease_us, "lease"));
	v[4] = Int64GetDatum(lease_token_floor_value());

	if (claim_hint.queue == NULL || strcmp(claim_hint.queue, queue) != 0)
	{
		if (claim_hint.queue)
			pfree(claim_hint.queue);
		claim_hint.queue = MemoryContextStrdup(TopMemoryContext, queue);
		claim_hint.valid = false;
	}
	hinted = claim_hint.valid && !*changed && queue_rescan_interval > 0 &&
		queue_horizon_held() &&
		GetCurrentTimestamp() - claim_hint.last_full < (int64) queue_rescan_interval * 1000;
	/*
	 * A scan from the hint may miss jobs behind it (a higher priority, an
	 * enqueue that committed late): when it returns fewer than max_jobs, a
	 * full scan looks for the rest, so a claim never comes back short while
	 * a job is ready.  Only the order among the jobs returned is approximate
	 * under a held horizon.
	 */
	total = 0;
	for (int pass = 0; pass < 2; pass++)
	{
		bool		from_hint = (pass == 0 && hinted);

		if (pass == 1 && (!hinted || total >= (uint64) max_jobs))
			break;
		v[1] = Int32GetDatum(max_jobs - (int32) total);
		if (from_hint)
		{
			/* QUEUE_HINT_MARGIN before it: enqueues that committed a bit late */
			v[5] = Int64GetDatum(claim_hint.priority_key);
			v[6] = TimestampTzGetDatum(claim_hint.run_at - QUEUE_HINT_MARGIN);
			v[7] = Int64GetDatum(0);
			n = queue_exec(QP_CLAIM_FROM, v, NULL, SPI_OK_UPDATE_RETURNING);
		}
		else
		{
			/* the hint stays a lower bound; this scan may lower it */
			n = queue_exec(QP_CLAIM, v, NULL, SPI_OK_UPDATE_RETURNING);
			claim_hint.last_full = GetCurrentTimestamp();
		}
		for (uint64 i = 0; i < n; i++)
		{
			Datum		values[11];
			bool		nulls[11];
			int64		pkey;
			TimestampTz run_at;
			int64		id;

			heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, values, nulls);
			tuplestore_putvalues(tupstore, outdesc, values, nulls);
			/* the hint: the first claimed job in the ready index's order */
			pkey = -(int64) DatumGetInt32(values[9]);
			run_at = DatumGetTimestampTz(values[10]);
			id = DatumGetInt64(values[0]);
			queue_note_claimed(queue, now - run_at);
			if ((i == 0 && from_hint) || !claim_hint.valid || pkey < claim_hint.priority_key ||
				(pkey == claim_hint.priority_key &&
				 (run_at < claim_hint.run_at ||
				  (run_at == claim_hint.run_at && id < claim_hint.id))))
			{
				claim_hint.priority_key = pkey;
				claim_hint.run_at = run_at;
				claim_hint.id = id;
				claim_hint.valid = true;
			}
		}
		total += n;
	}
	n = total;
	if (n == 0 && !*changed)
		queue_require(queue);
	SPI_finish();
	return n;
}

/* One attempt of a waiting claim, run by subxact_run_or_undo(). */
typedef struct QueueClaimAttempt
{
	const char *queue;
	int32		max_jobs;
	int64		lease_us;
	ReturnSetInfo *rsinfo;
	uint64		claimed;
	bool		changed;
} QueueClaimAttempt;

/* keep the attempt if it claimed or changed anything */
static bool
queue_claim_attempt(void *arg)
{
	QueueClaimAttempt *a = (QueueClaimAttempt *) arg;

	a->claimed = queue_claim_once(a->queue, a->max_jobs, a->lease_us,
								  a->rsinfo->setResult, a->rsinfo->setDesc,
								  &a->changed);
	return a->claimed > 0 || a->changed;
}

/* claim(queue, max_jobs, lease, wait) RETURNS SETOF claimed_job */
Datum
queue_claim(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *queue = queue_name_arg(fcinfo, 0);
	int32		max_jobs;
	int64		lease_us;
	int64		wait_us;
	TimestampTz deadline;
	int			slot;
	QueueClaimAttempt attempt;

	args_not_null(fcinfo, 1, "max_jobs");
	max_jobs = PG_GETARG_INT32(1);
	if (max_jobs < 1 || max_jobs > QUEUE_MAX_JOBS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_jobs must be between 1 and %d", QUEUE_MAX_JOBS),
				 errhint("Claim in batches of at most %d jobs.", QUEUE_MAX_JOBS)));
	lease_us = queue_positive_interval(fcinfo, 2, "lease");
	args_not_null(fcinfo, 3, "wait");
	wait_us = args_interval_usec(PG_GETARG_INTERVAL_P(3), "wait");
	if (wait_us < 0 || wait_us > QUEUE_MAX_WAIT_USEC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("wait must be between 0 and 1 hour"),
				 errhint("Pass '0' to return at once when no job is ready, or a few seconds to long-poll.")));
	queue_check_primary("claim jobs");
	if (wait_us > 0 && IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("claim cannot wait in a transaction at isolation level %s",
						XactIsoLevel == XACT_SERIALIZABLE ? "SERIALIZABLE" : "REPEATABLE READ"),
				 errdetail("The transaction's snapshot would never show a job enqueued meanwhile."),
				 errhint("Claim in its own READ COMMITTED transaction, or pass wait => '0'.")));

	InitMaterializedSRF(fcinfo, 0);
	if (wait_us == 0)
	{
		bool		changed;

		(void) queue_claim_once(queue, max_jobs, lease_us, rsinfo->setResult,
								rsinfo->setDesc, &changed);
		return (Datum) 0;
	}

	/*
	 * A waiting claim makes each attempt in a subtransaction and rolls back
	 * one that found nothing: the locks its statements took (ROW EXCLUSIVE
	 * on the job tables) are released before it sleeps, so a waiting claim
	 * holds none that drop_queue() or anyone else would wait for.  An
	 * attempt that claimed, reaped or enqueued scheduled periods is kept and
	 * ends the wait, since its rows stay locked until the transaction ends.
	 */
	deadline = GetCurrentTimestamp() + wait_us;
	slot = queue_wakeup_slot(queue);
	attempt.queue = queue;
	attempt.max_jobs = max_jobs;
	attempt.lease_us = lease_us;
	attempt.rsinfo = rsinfo;
	for (;;)
	{
		uint64		gen = queue_wakeup_generation(slot);
		long		timeout_ms;
		TimestampTz real_now;

		if (subxact_run_or_undo(queue_claim_attempt, &attempt))
			break;
		real_now = GetCurrentTimestamp();
		if (real_now >= deadline)
			break;
		timeout_ms = (long) Min((deadline - real_now + 999) / 1000,
								(int64) queue_poll_interval);
		queue_wakeup_sleep(slot, gen, timeout_ms);
		CHECK_FOR_INTERRUPTS();
	}
	return (Datum) 0;
}

/* Define resilience.queue_poll_interval. */
void
queue_define_gucs(void)
{
	DefineCustomIntVariable("resilience.queue_poll_interval",
							"How often a waiting claim looks for jobs without a wakeup.",
							"Jobs whose run_at comes due, expired leases, and every job when resilience is not in shared_preload_libraries.",
							&queue_poll_interval,
							100, 1, 10000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("resilience.queue_rescan_interval",
							"How often a claim scans the whole ready index while the xmin horizon is held back.",
							"In between, a claim starts where this backend's previous claim did; 0 scans in full every time.",
							&queue_rescan_interval,
							1000, 0, 3600 * 1000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
}
