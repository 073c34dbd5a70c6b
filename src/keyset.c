/*-------------------------------------------------------------------------
 *
 * keyset.c
 *		Keyset pagination's SQL entry points: resilience.page(), page_json(),
 *		page_sql() and cursor_of(), and the setting resilience.max_page_size.
 *
 * Every entry point runs through keyset_call(), one prologue and epilogue:
 * it reads and checks the arguments, gets the resolved spec (pinned), and
 * decodes the cursor given; then it runs the entry point's body and, either
 * way, unpins the spec and deletes the call's memory context.  A body
 * allocates in that context (results in the caller's, call->outercxt) and
 * connects SPI itself if it runs a query.
 *
 * Everything runs with the caller's rights through SPI, so grants and
 * row-level security apply; the caller's SELECT privilege on the relation is
 * checked before the relation is locked or its spec resolved.
 *
 * page()'s query returns the relation's own columns, mapped by position onto
 * its row type (which also carries dropped columns) on the way into the
 * result tuplestore; page_json() asks for the row as one composite plus its
 * key, to make cursors.  A page before a cursor is read in the reversed
 * order and turned around here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/htup_details.h"
#include "access/tupconvert.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tstoreReceiver.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "args.h"
#include "jsonout.h"
#include "keyset.h"
#include "keyset_int.h"
#include "resilience.h"
#include "spiplan.h"
#include "stats.h"

RESILIENCE_FUNCTION(keyset_page);
RESILIENCE_FUNCTION(keyset_page_json);
RESILIENCE_FUNCTION(keyset_page_sql);
RESILIENCE_FUNCTION(keyset_cursor_of);

int			keyset_max_page_size = 10000;

/* Which arguments an entry point takes. */
typedef enum KeysetCallKind
{
	KEYSET_CALL_PAGE,			/* page(rel anyelement, order_by, after, ...) */
	KEYSET_CALL_REL,			/* page_json/page_sql(rel regclass, ...) */
	KEYSET_CALL_ROW				/* cursor_of(row anyelement, order_by, assume_unique) */
} KeysetCallKind;

/* One call of an entry point, as its body sees it. */
typedef struct KeysetCall
{
	FunctionCallInfo fcinfo;
	KeysetRequest req;
	KeysetSpec *spec;			/* pinned while the body runs */
	MemoryContext outercxt;		/* the caller's: results go here */
	MemoryContext cxt;			/* the call's, deleted when it returns */
	bool		has_cursor;		/* after or before was given, decoded into: */
	Datum		cvals[KEYSET_MAX_COLUMNS];
	bool		cnulls[KEYSET_MAX_COLUMNS];
} KeysetCall;

typedef Datum (*KeysetBody) (KeysetCall *call);

/* Define resilience.max_page_size. */
void
keyset_define_gucs(void)
{
	DefineCustomIntVariable("resilience.max_page_size",
							"Largest page_size resilience.page() and page_json() accept.",
							NULL,
							&keyset_max_page_size,
							10000, 1, INT_MAX - 1,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
}

/*
 * Read the common arguments (rel, order_by, after, before, page_size,
 * filter, params, assume_unique) and validate them.
 */
static void
keyset_read_args(FunctionCallInfo fcinfo, Oid relid, KeysetRequest *req)
{
	req->relid = relid;
	args_not_null(fcinfo, 1, "order_by");
	req->order_by = text_to_cstring(PG_GETARG_TEXT_PP(1));
	req->after = PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2);
	req->before = PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3);
	if (req->after && req->before)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("after and before cannot both be given"),
				 errhint("Pass after to fetch the next page, before to fetch the previous one.")));
	args_not_null(fcinfo, 4, "page_size");
	req->page_size = PG_GETARG_INT32(4);
	if (req->page_size < 1 || req->page_size > keyset_max_page_size)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("page_size must be between 1 and %d", keyset_max_page_size),
				 errhint("The upper bound is the setting resilience.max_page_size.")));
	req->filter = PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5));
	req->paramtype = TEXTOID;
	if (!PG_ARGISNULL(6))
	{
		req->nparams = args_param_array(PG_GETARG_ARRAYTYPE_P(6), "params",
										&req->paramtype, &req->params,
										&req->paramnulls);
		if (req->nparams > FUNC_MAX_ARGS)
			ereport(ERROR,
					(errcode(ERRCODE_TOO_MANY_ARGUMENTS),
					 errmsg("params has more than %d elements", FUNC_MAX_ARGS),
					 errdetail("A filter takes at most %d parameters.", FUNC_MAX_ARGS)));
	}
	if (req->filter == NULL && req->nparams > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("params given without a filter"),
				 errdetail("params binds the filter's $1 to $n.")));
	req->assume_unique = PG_NARGS() > 7 && !PG_ARGISNULL(7) && PG_GETARG_BOOL(7);
}

/* The relation whose row type an anyelement argument has; ERROR 22023 if none. */
static Oid
keyset_row_relid(FunctionCallInfo fcinfo, const char *argname)
{
	Oid			argtype = get_fn_expr_argtype(fcinfo->flinfo, 0);
	Oid			relid = OidIsValid(argtype) ? get_typ_typrelid(argtype) : InvalidOid;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a row of a table or view, not type %s",
						argname, format_type_be(argtype)),
				 errhint("Pass NULL::table_name, or a row of the table.")));
	return relid;
}

/*
 * The prologue and epilogue of every entry point: read the arguments kind
 * says it takes, get the spec, decode the cursor, run body; then, also on
 * error, unpin the spec and delete the call's context.
 */
static Datum
keyset_call(FunctionCallInfo fcinfo, KeysetCallKind kind, const char *name, KeysetBody body)
{
	KeysetCall	call;
	volatile Datum result = (Datum) 0;
	Oid			relid;

	memset(&call, 0, sizeof(call));
	call.fcinfo = fcinfo;
	if (kind == KEYSET_CALL_REL)
	{
		args_not_null(fcinfo, 0, "rel");
		relid = PG_GETARG_OID(0);
	}
	else
		relid = keyset_row_relid(fcinfo, kind == KEYSET_CALL_ROW ? "row" : "rel");
	if (kind == KEYSET_CALL_PAGE)
	{
		ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

		if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
			(rsinfo->allowedModes & SFRM_Materialize) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("resilience.page() must be called in FROM"),
					 errhint("Write SELECT * FROM resilience.page(...).")));
	}

	call.outercxt = CurrentMemoryContext;
	call.cxt = AllocSetContextCreate(CurrentMemoryContext, "resilience keyset call",
									 ALLOCSET_DEFAULT_SIZES);
	MemoryContextSetIdentifier(call.cxt, name);
	MemoryContextSwitchTo(call.cxt);
	if (kind == KEYSET_CALL_ROW)
	{
		/* cursor_of is STRICT */
		call.req.relid = relid;
		call.req.order_by = text_to_cstring(PG_GETARG_TEXT_PP(1));
		call.req.assume_unique = PG_NARGS() > 2 && PG_GETARG_BOOL(2);
	}
	else
		keyset_read_args(fcinfo, relid, &call.req);
	call.spec = keyset_get_spec(relid, call.req.order_by, call.req.assume_unique);

	PG_TRY();
	{
		text	   *c = call.req.after ? call.req.after : call.req.before;

		if (c != NULL)
		{
			keyset_cursor_decode(call.spec, c, call.cvals, call.cnulls);
			call.has_cursor = true;
		}
		result = body(&call);
	}
	PG_FINALLY();
	{
		keyset_unpin(&call.spec->entry);
		if (CurrentMemoryContext == call.cxt)
			MemoryContextSwitchTo(call.outercxt);
		MemoryContextDelete(call.cxt);
	}
	PG_END_TRY();
	return result;
}

/* The page query of a call, as the request asks for it. */
static KeysetQuery
keyset_call_query(const KeysetCall *call, KeysetOutput output, int64 limit)
{
	KeysetQuery q;

	q.spec = call->spec;
	q.req = &call->req;
	q.way = call->req.before != NULL ? KEYSET_BEFORE : KEYSET_AFTER;
	q.output = output;
	q.limit = limit;
	q.cvals = call->has_cursor ? call->cvals : NULL;
	q.cnulls = call->cnulls;
	return q;
}

/* page()'s body: the page's rows, in sort order, into a tuplestore. */
static Datum
keyset_page_body(KeysetCall *call)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) call->fcinfo->resultinfo;
	KeysetQuery q = keyset_call_query(call, KEYSET_OUT_COLUMNS, call->req.page_size);
	TupleDesc	tupdesc;
	Tuplestorestate *ts;
	SPITupleTable *tt;

	MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	/* in FROM, the caller expects the row type: no need to look it up */
	if (rsinfo->expectedDesc != NULL)
		tupdesc = rsinfo->expectedDesc;
	else if (get_call_result_type(call->fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = CreateTupleDescCopy(tupdesc);
	ts = tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0,
							   false, work_mem);
	MemoryContextSwitchTo(call->cxt);

	/*
	 * The query returns the relation's columns; they are mapped by position
	 * onto the row type, which also has the dropped columns.
	 */
	spiplan_connect();
	if (q.way == KEYSET_AFTER)
	{
		/* straight into the result, as PL/pgSQL's RETURN QUERY does */
		DestReceiver *dest = CreateDestReceiver(DestTuplestore);

		SetTuplestoreDestReceiverParams(dest, ts, rsinfo->econtext->ecxt_per_query_memory,
										false, tupdesc,
										gettext_noop("page rows do not match the row type of the relation"));
		keyset_fetch(&q, dest);
		dest->rDestroy(dest);
	}
	else
	{
		TupleConversionMap *map;
		bool		reverse = q.way == KEYSET_BEFORE;

		tt = keyset_fetch(&q, NULL);
		map = convert_tuples_by_position(tt->tupdesc, tupdesc,
										 gettext_noop("page rows do not match the row type of the relation"));
		for (uint64 j = 0; j < tt->numvals; j++)
		{
			HeapTuple	tuple = tt->vals[reverse ? tt->numvals - 1 - j : j];

			tuplestore_puttuple(ts, map ? execute_attr_map_tuple(tuple, map) : tuple);
		}
	}
	SPI_finish();
	stats_keyset_page(tuplestore_tuple_count(ts));

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = ts;
	rsinfo->setDesc = tupdesc;
	return (Datum) 0;
}

/*
 * page(rel anyelement, order_by, after, before, page_size, filter, params,
 * assume_unique) RETURNS SETOF anyelement: one page of rows, in sort order.
 */
Datum
keyset_page(PG_FUNCTION_ARGS)
{
	return keyset_call(fcinfo, KEYSET_CALL_PAGE, "resilience page", keyset_page_body);
}

/* Append a JSON string or null. */
static void
keyset_json_text(StringInfo buf, const char *s)
{
	if (s == NULL)
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, s);
}

/*
 * Whether page query q, from the cursor vals/nulls, with a LIMIT of 1,
 * finds a row.
 */
static bool
keyset_probe(KeysetQuery q, KeysetWay way, const Datum *vals, const bool *nulls)
{
	q.way = way;
	q.output = KEYSET_OUT_ROW_AND_KEY;
	q.limit = 1;
	q.cvals = vals;
	q.cnulls = nulls;
	return keyset_fetch(&q, NULL)->numvals > 0;
}

/*
 * page_json()'s body: {"rows", "next", "prev", "has_next", "has_prev"}.
 * has_* are exact: the fetch reads one row more than the page, and the
 * other side is a LIMIT 1 probe from the page's edge (or from the cursor on
 * an empty page).
 */
static Datum
keyset_page_json_body(KeysetCall *call)
{
	const KeysetSpec *spec = call->spec;
	KeysetQuery q = keyset_call_query(call, KEYSET_OUT_ROW_AND_KEY,
									  (int64) call->req.page_size + 1);
	bool		reverse = q.way == KEYSET_BEFORE;
	Datum		kvals[KEYSET_MAX_COLUMNS];
	bool		knulls[KEYSET_MAX_COLUMNS];
	bool		has_next,
				has_prev;
	char	   *next = NULL;
	char	   *prev = NULL;
	uint64		n;
	SPITupleTable *tt;
	StringInfoData buf;
	Datum		result;
	bool		exact;

	initStringInfo(&buf);
	/* buf stays in the call's context as it grows; everything else dies with SPI */
	spiplan_connect();

	tt = keyset_fetch(&q, NULL);
	n = Min(tt->numvals, (uint64) call->req.page_size);
	exact = jsonout_exact_numbers &&
		jsonout_type_needs_exact(SPI_gettypeid(tt->tupdesc, 1));

	appendStringInfoString(&buf, "{\"rows\": [");
	for (uint64 j = 0; j < n; j++)
	{
		uint64		i = reverse ? n - 1 - j : j;
		bool		isnull;
		Datum		d = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull);
		text	   *js;

		if (j > 0)
			appendStringInfoString(&buf, ", ");
		if (exact)
		{
			jsonout_append_row(&buf, d);
			continue;
		}
		js = DatumGetTextPP(DirectFunctionCall1(row_to_json, d));
		appendBinaryStringInfo(&buf, VARDATA_ANY(js), VARSIZE_ANY_EXHDR(js));
	}
	appendStringInfoChar(&buf, ']');

	if (n > 0)
	{
		/* display order: first row is tt[0] forward, tt[n-1] reversed */
		uint64		first = reverse ? n - 1 : 0;
		uint64		last = reverse ? 0 : n - 1;

		keyset_row_key(spec, tt, last, kvals, knulls);
		next = keyset_cursor_encode(spec, kvals, knulls);
		if (!reverse)
			has_next = tt->numvals > n;
		else
			has_next = keyset_probe(q, KEYSET_AFTER, kvals, knulls);
		keyset_row_key(spec, tt, first, kvals, knulls);
		prev = keyset_cursor_encode(spec, kvals, knulls);
		if (reverse)
			has_prev = tt->numvals > n;
		else if (!call->has_cursor)
			has_prev = false;
		else
			has_prev = keyset_probe(q, KEYSET_BEFORE, kvals, knulls);
	}
	else if (!call->has_cursor)
		has_next = has_prev = false;
	else
	{
		/* empty page: what lies on the other side of the cursor itself */
		bool		other = keyset_probe(q, reverse ? KEYSET_AFTER : KEYSET_BEFORE,
										 call->cvals, call->cnulls);

		has_next = reverse ? other : false;
		has_prev = reverse ? false : other;
	}

	appendStringInfoString(&buf, ", \"next\": ");
	keyset_json_text(&buf, next);
	appendStringInfoString(&buf, ", \"prev\": ");
	keyset_json_text(&buf, prev);
	appendStringInfo(&buf, ", \"has_next\": %s, \"has_prev\": %s}",
					 has_next ? "true" : "false", has_prev ? "true" : "false");
	SPI_finish();
	stats_keyset_page((int64) n);

	MemoryContextSwitchTo(call->outercxt);
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
	MemoryContextSwitchTo(call->cxt);
	return result;
}

/* page_json(rel regclass, ...) RETURNS jsonb */
Datum
keyset_page_json(PG_FUNCTION_ARGS)
{
	return keyset_call(fcinfo, KEYSET_CALL_REL, "resilience page_json", keyset_page_json_body);
}

/*
 * page_sql()'s body: the query page() runs for these arguments, with the
 * cursor values and params as typed literals.
 */
static Datum
keyset_page_sql_body(KeysetCall *call)
{
	const KeysetSpec *spec = call->spec;
	const KeysetRequest *req = &call->req;
	KeysetQuery q = keyset_call_query(call, KEYSET_OUT_COLUMNS, req->page_size);
	char	   *vals[KEYSET_MAX_COLUMNS];
	char	   *filter = NULL;
	Oid		   *types = NULL;
	Datum	   *pvals = NULL;
	int			nest;
	char	   *sql;
	Datum		result;

	if (req->filter)
	{
		types = keyset_filter_types(spec, req->filter, req->nparams, req->paramtype);
		pvals = palloc0(sizeof(Datum) * Max(req->nparams, 1));
		/* read under the session's settings, as page() reads them */
		for (int i = 0; i < req->nparams; i++)
		{
			Oid			infunc,
						ioparam;

			if (req->paramnulls[i])
				continue;
			if (req->paramtype != TEXTOID)
			{
				pvals[i] = req->params[i];
				continue;
			}
			getTypeInputInfo(types[i], &infunc, &ioparam);
			pvals[i] = OidInputFunctionCall(infunc, TextDatumGetCString(req->params[i]),
											ioparam, -1);
		}
	}
	nest = keyset_literals_begin();
	if (req->filter)
	{
		char	  **lits = palloc(sizeof(char *) * Max(req->nparams, 1));

		for (int i = 0; i < req->nparams; i++)
			lits[i] = keyset_literal(pvals[i], req->paramnulls[i], types[i]);
		filter = keyset_inline_params(req->filter, lits, req->nparams);
	}
	if (call->has_cursor)
		for (int i = 0; i < spec->ncols; i++)
			vals[i] = keyset_literal(call->cvals[i], call->cnulls[i], spec->cols[i].typid);
	keyset_literals_end(nest);

	sql = keyset_build_sql(&q, filter, call->has_cursor ? vals : NULL);
	MemoryContextSwitchTo(call->outercxt);
	result = PointerGetDatum(cstring_to_text(sql));
	MemoryContextSwitchTo(call->cxt);
	return result;
}

/* page_sql(rel regclass, ...) RETURNS text */
Datum
keyset_page_sql(PG_FUNCTION_ARGS)
{
	return keyset_call(fcinfo, KEYSET_CALL_REL, "resilience page_sql", keyset_page_sql_body);
}

/* cursor_of()'s body: the cursor of the row argument. */
static Datum
keyset_cursor_of_body(KeysetCall *call)
{
	FunctionCallInfo fcinfo = call->fcinfo;
	const KeysetSpec *spec = call->spec;
	HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(0);
	Datum		vals[KEYSET_MAX_COLUMNS];
	bool		nulls[KEYSET_MAX_COLUMNS];
	char	   *cursor;
	Datum		result;

	for (int i = 0; i < spec->ncols; i++)
		vals[i] = GetAttributeByNum(row, spec->cols[i].attnum, &nulls[i]);
	cursor = keyset_cursor_encode(spec, vals, nulls);
	MemoryContextSwitchTo(call->outercxt);
	result = PointerGetDatum(cstring_to_text(cursor));
	MemoryContextSwitchTo(call->cxt);
	return result;
}

/* cursor_of(row anyelement, order_by text, assume_unique bool) RETURNS text */
Datum
keyset_cursor_of(PG_FUNCTION_ARGS)
{
	return keyset_call(fcinfo, KEYSET_CALL_ROW, "resilience cursor_of", keyset_cursor_of_body);
}
