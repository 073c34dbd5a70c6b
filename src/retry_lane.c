/*-------------------------------------------------------------------------
 *
 * retry_lane.c
 *		Retry lanes (guaranteed progress) for retry_transaction.
 *
 * Every attempt holds its lane's lock in ShareLock for the attempt's
 * transaction; an attempt after escalate_after failed ones, or after one
 * failed attempt that took base_delay or longer (its wait for the lane
 * included), asks for ExclusiveLock instead, before its snapshot.  A failure
 * that slow waited on a row lock or a deadlock (deadlock_timeout) and would
 * likely cost as much again, more than the first backoff sleep; quicker ones
 * are retried concurrently first.  The lock manager queues later ShareLock
 * requests behind a waiting ExclusiveLock, so the escalated call is served
 * in turn; once granted, every other wrapped transaction of the lane has
 * committed or rolled back (locks are released after
 * ProcArrayEndTransaction), so none is concurrent with it, and a
 * serialization failure or deadlock needs a concurrent transaction: it can
 * lose only to work outside the lane.
 *
 * The lane is an advisory lock tag with a fourth field of our own
 * (RETRY_LANE_TAG), so it cannot collide with pg_advisory_lock() keys or
 * guards, and it is visible in pg_locks.  Any role may hold a lane, as any
 * role may take an advisory lock; a caller with a timeout is never held
 * past it.
 *
 * Invariants: see retry_lane.h.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include "guard.h"
#include "retry_lane.h"

/*
 * The fourth field of a lane's advisory tag: pg_advisory_lock() uses 1 and
 * 2 there and guards GUARD_LOCKTAG_FIELD4.  The first two fields hold a
 * 64-bit hash of the lane name; the database's default lane is 0, 0.
 */
#define RETRY_LANE_TAG 0x5245
StaticAssertDecl(RETRY_LANE_TAG != GUARD_LOCKTAG_FIELD4 && RETRY_LANE_TAG > 2,
				 "retry lanes need a lock space of their own");

void
retry_lane_init(RetryLane *lane, bool in_lane, int32 escalate_after, text *name)
{
	uint64		h = 0;

	lane->enabled = in_lane;
	lane->escalate_after = escalate_after;
	lane->alone = false;
	if (in_lane && escalate_after < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("escalate_after must not be negative"),
				 errdetail("escalate_after was %d.", escalate_after),
				 errhint("Pass NULL to run outside any lane, 0 to run every attempt alone.")));
	if (name != NULL)
	{
		if (VARSIZE_ANY_EXHDR(name) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("lane must not be empty"),
					 errhint("Pass NULL for the database's default lane.")));
		h = hash_bytes_extended((const unsigned char *) VARDATA_ANY(name),
								VARSIZE_ANY_EXHDR(name), 0);
		if (h == 0)
			h = 1;				/* 0 is the default lane */
	}
	SET_LOCKTAG_ADVISORY(lane->tag, MyDatabaseId, (uint32) (h >> 32),
						 (uint32) h, RETRY_LANE_TAG);
}

LOCKMODE
retry_lane_mode(const RetryLane *lane, int32 attempt)
{
	if (!lane->enabled)
		return NoLock;
	return attempt > lane->escalate_after || lane->alone ? ExclusiveLock : ShareLock;
}

void
retry_lane_failed(RetryLane *lane, int64 took_us, int64 slow_us)
{
	if (took_us >= slow_us)
		lane->alone = true;
}

/*
 * Wait for the lane, for at most wait_ms (or lock_timeout, if shorter).
 * LockTimeout is set for this one wait and restored, as guard.c does.
 */
void
retry_lane_wait(const RetryLane *lane, LOCKMODE mode, int wait_ms, bool *timed_out)
{
	int			saved = LockTimeout;
	volatile bool ours = wait_ms >= 0 && (LockTimeout == 0 || wait_ms < LockTimeout);

	*timed_out = false;
	if (ours)
		LockTimeout = Max(wait_ms, 1);
	PG_TRY();
	{
		(void) LockAcquire(&lane->tag, mode, false, false);
	}
	PG_CATCH();
	{
		LockTimeout = saved;
		*timed_out = ours && geterrcode() == ERRCODE_LOCK_NOT_AVAILABLE;
		PG_RE_THROW();
	}
	PG_END_TRY();
	LockTimeout = saved;
}
