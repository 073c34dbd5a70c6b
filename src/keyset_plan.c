/*-------------------------------------------------------------------------
 *
 * keyset_plan.c
 *		Plan keys, and preparing and running page queries.
 *
 * A page query is prepared once per backend and kept in keyset_plan_cache,
 * spiplan.h's bounded cache of saved plans (least recently used unpinned
 * plans are evicted); plancache revalidates it after DDL.  The cache key is
 * everything that changes the query's text or meaning: relation, normalized
 * spec, side of the cursor, output columns, which cursor values are NULL
 * (they are tested with IS NULL, not bound), the LIMIT, and for a filter its
 * text, the element type and number of its params, the search_path and role its
 * parameter types were inferred under, and the settings its literals were
 * read under.  A plan whose filter reads
 * the clock is reused only in the transaction it was prepared in.
 *
 * The plan's LIMIT is the page size rounded up to a power of two, a
 * constant the planner costs within a factor of two of the truth, and SPI's
 * row count stops the executor at the exact size: a LIMIT parameter would
 * make generic plans assume a tenth of the table is read.
 *
 * Cursor values are bound as parameters of their column's type (no typmod),
 * the filter's params (text[]) as values of the types inferred for them,
 * read by each type's input function at every call, or (any other array)
 * as they are, the parameters declared of their element type.  Plans are never prepared
 * parallel (no CURSOR_OPT_PARALLEL_OK), which the order of a UNION ALL page
 * query relies on.  A plan is pinned while it runs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "inval.h"
#include "keyset_int.h"
#include "stats.h"

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
 * caller must spiplan_cache_unpin() it, also on error.  Parameters: the filter's
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
	StringInfoData key;
	uint64		inval_count;
	KeysetPlan *p;
	Oid		   *ftypes = NULL;
	int			nf = 0;
	Oid			argtypes[FUNC_MAX_ARGS + KEYSET_MAX_COLUMNS];
	char	   *vals[KEYSET_MAX_COLUMNS];
	int			nargs;
	char	   *sql;

	StaticAssertStmt(KEYSET_MAX_COLUMNS <= 32, "cursor_nulls has a bit per column");

	keyset_init_caches();
	planned.limit = keyset_limit_bucket(q->limit);
	/* zeroed, padding included: the key is compared as bytes */
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
	k.has_filter = req->filter != NULL;
	k.userid = req->filter ? GetUserId() : InvalidOid;
	k.paramtype = req->filter ? req->paramtype : InvalidOid;
	k.nparams = req->filter ? req->nparams : 0;
	initStringInfo(&key);
	appendBinaryStringInfo(&key, (const char *) &k, sizeof(k));
	appendBinaryStringInfo(&key, spec->normalized, strlen(spec->normalized) + 1);
	if (req->filter)
	{
		const char *settings = keyset_literal_settings();

		appendBinaryStringInfo(&key, req->filter, strlen(req->filter) + 1);
		appendBinaryStringInfo(&key, namespace_search_path, strlen(namespace_search_path) + 1);
		appendBinaryStringInfo(&key, settings, strlen(settings) + 1);
	}

	p = (KeysetPlan *) spiplan_cache_lookup(keyset_plan_cache, key.data, key.len);
	if (p != NULL &&
		(!p->reads_clock || p->xact_start == GetCurrentTransactionStartTimestamp()))
	{
		if (p->nfparams != req->nparams)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg_plural("filter uses %d parameter but params has %d elements",
								   "filter uses %d parameters but params has %d elements",
								   p->nfparams, p->nfparams, req->nparams),
					 errdetail("Parameters $1 to $n of the filter are bound, in order, from the params array.")));
		spiplan_cache_pin(&p->entry);
		stats_keyset_plan_cache(true);
		return p;
	}
	stats_keyset_plan_cache(false);

	/* a plan of another transaction's clock is replaced by the insert */
	inval_count = inval_generation;
	if (req->filter)
	{
		ftypes = keyset_filter_types(spec, req->filter, req->nparams, req->paramtype);
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

	p = (KeysetPlan *) spiplan_cache_entry_new(keyset_plan_cache, key.data, key.len,
											   sizeof(KeysetPlan));
	p->entry.plan = spiplan_prepare(sql, nargs, argtypes);
	p->relid = spec->relid;
	if (req->filter)
	{
		p->reads_clock = keyset_filter_reads_clock(req->filter);
		p->xact_start = GetCurrentTransactionStartTimestamp();
	}
	p->nfparams = nf;
	p->fparamtypes = MemoryContextAlloc(p->entry.cxt, sizeof(Oid) * Max(nf, 1));
	if (nf > 0)
		memcpy(p->fparamtypes, ftypes, sizeof(Oid) * nf);
	p->entry.valid = inval_generation == inval_count;

	spiplan_cache_insert(keyset_plan_cache, &p->entry);
	spiplan_cache_pin(&p->entry);
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
		if (req->paramtype != TEXTOID)
		{
			values[n] = req->params[i];
			nulls[n] = ' ';
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
		rc = SPI_execute_plan_extended(pe->entry.plan, &opts);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan_extended failed: %s", SPI_result_code_string(rc));
		return;
	}
	rc = SPI_execute_plan(pe->entry.plan, values, nulls, true, q->limit);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

/*
 * Run page query q (SPI connected): rows on q's side of its cursor values,
 * or from the start; at most q->limit rows, with the columns q->output
 * names.  With dest the rows go there and NULL is
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
		spiplan_cache_unpin(&pe->entry);
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
