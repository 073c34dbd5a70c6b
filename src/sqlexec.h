/*-------------------------------------------------------------------------
 *
 * sqlexec.h
 *		Run a caller-supplied SQL string with $1..$n bound from an array of
 *		any element type, collecting the rows of its last row-returning statement.
 *
 * Used by retry_transaction/retry_statement (retry.c) and by the
 * idempotency keys.  Typical use, all inside one SPI connection:
 *
 *		SqlexecPlan *plan = sqlexec_prepare(sql, params);
 *		SqlexecResult res;
 *
 *		sqlexec_result_init(&res, CurrentMemoryContext);
 *		sqlexec_run(plan, params, &res);	(may be repeated: each run
 *											 discards the previous rows)
 *		jsonb = sqlexec_result_jsonb(&res);	(NULL if nothing returned rows)
 *		sqlexec_result_free(&res);
 *
 * or, for a one-shot run in the caller's transaction, sqlexec_execute().
 *
 * Semantics:
 * - sql holds one or more statements; each is parsed and analysed when the
 *   string is first prepared (so a statement cannot use a table that an
 *   earlier statement of the same string creates, as with PREPARE).
 * - params text[] (or NULL, or empty): parameter types are inferred from
 *   context, as an untyped PREPARE does; every $k with k <= nparams must be
 *   referenced and its type determinable (42P18 otherwise).  Text values are
 *   converted with the inferred type's input function.
 * - params of any other element type (int[], numeric[], uuid[], jsonb[],
 *   an array of a domain or composite type ...): every $k is of that type,
 *   as if declared by PREPARE name(type, type, ...), and the elements are
 *   bound as they are, with no text round trip.  A $k the SQL does not use
 *   is ignored.  Arrays of a pseudo-type (record[], cstring[]) and arrays of
 *   more than one dimension are refused (22023).
 * - Either way NULL elements are SQL NULLs, and no $k with k > nparams may
 *   appear (42P02).
 * - Transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT ...) and COPY
 *   from/to the client are refused (0A000).
 * - The rows of the LAST statement that returns rows (SELECT, ... RETURNING,
 *   SHOW ...) are kept, even if it returned zero rows (an empty array then).
 *   Rows are copied with every value detoasted into the result's own memory
 *   context, so they stay valid after the transaction that produced them
 *   commits; the jsonb can be built later, in any transaction.
 * - Plans are prepared once per backend and cached, keyed by (sql, nparams,
 *   element type of params, current role, search_path setting), in a bounded LRU cache
 *   (spiplan.h, SQLEXEC_CACHE_SIZE entries), so parameter types are inferred afresh
 *   under another role or path; the plan cache revalidates them after DDL
 *   as it does for any prepared statement.  An idle plan can be evicted by any later
 *   sqlexec_prepare, so do not keep a SqlexecPlan pointer across anything
 *   that may run SQL: call sqlexec_prepare (a hash lookup) right before each
 *   sqlexec_run.  A plan is pinned while sqlexec_run executes it.
 * - Errors propagate (ereport); nothing is cached for SQL that fails to
 *   prepare.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_SQLEXEC_H
#define RESILIENCE_SQLEXEC_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "utils/array.h"
#include "utils/jsonb.h"

/* how many prepared SQL strings a backend keeps */
#define SQLEXEC_CACHE_SIZE 256

/* a prepared (cached) SQL string; owned by the cache, never freed by callers */
typedef struct SqlexecPlan SqlexecPlan;

/* the rows collected by sqlexec_run */
typedef struct SqlexecResult
{
	MemoryContext cxt;			/* owns desc and rows; reset by each run */
	bool		returned;		/* did any statement return rows? */
	TupleDesc	desc;			/* of the last row-returning statement */
	HeapTuple  *rows;			/* its rows, detoasted */
	uint64		nrows;
	uint64		maxrows;
} SqlexecResult;

/* Number of parameters in params (NULL array: 0); 22023 if not 1-D. */
extern int	sqlexec_param_count(ArrayType *params);

/*
 * Prepare (or find in the cache) sql for params (its length and element
 * type; NULL: none).  SPI connected.
 */
extern SqlexecPlan *sqlexec_prepare(const char *sql, ArrayType *params);

/* Set up an empty result whose memory lives under parent. */
extern void sqlexec_result_init(SqlexecResult *res, MemoryContext parent);

/* Forget the collected rows (keeps the memory context). */
extern void sqlexec_result_reset(SqlexecResult *res);

/* Release the result's memory. */
extern void sqlexec_result_free(SqlexecResult *res);

/*
 * Run a prepared plan with params (NULL, or an array of the length and
 * element type the plan was prepared for) in the current transaction, replacing the rows in
 * res.  SPI connected.
 */
extern void sqlexec_run(SqlexecPlan *plan, ArrayType *params,
						SqlexecResult *res);

/*
 * The collected rows as a jsonb array of objects (column name -> value, as
 * to_jsonb(record) makes them, numbers as resilience.json_exact_numbers
 * says: jsonout.h), or NULL if no statement returned rows.
 * Needs a transaction (for output functions); allocated in the caller's
 * memory context.
 */
extern Jsonb *sqlexec_result_jsonb(SqlexecResult *res);

/*
 * Prepare (cached) and run sql in the caller's transaction and return the
 * jsonb of its rows (or NULL).  Connects to SPI itself.
 */
extern Jsonb *sqlexec_execute(const char *sql, ArrayType *params);

#endif							/* RESILIENCE_SQLEXEC_H */
