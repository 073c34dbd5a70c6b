/*-------------------------------------------------------------------------
 *
 * retry.c
 *		Retryable transactions: PROCEDURE resilience.retry_transaction and
 *		FUNCTION resilience.retry_statement.
 *
 * retry_transaction runs each attempt as a transaction of its own, in a
 * nonatomic SPI connection (so it must be CALLed outside any transaction
 * block, and not from a function or from a procedure with SET or SECURITY
 * DEFINER: 2D000 otherwise).  The control flow is:
 *
 *		SPI_commit()						end the CALL's own transaction
 *		for each attempt:
 *			isolation level (XactIsoLevel)	before any snapshot is taken
 *			LockAcquire(lane)				shared, exclusive once escalated
 *			BeginInternalSubTransaction
 *			run the statements (sqlexec)	rows copied, detoasted
 *			build and check the result		jsonb, rendering, encoding
 *			ReleaseCurrentSubTransaction
 *			SPI_commit()					may fail (SSI, deferred checks)
 *			HOLD_CANCEL_INTERRUPTS			until the return
 *		on a statement error: RollbackAndReleaseCurrentSubTransaction, then
 *		SPI_rollback(); on a commit error: SPI_commit has already aborted and
 *		started a fresh transaction.  Then retry after a backoff sleep, or
 *		re-raise the error.
 *
 * Retry lanes (guaranteed progress, retry_lane.c): each attempt takes its
 * lane before its snapshot, shared or, once the call has escalated, alone.
 *
 * Nothing fails after the final commit: the result jsonb is built inside the
 * attempt (so size limits, output functions and cancels roll it back), and
 * so are the two steps the output still needs, rendering as text (checked
 * when it could exceed 1 GB) and conversion to the client's encoding.
 * From the commit to the return only memory work remains, with cancel
 * interrupts held off; a cancel that arrived meanwhile is left pending.  At
 * top level the transaction the final commit started is made READ
 * COMMITTED and given the portal's snapshot before the return, so the rest
 * of the CALL never waits for a safe snapshot the SQL's SET asked for.
 *
 * Why the internal subtransaction: an error thrown from inside a statement
 * leaves the snapshot stack, nested SPI connections (a PL function the SQL
 * called) and resource owners as they were at the throw.  SPI_rollback()
 * cannot cope with that (ForgetPortalSnapshots insists the active snapshots
 * are only the portal's, and _SPI_current may be a nested, atomic entry).
 * Rolling back the subtransaction unwinds all of it exactly as a PL/pgSQL
 * exception block does, leaving a clean top-level transaction to roll back.
 * Errors at COMMIT need no such care: PostgreSQL 15's _SPI_commit catches
 * them, aborts and starts a new transaction before re-throwing.
 *
 * The first SPI_commit ends the transaction the CALL arrived in.  That is
 * only harmless if the transaction holds nothing but the CALL, which is the
 * case except in an extended-protocol pipeline without Sync (PostgreSQL 15
 * runs such a CALL nonatomically in the same transaction as the statements
 * before it): if any statement completed before it in that transaction
 * (XACT_FLAGS_PIPELINING), or wrote anything (an XID is assigned), we refuse
 * with 2D000 rather than commit its work (a NOTIFY, a lock, a write) behind
 * the client's back.
 *
 * Invariants: the procedure never returns with a subtransaction open; a
 * failed attempt leaves nothing behind (its transaction is rolled back
 * before the sleep); memory is in a per-call context (a child of the context
 * the CALL runs in, which outlives our commits and is freed with the portal
 * on error), with a per-attempt context and one for the last attempt's
 * error, both reset at each attempt, so memory stays flat however many
 * attempts run.  A cancel (57014) is never retried, whatever retry_on says,
 * and the backoff sleep is a latch wait that services interrupts at once.
 *
 * retry_statement runs its SQL inside the caller's transaction, each attempt
 * in an internal subtransaction (a savepoint), and retries deadlocks and
 * lock timeouts there.  A 40001 under REPEATABLE READ or SERIALIZABLE is
 * never retried: the transaction snapshot is stale and only a new
 * transaction can succeed, so it is re-raised with a hint.
 *
 * Given-up errors are re-raised with their own SQLSTATE, message, detail
 * and hint; one CONTEXT line is added saying how many attempts ran and why
 * the procedure stopped.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "mb/pg_wchar.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/pquery.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "args.h"
#include "backoff.h"
#include "sqlexec.h"
#include "stats.h"
#include "retry_lane.h"
#include "subxact.h"

#include "resilience.h"

RESILIENCE_FUNCTION(retry_transaction);
RESILIENCE_FUNCTION(retry_statement);

/* What to retry and how long to wait; parsed from the SQL arguments. */
typedef struct RetryPolicy
{
	int32		max_attempts;
	int64		base_us;
	int64		cap_us;
	int64		timeout_us;		/* -1: no limit */
	int		   *codes;			/* SQLSTATEs to retry, MAKE_SQLSTATE form */
	int			ncodes;
} RetryPolicy;

/* Parse retry_on: every element a 5-character SQLSTATE of [0-9A-Z]. */
static void
retry_parse_codes(ArrayType *arr, RetryPolicy *policy)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	n = args_text_array(arr, "retry_on", &elems, &nulls);
	policy->codes = palloc(sizeof(int) * (n + 1));
	policy->ncodes = n;
	for (int i = 0; i < n; i++)
	{
		char	   *code;
		bool		ok;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("retry_on must not contain nulls")));
		code = TextDatumGetCString(elems[i]);
		ok = strlen(code) == 5;
		for (int j = 0; ok && j < 5; j++)
			ok = (code[j] >= '0' && code[j] <= '9') ||
				(code[j] >= 'A' && code[j] <= 'Z');
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid SQLSTATE code \"%s\" in retry_on", code),
					 errdetail("A SQLSTATE code is five characters, each a digit or an upper-case letter."),
					 errhint("Serialization failure is 40001, deadlock 40P01, lock timeout 55P03.")));
		policy->codes[i] = MAKE_SQLSTATE(code[0], code[1], code[2], code[3],
										 code[4]);
	}
}

/* Parse and validate max_attempts, delays, retry_on and timeout. */
static void
retry_parse_policy(FunctionCallInfo fcinfo, int max_arg, int base_arg,
				   int cap_arg, int codes_arg, int timeout_arg,
				   RetryPolicy *policy)
{
	args_not_null(fcinfo, max_arg, "max_attempts");
	args_not_null(fcinfo, base_arg, "base_delay");
	args_not_null(fcinfo, cap_arg, "max_delay");
	args_not_null(fcinfo, codes_arg, "retry_on");

	policy->max_attempts = PG_GETARG_INT32(max_arg);
	if (policy->max_attempts < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_attempts must be at least 1"),
				 errdetail("max_attempts was %d.", policy->max_attempts)));

	policy->base_us = args_interval_usec(PG_GETARG_INTERVAL_P(base_arg),
											"base_delay");
	policy->cap_us = args_interval_usec(PG_GETARG_INTERVAL_P(cap_arg),
										   "max_delay");
	backoff_check_args(1, policy->base_us, policy->cap_us,
					   "base_delay", "max_delay");

	retry_parse_codes(PG_GETARG_ARRAYTYPE_P(codes_arg), policy);

	policy->timeout_us = -1;
	if (timeout_arg >= 0 && !PG_ARGISNULL(timeout_arg))
	{
		policy->timeout_us =
			args_interval_usec(PG_GETARG_INTERVAL_P(timeout_arg), "timeout");
		if (policy->timeout_us < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("timeout must not be negative")));
	}
}

/*
 * Is this SQLSTATE one the caller asked to retry?  A cancel (57014: user
 * request or statement_timeout) never is, so that it always stops the call.
 */
static bool
retry_code_listed(const RetryPolicy *policy, int sqlerrcode)
{
	if (sqlerrcode == ERRCODE_QUERY_CANCELED)
		return false;
	for (int i = 0; i < policy->ncodes; i++)
		if (policy->codes[i] == sqlerrcode)
			return true;
	return false;
}

/*
 * Sleep delay_us in a latch wait, so that cancel and terminate interrupt it
 * at once (CHECK_FOR_INTERRUPTS after every wake-up).
 */
static void
retry_sleep(int64 delay_us)
{
	TimestampTz end;

	/* max_delay is any interval: never let the deadline wrap around */
	if (pg_add_s64_overflow(GetCurrentTimestamp(), delay_us, &end))
		end = PG_INT64_MAX;

	for (;;)
	{
		TimestampTz now;
		int64		left;

		CHECK_FOR_INTERRUPTS();
		now = GetCurrentTimestamp();
		left = end - now;
		if (left <= 0)
			break;
		if (left < 1000)
		{
			/* below the latch's millisecond resolution */
			pg_usleep(left);
			continue;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (long) Min(left / 1000, INT_MAX), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* Add one CONTEXT line to a saved error (in the error's memory context). */
static void
retry_add_context(ErrorData *edata, const char *line)
{
	if (edata->context == NULL || edata->context[0] == '\0')
		edata->context = pstrdup(line);
	else
		edata->context = psprintf("%s\n%s", edata->context, line);
}

/* Parse the isolation argument into an XactIsoLevel value. */
static int
retry_parse_isolation(const char *name)
{
	static const struct
	{
		const char *name;
		int			level;
	}			levels[] = {
		{"serializable", XACT_SERIALIZABLE},
		{"repeatable read", XACT_REPEATABLE_READ},
		{"read committed", XACT_READ_COMMITTED}
	};

	for (size_t i = 0; i < lengthof(levels); i++)
		if (pg_strcasecmp(name, levels[i].name) == 0)
			return levels[i].level;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized isolation level \"%s\"", name),
			 errhint("Valid levels are \"serializable\", \"repeatable read\" and \"read committed\".")));
	pg_unreachable();
}

/* Refuse an atomic calling context with 2D000 and a hint. */
static void
retry_check_nonatomic(FunctionCallInfo fcinfo)
{
	bool		nonatomic;

	nonatomic = fcinfo->context != NULL &&
		IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;
	if (!nonatomic || IsSubTransaction())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("resilience.retry_transaction cannot run inside a transaction block or an atomic context"),
				 errdetail("It commits each attempt itself, so it must be called where a procedure may COMMIT."),
				 errhint("CALL it on its own in autocommit mode: not inside BEGIN ... COMMIT, not from a function, a procedure with SET or SECURITY DEFINER, or an exception block.  Inside a transaction, use resilience.retry_statement().")));

	/*
	 * In the extended protocol, statements pipelined before the CALL without
	 * a Sync share its implicit transaction, yet the CALL is nonatomic.  Our
	 * first SPI_commit would commit their work even if the pipeline fails
	 * later: writes, but also what leaves no XID behind (NOTIFY, LISTEN,
	 * LOCK TABLE, advisory locks, SET LOCAL).  PostgreSQL marks such a
	 * transaction with XACT_FLAGS_PIPELINING once an Execute completes
	 * without a commit, as PreventInTransactionBlock checks; refuse then, so
	 * that their work rolls back with this error.  The XID test covers
	 * servers without that flag, and a DO block or procedure that wrote
	 * before its CALL (no pipeline there: the flag is not set).  What such
	 * a block did without writing (an advisory lock, NOTIFY, SET LOCAL) is
	 * committed with the first attempt, as by any COMMIT in it.
	 */
#ifdef XACT_FLAGS_PIPELINING
	if ((MyXactFlags & XACT_FLAGS_PIPELINING) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("resilience.retry_transaction cannot run after other statements in the same transaction"),
				 errdetail("Statements sent before the CALL in the same implicit transaction (a pipeline without Sync) would be committed by its first commit, even if the pipeline fails later."),
				 errhint("Send a Sync before the CALL (end the pipeline), or put those statements inside the retried SQL.")));
#endif
	if (TransactionIdIsValid(GetTopTransactionIdIfAny()))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("resilience.retry_transaction cannot run after other writes in the same transaction"),
				 errdetail("Statements before the CALL in the same transaction (earlier in the calling DO block or procedure, or pipelined without a Sync) have written data, which its first attempt would commit, or a retry roll back."),
				 errhint("COMMIT before the CALL (in a DO block or procedure), send a Sync before it (in a pipeline), or put those writes inside the retried SQL.")));
}

/*
 * Arguments of retry_transaction, in SQL order.  1.1 added lane and
 * escalate_after after the INOUT pair, so that 1.0's positional calls keep
 * their meaning; a 1.0 SQL definition (before ALTER EXTENSION UPDATE) passes
 * only the first ten, and the others take their defaults.
 */
typedef enum RetryTxArg
{
	RT_SQL,
	RT_PARAMS,
	RT_MAX_ATTEMPTS,
	RT_ISOLATION,
	RT_BASE_DELAY,
	RT_MAX_DELAY,
	RT_RETRY_ON,
	RT_TIMEOUT,
	RT_RESULT,
	RT_ATTEMPTS,
	RT_LANE,
	RT_ESCALATE_AFTER
} RetryTxArg;

/* a DataRow message's bytes besides its one column's text (with margin) */
#define RETRY_MESSAGE_OVERHEAD 64

/* One call of retry_transaction: what to run and where its memory lives. */
typedef struct RetryCall
{
	const char *sql;
	ArrayType  *params;
	RetryLane	lane;
	SqlexecResult res;			/* rows of the current attempt */
	MemoryContext callcxt;		/* arguments; deleted before the return */
	MemoryContext attemptcxt;	/* reset at each attempt */
	MemoryContext errcxt;		/* the last attempt's error; reset likewise */
	MemoryContext resultcxt;	/* where the result jsonb is built */
	Jsonb	   *result;			/* the attempt's result, until it is in tuple */
	int			lane_wait_ms;	/* what is left of timeout, or -1: none */
	bool		lane_timed_out; /* the attempt's lane wait hit lane_wait_ms */
	void	   *reserve;		/* memory the output will need (see below) */
	bool		to_client;		/* the result goes to the client, not to a
								 * PL/pgSQL caller's variables */
	TupleDesc	tupdesc;		/* of the INOUT pair */
	int32		attempt;		/* the current attempt's number */
	HeapTuple	tuple;			/* the INOUT pair, built before the commit */
} RetryCall;

/* Parse lane and escalate_after (absent under a 1.0 SQL definition). */
static void
retry_parse_lane(FunctionCallInfo fcinfo, RetryLane *lane)
{
	bool		in_lane = true;
	int32		escalate_after = RETRY_DEFAULT_ESCALATE_AFTER;
	text	   *name = NULL;

	if (PG_NARGS() > RT_ESCALATE_AFTER)
	{
		in_lane = !PG_ARGISNULL(RT_ESCALATE_AFTER);
		if (in_lane)
			escalate_after = PG_GETARG_INT32(RT_ESCALATE_AFTER);
	}
	if (PG_NARGS() > RT_LANE && !PG_ARGISNULL(RT_LANE))
		name = PG_GETARG_TEXT_PP(RT_LANE);
	retry_lane_init(lane, in_lane, escalate_after, name);
}

/* Where an attempt was when it failed, which says what to undo. */
typedef enum RetryPhase
{
	RETRY_PHASE_LANE,			/* waiting for the lane: top level only */
	RETRY_PHASE_RUN,			/* in the attempt's subtransaction */
	RETRY_PHASE_COMMIT			/* SPI_commit cleaned up itself */
} RetryPhase;

/*
 * After the final commit the result still has to be rendered as text
 * (jsonb's binary send form is the same text), converted to the client's
 * encoding and copied into the DataRow message, and each step can fail: the
 * text can exceed what one message holds (escapes make a string up to 6
 * times longer, a numeric's display scale up to about 2000 times), the
 * client's encoding may lack a character, and the memory may run out.  So
 * do them here, inside the attempt, where a failure rolls back: render and
 * convert (to the client encoding at the attempt's start and the current
 * one, which differ when the SQL ran SET LOCAL client_encoding, undone by
 * the commit), check the lengths, and reserve (call->reserve, freed before
 * the return) the memory the output will take after the commit (the
 * tuple is built before it): the text and the converted text with their
 * buffers' doubling.  A result below MaxAllocSize / 2048 in the server's own
 * encoding cannot fail but for memory, as any query's output, so the
 * common small result is neither rendered twice nor reserved for.
 */
static void
retry_check_output(RetryCall *call, Jsonb *jb, int client_before)
{
	int			encs[2] = {client_before, pg_get_client_encoding()};
	int			server = GetDatabaseEncoding();
	bool		convert = false;
	char	   *text;
	Size		textlen;
	Size		longest;
	Size		need;

	for (int i = 0; i < 2; i++)
		if (encs[i] != server && encs[i] != PG_SQL_ASCII && server != PG_SQL_ASCII)
			convert = true;
	if (!convert && VARSIZE(jb) <= MaxAllocSize / 2048)
		return;
	text = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	textlen = strlen(text);
	longest = textlen;
	for (int i = 0; i < 2; i++)
	{
		unsigned char *converted;

		if (encs[i] == server || encs[i] == PG_SQL_ASCII || server == PG_SQL_ASCII ||
			(i == 1 && encs[1] == encs[0]))
			continue;
		converted = pg_do_encoding_conversion((unsigned char *) text, textlen,
											  server, encs[i]);
		if ((char *) converted != text)
		{
			longest = Max(longest, strlen((char *) converted));
			pfree(converted);
		}
	}
	pfree(text);
	/* the DataRow message: a type byte, lengths and the text, in one buffer */
	if (longest > MaxAllocSize - RETRY_MESSAGE_OVERHEAD)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the result of retry_transaction is too large to send (%zu bytes)", longest),
				 errdetail("A result's text must fit in one protocol message of at most 1 GB."),
				 errhint("Return fewer or smaller rows, or write them to a table and read it after the CALL.")));
	/*
	 * Sent to the client: jsonb_out's text (its buffer starts at the jsonb's
	 * size and doubles), the converted text, and the DataRow message (its
	 * buffer doubles).  Into a PL/pgSQL caller's variable: the copy it takes.
	 */
	if (call->to_client)
		need = Min(2 * Max(textlen, (Size) VARSIZE(jb)), MaxAllocSize) +
			(longest > textlen ? longest : 0) + Min(2 * longest, MaxAllocSize);
	else
		need = VARSIZE(jb);
	call->reserve = MemoryContextAllocHuge(call->resultcxt, need);
}

/*
 * One attempt of retry_transaction: take the lane, run the statements in a
 * subtransaction of a fresh transaction, build the result, commit.  Returns
 * NULL on success, with cancel interrupts held (the caller resumes them
 * right before it returns) and call->tuple set.  On failure, the
 * rolled-back transaction has been replaced by a fresh one, and the error
 * comes back copied into call->errcxt.
 */
static ErrorData *
retry_transaction_attempt(RetryCall *call, LOCKMODE lanemode)
{
	volatile RetryPhase phase = RETRY_PHASE_LANE;
	int			client_before = pg_get_client_encoding();
	ErrorData  *volatile edata = NULL;

	PG_TRY();
	{
		ResourceOwner oldowner = CurrentResourceOwner;

		/*
		 * Before any snapshot is taken: an attempt that has the lane
		 * exclusively sees every wrapped transaction that ran before it as
		 * committed or rolled back, so none is concurrent with it.
		 */
		if (lanemode != NoLock)
			retry_lane_wait(&call->lane, lanemode, call->lane_wait_ms,
							&call->lane_timed_out);

		phase = RETRY_PHASE_RUN;
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(call->attemptcxt);
		sqlexec_run(sqlexec_prepare(call->sql, call->params), call->params,
					&call->res);

		/*
		 * Build and check the result now, as part of the attempt: an error
		 * here (size limits, an output function, a cancel) rolls it back,
		 * where after the commit it would report failure for a transaction
		 * that committed.
		 */
		MemoryContextSwitchTo(call->resultcxt);
		PushActiveSnapshot(GetTransactionSnapshot());
		call->result = sqlexec_result_jsonb(&call->res);
		if (call->result != NULL)
			retry_check_output(call, call->result, client_before);
		PopActiveSnapshot();
		/* the rows are in the result now, and the result in the tuple */
		sqlexec_result_reset(&call->res);
		{
			Datum		values[2];
			bool		nulls[2] = {false, false};

			if (call->result != NULL)
				values[0] = JsonbPGetDatum(call->result);
			else
				nulls[0] = true;
			values[1] = Int32GetDatum(call->attempt);
			call->tuple = heap_form_tuple(call->tupdesc, values, nulls);
			if (call->result != NULL)
				pfree(call->result);
			call->result = NULL;
		}

		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(call->attemptcxt);
		CurrentResourceOwner = oldowner;

		phase = RETRY_PHASE_COMMIT;
		SPI_commit();

		/* committed: from here to the return, nothing may report failure */
		HOLD_CANCEL_INTERRUPTS();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(call->errcxt);
		edata = CopyErrorData();
		FlushErrorState();

		/*
		 * A statement failed: unwind the attempt's subtransaction, then roll
		 * back the transaction.  A failed COMMIT was rolled back by SPI_commit
		 * itself, which left a fresh transaction running.
		 */
		if (phase == RETRY_PHASE_RUN)
			RollbackAndReleaseCurrentSubTransaction();
		if (phase != RETRY_PHASE_COMMIT)
		{
			MemoryContextSwitchTo(call->errcxt);
			SPI_rollback();
		}
		if (call->result != NULL)
		{
			pfree(call->result);
			call->result = NULL;
		}
		if (call->reserve != NULL)
		{
			pfree(call->reserve);
			call->reserve = NULL;
		}
		if (call->tuple != NULL)
		{
			heap_freetuple(call->tuple);
			call->tuple = NULL;
		}
	}
	PG_END_TRY();
	MemoryContextSwitchTo(call->errcxt);
	return edata;
}

/* What one attempt of retry_statement runs in its subtransaction. */
typedef struct RetryStatementWork
{
	const char *sql;
	ArrayType  *params;
	SqlexecResult *res;
} RetryStatementWork;

static void
retry_statement_work(void *arg)
{
	RetryStatementWork *w = (RetryStatementWork *) arg;

	sqlexec_run(sqlexec_prepare(w->sql, w->params), w->params, w->res);
}

/*
 * One attempt of retry_statement: run the statements in a subtransaction of
 * the caller's transaction, with allocations in attemptcxt.  Returns NULL on
 * success, else the error copied into errcxt (the subtransaction rolled
 * back); errcxt is current on return.
 */
static ErrorData *
retry_statement_attempt(const char *sql, ArrayType *params,
						SqlexecResult *res, MemoryContext attemptcxt,
						MemoryContext errcxt)
{
	RetryStatementWork w = {sql, params, res};
	ErrorData  *edata;

	MemoryContextSwitchTo(attemptcxt);
	edata = subxact_run(retry_statement_work, &w, errcxt);
	MemoryContextSwitchTo(errcxt);
	return edata;
}

/*
 * CALL resilience.retry_transaction(sql, params, max_attempts, isolation,
 *		base_delay, max_delay, retry_on, timeout, INOUT result, INOUT attempts,
 *		lane, escalate_after)
 */
Datum
retry_transaction(PG_FUNCTION_ARGS)
{
	MemoryContext entrycxt = CurrentMemoryContext;
	RetryCall	call;
	RetryPolicy policy;
	int			isolation;
	ErrorData  *lasterr = NULL;
	LOCKMODE	mode;
	TimestampTz attempt_start;
	TimestampTz started;
	int32		attempt;
	TupleDesc	tupdesc;
	HeapTuple	tuple;

	retry_check_nonatomic(fcinfo);

	/* everything that can fail on its own, before the first commit */
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	/*
	 * Copy (and detoast) every argument into our own context before the
	 * first commit: an argument may be a TOAST pointer.  The result is built
	 * in the entry context, which outlives our commits.
	 */
	memset(&call, 0, sizeof(call));
	call.resultcxt = entrycxt;
	call.tupdesc = tupdesc;
	/*
	 * A PL/pgSQL caller (a DO block, a procedure) is in a nonatomic SPI
	 * connection of its own, and takes the result into its variables; a
	 * top-level CALL sends it to the client.
	 */
	call.to_client = !SPI_inside_nonatomic_context();
	call.callcxt = AllocSetContextCreate(entrycxt, "resilience retry_transaction",
										 ALLOCSET_DEFAULT_SIZES);
	call.attemptcxt = AllocSetContextCreate(call.callcxt, "resilience retry attempt",
											ALLOCSET_DEFAULT_SIZES);
	call.errcxt = AllocSetContextCreate(call.callcxt, "resilience retry error",
										ALLOCSET_SMALL_SIZES);
	MemoryContextSwitchTo(call.callcxt);
	args_not_null(fcinfo, RT_SQL, "sql");
	args_not_null(fcinfo, RT_ISOLATION, "isolation");
	call.sql = text_to_cstring(PG_GETARG_TEXT_PP(RT_SQL));
	if (!PG_ARGISNULL(RT_PARAMS))
		call.params = DatumGetArrayTypePCopy(PG_GETARG_DATUM(RT_PARAMS));
	(void) sqlexec_param_count(call.params);	/* bad params: before any attempt */
	isolation = retry_parse_isolation(text_to_cstring(PG_GETARG_TEXT_PP(RT_ISOLATION)));
	retry_parse_policy(fcinfo, RT_MAX_ATTEMPTS, RT_BASE_DELAY, RT_MAX_DELAY,
					   RT_RETRY_ON, RT_TIMEOUT, &policy);
	retry_parse_lane(fcinfo, &call.lane);
	sqlexec_result_init(&call.res, call.callcxt);

	if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect_ext failed");

	/*
	 * The CALL's own transaction has taken a snapshot already, so its
	 * isolation level is fixed: end it, and run every attempt in a
	 * transaction of our own.
	 */
	SPI_commit();
	started = GetCurrentTimestamp();
	stats_retry_call(STATS_RETRY_TRANSACTION);

	for (attempt = 1;; attempt++)
	{
		int64		delay;
		const char *why;

		/* the previous attempt's error and allocations are done with */
		MemoryContextReset(call.errcxt);
		MemoryContextReset(call.attemptcxt);
		MemoryContextSwitchTo(call.attemptcxt);

		/*
		 * SET TRANSACTION ISOLATION LEVEL, as RestoreTransactionCharacteristics
		 * does it for COMMIT AND CHAIN: the transaction has just started and
		 * taken no snapshot, and the level lasts until its end.  Through the
		 * GUC machinery this cost a stack entry and its undo per attempt.
		 * (SERIALIZABLE on a hot standby is still refused, when the snapshot
		 * is taken.)
		 */
		Assert(!FirstSnapshotSet);
		XactIsoLevel = isolation;

		/* the lane is waited for within what is left of timeout */
		call.lane_wait_ms = -1;
		call.lane_timed_out = false;
		if (policy.timeout_us >= 0)
		{
			int64		left = policy.timeout_us - (GetCurrentTimestamp() - started);

			call.lane_wait_ms = (int) Min(Max((left + 999) / 1000, 1), (int64) INT_MAX);
		}
		call.attempt = attempt;
		mode = retry_lane_mode(&call.lane, attempt);
		attempt_start = GetCurrentTimestamp();
		lasterr = retry_transaction_attempt(&call, mode);
		if (lasterr == NULL)
			break;
		retry_lane_failed(&call.lane, GetCurrentTimestamp() - attempt_start,
						  policy.base_us);

		sqlexec_result_reset(&call.res);
		if (call.lane_timed_out)
			why = psprintf("resilience.retry_transaction: gave up after %d attempt%s (timeout, waiting for the retry lane)",
						   attempt - 1, attempt == 2 ? "" : "s");
		else if (lasterr->sqlerrcode == ERRCODE_QUERY_CANCELED)
			why = psprintf("resilience.retry_transaction: attempt %d of %d was canceled",
						   attempt, policy.max_attempts);
		else if (!retry_code_listed(&policy, lasterr->sqlerrcode))
			why = psprintf("resilience.retry_transaction: attempt %d of %d failed with SQLSTATE %s, which is not in retry_on",
						   attempt, policy.max_attempts,
						   unpack_sql_state(lasterr->sqlerrcode));
		else if (attempt >= policy.max_attempts)
			why = psprintf("resilience.retry_transaction: gave up after %d attempt%s (max_attempts)",
						   attempt, attempt == 1 ? "" : "s");
		else
		{
			/*
			 * The first attempt alone in the lane waits for it instead of
			 * sleeping: that wait is the backoff, and it queues the call
			 * ahead of every attempt that starts later.
			 */
			if (mode == ShareLock &&
				retry_lane_mode(&call.lane, attempt + 1) == ExclusiveLock)
				delay = 0;
			else
				delay = backoff_delay_usec(attempt, policy.base_us, policy.cap_us,
										   BACKOFF_JITTER_FULL);
			if (policy.timeout_us >= 0 &&
				delay > policy.timeout_us - (GetCurrentTimestamp() - started))
				why = psprintf("resilience.retry_transaction: gave up after %d attempt%s (timeout)",
							   attempt, attempt == 1 ? "" : "s");
			else
			{
				ereport(DEBUG1,
						(errmsg_internal("resilience.retry_transaction: attempt %d failed with SQLSTATE %s, retrying in " INT64_FORMAT " us",
										 attempt, unpack_sql_state(lasterr->sqlerrcode), delay)));
				if (delay > 0)
				{
					retry_sleep(delay);
					stats_retry_slept(STATS_RETRY_TRANSACTION, delay);
				}
				continue;
			}
		}
		stats_retry_gave_up(STATS_RETRY_TRANSACTION, attempt, lasterr->sqlerrcode);
		retry_add_context(lasterr, why);
		ReThrowError(lasterr);
	}
	stats_retry_commit(STATS_RETRY_TRANSACTION, attempt,
					   GetCurrentTimestamp() - started);

	/*
	 * The final commit is done and cancel interrupts are held: only memory
	 * work remains before the return, and no cancel or statement_timeout can
	 * turn it into an error.  The result was built before the commit.
	 */
	SPI_finish();
	MemoryContextSwitchTo(entrycxt);
	MemoryContextDelete(call.callcxt);
	/* what was reserved for the output is the output's to take now */
	if (call.reserve != NULL)
		pfree(call.reserve);
	tuple = call.tuple;

	/*
	 * The rest of the CALL runs in the transaction SPI_commit started, under
	 * the session's defaults, which the SQL may have SET (not SET LOCAL):
	 * ExecuteCallStmt takes a snapshot for the output row, and a SERIALIZABLE
	 * READ ONLY DEFERRABLE one waits for a safe snapshot, taking cancels,
	 * after our commit (on a hot standby, SERIALIZABLE raises).  At top
	 * level nothing else runs in this transaction: make it READ COMMITTED
	 * and take the portal's snapshot now, with cancels still held.  A
	 * PL/pgSQL caller's next statements keep the session's level.
	 */
	if (call.to_client)
	{
		Assert(!FirstSnapshotSet);
		XactIsoLevel = XACT_READ_COMMITTED;
		XactDeferrable = false;
		EnsurePortalSnapshotExists();
	}
	RESUME_CANCEL_INTERRUPTS();
	PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}

/*
 * resilience.retry_statement(sql, params, max_attempts, base_delay,
 *		max_delay, retry_on) RETURNS jsonb
 */
Datum
retry_statement(PG_FUNCTION_ARGS)
{
	MemoryContext fncxt = CurrentMemoryContext;
	MemoryContext attemptcxt;
	MemoryContext errcxt;
	RetryPolicy policy;
	char	   *sql;
	ArrayType  *params = NULL;
	SqlexecResult res;
	Jsonb	   *result;
	TimestampTz started;
	int32		attempt;

	args_not_null(fcinfo, 0, "sql");
	sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!PG_ARGISNULL(1))
		params = PG_GETARG_ARRAYTYPE_P(1);
	(void) sqlexec_param_count(params); /* bad params: before any attempt */
	retry_parse_policy(fcinfo, 2, 3, 4, 5, -1, &policy);
	sqlexec_result_init(&res, fncxt);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	started = GetCurrentTimestamp();
	stats_retry_call(STATS_RETRY_STATEMENT);
	/* per attempt, so that memory stays flat however many attempts run */
	attemptcxt = AllocSetContextCreate(CurrentMemoryContext,
									   "resilience retry attempt",
									   ALLOCSET_DEFAULT_SIZES);
	errcxt = AllocSetContextCreate(CurrentMemoryContext,
								   "resilience retry error",
								   ALLOCSET_SMALL_SIZES);

	for (attempt = 1;; attempt++)
	{
		ErrorData  *edata;
		int64		delay;

		MemoryContextReset(errcxt);
		MemoryContextReset(attemptcxt);
		edata = retry_statement_attempt(sql, params, &res,
										attemptcxt, errcxt);
		if (edata == NULL)
			break;

		sqlexec_result_reset(&res);
		/* every branch below but the last gives up */
		if ((edata->sqlerrcode == ERRCODE_T_R_SERIALIZATION_FAILURE &&
			 IsolationUsesXactSnapshot()) ||
			!retry_code_listed(&policy, edata->sqlerrcode) ||
			attempt >= policy.max_attempts)
			stats_retry_gave_up(STATS_RETRY_STATEMENT, attempt, edata->sqlerrcode);
		if (edata->sqlerrcode == ERRCODE_T_R_SERIALIZATION_FAILURE &&
			IsolationUsesXactSnapshot())
		{
			/* a savepoint cannot cure a stale snapshot */
			edata->hint = pstrdup("Retry the whole transaction: in REPEATABLE READ or SERIALIZABLE only a new transaction can succeed; run it with CALL resilience.retry_transaction(...).");
			retry_add_context(edata, psprintf("resilience.retry_statement: attempt %d: serialization failures are not retried inside a REPEATABLE READ or SERIALIZABLE transaction",
											  attempt));
			ReThrowError(edata);
		}
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		{
			retry_add_context(edata, psprintf("resilience.retry_statement: attempt %d of %d was canceled",
											  attempt, policy.max_attempts));
			ReThrowError(edata);
		}
		if (!retry_code_listed(&policy, edata->sqlerrcode))
		{
			retry_add_context(edata, psprintf("resilience.retry_statement: attempt %d of %d failed with SQLSTATE %s, which is not in retry_on",
											  attempt, policy.max_attempts,
											  unpack_sql_state(edata->sqlerrcode)));
			ReThrowError(edata);
		}
		if (attempt >= policy.max_attempts)
		{
			retry_add_context(edata, psprintf("resilience.retry_statement: gave up after %d attempt%s (max_attempts)",
											  attempt, attempt == 1 ? "" : "s"));
			ReThrowError(edata);
		}
		delay = backoff_delay_usec(attempt, policy.base_us, policy.cap_us,
								   BACKOFF_JITTER_FULL);
		ereport(DEBUG1,
				(errmsg_internal("resilience.retry_statement: attempt %d failed with SQLSTATE %s, retrying in " INT64_FORMAT " us",
								 attempt, unpack_sql_state(edata->sqlerrcode), delay)));
		retry_sleep(delay);
		stats_retry_slept(STATS_RETRY_STATEMENT, delay);
	}
	stats_retry_commit(STATS_RETRY_STATEMENT, attempt,
					   GetCurrentTimestamp() - started);

	SPI_finish();
	result = sqlexec_result_jsonb(&res);
	sqlexec_result_free(&res);
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(result);
}
