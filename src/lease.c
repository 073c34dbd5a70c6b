/*-------------------------------------------------------------------------
 *
 * lease.c
 *		The pieces of the leases that need C: the token floor of the
 *		current timeline, and the token of a new grant.
 *
 * Leases themselves are rows of resilience.lease_state, written by the
 * PL/pgSQL functions in the install script with the caller's rights.  A
 * new grant's token is greatest(previous token + 1, (timeline << 40) + n),
 * where timeline is the WAL timeline this server inserts on and n the next
 * value of the sequence resilience.lease_token_seq (lease_next_token()).
 *
 * Invariants:
 *  - A token handed out is never handed out again on this timeline, even if
 *    the grant's transaction rolls back or its commit is lost in a crash:
 *    n comes from a sequence, which a rollback does not give back, and
 *    lease_next_token() flushes the WAL up to the record of the sequence's
 *    advance (written once per 32 values, by whichever backend drew first)
 *    before it returns, so recovery cannot move the sequence back past a
 *    value handed out.  The grant's own commit need not be synchronous: a
 *    lost grant's token stays used.  This needs the sequence as the install
 *    made it (lease_check_sequence() refuses any other) and a previous token
 *    below the floor plus n, which the update from 1.0 ensures on the
 *    timeline it runs on (after a pg_upgrade, older tokens can be higher:
 *    then previous + 1, which a rollback can give out again).
 *  - When a standby is promoted, it switches to a timeline greater than
 *    every timeline before it, so its first grant of any lease is larger
 *    than every token the old primary could have issued, including grants
 *    that asynchronous replication never delivered.  This holds while n
 *    stays below 2^40 (lease_next_token() refuses more): 2^40 - 1 grants
 *    per timeline, of all leases together, and 2^23 timelines before a
 *    bigint overflows.
 *  - Only a role that may grant leases (UPDATE on lease_state, on the table
 *    or on a column) may draw a token, so no other role can use them up.
 *  - Job claims (queue_claim.c) take the floor alone, with tokens per job
 *    of previous + 1; a claim commits on its own, synchronously
 *    (ForceSyncCommit in lease_token_floor_value()).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/pg_class.h"
#include "catalog/pg_sequence.h"
#include "commands/sequence.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "args.h"
#include "extension.h"
#include "lease.h"
#include "resilience.h"

RESILIENCE_FUNCTION(lease_token_floor);
RESILIENCE_FUNCTION(lease_next_token);

/* bits of a token below the timeline */
#define LEASE_TOKEN_TIMELINE_SHIFT	40

static int64 lease_timeline_floor(void);
static void lease_check_sequence(Relation rel);
static void lease_flush_sequence(Relation rel);

/* lease_token_floor() RETURNS bigint: timeline << 40 */
Datum
lease_token_floor(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(lease_token_floor_value());
}

/*
 * timeline << 40 of the timeline this primary inserts on (see lease.h);
 * the calling transaction will commit synchronously (see above).
 */
int64
lease_token_floor_value(void)
{
	int64		floor = lease_timeline_floor();

	ForceSyncCommit();
	return floor;
}

/*
 * lease_next_token(previous bigint) RETURNS bigint: the token of a new grant
 * of a lease whose last token was previous (0: the lease has no row), as the
 * file header says.  Called by lease_acquire() only when it grants.
 */
Datum
lease_next_token(PG_FUNCTION_ARGS)
{
	int64		previous;
	int64		floor;
	Oid			state;
	Oid			seq;
	Relation	rel;
	int64		n;
	int64		token;

	args_not_null(fcinfo, 0, "previous");
	previous = PG_GETARG_INT64(0);
	floor = lease_timeline_floor();

	/*
	 * No privilege on the sequence is asked of the caller, only the right to
	 * grant leases, UPDATE on lease_state (which lease_acquire's FOR UPDATE
	 * needs as well): another role could otherwise use up the timeline's
	 * tokens.  The sequence would have to be granted along with the table.
	 */
	state = resilience_member_table("lease_state", NULL);
	if (!resilience_may_lock_rows(state))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to draw a lease token"),
				 errdetail("Drawing a token takes UPDATE on resilience.lease_state."),
				 errhint("Grant the roles that take leases SELECT, INSERT, UPDATE on resilience.lease_state.")));
	seq = resilience_member_sequence("lease_token_seq");
	/*
	 * nextval()'s own lock, taken first and kept to the end of the
	 * transaction: ALTER SEQUENCE conflicts with it, so the sequence stays as
	 * checked, and a refused sequence gives nothing.
	 */
	rel = relation_open(seq, RowExclusiveLock);
	lease_check_sequence(rel);
	n = nextval_internal(seq, false);
	lease_flush_sequence(rel);
	relation_close(rel, NoLock);
	if (n < 1 || n >= ((int64) 1 << LEASE_TOKEN_TIMELINE_SHIFT))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("lease tokens of timeline %u are used up",
						(unsigned) (floor >> LEASE_TOKEN_TIMELINE_SHIFT)),
				 errdetail("resilience.lease_token_seq returned " INT64_FORMAT
						   ", outside 1 .. 2^40 - 1.", n),
				 errhint("A promoted standby starts a new timeline, with tokens of its own.")));
	token = floor + n;
	if (previous >= token)
	{
		/* a previous token from a later timeline (say, before a pg_upgrade) */
		if (previous == PG_INT64_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("lease token " INT64_FORMAT " is the largest there can be",
							previous)));
		token = previous + 1;
	}
	PG_RETURN_INT64(token);
}

/* timeline << 40 of the timeline this primary inserts on; ERROR on a standby */
static int64
lease_timeline_floor(void)
{
	TimeLineID	tli;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot grant a lease during recovery"),
				 errhint("Leases are granted by the primary; connect to it.")));
	tli = GetWALInsertionTimeLine();
	if (tli >= ((TimeLineID) 1 << (63 - LEASE_TOKEN_TIMELINE_SHIFT)))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("timeline %u is too large for lease tokens", tli)));
	return (int64) tli << LEASE_TOKEN_TIMELINE_SHIFT;
}

/*
 * The file header's reasoning needs the sequence as the install script made
 * it: each nextval() one more than the last one of any backend (INCREMENT 1,
 * CACHE 1: with a cache, a backend draws from a block of its own and a later
 * grant can draw a smaller value), never going round (NO CYCLE), and logged
 * (an unlogged sequence starts again after a crash).  Only its owner, a
 * superuser, can change these.
 */
static void
lease_check_sequence(Relation rel)
{
	HeapTuple	tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(RelationGetRelid(rel)));
	Form_pg_sequence form;
	bool		ok;
	bool		refilled;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for sequence %u", RelationGetRelid(rel));
	form = (Form_pg_sequence) GETSTRUCT(tup);
	ok = form->seqincrement == 1 && form->seqcache == 1 && !form->seqcycle;
	ReleaseSysCache(tup);

	/*
	 * Storage an ALTER SEQUENCE of this transaction wrote (a new file) would
	 * go back with a rollback, values and all, while the tokens granted
	 * before it stay.  A sequence made in this transaction (CREATE
	 * EXTENSION) is not refused: a rollback takes it away with the leases
	 * granted from it.
	 */
	ok = ok && rel->rd_rel->relpersistence == RELPERSISTENCE_PERMANENT;
#if PG_VERSION_NUM >= 160000
	refilled = rel->rd_firstRelfilelocatorSubid != InvalidSubTransactionId;
#else
	refilled = rel->rd_firstRelfilenodeSubid != InvalidSubTransactionId;
#endif
	refilled = refilled && rel->rd_createSubid == InvalidSubTransactionId;
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sequence resilience.lease_token_seq was altered"),
				 errdetail("Lease tokens need it logged, with INCREMENT 1, CACHE 1 and NO CYCLE."),
				 errhint("ALTER SEQUENCE resilience.lease_token_seq INCREMENT 1 CACHE 1 NO CYCLE; ALTER SEQUENCE resilience.lease_token_seq SET LOGGED;")));
	if (refilled)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sequence resilience.lease_token_seq was altered in this transaction"),
				 errdetail("Its values would go back if the transaction rolled back."),
				 errhint("Commit the ALTER SEQUENCE, then take the lease in another transaction.")));
}

/*
 * Flush the WAL up to the last record that advanced sequence rel, from which
 * a value was just drawn.  That record is not always this backend's own: a
 * nextval() that finds values logged ahead writes none, and the record that
 * logged them may be another backend's, inserted but not yet flushed (that
 * backend between its insert and its flush, or a nextval() outside
 * lease_next_token()).  Flushing to the page's LSN covers both cases, and
 * costs nothing when the WAL is already flushed that far.
 */
static void
lease_flush_sequence(Relation rel)
{
	Buffer		buf = ReadBuffer(rel, 0);
	XLogRecPtr	lsn;

	/*
	 * lease_check_sequence() saw it permanent, and refilled by no ALTER of
	 * this transaction; not logged, then, only when CREATE EXTENSION ran in
	 * this transaction under wal_level = minimal, which a rollback undoes
	 * whole.
	 */
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	lsn = PageGetLSN(BufferGetPage(buf));
	UnlockReleaseBuffer(buf);
	if (RelationNeedsWAL(rel))
		XLogFlush(lsn);
}
