/*-------------------------------------------------------------------------
 *
 * sqlexec.c
 *		Prepared, cached execution of caller-supplied SQL with parameters
 *		from an array of any type; the rows of the last row-returning statement come back
 *		as jsonb.  See sqlexec.h for the contract.
 *
 * What this file owns:
 * - The key of its plans in the shared plan cache (spiplan.c): parameter
 *   count and element type, role, search_path setting and the SQL text, at most
 *   SQLEXEC_CACHE_SIZE entries, least recently used evicted first.  Because
 *   an entry can be evicted by any later sqlexec_prepare (SQL run by the
 *   plan may itself call us), callers must not keep a SqlexecPlan pointer
 *   across anything that runs SQL: they call sqlexec_prepare again (a hash
 *   lookup) before each run.  A plan is pinned while sqlexec_run executes
 *   it.
 * - Parameter typing: the parser hook is PREPARE's variable-parameter hook
 *   (setup_parse_variable_parameters) pointed at an Oid array inside the
 *   plan's context, allocated up front with nparams slots so that the
 *   hook's repalloc never moves it to a shorter-lived context.  The array
 *   doubles as parserSetupArg for revalidation: types fixed at the first
 *   analysis stay fixed.  For params of another element type than text
 *   every slot starts as that type, which the hook then treats as declared
 *   (as PREPARE name(type, ...) does): only unknown slots are inferred.
 * - A DestReceiver that copies rows, detoasted, into SqlexecResult.cxt and
 *   restarts the collection at each statement that returns rows (rStartup),
 *   which gives "the last row-returning statement" for free.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "catalog/namespace.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parse_param.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"

#include "args.h"
#include "jsonout.h"
#include "spiplan.h"
#include "sqlexec.h"

/* the most parameters a statement can have (the protocol's limit) */
#define SQLEXEC_MAX_PARAMS 65535

struct SqlexecPlan
{
	SpiPlanEntry entry;			/* first: the cache's header; entry.plan */
	int			nparams;		/* what it was prepared for: */
	Oid			paramtype;		/* element type; TEXTOID: types inferred */
	Oid		   *paramtypes;		/* inferred types, nparams (+ growth) slots */
	int			nparamtypes;
	FmgrInfo   *inputs;			/* input function per parameter */
	Oid		   *ioparams;
};

typedef struct SqlexecReceiver
{
	DestReceiver pub;
	SqlexecResult *res;
} SqlexecReceiver;

static SpiPlanCache *sqlexec_cache = NULL;

/* Parser hook: infer parameter types as an untyped PREPARE does. */
static void
sqlexec_parser_setup(struct ParseState *pstate, void *arg)
{
	SqlexecPlan *plan = (SqlexecPlan *) arg;

	setup_parse_variable_parameters(pstate, &plan->paramtypes,
									&plan->nparamtypes);
}

/* Refuse statements that cannot run inside a transaction we control. */
static void
sqlexec_check_statements(SPIPlanPtr spiplan)
{
	ListCell   *lc;

	foreach(lc, SPI_plan_get_plan_sources(spiplan))
	{
		CachedPlanSource *ps = (CachedPlanSource *) lfirst(lc);
		Node	   *stmt;

		if (ps->raw_parse_tree == NULL)
			continue;
		stmt = ps->raw_parse_tree->stmt;
		if (IsA(stmt, TransactionStmt))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("transaction control statements are not allowed in sql"),
					 errdetail("The SQL contains %s.",
							   GetCommandTagName(ps->commandTag)),
					 errhint("The SQL runs inside a transaction that the caller controls; remove BEGIN, COMMIT, ROLLBACK and SAVEPOINT.")));
		if (IsA(stmt, CopyStmt) && ((CopyStmt *) stmt)->filename == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("COPY to or from the client is not allowed in sql")));
	}
}

static void sqlexec_build_check(SqlexecPlan *plan, SPIPlanPtr spiplan, int nparams,
								Oid paramtype, MemoryContext cxt);

/* Parse, analyse and plan sql into a new cache entry (not yet inserted). */
static SqlexecPlan *
sqlexec_build(const char *sql, int nparams, Oid paramtype, const char *key,
			  Size keylen)
{
	SqlexecPlan *plan;
	MemoryContext cxt;
	SPIPlanPtr	spiplan;

	plan = (SqlexecPlan *) spiplan_cache_entry_new(sqlexec_cache, key, keylen,
												   sizeof(SqlexecPlan));
	cxt = plan->entry.cxt;
	plan->nparams = nparams;
	plan->paramtypes = MemoryContextAllocZero(cxt, sizeof(Oid) * (nparams + 1));
	plan->nparamtypes = nparams;
	plan->paramtype = paramtype;
	if (paramtype != TEXTOID)
		for (int i = 0; i < nparams; i++)
			plan->paramtypes[i] = paramtype;

	spiplan = spiplan_prepare_params(sql, sqlexec_parser_setup, plan,
									 CURSOR_OPT_PARALLEL_OK);
	plan->entry.plan = spiplan;

	/* the SPI plan lives in SPI's procedure context: free it on failure */
	PG_TRY();
	{
		sqlexec_build_check(plan, spiplan, nparams, paramtype, cxt);
	}
	PG_CATCH();
	{
		plan->entry.plan = NULL;
		SPI_freeplan(spiplan);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return plan;
}

static void
sqlexec_build_check(SqlexecPlan *plan, SPIPlanPtr spiplan, int nparams,
					Oid paramtype, MemoryContext cxt)
{
	sqlexec_check_statements(spiplan);

	if (plan->nparamtypes > nparams)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_PARAMETER),
				 errmsg("there is no parameter $%d", plan->nparamtypes),
				 errdetail("params has %d element%s.", nparams,
						   nparams == 1 ? "" : "s")));
	if (paramtype != TEXTOID)
		return;				/* values are bound as they are */

	plan->inputs = MemoryContextAllocZero(cxt, sizeof(FmgrInfo) * (nparams + 1));
	plan->ioparams = MemoryContextAllocZero(cxt, sizeof(Oid) * (nparams + 1));
	for (int i = 0; i < nparams; i++)
	{
		Oid			typinput;

		if (plan->paramtypes[i] == InvalidOid ||
			plan->paramtypes[i] == UNKNOWNOID)
			ereport(ERROR,
					(errcode(ERRCODE_INDETERMINATE_DATATYPE),
					 errmsg("could not determine data type of parameter $%d",
							i + 1),
					 errhint("Every element of params must be used by the SQL; add a cast such as $%d::text where the type is not clear from context.",
							 i + 1)));
		getTypeInputInfo(plan->paramtypes[i], &typinput, &plan->ioparams[i]);
		fmgr_info_cxt(typinput, &plan->inputs[i], cxt);
	}
}

/* Number of parameters in params (NULL array: 0); 22023 if not 1-D. */
int
sqlexec_param_count(ArrayType *params)
{
	Oid			elemtype;
	int			n = args_param_array_length(params, "params", &elemtype);

	if (n > SQLEXEC_MAX_PARAMS)
		ereport(ERROR,
				(errcode(ERRCODE_TOO_MANY_ARGUMENTS),
				 errmsg("params has %d elements, more than the %d a statement can use",
						n, SQLEXEC_MAX_PARAMS)));
	return n;
}

/*
 * Prepare (or find in the cache) sql for the parameters in params.  The key
 * is everything the plan's parameter types depend on: the element type of
 * params (another type is another plan), and for text[] what they are
 * inferred from: they are inferred once,
 * from what the names in the SQL meant then, and the plan cache re-analyses
 * the SQL after a search_path or role change but keeps those types.  So the
 * same SQL run under another schema's table of the same name gets its own
 * plan and types.
 */
SqlexecPlan *
sqlexec_prepare(const char *sql, ArrayType *params)
{
	const char *path = namespace_search_path ? namespace_search_path : "";
	Oid			userid = GetUserId();
	Oid			paramtype;
	int			nparams;
	StringInfoData key;
	SqlexecPlan *plan;

	nparams = sqlexec_param_count(params);
	(void) args_param_array_length(params, "params", &paramtype);

	if (sqlexec_cache == NULL)
		sqlexec_cache = spiplan_cache_create("resilience sqlexec plans",
											 SQLEXEC_CACHE_SIZE);
	initStringInfo(&key);
	appendBinaryStringInfo(&key, (const char *) &nparams, sizeof(nparams));
	appendBinaryStringInfo(&key, (const char *) &paramtype, sizeof(paramtype));
	appendBinaryStringInfo(&key, (const char *) &userid, sizeof(userid));
	appendBinaryStringInfo(&key, path, strlen(path) + 1);
	appendBinaryStringInfo(&key, sql, strlen(sql));

	plan = (SqlexecPlan *) spiplan_cache_lookup(sqlexec_cache, key.data, key.len);
	if (plan == NULL)
	{
		plan = sqlexec_build(sql, nparams, paramtype, key.data, key.len);
		spiplan_cache_insert(sqlexec_cache, &plan->entry);
	}
	pfree(key.data);
	return plan;
}

/* Set up an empty result whose memory lives under parent. */
void
sqlexec_result_init(SqlexecResult *res, MemoryContext parent)
{
	memset(res, 0, sizeof(SqlexecResult));
	res->cxt = AllocSetContextCreate(parent, "resilience sqlexec rows",
									 ALLOCSET_DEFAULT_SIZES);
}

/* Forget the collected rows (keeps the memory context). */
void
sqlexec_result_reset(SqlexecResult *res)
{
	MemoryContextReset(res->cxt);
	res->returned = false;
	res->desc = NULL;
	res->rows = NULL;
	res->nrows = 0;
	res->maxrows = 0;
}

/* Release the result's memory. */
void
sqlexec_result_free(SqlexecResult *res)
{
	if (res->cxt != NULL)
		MemoryContextDelete(res->cxt);
	memset(res, 0, sizeof(SqlexecResult));
}

/* A statement that returns rows starts: it replaces earlier rows. */
static void
sqlexec_receiver_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	SqlexecResult *res = ((SqlexecReceiver *) self)->res;
	MemoryContext old;

	sqlexec_result_reset(res);
	old = MemoryContextSwitchTo(res->cxt);
	res->returned = true;
	res->desc = CreateTupleDescCopy(typeinfo);
	res->maxrows = 16;
	res->rows = palloc(sizeof(HeapTuple) * res->maxrows);
	MemoryContextSwitchTo(old);
}

/* Copy one row, with every varlena detoasted, into the result. */
static bool
sqlexec_receiver_receive(TupleTableSlot *slot, DestReceiver *self)
{
	SqlexecResult *res = ((SqlexecReceiver *) self)->res;
	TupleDesc	desc = res->desc;
	int			natts = desc->natts;
	MemoryContext old;
	Datum	   *values;
	bool	   *copied;
	HeapTuple	tuple;

	slot_getallattrs(slot);
	old = MemoryContextSwitchTo(res->cxt);
	values = palloc(sizeof(Datum) * (natts + 1));
	copied = palloc0(sizeof(bool) * (natts + 1));
	for (int i = 0; i < natts; i++)
	{
		Datum		v = slot->tts_values[i];

		if (!slot->tts_isnull[i] && TupleDescAttr(desc, i)->attlen == -1 &&
			VARATT_IS_EXTENDED(DatumGetPointer(v)))
		{
			v = PointerGetDatum(detoast_attr((struct varlena *) DatumGetPointer(v)));
			copied[i] = true;
		}
		values[i] = v;
	}
	tuple = heap_form_tuple(desc, values, slot->tts_isnull);
	for (int i = 0; i < natts; i++)
		if (copied[i])
			pfree(DatumGetPointer(values[i]));
	pfree(values);
	pfree(copied);

	if (res->nrows >= res->maxrows)
	{
		res->maxrows *= 2;
		res->rows = repalloc_huge(res->rows, sizeof(HeapTuple) * res->maxrows);
	}
	res->rows[res->nrows++] = tuple;
	MemoryContextSwitchTo(old);
	return true;
}

/* Nothing to do at the end of a statement. */
static void
sqlexec_receiver_shutdown(DestReceiver *self)
{
}

/* The receiver is on the stack of sqlexec_run; never destroyed. */
static void
sqlexec_receiver_destroy(DestReceiver *self)
{
}

/*
 * Bind params to the plan's parameter types: text elements through the
 * inferred types' input functions, elements of any other type as they are.
 */
static ParamListInfo
sqlexec_bind(SqlexecPlan *plan, ArrayType *params, int nparams)
{
	ParamListInfo paramli;
	Datum	   *elems;
	bool	   *nulls;
	Oid			elemtype;

	if (nparams == 0)
		return NULL;
	(void) args_param_array(params, "params", &elemtype, &elems, &nulls);
	paramli = makeParamList(nparams);
	for (int i = 0; i < nparams; i++)
	{
		ParamExternData *prm = &paramli->params[i];
		char	   *str;

		if (plan->paramtype != TEXTOID)
		{
			prm->value = nulls[i] ? (Datum) 0 : elems[i];
			prm->isnull = nulls[i];
			prm->pflags = PARAM_FLAG_CONST;
			prm->ptype = plan->paramtype;
			continue;
		}
		str = nulls[i] ? NULL : TextDatumGetCString(elems[i]);

		/* input functions get NULL too, so domains can check NOT NULL */
		prm->value = InputFunctionCall(&plan->inputs[i], str,
									   plan->ioparams[i], -1);
		prm->isnull = nulls[i];
		prm->pflags = PARAM_FLAG_CONST;
		prm->ptype = plan->paramtypes[i];
	}
	return paramli;
}

/* Run a prepared plan with params, replacing the rows in res. */
void
sqlexec_run(SqlexecPlan *plan, ArrayType *params, SqlexecResult *res)
{
	Oid			paramtype;
	int			nparams = args_param_array_length(params, "params", &paramtype);
	SPIExecuteOptions options;
	SqlexecReceiver receiver;
	volatile int rc;			/* set under PG_TRY, read after it */

	if (nparams != plan->nparams || paramtype != plan->paramtype)
		elog(ERROR, "sqlexec_run: %d parameters of type %u for a plan prepared with %d of type %u",
			 nparams, paramtype, plan->nparams, plan->paramtype);

	sqlexec_result_reset(res);

	memset(&receiver, 0, sizeof(receiver));
	receiver.pub.receiveSlot = sqlexec_receiver_receive;
	receiver.pub.rStartup = sqlexec_receiver_startup;
	receiver.pub.rShutdown = sqlexec_receiver_shutdown;
	receiver.pub.rDestroy = sqlexec_receiver_destroy;
	receiver.pub.mydest = DestNone;
	receiver.res = res;

	memset(&options, 0, sizeof(options));
	options.read_only = false;
	options.allow_nonatomic = false;
	options.dest = &receiver.pub;

	/*
	 * Pinned from here on: input functions (domain checks) and the SQL itself
	 * may run SQL that prepares other strings and evicts idle plans.
	 */
	spiplan_cache_pin(&plan->entry);
	PG_TRY();
	{
		options.params = sqlexec_bind(plan, params, nparams);
		rc = SPI_execute_plan_extended(plan->entry.plan, &options);
	}
	PG_FINALLY();
	{
		spiplan_cache_unpin(&plan->entry);
	}
	PG_END_TRY();

	if (rc == SPI_ERROR_COPY)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("COPY to or from the client is not allowed in sql")));
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan_extended failed: %s",
			 SPI_result_code_string(rc));
}

/*
 * The collected rows as a jsonb array of objects, or NULL.
 *
 * Each row becomes an object with to_jsonb(record) (or, under
 * resilience.json_exact_numbers, jsonout.c's text of it), in a context reset per
 * row, and its binary container is appended to the array's as it is, as
 * convertJsonbArray lays out nested containers: JEntries after the header
 * (every JB_OFFSET_STRIDE'th an end offset, the others lengths), each child
 * padded to a 4-byte boundary.  A container's offsets are relative to its
 * own start, so a copy at another 4-aligned position reads the same.  This
 * keeps one copy of the result in memory, where pushing every row into a
 * JsonbParseState kept each row's object, its parse tree and the array's
 * tree until the end (memory, page faults and time grew faster than the
 * rows).  The limits are jsonb's own, with its messages (54000).
 */
Jsonb *
sqlexec_result_jsonb(SqlexecResult *res)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext tmp;
	MemoryContext rowcxt;
	TupleDesc	desc;
	FmgrInfo	flinfo;
	StringInfoData buf;
	uint32		header;
	int			jentries;
	uint32		totallen = 0;
	bool		exact;
	static const char pad[4] = {0, 0, 0, 0};

	if (!res->returned)
		return NULL;
	if (res->nrows > JB_CMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("number of jsonb array elements exceeds the maximum allowed (%zu)",
						(size_t) JB_CMASK)));

	/* the result itself, in the caller's context: varlena header, array */
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, pad, VARHDRSZ);
	header = (uint32) res->nrows | JB_FARRAY;
	appendBinaryStringInfo(&buf, (const char *) &header, sizeof(uint32));
	jentries = buf.len;
	enlargeStringInfo(&buf, (int) (sizeof(JEntry) * res->nrows));
	buf.len += sizeof(JEntry) * res->nrows;

	tmp = AllocSetContextCreate(caller, "resilience sqlexec jsonb",
								ALLOCSET_DEFAULT_SIZES);
	rowcxt = AllocSetContextCreate(tmp, "resilience sqlexec jsonb row",
								   ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(tmp);

	/* rows become anonymous records, which to_jsonb turns into objects */
	desc = CreateTupleDescCopy(res->desc);
	desc->tdtypeid = RECORDOID;
	desc->tdtypmod = -1;
	desc = BlessTupleDesc(desc);
	exact = jsonout_exact_numbers && jsonout_desc_needs_exact(desc);

	fmgr_info(F_TO_JSONB, &flinfo);
	flinfo.fn_expr = (Node *)
		makeFuncExpr(F_TO_JSONB, JSONBOID,
					 list_make1(makeNullConst(RECORDOID, -1, InvalidOid)),
					 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);

	for (uint64 i = 0; i < res->nrows; i++)
	{
		Jsonb	   *obj;
		int			start;
		uint32		len;
		JEntry		meta;

		/* millions of rows take a while: let a cancel or timeout in */
		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(rowcxt);
		MemoryContextSwitchTo(rowcxt);
		if (exact)
		{
			StringInfoData js;

			/* resilience.json_exact_numbers: through JSON text (jsonout.c) */
			initStringInfo(&js);
			jsonout_append_row(&js, heap_copy_tuple_as_datum(res->rows[i], desc));
			obj = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													 CStringGetDatum(js.data)));
		}
		else
			obj = DatumGetJsonbP(FunctionCall1(&flinfo,
											   heap_copy_tuple_as_datum(res->rows[i], desc)));
		Assert(JsonContainerIsObject(&obj->root));
		MemoryContextSwitchTo(tmp);

		start = buf.len;
		if (buf.len % 4 != 0)
			appendBinaryStringInfo(&buf, pad, 4 - buf.len % 4);
		appendBinaryStringInfo(&buf, (const char *) &obj->root,
							   VARSIZE(obj) - VARHDRSZ);
		len = buf.len - start;
		if (len > JENTRY_OFFLENMASK - totallen)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("total size of jsonb array elements exceeds the maximum of %d bytes",
							JENTRY_OFFLENMASK)));
		totallen += len;
		if (i % JB_OFFSET_STRIDE == 0)
			meta = JENTRY_ISCONTAINER | JENTRY_HAS_OFF | totallen;
		else
			meta = JENTRY_ISCONTAINER | len;
		memcpy(buf.data + jentries + sizeof(JEntry) * i, &meta, sizeof(JEntry));
	}
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(tmp);

	/* everything after the varlena header, as convertJsonbArray checks it */
	if ((uint32) (buf.len - VARHDRSZ) > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("total size of jsonb array elements exceeds the maximum of %d bytes",
						JENTRY_OFFLENMASK)));
	SET_VARSIZE(buf.data, buf.len);
	return (Jsonb *) buf.data;
}

/* Prepare (cached) and run sql in the caller's transaction. */
Jsonb *
sqlexec_execute(const char *sql, ArrayType *params)
{
	MemoryContext caller = CurrentMemoryContext;
	SqlexecResult res;
	Jsonb	   *result;

	sqlexec_result_init(&res, caller);
	spiplan_connect();
	sqlexec_run(sqlexec_prepare(sql, params), params, &res);
	SPI_finish();
	result = sqlexec_result_jsonb(&res);
	sqlexec_result_free(&res);
	return result;
}
