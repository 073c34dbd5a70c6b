/*-------------------------------------------------------------------------
 *
 * queue_admin.c
 *		The job queue's operators' functions: create_queue, drop_queue,
 *		cancel, redrive and purge_jobs.  The rules they keep are queue.c's,
 *		as are enqueue's; claim is queue_claim.c's, complete, fail and
 *		extend queue_finish.c's.  All change jobs only through
 *		queue_plan.c's statements and take group locks in queue.c's one
 *		order (sorted keys), so the invariants queue.c's header states
 *		hold across them.
 *
 * Redrive and dedup keys.  The unique index job_state_dedup allows one
 * unfinished job per (queue, dedup_key), whatever the interleaving.  A
 * redrive leaves dead the jobs whose key is held (and, of dead jobs sharing
 * a free key, all but the oldest), and says so in a NOTICE; its UPDATE runs
 * in a subtransaction, tried again with a new snapshot when a transaction
 * the first one did not see took such a key (under a transaction snapshot:
 * 40001, nothing redriven).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "args.h"
#include "clock.h"
#include "queue_int.h"
#include "resilience.h"
#include "subxact.h"

RESILIENCE_FUNCTION(queue_create);
RESILIENCE_FUNCTION(queue_drop);
RESILIENCE_FUNCTION(queue_cancel);
RESILIENCE_FUNCTION(queue_redrive);
RESILIENCE_FUNCTION(queue_purge);

/*-------------------------------------------------------------------------
 * Queues
 *-------------------------------------------------------------------------
 */

/* create_queue(queue text) RETURNS boolean */
Datum
queue_create(PG_FUNCTION_ARGS)
{
	char	   *queue = queue_name_arg(fcinfo, 0);
	Datum		v[2];
	bool		created;

	queue_check_primary("create a queue");
	queue_connect();
	v[0] = CStringGetTextDatum(queue);
	v[1] = TimestampTzGetDatum(clock_now());
	created = queue_exec(QP_QUEUE_CREATE, v, NULL, SPI_OK_INSERT_RETURNING) > 0;
	SPI_finish();
	PG_RETURN_BOOL(created);
}

/* drop_queue(queue text) RETURNS boolean */
Datum
queue_drop(PG_FUNCTION_ARGS)
{
	char	   *queue = queue_name_arg(fcinfo, 0);
	Datum		v[1];
	bool		dropped;

	queue_check_primary("drop a queue");
	queue_connect();
	v[0] = CStringGetTextDatum(queue);
	/* see queue.c's header, "Queues": writers first, then the row, then the jobs */
	queue_exec(QP_QUEUE_LOCK_JOBS, NULL, NULL, SPI_OK_UTILITY);
	dropped = queue_exec(QP_QUEUE_DROP, v, NULL, SPI_OK_DELETE_RETURNING) > 0;
	if (dropped)
		queue_exec(QP_QUEUE_DROP_JOBS, v, NULL, SPI_OK_DELETE);
	SPI_finish();
	PG_RETURN_BOOL(dropped);
}

/*-------------------------------------------------------------------------
 * Operators' functions
 *-------------------------------------------------------------------------
 */

/* cancel(id) RETURNS boolean */
Datum
queue_cancel(PG_FUNCTION_ARGS)
{
	int64		id;
	QueueJobRow row;
	Datum		v[2];
	bool		cancelled;

	args_not_null(fcinfo, 0, "id");
	id = PG_GETARG_INT64(0);
	queue_check_primary("cancel a job");
	queue_connect();
	queue_read_job(QP_JOB_READ, id, &row);
	if (!row.found)
	{
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	if (row.group_key != NULL)
		queue_lock_group(row.queue, row.group_key);
	v[0] = Int64GetDatum(id);
	v[1] = TimestampTzGetDatum(clock_now());
	cancelled = queue_exec(QP_CANCEL, v, NULL, SPI_OK_UPDATE_RETURNING) > 0;
	if (cancelled && row.group_key != NULL)
		queue_promote(row.queue, row.group_key);
	SPI_finish();
	PG_RETURN_BOOL(cancelled);
}

/*
 * One try of the redrive statement, in a subtransaction; false if it
 * failed with a unique violation, rolled back.  The statement leaves out
 * dead jobs whose dedup_key an unfinished job holds as its snapshot sees
 * them, but a transaction it does not see (an enqueue, another redrive) may
 * have taken such a key: then the index job_state_dedup makes the update
 * wait for it and, if it commits, fail.  The unique indexes are the only
 * ones a redrive can violate (the primary key keeps its ids, and a grouped
 * job becomes blocked, not a head), so a 23505 here is always that one.
 */
typedef struct QueueRedriveTry
{
	Datum	   *v;
	const char *n;
	uint64		moved;
} QueueRedriveTry;

static void
queue_redrive_work(void *arg)
{
	QueueRedriveTry *t = (QueueRedriveTry *) arg;

	t->moved = queue_exec(QP_REDRIVE, t->v, t->n, SPI_OK_UPDATE);
}

static bool
queue_redrive_try(Datum *v, const char *n, uint64 *moved)
{
	QueueRedriveTry t = {v, n, 0};

	if (!subxact_run_catching(queue_redrive_work, &t, ERRCODE_UNIQUE_VIOLATION))
		return false;
	*moved = t.moved;
	return true;
}

/* After a redrive: a NOTICE for the dead jobs left because of their key. */
static void
queue_redrive_report(const char *queue, Datum *v, const char *n)
{
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	int64		dead_id;
	int64		holder;
	int64		count;
	char	   *key;

	if (queue_exec(QP_REDRIVE_SKIPPED, v, n, SPI_OK_SELECT) == 0)
		return;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	dead_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	key = SPI_getvalue(tup, desc, 2);
	holder = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	count = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	ereport(NOTICE,
			(errmsg_plural("skipped %lld dead job of queue \"%s\" whose dedup_key is held by an unfinished job",
						   "skipped %lld dead jobs of queue \"%s\" whose dedup_key is held by an unfinished job",
						   (unsigned long) count, (long long) count, queue),
			 count == 1 ?
			 errdetail("Job %lld has dedup_key \"%s\", which job %lld holds.",
					   (long long) dead_id, key, (long long) holder) :
			 errdetail("The first, job %lld, has dedup_key \"%s\", which job %lld holds.",
					   (long long) dead_id, key, (long long) holder),
			 errhint("A skipped job stays dead; redrive it once the job holding its key has finished, or purge it.")));
}

/* redrive(queue, ids) RETURNS bigint */
Datum
queue_redrive(PG_FUNCTION_ARGS)
{
	char	   *queue = queue_name_arg(fcinfo, 0);
	Datum		v[4];
	char		n[4] = {' ', ' ', ' ', ' '};
	uint64		ngroups;
	char	  **groups;
	Datum	   *gdatums;
	uint64	   *keys;
	uint64		moved;

	if (!PG_ARGISNULL(1))
	{
		ArrayType  *ids = PG_GETARG_ARRAYTYPE_P(1);

		if (ARR_NDIM(ids) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("ids must be a one-dimensional array")));
		v[1] = PointerGetDatum(ids);
	}
	else
	{
		v[1] = (Datum) 0;
		n[1] = 'n';
	}
	queue_check_primary("redrive jobs");
	queue_connect();
	queue_require(queue);
	v[0] = CStringGetTextDatum(queue);

	/* lock the groups first, in one order */
	ngroups = queue_exec(QP_REDRIVE_GROUPS, v, n, SPI_OK_SELECT);
	groups = palloc(sizeof(char *) * (ngroups + 1));
	gdatums = palloc(sizeof(Datum) * (ngroups + 1));
	keys = palloc(sizeof(uint64) * (ngroups + 1));
	for (uint64 i = 0; i < ngroups; i++)
	{
		groups[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		gdatums[i] = CStringGetTextDatum(groups[i]);
		keys[i] = queue_group_key(queue, groups[i]);
	}
	queue_lock_group_keys(keys, (int) ngroups);

	v[2] = TimestampTzGetDatum(clock_now());
	v[3] = PointerGetDatum(construct_array(gdatums, (int) ngroups, TEXTOID, -1,
										   false, TYPALIGN_INT));
	/*
	 * A key taken meanwhile by a transaction this snapshot does not see:
	 * again with a new snapshot, which sees it and leaves its dead job out
	 * (under a transaction snapshot it never would).
	 */
	for (int tries = 0; !queue_redrive_try(v, n, &moved); tries++)
	{
		if (IsolationUsesXactSnapshot())
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not redrive jobs of queue \"%s\"", queue),
					 errdetail("A concurrent transaction took the dedup_key of a dead job after this transaction's snapshot."),
					 errhint("Retry the transaction, or redrive in a READ COMMITTED transaction.")));
		if (tries >= 2)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not redrive jobs of queue \"%s\"", queue),
					 errdetail("Concurrent transactions kept taking the dedup_key of a dead job being redriven."),
					 errhint("Retry the transaction.")));
	}
	queue_redrive_report(queue, v, n);
	for (uint64 i = 0; i < ngroups; i++)
		queue_promote(queue, groups[i]);
	if (moved > 0)
		queue_wake_at_commit(queue);
	SPI_finish();
	PG_RETURN_INT64((int64) moved);
}

/* purge_jobs(queue, older_than) RETURNS bigint */
Datum
queue_purge(PG_FUNCTION_ARGS)
{
	char	   *queue = queue_name_arg(fcinfo, 0);
	int64		older_us;
	Datum		v[2];
	uint64		n;

	args_not_null(fcinfo, 1, "older_than");
	older_us = args_interval_usec(PG_GETARG_INTERVAL_P(1), "older_than");
	if (older_us < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be negative"),
				 errhint("Pass '0' to purge every dead and cancelled job.")));
	queue_check_primary("purge jobs");
	queue_connect();
	queue_require(queue);
	v[0] = CStringGetTextDatum(queue);
	v[1] = TimestampTzGetDatum(queue_time_add(clock_now(), -older_us, "older_than"));
	n = queue_exec(QP_PURGE, v, NULL, SPI_OK_DELETE);
	SPI_finish();
	PG_RETURN_INT64((int64) n);
}
