/*-------------------------------------------------------------------------
 *
 * queue_plan.c
 *		The job queue's saved statements: their text, preparation and
 *		execution.
 *
 * The statements name the member tables (job_state, job_queues) found by
 * extension membership (extension.c), as they are named now; they are
 * prepared again after a relcache invalidation of either table or a
 * pg_namespace change, and otherwise a call does no catalog lookup.  Every
 * statement keeps its generic plan (spiplan_saved_generic).  The rules the
 * statements implement are queue.c's; this file owns only their text.
 *
 *-------------------------------------------------------------------------
 */

#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/procarray.h"
#include "access/transam.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "args.h"
#include "backoff.h"
#include "clock.h"
#include "cron.h"
#include "extension.h"
#include "inval.h"
#include "lease.h"
#include "queue.h"
#include "queue_int.h"
#include "resilience.h"
#include "shmem.h"
#include "spiplan.h"
#include "stats.h"


/*-------------------------------------------------------------------------
 * Plans
 *-------------------------------------------------------------------------
 */


static SPIPlanPtr queue_plans[QP_COUNT];

/* The member tables the plans were built for, and their names then. */
static Oid	plans_jobs_relid = InvalidOid;
static Oid	plans_queues_relid = InvalidOid;
static char *plans_jobs_name = NULL;	/* in TopMemoryContext */
static char *plans_queues_name = NULL;
static bool plans_checked = false;
static bool plans_ready = false;
static bool plans_callbacks_registered = false;

/* Invalidation listener (inval.h): a member table, or anything, changed. */
static void
queue_invalidate(Oid relid)
{
	if (relid == InvalidOid || relid == plans_jobs_relid || relid == plans_queues_relid)
		plans_checked = false;
}

/* The text 'running', bound where a plan compares a job's state with it. */
Datum
queue_running_datum(void)
{
	static Datum running = (Datum) 0;

	if (running == (Datum) 0)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		running = CStringGetTextDatum("running");
		MemoryContextSwitchTo(old);
	}
	return running;
}

/* Prepare and save one statement; @J@ is the jobs table, @Q@ the queues. */
static void
queue_prepare(QueuePlan which, const char *fmt, int nargs, Oid *types)
{
	StringInfoData buf;
	char	   *sql;

	initStringInfo(&buf);
	for (const char *p = fmt; *p; p++)
	{
		if (p[0] == '@' && (p[1] == 'J' || p[1] == 'Q') && p[2] == '@')
		{
			appendStringInfoString(&buf, p[1] == 'J' ? plans_jobs_name : plans_queues_name);
			p += 2;
		}
		else
			appendStringInfoChar(&buf, *p);
	}
	sql = buf.data;
	queue_plans[which] = NULL;
	/* the generic plan: custom plans of LIMIT $2 or CASE WHEN $7 look cheaper */
	spiplan_saved_generic(&queue_plans[which], sql, nargs, types);
	pfree(sql);
}

/*
 * The saved statements (SPI connected), naming the member tables as they
 * are now; rebuilt when their OID or qualified name changed.  Between
 * invalidations a call does no catalog lookup.
 */
static void
queue_prepare_plans(void)
{
	uint64		gen;
	Oid			jobs;
	Oid			queues;
	char	   *jobs_name;
	char	   *queues_name;
	Oid			t1[1] = {TEXTOID};
	Oid			t_tt[2] = {TEXTOID, TIMESTAMPTZOID};
	Oid			t_ttt[3] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Oid			t_tx[2] = {TEXTOID, TEXTOID};
	Oid			i1[1] = {INT8OID};
	Oid			it[2] = {INT8OID, TIMESTAMPTZOID};
	Oid			enq[7] = {TEXTOID, JSONBOID, TIMESTAMPTZOID, INT4OID, INT4OID,
	TIMESTAMPTZOID, TEXTOID};
	Oid			enqd[8] = {TEXTOID, JSONBOID, TIMESTAMPTZOID, INT4OID, INT4OID,
	TIMESTAMPTZOID, TEXTOID, TEXTOID};
	Oid			many[7] = {TEXTOID, JSONBARRAYOID, TIMESTAMPTZOID, INT4OID, INT4OID,
	TIMESTAMPTZOID, TEXTOID};
	Oid			claim[5] = {TEXTOID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID};
	Oid			claim_from[8] = {TEXTOID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID,
	INT8OID, TIMESTAMPTZOID, INT8OID};
	Oid			fail[5] = {INT8OID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TIMESTAMPTZOID};
	Oid			ext[4] = {INT8OID, INT8OID, TIMESTAMPTZOID, TEXTOID};
	Oid			iis[3] = {INT8OID, INT8OID, TEXTOID};
	Oid			many_done[3] = {INT8ARRAYOID, INT8ARRAYOID, TEXTOID};
	Oid			its[3] = {INT8OID, TIMESTAMPTZOID, TEXTOID};
	Oid			rg[2] = {TEXTOID, INT8ARRAYOID};
	Oid			rd[4] = {TEXTOID, INT8ARRAYOID, TIMESTAMPTZOID, TEXTARRAYOID};

	if (plans_checked && plans_ready)
		return;
	if (!plans_callbacks_registered)
	{
		inval_listen(queue_invalidate);
		plans_callbacks_registered = true;
	}
	/*
	 * Checked only once the lookups succeed with no invalidation meanwhile:
	 * an error in them (the table renamed away) must not leave the old
	 * plans trusted, which plancache would re-analyse by name.
	 */
	plans_checked = false;
	gen = inval_generation;
	jobs = resilience_member_table("job_state", NULL);
	queues = resilience_member_table("job_queues", NULL);
	jobs_name = resilience_member_table_name(jobs);
	queues_name = resilience_member_table_name(queues);
	if (plans_ready && jobs == plans_jobs_relid && queues == plans_queues_relid &&
		strcmp(jobs_name, plans_jobs_name) == 0 &&
		strcmp(queues_name, plans_queues_name) == 0)
	{
		plans_checked = gen == inval_generation;
		return;
	}

	plans_ready = false;
	for (int i = 0; i < QP_COUNT; i++)
	{
		if (queue_plans[i] != NULL)
			SPI_freeplan(queue_plans[i]);
		queue_plans[i] = NULL;
	}
	if (plans_jobs_name)
		pfree(plans_jobs_name);
	if (plans_queues_name)
		pfree(plans_queues_name);
	plans_jobs_name = MemoryContextStrdup(TopMemoryContext, jobs_name);
	plans_queues_name = MemoryContextStrdup(TopMemoryContext, queues_name);
	plans_jobs_relid = jobs;
	plans_queues_relid = queues;

	queue_prepare(QP_QUEUE_EXISTS,
				  "SELECT 1 FROM @Q@ WHERE name OPERATOR(pg_catalog.=) $1", 1, t1);
	queue_prepare(QP_QUEUE_CREATE,
				  "INSERT INTO @Q@ (name, created_at) VALUES ($1, $2)"
				  " ON CONFLICT (name) DO NOTHING RETURNING 1", 2, t_tt);
	queue_prepare(QP_QUEUE_LOCK_JOBS,
				  "LOCK TABLE @J@ IN SHARE ROW EXCLUSIVE MODE", 0, NULL);
	queue_prepare(QP_QUEUE_DROP,
				  "DELETE FROM @Q@ WHERE name OPERATOR(pg_catalog.=) $1 RETURNING 1",
				  1, t1);
	queue_prepare(QP_QUEUE_DROP_JOBS,
				  "DELETE FROM @J@ WHERE queue OPERATOR(pg_catalog.=) $1", 1, t1);

	/*
	 * $7 group_key: the head if the group has no unfinished job (the group
	 * lock is held), blocked otherwise.
	 */
#define ENQUEUE_STATE(first) \
	"CASE WHEN $7 IS NULL THEN 'pending'" \
	" WHEN " first " NOT EXISTS (SELECT 1 FROM @J@ o" \
	"  WHERE o.queue OPERATOR(pg_catalog.=) $1" \
	"  AND o.group_key OPERATOR(pg_catalog.=) $7" \
	"  AND o.state OPERATOR(pg_catalog.=) ANY (" UNFINISHED "))" \
	" THEN 'pending' ELSE 'blocked' END"

	/*
	 * The queue's row: read (READ COMMITTED) or locked FOR KEY SHARE (a
	 * transaction snapshot, which could predate a drop); see the file's
	 * header.
	 */
#define PRIORITY_KEY "(0::pg_catalog.int8 OPERATOR(pg_catalog.-) $4)"
#define QUEUE_ROW(lock) \
	" FROM (SELECT name FROM @Q@ WHERE name OPERATOR(pg_catalog.=) $1" lock ") q"
#define ENQUEUE_SQL(lock, state) \
	"INSERT INTO @J@ (queue, state, payload, priority, priority_key, run_at," \
	" attempt, max_attempts, token, group_key, enqueued_at)" \
	" SELECT q.name, " state ", $2, $4, " PRIORITY_KEY ", $3," \
	" 0, $5, 0, $7, $6" \
	QUEUE_ROW(lock) " RETURNING id"
#define ENQUEUE_DEDUP_SQL(lock, state) \
	"INSERT INTO @J@ (queue, state, payload, priority, priority_key, run_at," \
	" attempt, max_attempts, token, group_key, enqueued_at, dedup_key)" \
	" SELECT q.name, " state ", $2, $4, " PRIORITY_KEY ", $3," \
	" 0, $5, 0, $7, $6, $8" \
	QUEUE_ROW(lock) \
	" ON CONFLICT (queue, dedup_key) WHERE dedup_key IS NOT NULL" \
	" AND state OPERATOR(pg_catalog.=) ANY (" UNFINISHED ")" \
	" DO NOTHING RETURNING id"
#define ENQUEUE_MANY_SQL(lock, state) \
	"INSERT INTO @J@ (queue, state, payload, priority, priority_key, run_at," \
	" attempt, max_attempts, token, group_key, enqueued_at)" \
	" SELECT q.name, " state ", u.p, $4, " PRIORITY_KEY ", $3, 0, $5, 0, $7, $6" \
	QUEUE_ROW(lock) ", pg_catalog.unnest($2) WITH ORDINALITY AS u(p, n)" \
	" ORDER BY u.n RETURNING id"
#define KEY_SHARE " FOR KEY SHARE"
#define PENDING "'pending'"

	/* ungrouped ($7 is NULL) jobs are pending: no subquery to set up */
	queue_prepare(QP_ENQUEUE, ENQUEUE_SQL("", PENDING), 7, enq);
	queue_prepare(QP_ENQUEUE + 1, ENQUEUE_SQL(KEY_SHARE, PENDING), 7, enq);
	queue_prepare(QP_ENQUEUE + 2, ENQUEUE_SQL("", ENQUEUE_STATE("")), 7, enq);
	queue_prepare(QP_ENQUEUE + 3, ENQUEUE_SQL(KEY_SHARE, ENQUEUE_STATE("")), 7, enq);
	queue_prepare(QP_ENQUEUE_DEDUP, ENQUEUE_DEDUP_SQL("", PENDING), 8, enqd);
	queue_prepare(QP_ENQUEUE_DEDUP + 1, ENQUEUE_DEDUP_SQL(KEY_SHARE, PENDING), 8, enqd);
	queue_prepare(QP_ENQUEUE_DEDUP + 2, ENQUEUE_DEDUP_SQL("", ENQUEUE_STATE("")), 8, enqd);
	queue_prepare(QP_ENQUEUE_DEDUP + 3, ENQUEUE_DEDUP_SQL(KEY_SHARE, ENQUEUE_STATE("")), 8, enqd);
	queue_prepare(QP_ENQUEUE_MANY, ENQUEUE_MANY_SQL("", PENDING), 7, many);
	queue_prepare(QP_ENQUEUE_MANY + 1, ENQUEUE_MANY_SQL(KEY_SHARE, PENDING), 7, many);
	queue_prepare(QP_ENQUEUE_MANY + 2,
				  ENQUEUE_MANY_SQL("", ENQUEUE_STATE("u.n OPERATOR(pg_catalog.=) 1 AND")), 7, many);
	queue_prepare(QP_ENQUEUE_MANY + 3,
				  ENQUEUE_MANY_SQL(KEY_SHARE, ENQUEUE_STATE("u.n OPERATOR(pg_catalog.=) 1 AND")), 7, many);
	queue_prepare(QP_DEDUP_FIND,
				  "SELECT id FROM @J@ WHERE queue OPERATOR(pg_catalog.=) $1"
				  " AND dedup_key OPERATOR(pg_catalog.=) $2"
				  " AND state OPERATOR(pg_catalog.=) ANY (" UNFINISHED ")", 2, t_tx);

	/*
	 * $3 now, $4 the lease's end, $5 the token floor; QP_CLAIM_FROM starts
	 * the scan at ($6, $7, $8) in the ready index's order.
	 */
#define CLAIM_SQL(from) \
	"WITH c AS MATERIALIZED (SELECT r.id FROM @J@ r" \
	"  WHERE r.queue OPERATOR(pg_catalog.=) $1" \
	"  AND r.state OPERATOR(pg_catalog.=) 'pending'" \
	"  AND r.run_at OPERATOR(pg_catalog.<=) $3" from \
	"  ORDER BY r.priority_key, r.run_at, r.id" \
	"  LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED)" \
	" UPDATE @J@ j SET state = 'running'," \
	" attempt = j.attempt OPERATOR(pg_catalog.+) 1," \
	" token = pg_catalog.int8larger(j.token OPERATOR(pg_catalog.+) 1, $5)," \
	" lease_expires_at = $4" \
	" WHERE j.id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT c.id FROM c))" \
	" RETURNING j.id, j.queue, j.payload, j.attempt, j.max_attempts," \
	" j.token, j.lease_expires_at, j.group_key, j.enqueued_at," \
	" j.priority, j.run_at"

	queue_prepare(QP_CLAIM, CLAIM_SQL(""), 5, claim);
	queue_prepare(QP_CLAIM_FROM,
				  CLAIM_SQL("  AND (r.priority_key, r.run_at, r.id)"
							" OPERATOR(pg_catalog.>=) ($6, $7, $8)"),
				  8, claim_from);

	/*
	 * Expired leases that change no group head: back to pending, or dead
	 * when ungrouped and out of attempts.
	 */
	queue_prepare(QP_REAP,
				  "WITH c AS MATERIALIZED (SELECT r.id FROM @J@ r"
				  "  WHERE r.queue OPERATOR(pg_catalog.=) $1"
				  "  AND r.state OPERATOR(pg_catalog.=) 'running'"
				  "  AND r.lease_expires_at OPERATOR(pg_catalog.<=) $2"
				  "  AND r.lease_expires_at OPERATOR(pg_catalog.>=) $3"
				  "  AND (r.group_key IS NULL"
				  "   OR r.attempt OPERATOR(pg_catalog.<) r.max_attempts)"
				  "  ORDER BY r.lease_expires_at LIMIT " QUEUE_REAP_BATCH
				  "  FOR NO KEY UPDATE SKIP LOCKED)"
				  " UPDATE @J@ j SET"
				  " state = CASE WHEN j.attempt OPERATOR(pg_catalog.>=) j.max_attempts"
				  "  THEN 'dead' ELSE 'pending' END,"
				  " finished_at = CASE WHEN j.attempt OPERATOR(pg_catalog.>=) j.max_attempts"
				  "  THEN $2 END,"
				  " run_at = $2, lease_expires_at = NULL, last_error = 'lease expired'"
				  " WHERE j.id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT c.id FROM c))"
				  " RETURNING j.state OPERATOR(pg_catalog.=) 'dead'", 3, t_ttt);
	queue_prepare(QP_REAP_GROUPED_FIND,
				  "SELECT r.id, r.group_key FROM @J@ r"
				  " WHERE r.queue OPERATOR(pg_catalog.=) $1"
				  " AND r.state OPERATOR(pg_catalog.=) 'running'"
				  " AND r.lease_expires_at OPERATOR(pg_catalog.<=) $2"
				  " AND r.lease_expires_at OPERATOR(pg_catalog.>=) $3"
				  " AND r.group_key IS NOT NULL"
				  " AND r.attempt OPERATOR(pg_catalog.>=) r.max_attempts"
				  " ORDER BY r.lease_expires_at LIMIT " QUEUE_REAP_BATCH, 3, t_ttt);
	/*
	 * The row is locked with SKIP LOCKED, as QP_REAP does: a worker's open
	 * transaction holding it (an extend() not yet committed) must not make
	 * the claim wait while it holds the group's lock.
	 */
	queue_prepare(QP_REAP_GROUPED,
				  "UPDATE @J@ SET state = 'dead', finished_at = $2, run_at = $2,"
				  " lease_expires_at = NULL, last_error = 'lease expired'"
				  " WHERE id OPERATOR(pg_catalog.=) (SELECT r.id FROM @J@ r"
				  "  WHERE r.id OPERATOR(pg_catalog.=) $1"
				  "  AND r.state OPERATOR(pg_catalog.=) $3"
				  "  AND r.lease_expires_at OPERATOR(pg_catalog.<=) $2"
				  "  AND r.attempt OPERATOR(pg_catalog.>=) r.max_attempts"
				  "  FOR NO KEY UPDATE SKIP LOCKED)"
				  " RETURNING 1", 3, its);
	/* the oldest blocked job becomes the head, if the group has none */
	queue_prepare(QP_PROMOTE,
				  "UPDATE @J@ SET state = 'pending'"
				  " WHERE id OPERATOR(pg_catalog.=) (SELECT b.id FROM @J@ b"
				  "  WHERE b.queue OPERATOR(pg_catalog.=) $1"
				  "  AND b.group_key OPERATOR(pg_catalog.=) $2"
				  "  AND b.state OPERATOR(pg_catalog.=) ANY (" UNFINISHED ")"
				  "  AND b.state OPERATOR(pg_catalog.=) 'blocked'"
				  "  ORDER BY b.id LIMIT 1)"
				  " AND NOT EXISTS (SELECT 1 FROM @J@ h"
				  "  WHERE h.queue OPERATOR(pg_catalog.=) $1"
				  "  AND h.group_key OPERATOR(pg_catalog.=) $2"
				  "  AND h.state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running']))"
				  " RETURNING 1", 2, t_tx);

	/*
	 * The statements that find one job by id compare its state with a
	 * parameter ($3, always 'running'), not a constant: a constant matches
	 * job_state_running's predicate, and the generic plan, made once per
	 * backend from whatever statistics the table had then, could scan that
	 * whole partial index instead of the primary key (1 ms per complete()
	 * with 1,000 jobs running).
	 */
	queue_prepare(QP_COMPLETE,
				  "DELETE FROM @J@ WHERE id OPERATOR(pg_catalog.=) $1"
				  " AND token OPERATOR(pg_catalog.=) $2"
				  " AND state OPERATOR(pg_catalog.=) $3 AND group_key IS NULL"
				  " RETURNING queue", 3, iis);
	queue_prepare(QP_COMPLETE_GROUPED,
				  "DELETE FROM @J@ WHERE id OPERATOR(pg_catalog.=) $1"
				  " AND token OPERATOR(pg_catalog.=) $2"
				  " AND state OPERATOR(pg_catalog.=) $3"
				  " RETURNING queue", 3, iis);
	/* complete_many(): the ungrouped jobs of ($1[i], $2[i]), one statement */
	queue_prepare(QP_COMPLETE_MANY,
				  "DELETE FROM @J@ j USING ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS c(id, token)"
				  " WHERE j.id OPERATOR(pg_catalog.=) c.id"
				  " AND j.token OPERATOR(pg_catalog.=) c.token"
				  " AND j.state OPERATOR(pg_catalog.=) $3 AND j.group_key IS NULL"
				  " RETURNING j.id, j.queue", 3, many_done);
	queue_prepare(QP_JOB_READ,
				  "SELECT queue, state, token, group_key, attempt, max_attempts"
				  " FROM @J@ WHERE id OPERATOR(pg_catalog.=) $1", 1, i1);
	queue_prepare(QP_JOB_READ_LOCK,
				  "SELECT queue, state, token, group_key, attempt, max_attempts"
				  " FROM @J@ WHERE id OPERATOR(pg_catalog.=) $1 FOR NO KEY UPDATE",
				  1, i1);
	queue_prepare(QP_FAIL_UPDATE,
				  "UPDATE @J@ SET state = $2, run_at = $3, last_error = $4,"
				  " finished_at = $5, lease_expires_at = NULL"
				  " WHERE id OPERATOR(pg_catalog.=) $1", 5, fail);
	queue_prepare(QP_EXTEND,
				  "UPDATE @J@ SET lease_expires_at = $3"
				  " WHERE id OPERATOR(pg_catalog.=) $1"
				  " AND token OPERATOR(pg_catalog.=) $2"
				  " AND state OPERATOR(pg_catalog.=) $4"
				  " RETURNING lease_expires_at", 4, ext);
	queue_prepare(QP_CANCEL,
				  "UPDATE @J@ SET state = 'cancelled', finished_at = $2,"
				  " lease_expires_at = NULL"
				  " WHERE id OPERATOR(pg_catalog.=) $1"
				  " AND state OPERATOR(pg_catalog.=) ANY (" UNFINISHED ")"
				  " RETURNING queue", 2, it);
	queue_prepare(QP_REDRIVE_GROUPS,
				  "SELECT DISTINCT group_key FROM @J@"
				  " WHERE queue OPERATOR(pg_catalog.=) $1"
				  " AND state OPERATOR(pg_catalog.=) 'dead' AND group_key IS NOT NULL"
				  " AND ($2 IS NULL OR id OPERATOR(pg_catalog.=) ANY ($2))", 2, rg);

	/*
	 * The dead jobs to redrive, less those whose dedup_key an unfinished
	 * job holds and, of dead jobs sharing a key, all but the oldest: a
	 * redrive never makes a second unfinished job of a key (queue.c).
	 */
	queue_prepare(QP_REDRIVE,
				  "WITH c AS MATERIALIZED (SELECT d.id FROM"
				  "  (SELECT r.id, r.dedup_key, pg_catalog.row_number() OVER"
				  "    (PARTITION BY r.dedup_key ORDER BY r.id) AS n"
				  "   FROM @J@ r WHERE r.queue OPERATOR(pg_catalog.=) $1"
				  "   AND r.state OPERATOR(pg_catalog.=) 'dead'"
				  "   AND ($2 IS NULL OR r.id OPERATOR(pg_catalog.=) ANY ($2))"
				  "   AND (r.group_key IS NULL OR r.group_key OPERATOR(pg_catalog.=) ANY ($4))) d"
				  "  WHERE d.dedup_key IS NULL"
				  "  OR (d.n OPERATOR(pg_catalog.=) 1 AND NOT EXISTS (SELECT 1 FROM @J@ o"
				  "   WHERE o.queue OPERATOR(pg_catalog.=) $1"
				  "   AND o.dedup_key OPERATOR(pg_catalog.=) d.dedup_key"
				  "   AND o.state OPERATOR(pg_catalog.=) ANY (" UNFINISHED "))))"
				  " UPDATE @J@ j SET"
				  " state = CASE WHEN j.group_key IS NULL THEN 'pending' ELSE 'blocked' END,"
				  " attempt = 0, run_at = $3, finished_at = NULL, lease_expires_at = NULL"
				  " WHERE j.id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT c.id FROM c))"
				  " AND j.state OPERATOR(pg_catalog.=) 'dead'",
				  4, rd);
	/* after a redrive: the dead jobs it left because of their dedup_key */
	queue_prepare(QP_REDRIVE_SKIPPED,
				  "SELECT d.id, d.dedup_key, o.id, pg_catalog.count(*) OVER ()"
				  " FROM @J@ d JOIN @J@ o ON o.queue OPERATOR(pg_catalog.=) d.queue"
				  "  AND o.dedup_key OPERATOR(pg_catalog.=) d.dedup_key"
				  "  AND o.state OPERATOR(pg_catalog.=) ANY (" UNFINISHED ")"
				  " WHERE d.queue OPERATOR(pg_catalog.=) $1"
				  " AND d.state OPERATOR(pg_catalog.=) 'dead' AND d.dedup_key IS NOT NULL"
				  " AND ($2 IS NULL OR d.id OPERATOR(pg_catalog.=) ANY ($2))"
				  " ORDER BY d.id LIMIT 1", 2, rg);
	queue_prepare(QP_PURGE,
				  "DELETE FROM @J@ WHERE queue OPERATOR(pg_catalog.=) $1"
				  " AND state OPERATOR(pg_catalog.=) ANY (ARRAY['dead', 'cancelled'])"
				  " AND finished_at OPERATOR(pg_catalog.<) $2", 2, t_tt);
	plans_ready = true;
	plans_checked = gen == inval_generation;
}

/* Connect to SPI and make sure the plans are there. */
void
queue_connect(void)
{
	spiplan_connect();
	queue_prepare_plans();
}

/*
 * Whether a statement decides a group's head (a grouped enqueue: head or
 * blocked; a promotion).  Its callers hold the group's lock, so the group's
 * rows it reads are those of transactions that finished with that lock;
 * but a transaction snapshot (REPEATABLE READ, SERIALIZABLE) taken before
 * they committed would not show them: a job left blocked behind a head that
 * was completed, or no job promoted after a head the snapshot does not see
 * blocked.  Those statements read with the latest snapshot, as ri_triggers.c
 * checks keys.
 */
static inline bool
queue_plan_decides_group(QueuePlan which)
{
	if (which == QP_PROMOTE)
		return true;
	/* the three enqueue statements, four variants each (queue_enqueue_plan) */
	if (which >= QP_ENQUEUE && which < QP_ENQUEUE_MANY + 4)
		return (((which - QP_ENQUEUE) % 4) & QUEUE_VARIANT_GROUPED) != 0;
	return false;
}

/* Run a saved plan; ERROR unless it returned expected. */
uint64
queue_exec(QueuePlan which, Datum *values, const char *nulls, int expected)
{
	int			rc;

	if (IsolationUsesXactSnapshot() && queue_plan_decides_group(which))
		rc = SPI_execute_snapshot(queue_plans[which], values, nulls,
								  GetLatestSnapshot(), InvalidSnapshot,
								  false, false, 0);
	else
		rc = SPI_execute_plan(queue_plans[which], values, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "queue statement %d failed: %s", (int) which,
			 SPI_result_code_string(rc));
	return SPI_processed;
}
