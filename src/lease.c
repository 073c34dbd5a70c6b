/*-------------------------------------------------------------------------
 *
 * lease.c
 *		The one piece of the leases that needs C: the token floor of the
 *		current timeline.
 *
 * Leases themselves are rows of resilience.lease_state, written by the
 * PL/pgSQL functions in the install script with the caller's rights.  A
 * new grant's token is greatest(previous token + 1, timeline << 40), where
 * timeline is the WAL timeline this server inserts on.  Within a timeline
 * tokens grow by one per grant.  When a standby is promoted, it switches to
 * a timeline greater than every timeline before it, so its first grant of
 * any lease is larger than every token the old primary could have issued,
 * including grants that asynchronous replication never delivered: a stale
 * holder's token can never be issued again.  40 bits leave 2^40 grants per
 * lease per timeline and 2^23 timelines before a bigint overflows.
 *
 * A crash keeps the timeline, so the floor alone does not protect a token
 * whose grant was committed asynchronously (synchronous_commit = off) and
 * lost in the crash: the next grant would issue it again, to a second
 * holder.  Every transaction that reads the floor to grant with it (a lease
 * grant, a job claim) therefore commits synchronously (ForceSyncCommit; a
 * transaction that wrote nothing commits without a WAL record anyway).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "fmgr.h"

#include "lease.h"
#include "resilience.h"

RESILIENCE_FUNCTION(lease_token_floor);

/* bits of a token below the timeline */
#define LEASE_TOKEN_TIMELINE_SHIFT	40

/* lease_token_floor() RETURNS bigint: timeline << 40 */
Datum
lease_token_floor(PG_FUNCTION_ARGS)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot grant a lease during recovery"),
				 errhint("Leases are granted by the primary; connect to it.")));
	PG_RETURN_INT64(lease_token_floor_value());
}

/*
 * timeline << 40 of the timeline this primary inserts on (see lease.h);
 * the calling transaction will commit synchronously (see above).
 */
int64
lease_token_floor_value(void)
{
	TimeLineID	tli;

	ForceSyncCommit();

	tli = GetWALInsertionTimeLine();
	if (tli >= ((TimeLineID) 1 << (63 - LEASE_TOKEN_TIMELINE_SHIFT)))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("timeline %u is too large for lease tokens", tli)));
	return (int64) tli << LEASE_TOKEN_TIMELINE_SHIFT;
}
