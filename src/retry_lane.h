/*-------------------------------------------------------------------------
 *
 * retry_lane.h
 *		Retry lanes: the lock that lets a retry_transaction call that keeps
 *		losing run alone among the calls that share its lane.
 *
 * Invariants:
 *  - every attempt of a call in a lane holds the lane's lock for its
 *    transaction, taken before its snapshot: ShareLock, or ExclusiveLock
 *    once the call has escalated (retry_lane_mode);
 *  - a call escalates after escalate_after failed attempts, or at once
 *    after a failed attempt that took the slow threshold or longer
 *    (retry_lane_failed); an escalated call stays escalated;
 *  - retry_lane_wait never waits past wait_ms, and leaves LockTimeout as
 *    it found it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_RETRY_LANE_H
#define RESILIENCE_RETRY_LANE_H

#include "postgres.h"

#include "storage/lock.h"

/* escalate_after's default: the attempt after the sixth failure is alone */
#define RETRY_DEFAULT_ESCALATE_AFTER 6

/* The retry lane of a call: see docs/retry.md, "Guaranteed progress". */
typedef struct RetryLane
{
	bool		enabled;		/* false: escalate_after => NULL, no lock */
	int32		escalate_after; /* failed attempts before going alone */
	bool		alone;			/* a slow failure: every later attempt alone */
	LOCKTAG		tag;
} RetryLane;

/*
 * A call's lane: name NULL is the database's default lane; in_lane false
 * (escalate_after => NULL) runs outside any lane.  22023 for a negative
 * escalate_after or an empty name.
 */
extern void retry_lane_init(RetryLane *lane, bool in_lane,
							int32 escalate_after, text *name);

/* The lock attempt number attempt takes: NoLock, ShareLock or ExclusiveLock. */
extern LOCKMODE retry_lane_mode(const RetryLane *lane, int32 attempt);

/* An attempt failed after took_us: slow_us or more sends the call alone. */
extern void retry_lane_failed(RetryLane *lane, int64 took_us, int64 slow_us);

/*
 * Take the lane in mode, waiting at most wait_ms (-1: as lock_timeout
 * says).  On an error, *timed_out says whether it was that wait's own limit.
 */
extern void retry_lane_wait(const RetryLane *lane, LOCKMODE mode, int wait_ms,
							bool *timed_out);

#endif							/* RESILIENCE_RETRY_LANE_H */
