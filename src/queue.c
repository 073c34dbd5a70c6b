/*-------------------------------------------------------------------------
 *
 * queue.c
 *		Job queues: every rule about a job's state, the argument checks
 *		and group locks the queue files share, and enqueue, enqueue_many.
 *		claim() (with its reaping of expired leases, scan hint and
 *		long-poll) is queue_claim.c's; a claimed job's end (complete,
 *		complete_many, fail, extend and the fence, RL001) is
 *		queue_finish.c's; the operators' functions (create_queue,
 *		drop_queue, cancel, redrive, purge_jobs) are queue_admin.c's.  The
 *		rules below cover them all.
 *
 * A job is a row of resilience.job_state, written with the caller's rights
 * by saved statements (queue_plan.c) that name the member tables found by
 * membership (extension.c), rebuilt after an invalidation that could move
 * them, as idempotency.c does.  Every decision about time uses clock_now() (clock.c),
 * so tests can stop the clock.
 *
 * Claims.  A claim is one UPDATE of the ids a materialized CTE picks:
 * ready jobs (pending, run_at reached) in the order of the partial index
 * job_state_ready, locked FOR NO KEY UPDATE SKIP LOCKED, so concurrent
 * claimers never get the same job and never wait for each other.  The
 * UPDATE takes the ids as an array (id = ANY (ARRAY(SELECT ...))), run
 * once: as a join, the generic plan (LIMIT $2 estimated at a tenth of the
 * table) hashes the whole table, and a sub-select on the inner side of a
 * join is rescanned, each rescan locking more jobs past LIMIT (the plan
 * row-level security led to).  The claimed row leaves the
 * ready index (state running), so later scans do not step over it once it
 * is dead to every snapshot.  Its token becomes greatest(token + 1,
 * timeline << 40) (lease.h): strictly increasing per job, across redrives
 * and across a promotion.  complete(), fail() and extend() act only while
 * the job is running with that token; anything else is RL001, so the
 * caller's transaction, which holds the job's effects, rolls back.  A
 * running job whose lease expired stays running (and its holder may still
 * complete it) until a claim of its queue reaps it: back to pending, or
 * dead with 'lease expired' after its last attempt.  Reaping runs at most
 * every QUEUE_REAP_INTERVAL of the clock per backend and queue.
 *
 * Queues.  A job's queue must exist when it is enqueued, and a dropped
 * queue leaves no job behind, without a foreign key (whose trigger checks
 * and locks the queue's row once per job: a batch of 100 enqueued at two
 * thirds of the speed, and concurrent enqueuers share that row's lock
 * through multixacts).  drop_queue() first locks job_state in SHARE ROW
 * EXCLUSIVE mode, which waits for every transaction that wrote a job and
 * holds off new writers until it commits; then it deletes the queue's row
 * and its jobs.  An enqueue's INSERT ... SELECT from the queue's row takes
 * its table lock before its snapshot (SPI plans, then snapshots), so under
 * READ COMMITTED it either committed before the drop (whose DELETE then
 * sees its job) or reads after it and finds no queue (42704).  Under a
 * transaction snapshot, which may predate the drop, the enqueue locks the
 * queue's row FOR KEY SHARE instead, which fails (40001) if it is gone.
 *
 * Groups.  Jobs sharing a group_key in a queue run one at a time, in
 * enqueue order.  The group's head (its oldest unfinished job) is pending
 * or running; the others are blocked, invisible to claims.  Every change
 * of who is the head (a grouped enqueue, the head finishing: complete,
 * fail to dead, cancel, lease expired to dead; redrive) holds the group's
 * lock, a transaction-level advisory lock tag of its own (field4
 * QUEUE_GROUP_LOCKTAG_FIELD4, as guards do), taken before any row of the
 * group is locked and followed by statements with fresh snapshots; so
 * under READ COMMITTED each sees every earlier change committed.  The
 * unique index job_state_group_head makes two heads impossible whatever
 * the isolation level.  A claim changes no head and takes no group lock.
 *
 * Dedup keys.  The unique index job_state_dedup allows one unfinished job
 * per (queue, dedup_key), whatever the interleaving: an enqueue's ON
 * CONFLICT returns the holder's id (23505 if row-level security hides the
 * holder from the caller: retrying could not help).  What a redrive does
 * with a held key is in queue_admin.c, with the other operators' functions.
 *
 * Wakeups (queue_wakeup.c).  With shared_preload_libraries, a transaction that made jobs
 * ready (enqueue, redrive, a retry, a promoted group head) bumps the
 * generation of its queues' slots (QUEUE_WAKEUP_SLOTS, hashed by database
 * and queue name) and broadcasts their condition variables at commit; a
 * claim with wait sleeps on its slot, after checking the generation it saw
 * before its last attempt.  Without preloading, or for jobs whose run_at
 * or lease comes due without a commit, a waiting claim polls every
 * resilience.queue_poll_interval.
 *
 * Monitoring counts events in the queue_note_*() functions, one per event.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rls.h"
#include "utils/timestamp.h"

#include "args.h"
#include "clock.h"
#include "extension.h"
#include "queue.h"
#include "queue_int.h"
#include "resilience.h"
#include "stats.h"

RESILIENCE_FUNCTION(queue_clock);
RESILIENCE_FUNCTION(queue_enqueue);
RESILIENCE_FUNCTION(queue_enqueue_many);

/*-------------------------------------------------------------------------
 * Monitoring: one function per event, each the one place it happens (a
 * claim's two are queue_claim.c's).
 *-------------------------------------------------------------------------
 */

/* jobs were enqueued (n of them) */
static inline void
queue_note_enqueued(const char *queue, int n)
{
	stats_queue_event(queue, strlen(queue), STATS_QUEUE_ENQUEUED, n);
}


/*-------------------------------------------------------------------------
 * Arguments
 *-------------------------------------------------------------------------
 */

/* 22023 if queue is longer than a queue name may be; see queue.h. */
void
queue_check_name_length(const char *queue)
{
	int			len = strlen(queue);

	if (len > QUEUE_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("queue name is too long (%d bytes)", len),
				 errdetail("The limit is %d bytes.", QUEUE_NAME_MAX),
				 errhint("Pass a shorter name.")));
}

/* The queue argument as a C string: 22004 if NULL, 22023 if empty or too long. */
char *
queue_name_arg(FunctionCallInfo fcinfo, int argno)
{
	text	   *t;
	int			len;
	char	   *queue;

	args_not_null(fcinfo, argno, "queue");
	t = PG_GETARG_TEXT_PP(argno);
	len = VARSIZE_ANY_EXHDR(t);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("queue name must not be empty"),
				 errhint("Name the queue, for example 'emails'.")));
	queue = text_to_cstring(t);
	queue_check_name_length(queue);
	return queue;
}

/* 42704 for a queue that does not exist. */
static void
queue_unknown(const char *queue)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("queue \"%s\" does not exist", queue),
			 errhint("Create it with resilience.create_queue('%s').", queue)));
}

/* 42704 unless queue exists (SPI connected). */
void
queue_require(const char *queue)
{
	Datum		v[1] = {CStringGetTextDatum(queue)};

	if (queue_exec(QP_QUEUE_EXISTS, v, NULL, SPI_OK_SELECT) == 0)
		queue_unknown(queue);
}

/* 22023 unless a payload is a JSON object. */
static void
queue_check_payload(Jsonb *payload, const char *argname)
{
	if (!JB_ROOT_IS_OBJECT(payload) || JB_ROOT_IS_SCALAR(payload))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object", argname),
				 errhint("Wrap the value in an object, such as jsonb_build_object('value', ...).")));
}

/* 22023 unless max_attempts >= 1. */
static void
queue_check_max_attempts(int32 max_attempts)
{
	if (max_attempts < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_attempts must be at least 1"),
				 errhint("Pass 1 for a job that must never run twice on its own.")));
}

/* A positive interval as microseconds, 22023 otherwise. */
int64
queue_positive_interval(FunctionCallInfo fcinfo, int argno, const char *name)
{
	int64		us;

	args_not_null(fcinfo, argno, name);
	us = args_interval_usec(PG_GETARG_INTERVAL_P(argno), name);
	if (us <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a positive interval", name),
				 errhint("Use the longest time a worker may run the job without calling resilience.extend(), such as '30s'.")));
	return us;
}

/* now + us, 22008 if out of range. */
TimestampTz
queue_time_add(TimestampTz now, int64 us, const char *name)
{
	TimestampTz result;

	if (pg_add_s64_overflow(now, us, &result) || !IS_VALID_TIMESTAMP(result))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s is out of range", name)));
	return result;
}

/* 25006 on a hot standby: every queue function but the views writes. */
void
queue_check_primary(const char *what)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot %s on a hot standby", what),
				 errhint("Job queues are written on the primary; connect to it.")));
}

/*
 * Does row-level security on job_state apply to the current role?  Then a
 * job it cannot see, or a write to one that changes nothing, may be a
 * policy's doing rather than another worker's.
 */
bool
queue_jobs_under_rls(void)
{
	return check_enable_rls(resilience_member_table("job_state", NULL),
							InvalidOid, true) == RLS_ENABLED;
}

/*-------------------------------------------------------------------------
 * Groups
 *-------------------------------------------------------------------------
 */

/* The lock key of (queue, group). */
uint64
queue_group_key(const char *queue, const char *group)
{
	uint64		h1 = hash_bytes_extended((const unsigned char *) queue, strlen(queue), 0);

	return hash_combine64(h1, hash_bytes_extended((const unsigned char *) group,
												  strlen(group), 0x9e3779b9));
}

/* The lock tag of a group's lock key. */
static void
queue_group_locktag(LOCKTAG *tag, uint64 key)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) (key >> 32),
						 (uint32) (key & 0xFFFFFFFF), QUEUE_GROUP_LOCKTAG_FIELD4);
}

/* Take the group's lock until the end of the transaction. */
void
queue_lock_group_key(uint64 key)
{
	LOCKTAG		tag;

	queue_group_locktag(&tag, key);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/* Take (queue, group)'s lock until the end of the transaction. */
void
queue_lock_group(const char *queue, const char *group)
{
	queue_lock_group_key(queue_group_key(queue, group));
}

/* Order of group lock keys. */
static int
queue_cmp_u64(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/*
 * Take the locks of n groups (keys, sorted here; repeats allowed) in key
 * order, the one order every path that takes more than one uses, so two
 * of them never wait for each other's locks.
 */
void
queue_lock_group_keys(uint64 *keys, int n)
{
	qsort(keys, n, sizeof(uint64), queue_cmp_u64);
	for (int i = 0; i < n; i++)
		if (i == 0 || keys[i] != keys[i - 1])
			queue_lock_group_key(keys[i]);
}

/* The same without waiting: false if another transaction holds it. */
bool
queue_try_lock_group(const char *queue, const char *group)
{
	LOCKTAG		tag;

	queue_group_locktag(&tag, queue_group_key(queue, group));
	return LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}

/* With the group lock held: promote the group's next job if it has no head. */
void
queue_promote(const char *queue, const char *group)
{
	Datum		v[2] = {CStringGetTextDatum(queue), CStringGetTextDatum(group)};

	if (queue_exec(QP_PROMOTE, v, NULL, SPI_OK_UPDATE_RETURNING) > 0)
		queue_wake_at_commit(queue);
}

/*-------------------------------------------------------------------------
 * Jobs read for checks
 *-------------------------------------------------------------------------
 */

/* Read job id with QP_JOB_READ or QP_JOB_READ_LOCK into *row. */
void
queue_read_job(QueuePlan which, int64 id, QueueJobRow *row)
{
	Datum		v[1] = {Int64GetDatum(id)};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	memset(row, 0, sizeof(*row));
	if (queue_exec(which, v, NULL, SPI_OK_SELECT) == 0)
		return;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	row->found = true;
	row->queue = SPI_getvalue(tup, desc, 1);
	row->state = SPI_getvalue(tup, desc, 2);
	row->token = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	row->group_key = SPI_getvalue(tup, desc, 4);
	row->attempt = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
	row->max_attempts = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
}

/*-------------------------------------------------------------------------
 * Queues
 *-------------------------------------------------------------------------
 */

/* queue_clock() RETURNS timestamptz */
Datum
queue_clock(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(clock_now());
}

/*-------------------------------------------------------------------------
 * Enqueue
 *-------------------------------------------------------------------------
 */

/* The defaults of resilience.enqueue(). */
void
queue_enqueue_request_init(QueueEnqueueRequest *req, const char *queue)
{
	memset(req, 0, sizeof(*req));
	req->queue = queue;
	req->max_attempts = 25;
}

/* Enqueue one job (see queue.h). */
int64
queue_enqueue_job(const QueueEnqueueRequest *req)
{
	Datum		v[8];
	char		n[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	TimestampTz now = clock_now();
	int64		id = 0;
	bool		done = false;
	int			len;

	if (req->queue == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("queue must not be null")));
	len = strlen(req->queue);
	if (len == 0 || len > QUEUE_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("queue name must be 1 to %d bytes long", QUEUE_NAME_MAX)));
	if (req->payload != NULL)
		queue_check_payload(req->payload, "payload");
	queue_check_max_attempts(req->max_attempts);
	if (req->dedup_key != NULL && req->dedup_key[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dedup_key must not be empty"),
				 errhint("Pass NULL for a job without a dedup key.")));
	if (req->group_key != NULL && req->group_key[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("group_key must not be empty"),
				 errhint("Pass NULL for a job outside any group.")));
	queue_check_primary("enqueue");

	queue_connect();
	if (req->group_key != NULL)
		queue_lock_group(req->queue, req->group_key);

	v[0] = CStringGetTextDatum(req->queue);
	v[1] = req->payload != NULL ? JsonbPGetDatum(req->payload) :
		DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
	v[2] = TimestampTzGetDatum(req->has_run_at ? req->run_at : now);
	v[3] = Int32GetDatum(req->priority);
	v[4] = Int32GetDatum(req->max_attempts);
	v[5] = TimestampTzGetDatum(now);
	if (req->group_key != NULL)
		v[6] = CStringGetTextDatum(req->group_key);
	else
	{
		v[6] = (Datum) 0;
		n[6] = 'n';
	}

	if (req->dedup_key == NULL)
	{
		bool		isnull;

		if (queue_exec(queue_enqueue_plan(QP_ENQUEUE, req->group_key != NULL),
					   v, n, SPI_OK_INSERT_RETURNING) == 0)
			queue_unknown(req->queue);
		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1, &isnull));
		done = true;
	}
	else
	{
		v[7] = CStringGetTextDatum(req->dedup_key);
		/* the unfinished job may finish between the two statements: again */
		for (int tries = 0; tries < 3 && !done; tries++)
		{
			Datum		fv[2] = {v[0], v[7]};
			bool		isnull;

			if (queue_exec(queue_enqueue_plan(QP_ENQUEUE_DEDUP, req->group_key != NULL),
						   v, n, SPI_OK_INSERT_RETURNING) > 0)
			{
				id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 1, &isnull));
				done = true;
				break;
			}
			if (queue_exec(QP_DEDUP_FIND, fv, NULL, SPI_OK_SELECT) > 0)
			{
				id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 1, &isnull));
				SPI_finish();
				return id;		/* nothing added, nobody to wake */
			}
			queue_require(req->queue);
		}
		/*
		 * The insert conflicts with a job the find cannot see: under
		 * row-level security that hides it from this role, retrying cannot
		 * help, so say so as a plain INSERT would (23505).
		 */
		if (!done && queue_jobs_under_rls())
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("could not enqueue job with dedup_key \"%s\"", req->dedup_key),
					 errdetail("The key is held, but no job of queue \"%s\" holding it is visible to this role: row-level security on resilience.job_state hides it (unless, far less likely, its holder finished and was replaced three times while this call looked).",
							   req->queue),
					 errhint("A policy that lets the role see its queue's jobs makes enqueue return that job's id.")));
		if (!done)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not enqueue job with dedup_key \"%s\"", req->dedup_key),
					 errdetail("The job holding the key kept finishing and being replaced."),
					 errhint("Retry the transaction.")));
	}
	SPI_finish();
	queue_wake_at_commit(req->queue);
	queue_note_enqueued(req->queue, 1);
	return id;
}

/* enqueue(queue, payload, run_at, priority, dedup_key, max_attempts, group_key) RETURNS bigint */
Datum
queue_enqueue(PG_FUNCTION_ARGS)
{
	QueueEnqueueRequest req;

	queue_enqueue_request_init(&req, queue_name_arg(fcinfo, 0));
	args_not_null_hint(fcinfo, 1, "payload", "Pass '{}' for a job without data.");
	req.payload = PG_GETARG_JSONB_P(1);
	if (!PG_ARGISNULL(2))
	{
		req.has_run_at = true;
		req.run_at = PG_GETARG_TIMESTAMPTZ(2);
		if (TIMESTAMP_NOT_FINITE(req.run_at))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("run_at must be a finite time"),
					 errhint("Pass NULL to run the job now.")));
	}
	args_not_null(fcinfo, 3, "priority");
	req.priority = PG_GETARG_INT32(3);
	if (!PG_ARGISNULL(4))
		req.dedup_key = text_to_cstring(PG_GETARG_TEXT_PP(4));
	args_not_null(fcinfo, 5, "max_attempts");
	req.max_attempts = PG_GETARG_INT32(5);
	if (!PG_ARGISNULL(6))
		req.group_key = text_to_cstring(PG_GETARG_TEXT_PP(6));
	PG_RETURN_INT64(queue_enqueue_job(&req));
}

/* enqueue_many(queue, payloads, run_at, priority, max_attempts, group_key) RETURNS bigint[] */
Datum
queue_enqueue_many(PG_FUNCTION_ARGS)
{
	char	   *queue = queue_name_arg(fcinfo, 0);
	ArrayType  *payloads;
	Datum	   *elems;
	bool	   *elnulls;
	int			nelems;
	Datum		v[7];
	char		n[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	TimestampTz now = clock_now();
	char	   *group = NULL;
	Datum	   *ids;
	uint64		got;
	ArrayType  *result;
	MemoryContext outer = CurrentMemoryContext;

	args_not_null(fcinfo, 1, "payloads");
	payloads = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(payloads) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("payloads must be a one-dimensional array")));
	deconstruct_array(payloads, JSONBOID, -1, false, TYPALIGN_INT,
					  &elems, &elnulls, &nelems);
	if (nelems > QUEUE_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("payloads has %d elements, more than %d", nelems, QUEUE_MAX_BATCH),
				 errhint("Enqueue in batches of at most %d jobs.", QUEUE_MAX_BATCH)));
	for (int i = 0; i < nelems; i++)
	{
		if (elnulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("payloads[%d] must not be null", i + 1),
					 errhint("Pass '{}' for a job without data.")));
		queue_check_payload(DatumGetJsonbP(elems[i]), "every payload");
	}
	if (!PG_ARGISNULL(2))
	{
		if (TIMESTAMP_NOT_FINITE(PG_GETARG_TIMESTAMPTZ(2)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("run_at must be a finite time"),
					 errhint("Pass NULL to run the jobs now.")));
	}
	args_not_null(fcinfo, 3, "priority");
	args_not_null(fcinfo, 4, "max_attempts");
	queue_check_max_attempts(PG_GETARG_INT32(4));
	if (!PG_ARGISNULL(5))
	{
		group = text_to_cstring(PG_GETARG_TEXT_PP(5));
		if (group[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("group_key must not be empty"),
					 errhint("Pass NULL for jobs outside any group.")));
	}
	queue_check_primary("enqueue");

	queue_connect();
	if (group != NULL)
		queue_lock_group(queue, group);
	v[0] = CStringGetTextDatum(queue);
	v[1] = PointerGetDatum(payloads);
	v[2] = PG_ARGISNULL(2) ? TimestampTzGetDatum(now) : PG_GETARG_DATUM(2);
	v[3] = PG_GETARG_DATUM(3);
	v[4] = PG_GETARG_DATUM(4);
	v[5] = TimestampTzGetDatum(now);
	v[6] = group != NULL ? CStringGetTextDatum(group) : (Datum) 0;
	if (group == NULL)
		n[6] = 'n';
	got = queue_exec(queue_enqueue_plan(QP_ENQUEUE_MANY, group != NULL),
					 v, n, SPI_OK_INSERT_RETURNING);
	if (got == 0)
		queue_require(queue);
	ids = (Datum *) MemoryContextAlloc(outer, sizeof(Datum) * (got + 1));
	for (uint64 i = 0; i < got; i++)
	{
		bool		isnull;

		ids[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
	}
	SPI_finish();
	/* ids grow with the payload's position (ORDER BY u.n): sort to be sure */
	for (uint64 i = 1; i < got; i++)
	{
		Datum		d = ids[i];
		uint64		j = i;

		while (j > 0 && DatumGetInt64(ids[j - 1]) > DatumGetInt64(d))
		{
			ids[j] = ids[j - 1];
			j--;
		}
		ids[j] = d;
	}
	result = construct_array(ids, (int) got, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	if (got > 0)
		queue_wake_at_commit(queue);
	queue_note_enqueued(queue, (int) got);
	PG_RETURN_ARRAYTYPE_P(result);
}
