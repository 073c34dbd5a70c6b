/*-------------------------------------------------------------------------
 *
 * cron.c
 *		Periodic jobs: cron_next(), schedule(), tick() and the hook claim()
 *		calls, over the table resilience.schedule_state.
 *
 * A schedule row holds next_run, the first period of its expression not
 * yet enqueued.  A period P is enqueued by the transaction that moves
 * next_run past P, in the same transaction as the enqueue() calls, so
 * either both commit or neither does.  The due rows are read with
 * FOR UPDATE SKIP LOCKED: a row another caller is enqueuing is skipped (it
 * holds the lock until it commits or rolls back; after a rollback the row
 * is due again for the next caller), and in READ COMMITTED a row whose
 * next_run another caller moved after this statement's snapshot is
 * rechecked on its newest version and dropped when no longer due.  So any
 * number of nodes may call tick() or claim() at once, through a
 * transaction pooler, without a leader: each period is enqueued exactly
 * once.  (In REPEATABLE READ or SERIALIZABLE such a row raises 40001
 * instead: retry.)
 *
 * Backfill: the periods due at a tick are every period from next_run up to
 * now.  Each of the newest CRON_BACKFILL_MAX gets a job of its own, oldest
 * first, with run_at = the period; older ones (a downtime longer than that
 * many periods) are folded into the first of those jobs, whose payload
 * says how many ("skipped") and since when ("skipped_since"), and are
 * counted in the row's skipped column.  None is dropped without a trace
 * and none is enqueued twice.  Each job's payload is the schedule's
 * object plus the key "resilience_schedule": {"name", "period",
 * "skipped"[, "skipped_since"]}, period in UTC (ISO 8601, 'Z').
 *
 * claim() calls cron_claim_tick(queue) before each claim attempt (also in
 * its long-poll loop).  It keeps, per queue, the earliest next_run seen and
 * when it was read (the real clock, whatever resilience.clock_override
 * says): while that time is in the future and the reading is younger than
 * resilience.schedule_check_interval, claim pays one hash lookup.
 * Otherwise one index probe reads the earliest next_run again, and only a
 * due one runs the tick.  A schedule made or changed on another node is
 * therefore noticed within that interval; a due one right away.  A role
 * without SELECT and UPDATE on schedule_state, or INSERT on job_state,
 * drives no schedules from claim (tick() raises 42501 for it).
 *
 * Jobs go in through queue_enqueue_job() (queue.h), with the checks,
 * dedup and wakeups of resilience.enqueue(), in the caller's transaction.
 *
 * Time: resilience.clock_override (clock.c) when set, else the wall clock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "args.h"
#include "clock.h"
#include "cron.h"
#include "extension.h"
#include "inval.h"
#include "queue.h"
#include "resilience.h"
#include "spiplan.h"

/* the most jobs one tick enqueues for one schedule */
#define CRON_BACKFILL_MAX	100

/* the key a schedule adds to its jobs' payloads */
#define CRON_PAYLOAD_KEY	"resilience_schedule"

/* room for a queue name (job_queues allows 200 bytes) and its NUL */
#define CRON_CACHE_KEYLEN	208

static int	cron_check_interval_ms = 1000;

/*
 * Saved plans over the member tables named in plans_table (NULL: none yet),
 * schedule_state being plans_relid and job_queues plans_queues_relid
 * (job_state, where enqueue() writes, is plans_jobs_relid).  They
 * are looked up again only after an invalidation that could have moved
 * them (plans_checked false), as idempotency.c does.
 */
static char *plans_table = NULL;
static Oid	plans_relid = InvalidOid;
static Oid	plans_queues_relid = InvalidOid;
static Oid	plans_jobs_relid = InvalidOid;
static bool plans_checked = false;
static bool plans_callbacks_registered = false;
static SPIPlanPtr due_queue_plan = NULL;
static SPIPlanPtr due_all_plan = NULL;
static SPIPlanPtr update_plan = NULL;
static SPIPlanPtr min_plan = NULL;
static SPIPlanPtr upsert_plan = NULL;
static SPIPlanPtr queue_plan = NULL;
static SPIPlanPtr last_plan = NULL;
static SPIPlanPtr park_plan = NULL;

/* per queue: the earliest next_run, read at checked_at */
typedef struct CronCacheEntry
{
	char		queue[CRON_CACHE_KEYLEN];
	TimestampTz checked_at;		/* GetCurrentTimestamp() of the reading */
	TimestampTz next_due;		/* DT_NOEND: no schedule (or no rights) */
} CronCacheEntry;

static HTAB *cron_cache = NULL;

RESILIENCE_FUNCTION(cron_next);
RESILIENCE_FUNCTION(cron_schedule);
RESILIENCE_FUNCTION(cron_tick);

/* _PG_init: define resilience.schedule_check_interval. */
void
cron_define_gucs(void)
{
	DefineCustomIntVariable("resilience.schedule_check_interval",
							"How long claim() trusts its reading of a queue's next scheduled period.",
							"A schedule made or changed elsewhere is noticed by claim() within this time; 0 reads it at every claim.",
							&cron_check_interval_ms,
							1000, 0, 3600000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/* Parse text into *s; 22023 naming the field that is wrong. */
static void
cron_parse_or_error(const char *text, CronSchedule *s)
{
	CronError	err;
	int			shown;

	if (cron_parse(text, s, &err))
		return;
	/* a long expression is shown cut, on a character boundary */
	shown = pg_mbcliplen(text, strlen(text), 100);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 err.field == CRON_WHOLE
			 ? errmsg("invalid schedule \"%.*s\"", shown, text)
			 : errmsg("invalid schedule \"%.*s\": bad %s field", shown, text,
					  cron_field_name(err.field)),
			 errdetail("%s", err.detail),
			 errhint("%s", err.hint)));
}

/* The first period of s after after; 22008 if it is past the timestamp range. */
static TimestampTz
cron_next_or_error(const CronSchedule *s, const char *text, TimestampTz after)
{
	TimestampTz next;

	if (!cron_next_period(s, after, &next))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("schedule \"%s\" has no period after %s within the timestamp range",
						text, timestamptz_to_str(after))));
	return next;
}

/* cron_next(cron, after): the first period of cron strictly after after. */
Datum
cron_next(PG_FUNCTION_ARGS)
{
	char	   *crontext;
	TimestampTz after;
	CronSchedule s;

	args_not_null(fcinfo, 0, "cron");
	args_not_null(fcinfo, 1, "after");
	crontext = text_to_cstring(PG_GETARG_TEXT_PP(0));
	after = PG_GETARG_TIMESTAMPTZ(1);
	cron_parse_or_error(crontext, &s);
	if (TIMESTAMP_NOT_FINITE(after))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("after must be a finite time"),
				 errhint("Pass a time such as now().")));
	PG_RETURN_TIMESTAMPTZ(cron_next_or_error(&s, crontext, after));
}

/* Free a saved plan slot. */
static void
cron_free_plan(SPIPlanPtr *slot)
{
	if (*slot)
	{
		SPI_freeplan(*slot);
		*slot = NULL;
	}
}

/* Invalidation listener (inval.h): one of our tables, or anything, changed. */
static void
cron_invalidate(Oid relid)
{
	if (relid == InvalidOid || relid == plans_relid || relid == plans_queues_relid ||
		relid == plans_jobs_relid)
		plans_checked = false;
}

/*
 * Prepare the plans over the member tables schedule_state and job_queues
 * (SPI connected), again if they moved or were renamed since.
 */
static void
cron_prepare(void)
{
	Oid			relid;
	Oid			queues_relid;
	uint64		gen;
	char	   *table;
	char	   *queues;
	char	   *key;
	Oid			due_q_types[2] = {TEXTOID, TIMESTAMPTZOID};
	Oid			due_all_types[1] = {TIMESTAMPTZOID};
	Oid			update_types[7] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	TIMESTAMPTZOID, INT8OID, INT8OID, INT8OID};
	Oid			min_types[1] = {TEXTOID};
	Oid			upsert_types[6] = {TEXTOID, TEXTOID, TEXTOID, JSONBOID,
	TIMESTAMPTZOID, TIMESTAMPTZOID};

	if (plans_checked && upsert_plan != NULL)
		return;
	if (!plans_callbacks_registered)
	{
		inval_listen(cron_invalidate);
		plans_callbacks_registered = true;
	}
	/*
	 * Checked only once the lookups succeed with no invalidation meanwhile:
	 * an error in them (the table renamed away) must not leave the old
	 * plans trusted, which plancache would re-analyse by name.
	 */
	plans_checked = false;
	gen = inval_generation;
	relid = resilience_member_table("schedule_state", NULL);
	queues_relid = resilience_member_table("job_queues", NULL);
	plans_jobs_relid = resilience_member_table("job_state", NULL);
	table = resilience_member_table_name(relid);
	queues = resilience_member_table_name(queues_relid);
	key = psprintf("%s %s", table, queues);
	plans_relid = relid;
	plans_queues_relid = queues_relid;
	if (plans_table != NULL && strcmp(plans_table, key) == 0 && upsert_plan != NULL)
	{
		plans_checked = gen == inval_generation;
		return;
	}
	cron_free_plan(&due_queue_plan);
	cron_free_plan(&due_all_plan);
	cron_free_plan(&update_plan);
	cron_free_plan(&min_plan);
	cron_free_plan(&upsert_plan);
	cron_free_plan(&queue_plan);
	cron_free_plan(&last_plan);
	cron_free_plan(&park_plan);
	if (plans_table)
		pfree(plans_table);
	plans_table = MemoryContextStrdup(TopMemoryContext, key);

	spiplan_saved(&due_queue_plan,
				  psprintf("SELECT name, cron, queue, payload, next_run FROM %s"
						   " WHERE queue OPERATOR(pg_catalog.=) $1"
						   " AND next_run OPERATOR(pg_catalog.<=) $2"
						   " ORDER BY next_run, name FOR UPDATE SKIP LOCKED", table),
				  2, due_q_types);
	spiplan_saved(&due_all_plan,
				  psprintf("SELECT name, cron, queue, payload, next_run FROM %s"
						   " WHERE next_run OPERATOR(pg_catalog.<=) $1"
						   " ORDER BY next_run, name FOR UPDATE SKIP LOCKED", table),
				  1, due_all_types);
	/* a row whose cron does not parse (written directly): parked */
	spiplan_saved(&park_plan,
				  psprintf("UPDATE %s SET next_run = 'infinity'"
						   " WHERE name OPERATOR(pg_catalog.=) $1", table),
				  1, min_types);
	spiplan_saved(&update_plan,
				  psprintf("UPDATE %s SET next_run = $2, last_period = $3,"
						   " last_enqueued_at = $4, last_job_id = $5,"
						   " enqueued = enqueued OPERATOR(pg_catalog.+) $6,"
						   " skipped = skipped OPERATOR(pg_catalog.+) $7"
						   " WHERE name OPERATOR(pg_catalog.=) $1", table),
				  7, update_types);
	spiplan_saved(&min_plan,
				  psprintf("SELECT pg_catalog.min(next_run) FROM %s"
						   " WHERE queue OPERATOR(pg_catalog.=) $1", table),
				  1, min_types);
	spiplan_saved(&queue_plan,
				  psprintf("SELECT 1 FROM %s"
						   " WHERE name OPERATOR(pg_catalog.=) $1", queues),
				  1, min_types);
	/* schedule(): the row to replace, locked, and its last period */
	spiplan_saved(&last_plan,
				  psprintf("SELECT last_period FROM %s"
						   " WHERE name OPERATOR(pg_catalog.=) $1 FOR UPDATE", table),
				  1, min_types);
	/* last: set only once every plan is made */
	spiplan_saved(&upsert_plan,
				  psprintf("INSERT INTO %s AS s (name, cron, queue, payload, next_run,"
						   " created_at, updated_at)"
						   " VALUES ($1, $2, $3, $4, $5, $6, $6)"
						   " ON CONFLICT (name) DO UPDATE SET"
						   " next_run = CASE WHEN s.cron OPERATOR(pg_catalog.=) EXCLUDED.cron"
						   " AND pg_catalog.isfinite(s.next_run)"
						   " THEN s.next_run ELSE EXCLUDED.next_run END,"
						   " cron = EXCLUDED.cron, queue = EXCLUDED.queue,"
						   " payload = EXCLUDED.payload, updated_at = EXCLUDED.updated_at", table),
				  6, upsert_types);
	plans_checked = gen == inval_generation;
}

/* A period as ISO 8601 in UTC ("2026-01-31T12:00:00Z"). */
static char *
cron_period_text(TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return psprintf("%04d-%02d-%02dT%02d:%02d:%02dZ",
					tm.tm_year, tm.tm_mon, tm.tm_mday,
					tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The job's dedup key: one per (schedule, period). */
static char *
cron_dedup_key(const char *name, const char *period)
{
	return psprintf("resilience.schedule %s %s", period, name);
}

/*
 * A job's payload: the schedule's object plus CRON_PAYLOAD_KEY, {"name",
 * "period", "skipped"[, "skipped_since"]}.
 */
static Jsonb *
cron_job_payload(Datum payload, const char *name, const char *period,
				 int64 skipped, const char *skipped_since)
{
	StringInfoData buf;
	Datum		added;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"" CRON_PAYLOAD_KEY "\": {\"name\": ");
	escape_json(&buf, name);
	appendStringInfo(&buf, ", \"period\": \"%s\", \"skipped\": " INT64_FORMAT,
					 period, skipped);
	if (skipped_since != NULL)
		appendStringInfo(&buf, ", \"skipped_since\": \"%s\"", skipped_since);
	appendStringInfoString(&buf, "}}");
	added = DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
	pfree(buf.data);
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, payload, added));
}

/*
 * Enqueue the due periods of one locked schedule row (see the file header)
 * and move its next_run past now; the number of jobs enqueued.
 */
static int
cron_fire(const char *name, const char *crontext, const char *queue,
		  Datum payload, TimestampTz next_run, TimestampTz now)
{
	CronSchedule s;
	TimestampTz ring[CRON_BACKFILL_MAX];
	int64		due = 0;
	TimestampTz p = next_run;
	TimestampTz first_skipped = 0;
	int			kept;
	int			start;
	int64		skipped;
	int64		job_id = 0;
	TimestampTz last = 0;

	cron_parse_or_error(crontext, &s);

	/* every due period, the newest CRON_BACKFILL_MAX kept in a ring */
	if (s.kind == CRON_EVERY && next_run <= now)
	{
		int64		n = (now - next_run) / s.every_usec + 1;
		int64		k = Min(n, CRON_BACKFILL_MAX);

		for (int64 i = 0; i < k; i++)
			ring[i] = next_run + (n - k + i) * s.every_usec;
		due = n;
		p = next_run + n * s.every_usec;
		first_skipped = next_run;
	}
	else
	{
		while (p <= now)
		{
			if (due == 0)
				first_skipped = p;
			ring[due % CRON_BACKFILL_MAX] = p;
			due++;
			p = cron_next_or_error(&s, crontext, p);
			if ((due & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
		}
		/* rotate to oldest first */
		if (due > CRON_BACKFILL_MAX)
		{
			TimestampTz tmp[CRON_BACKFILL_MAX];

			start = (int) (due % CRON_BACKFILL_MAX);
			for (int i = 0; i < CRON_BACKFILL_MAX; i++)
				tmp[i] = ring[(start + i) % CRON_BACKFILL_MAX];
			memcpy(ring, tmp, sizeof(tmp));
		}
	}
	if (due == 0)
		return 0;
	kept = (int) Min(due, CRON_BACKFILL_MAX);
	skipped = due - kept;

	for (int i = 0; i < kept; i++)
	{
		char	   *period = cron_period_text(ring[i]);
		QueueEnqueueRequest req;

		queue_enqueue_request_init(&req, queue);
		req.payload = cron_job_payload(payload, name, period,
									   i == 0 ? skipped : 0,
									   i == 0 && skipped > 0 ? cron_period_text(first_skipped) : NULL);
		req.has_run_at = true;
		req.run_at = ring[i];
		req.dedup_key = cron_dedup_key(name, period);
		job_id = queue_enqueue_job(&req);
		last = ring[i];
	}

	{
		Datum		values[7];
		int			rc;

		values[0] = CStringGetTextDatum(name);
		values[1] = TimestampTzGetDatum(p);
		values[2] = TimestampTzGetDatum(last);
		values[3] = TimestampTzGetDatum(now);
		values[4] = Int64GetDatum(job_id);
		values[5] = Int64GetDatum(kept);
		values[6] = Int64GetDatum(skipped);
		rc = SPI_execute_plan(update_plan, values, NULL, false, 0);
		if (rc != SPI_OK_UPDATE || SPI_processed != 1)
			elog(ERROR, "update of schedule \"%s\" failed: %s", name,
				 SPI_result_code_string(rc));
	}
	return kept;
}

/*
 * Enqueue every due period of queue's schedules (every schedule's if queue
 * is NULL), SPI connected; the number of jobs, and in *fired the number of
 * schedules whose rows this transaction now holds.
 */
static int
cron_tick_connected(const char *queue, TimestampTz now, int *fired)
{
	Datum		values[2];
	int			rc;
	uint64		nrows;
	SPITupleTable *rows;
	int			total = 0;

	cron_prepare();
	if (queue)
	{
		values[0] = CStringGetTextDatum(queue);
		values[1] = TimestampTzGetDatum(now);
		rc = SPI_execute_plan(due_queue_plan, values, NULL, false, 0);
	}
	else
	{
		values[0] = TimestampTzGetDatum(now);
		rc = SPI_execute_plan(due_all_plan, values, NULL, false, 0);
	}
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading due schedules failed: %s", SPI_result_code_string(rc));
	/* keep the rows: the statements below replace SPI_tuptable */
	nrows = SPI_processed;
	rows = SPI_tuptable;
	*fired = (int) nrows;
	for (uint64 i = 0; i < nrows; i++)
	{
		HeapTuple	tup = rows->vals[i];
		TupleDesc	desc = rows->tupdesc;
		bool		isnull;
		char	   *name = SPI_getvalue(tup, desc, 1);
		char	   *crontext = SPI_getvalue(tup, desc, 2);
		char	   *q = SPI_getvalue(tup, desc, 3);
		Datum		payload = SPI_getbinval(tup, desc, 4, &isnull);
		TimestampTz next_run = DatumGetTimestampTz(SPI_getbinval(tup, desc, 5, &isnull));
		CronSchedule s;
		CronError	err;

		/*
		 * schedule() never stores a cron that does not parse, nor a next_run
		 * of -infinity; a row written into schedule_state directly may hold
		 * one.  It must not make every claim of its queue fail: it is
		 * parked, with a warning (a row already parked is not due).
		 */
		if (crontext == NULL || !cron_parse(crontext, &s, &err) ||
			TIMESTAMP_NOT_FINITE(next_run))
		{
			Datum		v[1] = {CStringGetTextDatum(name)};

			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("schedule \"%s\" has an invalid cron expression or next run: parked", name),
					 errdetail("Its row in resilience.schedule_state was not written by schedule(); its next_run is now infinity."),
					 errhint("Call resilience.schedule() to define it again, or unschedule() it.")));
			if (SPI_execute_plan(park_plan, v, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "parking schedule \"%s\" failed", name);
			continue;
		}
		total += cron_fire(name, crontext, q, payload, next_run, now);
	}
	return total;
}

/* tick(queue): enqueue the due periods of queue's schedules; tick(): all. */
Datum
cron_tick(PG_FUNCTION_ARGS)
{
	char	   *queue = NULL;
	int			n;
	int			fired;

	if (PG_NARGS() > 0)
	{
		args_not_null_hint(fcinfo, 0, "queue",
						   "Call tick() without an argument for the schedules of every queue.");
		queue = text_to_cstring(PG_GETARG_TEXT_PP(0));
		if (queue[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("queue must not be empty"),
					 errhint("Call tick() without an argument for the schedules of every queue.")));
		queue_check_name_length(queue);
	}
	spiplan_connect();
	n = cron_tick_connected(queue, clock_now(), &fired);
	SPI_finish();
	PG_RETURN_INT32(n);
}

/* schedule(name, cron, queue, payload): create or replace a schedule. */
Datum
cron_schedule(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *crontext;
	char	   *queue;
	Jsonb	   *payload;
	CronSchedule s;
	TimestampTz now;
	TimestampTz after;
	TimestampTz next;
	Datum		values[6];
	int			rc;

	args_not_null(fcinfo, 0, "name");
	args_not_null(fcinfo, 1, "cron");
	args_not_null(fcinfo, 2, "queue");
	args_not_null(fcinfo, 3, "payload");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	crontext = text_to_cstring(PG_GETARG_TEXT_PP(1));
	queue = text_to_cstring(PG_GETARG_TEXT_PP(2));
	payload = PG_GETARG_JSONB_P(3);

	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schedule name must not be empty"),
				 errhint("Name the schedule, for example 'nightly-report'.")));
	cron_parse_or_error(crontext, &s);
	if (queue[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("queue must not be empty"),
				 errhint("Pass the name of a queue made with create_queue().")));
	queue_check_name_length(queue);
	if (!JB_ROOT_IS_OBJECT(payload) || JB_ROOT_IS_SCALAR(payload))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("payload must be a JSON object"),
				 errhint("Pass an object such as '{}' or '{\"report\": \"daily\"}': each job's payload is it plus the key \"" CRON_PAYLOAD_KEY "\".")));
	{
		JsonbValue	key;

		key.type = jbvString;
		key.val.string.val = CRON_PAYLOAD_KEY;
		key.val.string.len = strlen(CRON_PAYLOAD_KEY);
		if (findJsonbValueFromContainer(&payload->root, JB_FOBJECT, &key) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("payload must not have the key \"" CRON_PAYLOAD_KEY "\""),
					 errhint("The schedule adds that key to each job's payload itself (name and period); rename yours.")));
	}
	now = clock_now();
	after = now;

	spiplan_connect();
	cron_prepare();

	/*
	 * A replaced expression starts after now and after the last period
	 * enqueued: a tick that enqueued a period past this call's clock (it
	 * held the row, which this waits for) must not see it enqueued again.
	 * (A replacement with the same expression keeps next_run: see the
	 * upsert.)
	 */
	values[0] = CStringGetTextDatum(name);
	rc = SPI_execute_plan(last_plan, values, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading schedule \"%s\" failed: %s", name, SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull && DatumGetTimestampTz(d) > after)
			after = DatumGetTimestampTz(d);
	}
	next = cron_next_or_error(&s, crontext, after);

	values[0] = CStringGetTextDatum(queue);
	rc = SPI_execute_plan(queue_plan, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading queues failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("queue \"%s\" does not exist", queue),
				 errhint("Create it with resilience.create_queue('%s').", queue)));
	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(crontext);
	values[2] = CStringGetTextDatum(queue);
	values[3] = JsonbPGetDatum(payload);
	values[4] = TimestampTzGetDatum(next);
	values[5] = TimestampTzGetDatum(now);
	rc = SPI_execute_plan(upsert_plan, values, NULL, false, 0);
	if (rc != SPI_OK_INSERT || SPI_processed != 1)
		elog(ERROR, "writing schedule \"%s\" failed: %s", name, SPI_result_code_string(rc));
	SPI_finish();
	/* this backend's claims on queue read the schedules again */
	if (cron_cache != NULL && strlen(queue) < CRON_CACHE_KEYLEN)
		(void) hash_search(cron_cache, queue, HASH_REMOVE, NULL);
	PG_RETURN_VOID();
}

/* The cache entry of queue, made (as never read) if missing; NULL if the name is too long. */
static CronCacheEntry *
cron_cache_entry(const char *queue)
{
	CronCacheEntry *e;
	bool		found;

	if (strlen(queue) >= CRON_CACHE_KEYLEN)
		return NULL;
	if (cron_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = CRON_CACHE_KEYLEN;
		ctl.entrysize = sizeof(CronCacheEntry);
		ctl.hcxt = TopMemoryContext;
		cron_cache = hash_create("resilience schedule cache", 16, &ctl,
								 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	e = (CronCacheEntry *) hash_search(cron_cache, queue, HASH_ENTER, &found);
	if (!found)
	{
		e->checked_at = DT_NOBEGIN;
		e->next_due = DT_NOBEGIN;
	}
	return e;
}

/* The earliest next_run of queue's schedules (SPI connected); DT_NOEND if none. */
static TimestampTz
cron_min_next_run(const char *queue)
{
	Datum		values[1];
	int			rc;
	bool		isnull;
	Datum		d;

	values[0] = CStringGetTextDatum(queue);
	rc = SPI_execute_plan(min_plan, values, NULL, false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "reading the next scheduled period failed: %s",
			 SPI_result_code_string(rc));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? DT_NOEND : DatumGetTimestampTz(d);
}

/*
 * May the current role tick and enqueue?  A worker granted no more than
 * claiming must keep claiming, so the rights an enqueue takes are checked
 * before, not met as 42501: schedule_state read and updated, a job inserted
 * (its identity column draws the id with no right on the sequence), and
 * under a transaction snapshot the queue's row locked FOR KEY SHARE (see
 * queue.c).  One right per call, since pg_class_aclcheck is satisfied by
 * any one of a mask.  Plans prepared (cron_prepare).
 */
static bool
cron_may_tick(void)
{
	Oid			role = GetUserId();

	if (pg_class_aclcheck(plans_relid, role, ACL_SELECT) != ACLCHECK_OK ||
		pg_class_aclcheck(plans_relid, role, ACL_UPDATE) != ACLCHECK_OK ||
		pg_class_aclcheck(plans_jobs_relid, role, ACL_INSERT) != ACLCHECK_OK)
		return false;
	return !IsolationUsesXactSnapshot() || resilience_may_lock_rows(plans_queues_relid);
}

/* claim(): enqueue the due periods of queue's schedules; cheap when none is due. */
bool
cron_claim_tick(const char *queue, TimestampTz now)
{
	CronCacheEntry *e = cron_cache_entry(queue);
	TimestampTz real_now = GetCurrentTimestamp();
	TimestampTz next_due;
	bool		fired = false;

	if (e != NULL &&
		e->next_due > now &&
		e->checked_at > real_now - (int64) cron_check_interval_ms * 1000 &&
		e->checked_at <= real_now)
		return false;

	spiplan_connect();
	cron_prepare();
	if (!cron_may_tick())
	{
		/*
		 * Nothing learnt, nothing remembered: the cache is the backend's,
		 * and the next claim may run as a role (or at an isolation level)
		 * that may tick.
		 */
		SPI_finish();
		return false;
	}
	/* one index probe when nothing is due */
	next_due = cron_min_next_run(queue);
	if (next_due <= now)
	{
		int			fired_rows = 0;

		(void) cron_tick_connected(queue, now, &fired_rows);
		fired = fired_rows > 0;
		next_due = cron_min_next_run(queue);
	}
	SPI_finish();
	if (e != NULL)
	{
		/*
		 * A schedule left due here is being enqueued by another caller (its
		 * row was locked): look again at the next claim.  So does one this
		 * call enqueued, since its transaction may yet roll back.
		 */
		e->checked_at = fired ? DT_NOBEGIN : real_now;
		e->next_due = next_due;
	}
	return fired;
}
