/*-------------------------------------------------------------------------
 *
 * sqlexec.c
 *		Prepared, cached execution of caller-supplied SQL with text[]
 *		parameters; the rows of the last row-returning statement come back
 *		as jsonb.  See sqlexec.h for the contract.
 *
 * What this file owns:
 * - A per-backend cache of prepared SQL strings: a dynahash keyed by
 *   (sql, nparams, role, search_path) whose entries point at SqlexecPlans, each in its own
 *   memory context under sqlexec_cache_cxt with a saved SPI plan
 *   (SPI_keepplan, so the plan cache revalidates it).  At most
 *   SQLEXEC_CACHE_SIZE entries: the least recently used one that is not
 *   running is evicted (SPI_freeplan + context delete).  Because an entry
 *   can be evicted by any later sqlexec_prepare (SQL run by the plan may
 *   itself call us), callers must not keep a SqlexecPlan pointer across
 *   anything that runs SQL: they call sqlexec_prepare again (a hash lookup)
 *   before each run.  A plan is pinned while sqlexec_run executes it.
 * - Parameter typing: the parser hook is PREPARE's variable-parameter hook
 *   (setup_parse_variable_parameters) pointed at an Oid array inside the
 *   plan's context, allocated up front with nparams slots so that the
 *   hook's repalloc never moves it to a shorter-lived context.  The array
 *   doubles as parserSetupArg for revalidation: types fixed at the first
 *   analysis stay fixed.
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
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "catalog/namespace.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parse_param.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"

#include "sqlexec.h"

#if PG_VERSION_NUM >= 140000

#if PG_VERSION_NUM < 150000
#define setup_parse_variable_parameters(pstate, types, n) \
	parse_variable_parameters(pstate, types, n)
#endif

/* the most parameters a statement can have (the protocol's limit) */
#define SQLEXEC_MAX_PARAMS 65535

/*
 * A plan's parameter types are inferred once, when it is prepared, from
 * what the names in the SQL meant then; the plan cache re-analyses the SQL
 * after a search_path or role change but keeps those types.  So the role
 * and the search_path setting are part of the key: the same SQL run under
 * another schema's table of the same name gets its own plan and types.
 */
typedef struct SqlexecKey
{
	uint32		hash;			/* of sql, nparams, userid and path */
	int			nparams;
	Oid			userid;
	const char *sql;			/* point into the plan's context once cached */
	const char *path;
} SqlexecKey;

struct SqlexecPlan
{
	SqlexecKey	key;			/* first: the hash entry is this struct */
	MemoryContext cxt;			/* owns this struct and everything below */
	SPIPlanPtr	spiplan;		/* saved */
	Oid		   *paramtypes;		/* inferred types, nparams (+ growth) slots */
	int			nparamtypes;
	FmgrInfo   *inputs;			/* input function per parameter */
	Oid		   *ioparams;
	int			busy;			/* > 0 while sqlexec_run executes it */
	dlist_node	lru;			/* head = most recently used */
};

typedef struct SqlexecEntry
{
	SqlexecKey	key;
	SqlexecPlan *plan;
} SqlexecEntry;

typedef struct SqlexecReceiver
{
	DestReceiver pub;
	SqlexecResult *res;
} SqlexecReceiver;

static HTAB *sqlexec_cache = NULL;
static MemoryContext sqlexec_cache_cxt = NULL;
static dlist_head sqlexec_lru = DLIST_STATIC_INIT(sqlexec_lru);
static int	sqlexec_cache_count = 0;

/* Hash of a key: the precomputed text hash mixed with the parameter count. */
static uint32
sqlexec_key_hash(const void *key, Size keysize)
{
	const SqlexecKey *k = (const SqlexecKey *) key;

	return k->hash;
}

/* Key equality for dynahash (0 = equal). */
static int
sqlexec_key_match(const void *key1, const void *key2, Size keysize)
{
	const SqlexecKey *a = (const SqlexecKey *) key1;
	const SqlexecKey *b = (const SqlexecKey *) key2;

	if (a->hash != b->hash || a->nparams != b->nparams || a->userid != b->userid)
		return 1;
	if (strcmp(a->path, b->path) != 0)
		return 1;
	return strcmp(a->sql, b->sql);
}

/* Create the cache on first use. */
static void
sqlexec_cache_init(void)
{
	HASHCTL		ctl;

	if (sqlexec_cache != NULL)
		return;
	sqlexec_cache_cxt = AllocSetContextCreate(CacheMemoryContext,
											  "resilience sqlexec cache",
											  ALLOCSET_SMALL_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(SqlexecKey);
	ctl.entrysize = sizeof(SqlexecEntry);
	ctl.hash = sqlexec_key_hash;
	ctl.match = sqlexec_key_match;
	ctl.hcxt = sqlexec_cache_cxt;
	sqlexec_cache = hash_create("resilience sqlexec plans", 64, &ctl,
								HASH_ELEM | HASH_FUNCTION | HASH_COMPARE |
								HASH_CONTEXT);
}

/* Drop least recently used idle plans until there is room for one more. */
static void
sqlexec_cache_evict(void)
{
	dlist_iter	iter;

	dlist_reverse_foreach(iter, &sqlexec_lru)
	{
		SqlexecPlan *plan;

		if (sqlexec_cache_count < SQLEXEC_CACHE_SIZE)
			break;
		plan = dlist_container(SqlexecPlan, lru, iter.cur);
		if (plan->busy > 0)
			continue;
		/* dlist_reverse_foreach is not delete-safe: restart after removal */
		dlist_delete(&plan->lru);
		hash_search(sqlexec_cache, &plan->key, HASH_REMOVE, NULL);
		sqlexec_cache_count--;
		SPI_freeplan(plan->spiplan);
		MemoryContextDelete(plan->cxt);
		sqlexec_cache_evict();
		return;
	}
}

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

/* Parse, analyse and plan sql; the result is not yet in the cache. */
static SqlexecPlan *
sqlexec_build(const SqlexecKey *key)
{
	int			nparams = key->nparams;
	MemoryContext cxt;
	SqlexecPlan *plan;
	SPIPlanPtr	spiplan;

	/* under the caller's context until it is complete, so errors free it */
	cxt = AllocSetContextCreate(CurrentMemoryContext,
								"resilience sqlexec plan",
								ALLOCSET_SMALL_SIZES);
	plan = MemoryContextAllocZero(cxt, sizeof(SqlexecPlan));
	plan->cxt = cxt;
	plan->key = *key;
	plan->key.sql = MemoryContextStrdup(cxt, key->sql);
	plan->key.path = MemoryContextStrdup(cxt, key->path);
	plan->paramtypes = MemoryContextAllocZero(cxt, sizeof(Oid) * (nparams + 1));
	plan->nparamtypes = nparams;

	spiplan = SPI_prepare_params(plan->key.sql, sqlexec_parser_setup, plan,
								 CURSOR_OPT_PARALLEL_OK);
	if (spiplan == NULL)
		elog(ERROR, "SPI_prepare_params failed: %s",
			 SPI_result_code_string(SPI_result));

	sqlexec_check_statements(spiplan);

	if (plan->nparamtypes > nparams)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_PARAMETER),
				 errmsg("there is no parameter $%d", plan->nparamtypes),
				 errdetail("params has %d element%s.", nparams,
						   nparams == 1 ? "" : "s")));

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

	if (SPI_keepplan(spiplan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	plan->spiplan = spiplan;
	MemoryContextSetParent(cxt, sqlexec_cache_cxt);
	return plan;
}

/* Number of parameters in a text[] (NULL array: 0); 22023 if not 1-D. */
int
sqlexec_param_count(ArrayType *params)
{
	int			n;

	if (params == NULL)
		return 0;
	if (ARR_NDIM(params) == 0)
		return 0;
	if (ARR_NDIM(params) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("params must be a one-dimensional array")));
	if (ARR_ELEMTYPE(params) != TEXTOID)
		elog(ERROR, "params must be text[]");
	n = ArrayGetNItems(ARR_NDIM(params), ARR_DIMS(params));
	if (n > SQLEXEC_MAX_PARAMS)
		ereport(ERROR,
				(errcode(ERRCODE_TOO_MANY_ARGUMENTS),
				 errmsg("params has %d elements, more than the %d a statement can use",
						n, SQLEXEC_MAX_PARAMS)));
	return n;
}

/* Prepare (or find in the cache) sql with nparams parameters. */
SqlexecPlan *
sqlexec_prepare(const char *sql, int nparams)
{
	SqlexecKey	key;
	SqlexecEntry *entry;
	SqlexecPlan *plan;
	bool		found;

	sqlexec_cache_init();
	key.nparams = nparams;
	key.userid = GetUserId();
	key.sql = sql;
	key.path = namespace_search_path ? namespace_search_path : "";
	key.hash = hash_bytes((const unsigned char *) sql, strlen(sql));
	key.hash = hash_combine(key.hash, (uint32) nparams);
	key.hash = hash_combine(key.hash, (uint32) key.userid);
	key.hash = hash_combine(key.hash,
							hash_bytes((const unsigned char *) key.path, strlen(key.path)));
	entry = (SqlexecEntry *) hash_search(sqlexec_cache, &key, HASH_FIND, NULL);
	if (entry != NULL)
	{
		dlist_move_head(&sqlexec_lru, &entry->plan->lru);
		return entry->plan;
	}

	plan = sqlexec_build(&key);
	sqlexec_cache_evict();
	entry = (SqlexecEntry *) hash_search(sqlexec_cache, &plan->key,
										 HASH_ENTER, &found);
	Assert(!found);
	entry->plan = plan;
	dlist_push_head(&sqlexec_lru, &plan->lru);
	sqlexec_cache_count++;
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

/* Bind params (text[]) to the plan's parameter types. */
static ParamListInfo
sqlexec_bind(SqlexecPlan *plan, ArrayType *params, int nparams)
{
	ParamListInfo paramli;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;

	if (nparams == 0)
		return NULL;
	deconstruct_array(params, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &nelems);
	paramli = makeParamList(nparams);
	for (int i = 0; i < nparams; i++)
	{
		ParamExternData *prm = &paramli->params[i];
		char	   *str = nulls[i] ? NULL : TextDatumGetCString(elems[i]);

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
	int			nparams = sqlexec_param_count(params);
	SPIExecuteOptions options;
	SqlexecReceiver receiver;
	int			rc;

	if (nparams != plan->key.nparams)
		elog(ERROR, "sqlexec_run: %d parameters for a plan prepared with %d",
			 nparams, plan->key.nparams);

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
	plan->busy++;
	PG_TRY();
	{
		options.params = sqlexec_bind(plan, params, nparams);
		rc = SPI_execute_plan_extended(plan->spiplan, &options);
	}
	PG_FINALLY();
	{
		plan->busy--;
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

/* The collected rows as a jsonb array of objects, or NULL. */
Jsonb *
sqlexec_result_jsonb(SqlexecResult *res)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext tmp;
	TupleDesc	desc;
	FmgrInfo	flinfo;
	JsonbParseState *state = NULL;
	JsonbValue *array;
	Jsonb	   *built;
	Jsonb	   *result;

	if (!res->returned)
		return NULL;

	tmp = AllocSetContextCreate(caller, "resilience sqlexec jsonb",
								ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(tmp);

	/* rows become anonymous records, which to_jsonb turns into objects */
	desc = CreateTupleDescCopy(res->desc);
	desc->tdtypeid = RECORDOID;
	desc->tdtypmod = -1;
	desc = BlessTupleDesc(desc);

	fmgr_info(F_TO_JSONB, &flinfo);
	flinfo.fn_expr = (Node *)
		makeFuncExpr(F_TO_JSONB, JSONBOID,
					 list_make1(makeNullConst(RECORDOID, -1, InvalidOid)),
					 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);

	pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	for (uint64 i = 0; i < res->nrows; i++)
	{
		Datum		rec = heap_copy_tuple_as_datum(res->rows[i], desc);
		Jsonb	   *obj = DatumGetJsonbP(FunctionCall1(&flinfo, rec));
		JsonbValue	v;

		/* millions of rows take a while: let a cancel or timeout in */
		CHECK_FOR_INTERRUPTS();
		v.type = jbvBinary;
		v.val.binary.data = &obj->root;
		v.val.binary.len = VARSIZE(obj) - VARHDRSZ;
		pushJsonbValue(&state, WJB_ELEM, &v);
	}
	array = pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	built = JsonbValueToJsonb(array);

	MemoryContextSwitchTo(caller);
	result = palloc(VARSIZE(built));
	memcpy(result, built, VARSIZE(built));
	MemoryContextDelete(tmp);
	return result;
}

/* Prepare (cached) and run sql in the caller's transaction. */
Jsonb *
sqlexec_execute(const char *sql, ArrayType *params)
{
	MemoryContext caller = CurrentMemoryContext;
	SqlexecResult res;
	Jsonb	   *result;
	int			nparams = sqlexec_param_count(params);

	sqlexec_result_init(&res, caller);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	sqlexec_run(sqlexec_prepare(sql, nparams), params, &res);
	SPI_finish();
	result = sqlexec_result_jsonb(&res);
	sqlexec_result_free(&res);
	return result;
}

#else							/* PG_VERSION_NUM < 140000 */

/*
 * PostgreSQL 13 has no SPI_execute_plan_extended (no custom DestReceiver for
 * a saved plan), so the module builds there but these entry points refuse.
 */
static void
sqlexec_unsupported(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("running caller SQL requires PostgreSQL 14 or later")));
}

int
sqlexec_param_count(ArrayType *params)
{
	sqlexec_unsupported();
	return 0;
}

SqlexecPlan *
sqlexec_prepare(const char *sql, int nparams)
{
	sqlexec_unsupported();
	return NULL;
}

void
sqlexec_result_init(SqlexecResult *res, MemoryContext parent)
{
	sqlexec_unsupported();
}

void
sqlexec_result_reset(SqlexecResult *res)
{
}

void
sqlexec_result_free(SqlexecResult *res)
{
}

void
sqlexec_run(SqlexecPlan *plan, ArrayType *params, SqlexecResult *res)
{
	sqlexec_unsupported();
}

Jsonb *
sqlexec_result_jsonb(SqlexecResult *res)
{
	sqlexec_unsupported();
	return NULL;
}

Jsonb *
sqlexec_execute(const char *sql, ArrayType *params)
{
	sqlexec_unsupported();
	return NULL;
}

#endif							/* PG_VERSION_NUM >= 140000 */
