/*-------------------------------------------------------------------------
 *
 * keyset_plan.c
 *		Plan keys, and preparing and running page queries.
 *
 * A page query is prepared once per backend through SPI and kept
 * (SPI_keepplan); plancache revalidates it after DDL.  The plan cache key is
 * everything that changes the query's text or meaning: relation, normalized
 * spec, side of the cursor, output columns, which cursor values are NULL
 * (they are tested with IS NULL, not bound), the LIMIT, and for a filter its
 * text, the search_path and role its parameter types were inferred under,
 * and the settings its literals were read under.  A plan whose filter reads
 * the clock is reused only in the transaction it was prepared in.
 *
 * The plan's LIMIT is the page size rounded up to a power of two, a
 * constant the planner costs within a factor of two of the truth, and SPI's
 * row count stops the executor at the exact size: a LIMIT parameter would
 * make generic plans assume a tenth of the table is read.
 *
 * Cursor values are bound as parameters of their column's type (no typmod),
 * the filter's params as values of the types inferred for them, read by
 * each type's input function at every call.  Plans are never prepared
 * parallel (no CURSOR_OPT_PARALLEL_OK), which the order of a UNION ALL page
 * query relies on.  A plan is pinned while it runs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "keyset_int.h"

/* Whether two plan cache keys are the same. */
static bool
keyset_plan_key_equal(const KeysetPlanKey *a, const KeysetPlanKey *b)
{
	if (a->relid != b->relid || a->way != b->way || a->output != b->output ||
		a->has_cursor != b->has_cursor || a->cursor_nulls != b->cursor_nulls ||
		a->limit != b->limit || strcmp(a->normalized, b->normalized) != 0)
		return false;
	if (a->filter == NULL || b->filter == NULL)
		return a->filter == b->filter;
	return a->userid == b->userid && strcmp(a->filter, b->filter) == 0 &&
		strcmp(a->search_path, b->search_path) == 0 &&
		strcmp(a->settings, b->settings) == 0;
}

/*
 * The LIMIT a cached plan carries for a page of limit rows: the next power of
 * two, so page sizes share a few plans.
 */
static int64
keyset_limit_bucket(int64 limit)
{
	int64		b = 1;

	while (b < limit)
		b <<= 1;
	return b;
}

/*
 * The prepared plan for page query q (SPI must be connected), pinned: the
 * caller must keyset_unpin() it, also on error.  Parameters: the filter's
 * $1..$m, then the cursor values $m+1..$m+n.  Its LIMIT is
 * keyset_limit_bucket(q->limit); the caller stops at q->limit rows.
 * Not inlined: in keyset_fetch(), beside its PG_TRY, gcc -O2 -Wextra would
 * take the locals assigned twice here for ones a longjmp could clobber.
 */
static pg_noinline KeysetPlan *
keyset_get_plan(const KeysetQuery *q)
{
	const KeysetSpec *spec = q->spec;
	const KeysetRequest *req = q->req;
	const bool *cnulls = q->cvals ? q->cnulls : NULL;
	KeysetQuery planned = *q;
	KeysetPlanKey k;
	uint64		inval_count;
	uint64		h;
	KeysetSlot *slot;
	KeysetPlan *p;
	Oid		   *ftypes = NULL;
	int			nf = 0;
	Oid			argtypes[FUNC_MAX_ARGS + KEYSET_MAX_COLUMNS];
	char	   *vals[KEYSET_MAX_COLUMNS];
	int			nargs;
	char	   *sql;
	SPIPlanPtr	plan;

	StaticAssertStmt(KEYSET_MAX_COLUMNS <= 32, "cursor_nulls has a bit per column");

	keyset_init_caches();
	planned.limit = keyset_limit_bucket(q->limit);
	memset(&k, 0, sizeof(k));
	k.relid = spec->relid;
	k.way = q->way;
	k.output = q->output;
	k.has_cursor = cnulls != NULL;
	if (cnulls != NULL)
		for (int i = 0; i < spec->ncols; i++)
			if (cnulls[i])
				k.cursor_nulls |= (uint32) 1 << i;
	k.limit = planned.limit;
	k.normalized = spec->normalized;
	k.filter = req->filter;
	k.search_path = req->filter ? namespace_search_path : NULL;
	k.userid = req->filter ? GetUserId() : InvalidOid;
	k.settings = req->filter ? keyset_literal_settings() : NULL;

	h = hash_combine64(spec->normalized_hash, k.relid);
	h = hash_combine64(h, ((uint64) k.cursor_nulls << 3) | (k.way == KEYSET_BEFORE ? 1 : 0) |
					   (k.output == KEYSET_OUT_COLUMNS ? 2 : 0) | (k.has_cursor ? 4 : 0));
	h = hash_combine64(h, (uint64) k.limit);
	if (k.filter)
		h = hash_combine64(h, keyset_hash(k.filter,
										  keyset_hash(k.settings,
													  keyset_hash(k.search_path, k.userid))));
	slot = hash_search(keyset_plans, &h, HASH_FIND, NULL);
	p = slot ? (KeysetPlan *) slot->entry : NULL;
	if (p != NULL && p->entry.valid && keyset_plan_key_equal(&p->key, &k) &&
		(!p->reads_clock || p->xact_start == GetCurrentTransactionStartTimestamp()))
	{
		if (p->nfparams != req->nparams)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg_plural("filter uses %d parameter but params has %d elements",
								   "filter uses %d parameters but params has %d elements",
								   p->nfparams, p->nfparams, req->nparams),
					 errdetail("Parameters $1 to $n of the filter are bound, in order, from the params array.")));
		p->entry.pins++;
		return p;
	}
	if (p != NULL)
		keyset_unlink(keyset_plans, slot);
	keyset_cache_trim(keyset_plans);

	inval_count = keyset_inval_count;
	if (req->filter)
	{
		ftypes = keyset_filter_types(spec, req->filter, req->nparams);
		nf = req->nparams;
	}
	Assert(nf <= FUNC_MAX_ARGS);	/* keyset_read_args() */
	for (int i = 0; i < nf; i++)
		argtypes[i] = ftypes[i];
	nargs = nf;
	if (cnulls != NULL)
	{
		for (int i = 0; i < spec->ncols; i++)
		{
			argtypes[nargs++] = spec->cols[i].typid;
			vals[i] = psprintf("$%d", nf + i + 1);
		}
	}
	sql = keyset_build_sql(&planned, req->filter, cnulls ? vals : NULL);
	plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");

	p = MemoryContextAllocZero(keyset_cache_cxt, sizeof(KeysetPlan));
	p->entry.is_plan = true;
	p->entry.valid = keyset_inval_count == inval_count;
	p->key = k;
	p->key.normalized = MemoryContextStrdup(keyset_cache_cxt, k.normalized);
	if (k.filter)
	{
		p->key.filter = MemoryContextStrdup(keyset_cache_cxt, k.filter);
		p->key.search_path = MemoryContextStrdup(keyset_cache_cxt, k.search_path);
		p->key.settings = MemoryContextStrdup(keyset_cache_cxt, k.settings);
		p->reads_clock = keyset_filter_reads_clock(k.filter);
		p->xact_start = GetCurrentTransactionStartTimestamp();
	}
	p->plan = plan;
	p->nfparams = nf;
	p->fparamtypes = MemoryContextAlloc(keyset_cache_cxt, sizeof(Oid) * Max(nf, 1));
	if (nf > 0)
		memcpy(p->fparamtypes, ftypes, sizeof(Oid) * nf);

	keyset_cache_insert(keyset_plans, h, &p->entry);
	return p;
}

/* Bind and run a pinned plan for q, stopping at q->limit rows; see keyset_fetch. */
static void
keyset_run_plan(KeysetPlan *pe, const KeysetQuery *q, DestReceiver *dest)
{
	const KeysetSpec *spec = q->spec;
	const KeysetRequest *req = q->req;
	Datum		values[FUNC_MAX_ARGS + KEYSET_MAX_COLUMNS];
	char		nulls[FUNC_MAX_ARGS + KEYSET_MAX_COLUMNS];
	int			n = 0;
	int			rc;

	for (int i = 0; i < pe->nfparams; i++, n++)
	{
		Oid			infunc,
					ioparam;

		if (req->paramnulls[i])
		{
			values[n] = (Datum) 0;
			nulls[n] = 'n';
			continue;
		}
		getTypeInputInfo(pe->fparamtypes[i], &infunc, &ioparam);
		values[n] = OidInputFunctionCall(infunc, TextDatumGetCString(req->params[i]),
										 ioparam, -1);
		nulls[n] = ' ';
	}
	if (q->cvals)
		for (int i = 0; i < spec->ncols; i++, n++)
		{
			values[n] = q->cvals[i];
			nulls[n] = q->cnulls[i] ? 'n' : ' ';
		}
#if PG_VERSION_NUM >= 140000
	if (dest)
	{
		ParamListInfo pl = makeParamList(n);
		SPIExecuteOptions opts;

		for (int i = 0; i < n; i++)
		{
			pl->params[i].value = values[i];
			pl->params[i].isnull = nulls[i] == 'n';
			pl->params[i].pflags = PARAM_FLAG_CONST;
			pl->params[i].ptype = i < pe->nfparams ? pe->fparamtypes[i] :
				spec->cols[i - pe->nfparams].typid;
		}
		memset(&opts, 0, sizeof(opts));
		opts.params = pl;
		opts.read_only = true;
		opts.tcount = q->limit;
		opts.dest = dest;
		rc = SPI_execute_plan_extended(pe->plan, &opts);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan_extended failed: %s", SPI_result_code_string(rc));
		return;
	}
#endif
	rc = SPI_execute_plan(pe->plan, values, nulls, true, q->limit);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

/*
 * Run page query q (SPI connected): rows on q's side of its cursor values,
 * or from the start; at most q->limit rows, with the columns q->output
 * names.  With dest (PostgreSQL 14 and later) the rows go there and NULL is
 * returned, else SPI_tuptable.  The plan stays pinned while it runs, since
 * the query may run another page call, which may evict plans.
 */
pg_noinline SPITupleTable *
keyset_fetch(const KeysetQuery *q, DestReceiver *dest)
{
	KeysetPlan *pe = keyset_get_plan(q);

	PG_TRY();
	{
		keyset_run_plan(pe, q, dest);
	}
	PG_FINALLY();
	{
		keyset_unpin(&pe->entry);
	}
	PG_END_TRY();
	return dest ? NULL : SPI_tuptable;
}

/* The key values of result row i of a KEYSET_OUT_ROW_AND_KEY query, into vals/nulls. */
void
keyset_row_key(const KeysetSpec *spec, SPITupleTable *tt, uint64 i, Datum *vals, bool *nulls)
{
	for (int k = 0; k < spec->ncols; k++)
		vals[k] = SPI_getbinval(tt->vals[i], tt->tupdesc, k + 2, &nulls[k]);
}
