/*-------------------------------------------------------------------------
 *
 * queue_finish.c
 *		A claimed job's end: complete(), complete_many(), fail(), extend(),
 *		and the fence that refuses them for a token that is not the job's
 *		running claim (RL001).
 *
 * The rules are queue.c's (see its header: tokens, groups); this file only
 * applies them.  Invariants:
 *  - Each function acts only on a job that is running with the token
 *    passed; anything else is RL001 (queue_stale), counted as a fence
 *    rejection before the error, and the caller's transaction, which holds
 *    the job's effects, rolls back.  A refusal whose token check passed
 *    (row-level security that hides the write) is 42501, not counted.
 *  - A grouped job is finished under its group's lock, taken before its
 *    row's, and promotes the group's next job when it leaves the group
 *    (completed, or dead); complete_many takes all its groups' locks
 *    first, in key order (queue_lock_group_keys), as redrive does.
 *  - A retry (fail, not dead) wakes the queue's waiting claims at commit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "args.h"
#include "backoff.h"
#include "clock.h"
#include "queue.h"
#include "queue_int.h"
#include "resilience.h"
#include "stats.h"

RESILIENCE_FUNCTION(queue_complete);
RESILIENCE_FUNCTION(queue_complete_many);
RESILIENCE_FUNCTION(queue_fail);
RESILIENCE_FUNCTION(queue_extend);

#define ERRCODE_QUEUE_STALE_TOKEN	MAKE_SQLSTATE('R', 'L', '0', '0', '1')

/* a job was completed */
static inline void
queue_note_completed(const char *queue)
{
	stats_queue_event(queue, strlen(queue), STATS_QUEUE_COMPLETED, 1);
}

/* a job failed: to be retried, or dead */
static inline void
queue_note_failed(const char *queue, bool dead)
{
	stats_queue_event(queue, strlen(queue),
					  dead ? STATS_QUEUE_DEAD : STATS_QUEUE_FAILED, 1);
}

/*
 * a complete/fail/extend was refused (RL001): counted before the error,
 * which rolls back the caller's transaction but not shared memory; a job
 * that no longer exists (queue NULL) counts in the total only
 */
static inline void
queue_note_stale(const char *queue)
{
	stats_queue_event(queue, queue ? strlen(queue) : 0,
					  STATS_QUEUE_FENCE_REJECTED, 1);
}

/* Is row (as read) the job running with token? */
static inline bool
queue_is_claim(const QueueJobRow *row, int64 token)
{
	return row->found && row->token == token && strcmp(row->state, "running") == 0;
}

/*
 * RL001: token is not the running claim of job id (row as read).  If it is,
 * the fence passed and the write changed nothing: row-level security that
 * lets the role see the job but not update or delete it (42501).
 */
static void
queue_stale(int64 id, int64 token, const QueueJobRow *row)
{
	if (queue_is_claim(row, token) && queue_jobs_under_rls())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to change job %lld", (long long) id),
				 errdetail("Row-level security on resilience.job_state lets this role see the job, claimed with token %lld, but not update or delete it.",
						   (long long) token),
				 errhint("Give the role policies for UPDATE and DELETE on its queues' jobs (docs/queues.md, \"Worker roles\").")));
	queue_note_stale(row->found ? row->queue : NULL);
	if (!row->found)
		ereport(ERROR,
				(errcode(ERRCODE_QUEUE_STALE_TOKEN),
				 errmsg("job %lld is not claimed with token %lld",
						(long long) id, (long long) token),
				 errdetail("No such job exists: it was completed, purged or never enqueued."),
				 errhint("Roll back this transaction: the job's effects must not commit.")));
	if (row->token != token)
		ereport(ERROR,
				(errcode(ERRCODE_QUEUE_STALE_TOKEN),
				 errmsg("job %lld is not claimed with token %lld",
						(long long) id, (long long) token),
				 errdetail("The token is stale: the job's current claim has token %lld.",
						   (long long) row->token),
				 errhint("The lease expired and another worker took the job; roll back and stop working on it.")));
	ereport(ERROR,
			(errcode(ERRCODE_QUEUE_STALE_TOKEN),
			 errmsg("job %lld is not claimed with token %lld",
					(long long) id, (long long) token),
			 errdetail("The job is %s.",
					   strcmp(row->state, "pending") == 0 ? "waiting in its queue to be claimed" :
					   strcmp(row->state, "blocked") == 0 ? "waiting for the job before it in its group" :
					   row->state),
			 errhint("Roll back this transaction: the job's effects must not commit.")));
}

/*
 * Complete job id, claimed with token, that the ungrouped DELETE did not
 * take: a grouped job (under its group's lock, promoting the next one), or
 * RL001.  read: the job as read before its group's lock was taken, or NULL
 * to read it here.  SPI connected.
 */
static void
queue_complete_slow(int64 id, int64 token, const QueueJobRow *read)
{
	Datum		v[3];
	QueueJobRow row;

	v[0] = Int64GetDatum(id);
	v[1] = Int64GetDatum(token);
	v[2] = queue_running_datum();
	if (read)
		row = *read;
	else
		queue_read_job(QP_JOB_READ, id, &row);
	if (!queue_is_claim(&row, token) || row.group_key == NULL)
		queue_stale(id, token, &row);
	queue_lock_group(row.queue, row.group_key);
	if (queue_exec(QP_COMPLETE_GROUPED, v, NULL, SPI_OK_DELETE_RETURNING) == 0)
	{
		queue_read_job(QP_JOB_READ, id, &row);
		queue_stale(id, token, &row);
	}
	queue_promote(row.queue, row.group_key);
	queue_note_completed(row.queue);
}

/* complete(id, token) RETURNS void */
Datum
queue_complete(PG_FUNCTION_ARGS)
{
	int64		id;
	int64		token;
	Datum		v[3];

	args_not_null(fcinfo, 0, "id");
	args_not_null(fcinfo, 1, "token");
	id = PG_GETARG_INT64(0);
	token = PG_GETARG_INT64(1);
	queue_check_primary("complete a job");
	queue_connect();
	v[0] = Int64GetDatum(id);
	v[1] = Int64GetDatum(token);
	v[2] = queue_running_datum();
	if (queue_exec(QP_COMPLETE, v, NULL, SPI_OK_DELETE_RETURNING) > 0)
		queue_note_completed(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	else
		queue_complete_slow(id, token, NULL);
	SPI_finish();
	PG_RETURN_VOID();
}

/* One bigint[] argument of complete_many(), deconstructed; its length. */
static int
queue_int8_array_arg(FunctionCallInfo fcinfo, int argno, const char *name,
					 Datum **elems)
{
	ArrayType  *arr;
	bool	   *nulls;
	int			n;

	args_not_null(fcinfo, argno, name);
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", name)));
	deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s[%d] must not be null", name, i + 1),
					 errhint("Pass the id and token of each job claim() returned.")));
	return n;
}

static int
queue_cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * complete_many(ids, tokens) RETURNS void: complete() for each
 * (ids[i], tokens[i]), all or none: the ungrouped jobs in one statement,
 * then the others one by one, in the order given.
 */
Datum
queue_complete_many(PG_FUNCTION_ARGS)
{
	Datum	   *ids;
	Datum	   *tokens;
	int			n;
	int64	   *sorted;
	int64	   *done;
	uint64		ndone;
	Datum		v[3];

	n = queue_int8_array_arg(fcinfo, 0, "ids", &ids);
	if (queue_int8_array_arg(fcinfo, 1, "tokens", &tokens) != n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ids and tokens must have the same length"),
				 errhint("Pass tokens[i] as the token claim() returned with ids[i].")));
	if (n > QUEUE_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ids has %d elements, more than %d", n, QUEUE_MAX_BATCH),
				 errhint("Complete in batches of at most %d jobs.", QUEUE_MAX_BATCH)));
	sorted = (int64 *) palloc(sizeof(int64) * (n + 1));
	for (int i = 0; i < n; i++)
		sorted[i] = DatumGetInt64(ids[i]);
	qsort(sorted, n, sizeof(int64), queue_cmp_int64);
	for (int i = 1; i < n; i++)
		if (sorted[i] == sorted[i - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("ids has job %lld more than once", (long long) sorted[i]),
					 errhint("Complete each job once.")));
	queue_check_primary("complete jobs");
	if (n == 0)
		PG_RETURN_VOID();

	queue_connect();
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	v[2] = queue_running_datum();
	ndone = queue_exec(QP_COMPLETE_MANY, v, NULL, SPI_OK_DELETE_RETURNING);
	done = (int64 *) palloc(sizeof(int64) * (ndone + 1));
	for (uint64 i = 0; i < ndone; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;

		done[i] = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		queue_note_completed(SPI_getvalue(tup, SPI_tuptable->tupdesc, 2));
	}
	if (ndone < (uint64) n)
	{
		uint64	   *keys = (uint64 *) palloc(sizeof(uint64) * n);
		int			nkeys = 0;
		QueueJobRow *rows = (QueueJobRow *) palloc(sizeof(QueueJobRow) * n);
		bool	   *left = (bool *) palloc0(sizeof(bool) * n);

		/*
		 * Grouped jobs, or refused.  Their groups' locks first, in key
		 * order (as redrive takes them), then each job as complete() would,
		 * in the order given.
		 */
		qsort(done, ndone, sizeof(int64), queue_cmp_int64);
		for (int i = 0; i < n; i++)
		{
			int64		id = DatumGetInt64(ids[i]);

			if (ndone > 0 &&
				bsearch(&id, done, ndone, sizeof(int64), queue_cmp_int64) != NULL)
				continue;
			left[i] = true;
			queue_read_job(QP_JOB_READ, id, &rows[i]);
			if (queue_is_claim(&rows[i], DatumGetInt64(tokens[i])) &&
				rows[i].group_key != NULL)
				keys[nkeys++] = queue_group_key(rows[i].queue, rows[i].group_key);
		}
		queue_lock_group_keys(keys, nkeys);
		for (int i = 0; i < n; i++)
			if (left[i])
				queue_complete_slow(DatumGetInt64(ids[i]), DatumGetInt64(tokens[i]),
									&rows[i]);
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/* fail(id, token, error, retry_in) RETURNS text */
Datum
queue_fail(PG_FUNCTION_ARGS)
{
	int64		id;
	int64		token;
	text	   *error;
	int64		retry_us = -1;
	QueueJobRow row;
	TimestampTz now;
	bool		dead;
	Datum		v[5];
	char		n[5] = {' ', ' ', ' ', ' ', ' '};

	args_not_null(fcinfo, 0, "id");
	args_not_null(fcinfo, 1, "token");
	args_not_null_hint(fcinfo, 2, "error", "Say why the job failed; it is kept as the job's last_error.");
	id = PG_GETARG_INT64(0);
	token = PG_GETARG_INT64(1);
	error = PG_GETARG_TEXT_PP(2);
	if (!PG_ARGISNULL(3))
	{
		retry_us = args_interval_usec(PG_GETARG_INTERVAL_P(3), "retry_in");
		if (retry_us < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("retry_in must not be negative"),
					 errhint("Pass '0' to retry at once, or NULL for the backoff delay.")));
	}
	queue_check_primary("fail a job");
	queue_connect();

	/* the group's lock comes before its rows' */
	queue_read_job(QP_JOB_READ, id, &row);
	if (!queue_is_claim(&row, token))
		queue_stale(id, token, &row);
	if (row.group_key != NULL)
		queue_lock_group(row.queue, row.group_key);
	queue_read_job(QP_JOB_READ_LOCK, id, &row);
	if (!row.found)
	{
		/* gone since, or hidden from FOR UPDATE by an UPDATE policy */
		queue_read_job(QP_JOB_READ, id, &row);
		queue_stale(id, token, &row);
	}
	if (!queue_is_claim(&row, token))
		queue_stale(id, token, &row);

	now = clock_now();
	dead = row.attempt >= row.max_attempts;
	if (retry_us < 0)
		retry_us = backoff_delay_usec(Max(row.attempt, 1), QUEUE_BACKOFF_BASE,
									  QUEUE_BACKOFF_CAP, BACKOFF_JITTER_FULL);
	v[0] = Int64GetDatum(id);
	v[1] = CStringGetTextDatum(dead ? "dead" : "pending");
	v[2] = TimestampTzGetDatum(dead ? now : queue_time_add(now, retry_us, "retry_in"));
	v[3] = PointerGetDatum(error);
	v[4] = TimestampTzGetDatum(now);
	if (!dead)
		n[4] = 'n';
	queue_exec(QP_FAIL_UPDATE, v, n, SPI_OK_UPDATE);
	if (dead && row.group_key != NULL)
		queue_promote(row.queue, row.group_key);
	if (!dead)
		queue_wake_at_commit(row.queue);
	queue_note_failed(row.queue, dead);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(dead ? "dead" : "retry"));
}

/* extend(id, token, lease) RETURNS timestamptz */
Datum
queue_extend(PG_FUNCTION_ARGS)
{
	int64		id;
	int64		token;
	int64		lease_us;
	Datum		v[4];
	TimestampTz until;
	QueueJobRow row;

	args_not_null(fcinfo, 0, "id");
	args_not_null(fcinfo, 1, "token");
	id = PG_GETARG_INT64(0);
	token = PG_GETARG_INT64(1);
	lease_us = queue_positive_interval(fcinfo, 2, "lease");
	queue_check_primary("extend a job's lease");
	until = queue_time_add(clock_now(), lease_us, "lease");
	queue_connect();
	v[0] = Int64GetDatum(id);
	v[1] = Int64GetDatum(token);
	v[2] = TimestampTzGetDatum(until);
	v[3] = queue_running_datum();
	if (queue_exec(QP_EXTEND, v, NULL, SPI_OK_UPDATE_RETURNING) == 0)
	{
		queue_read_job(QP_JOB_READ, id, &row);
		queue_stale(id, token, &row);
	}
	SPI_finish();
	PG_RETURN_TIMESTAMPTZ(until);
}
