/*-------------------------------------------------------------------------
 *
 * idempotency.c
 *		resilience.idempotent(): run a request once per (role, key) and
 *		replay its recorded result to every retry.
 *
 * A record lives in resilience.idempotency_store, keyed by (role, key), and
 * is written in the caller's transaction together with whatever the request
 * did, so the two commit or roll back as one.  The statements name the
 * extension's member tables as found by membership, not by name, so a
 * renamed schema or a look-alike table planted under the old name changes
 * nothing.
 *
 * The guard on a key is its row.  A call first claims the key with INSERT
 * ... ON CONFLICT DO NOTHING: a concurrent claimer's uncommitted row makes it
 * wait until that transaction ends, and then it either finds the committed
 * record (and replays it) or, when the claimer rolled back, inserts its own.
 * A first call thus costs one insert, the request, and one update.  An
 * expired record is replayed all the same when its writer is this
 * transaction or was still running when the call began (ttl counts from
 * the claim, so a request longer than ttl would otherwise run twice); only
 * one committed and expired before that is taken over, with an UPDATE
 * ... WHERE expired, which
 * serialises with a concurrent purge through the row lock: whichever comes
 * second re-checks the row and finds it no longer expired, or gone.
 *
 * Replays never update the record (they append to idempotency_replays), so
 * concurrent retries of one key never wait for each other: an updated
 * record would make every later claimer's unique check wait for the
 * replaying transaction.  The replay's read takes FOR KEY SHARE, which
 * blocks no claimer or takeover but keeps a purge from deleting the record
 * under it (the purge skips a locked record; a record it already deleted
 * is not found, and the next round claims the key afresh).
 *
 * Under REPEATABLE READ or SERIALIZABLE a claimer whose snapshot predates
 * the owner's commit gets a serialization failure (40001) from ON CONFLICT
 * or the takeover instead of a replay, which retry_transaction() retries.
 *
 * Invariant: a request's SQL runs only in the transaction that inserted or
 * took over the record, and while that transaction is open every other
 * claimer of the key waits; so it runs at most once per committed record.
 *
 * A request runs as the calling role and must end as it (current user,
 * session user and security context compared before and after): the record
 * is written under the row-level security of that role, and a SET ROLE,
 * RESET ROLE or SET SESSION AUTHORIZATION that outlived the request would
 * leave the caller's session, and the record, in another role.  The check
 * is on the outcome rather than on the statements, so a function that
 * switches roles is caught too and one that switches back is allowed; the
 * error rolls back the request and whatever role change it made.  Running
 * the request as a security-restricted operation (as VACUUM runs index
 * functions) would refuse those changes up front, but also deferred
 * constraint triggers, temporary tables and LISTEN, which requests may use.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "args.h"
#include "cursor.h"
#include "extension.h"
#include "inval.h"
#include "resilience.h"
#include "sha256.h"
#include "spiplan.h"
#include "sqlexec.h"
#include "stats.h"

RESILIENCE_FUNCTION(idempotency_run);
RESILIENCE_FUNCTION(idempotency_settled);

/* Longest key accepted, in bytes (Stripe allows 255 characters). */
#define IDEMPOTENCY_MAX_KEY_BYTES 1024

/* How often a claim is retried when the record vanished (expired+purged). */
#define IDEMPOTENCY_MAX_CLAIMS 3

static SPIPlanPtr read_plan = NULL;
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr takeover_plan = NULL;
static SPIPlanPtr record_plan = NULL;
static SPIPlanPtr replay_plan = NULL;
static SPIPlanPtr forget_plan = NULL;

/* The member tables the plans were built for, and their names then. */
static Oid	plans_store_relid = InvalidOid;
static Oid	plans_replays_relid = InvalidOid;
static char *plans_store_name = NULL;	/* in TopMemoryContext */
static char *plans_replays_name = NULL;

/*
 * Whether the member tables were looked up since the last invalidation that
 * could change them (their relcache entries, any schema's name): between
 * such invalidations a call does no catalog lookups at all.
 */
static bool plans_checked = false;
static bool plans_callbacks_registered = false;

/* Invalidation listener (inval.h): a member table, or anything, changed. */
static void
idempotency_invalidate(Oid relid)
{
	if (relid == InvalidOid || relid == plans_store_relid || relid == plans_replays_relid)
		plans_checked = false;
}

/* Free a saved plan, if any. */
static void
idempotency_free_plan(SPIPlanPtr *slot)
{
	if (*slot != NULL)
		SPI_freeplan(*slot);
	*slot = NULL;
}

/*
 * Prepare the fixed statements (SPI connected), naming the extension's own
 * tables, found by membership (extension.c).  A saved plan is re-analysed
 * from its text after DDL, so the text must name what is the member table
 * now: the plans are rebuilt whenever a member table's OID or quoted
 * qualified name is not what they were built with (the schema renamed, the
 * extension recreated).  A table planted under the old name is never used.
 */
static void
idempotency_prepare_plans(void)
{
	Oid			claim_types[4] = {OIDOID, TEXTOID, BYTEAOID, INTERVALOID};
	Oid			key_types[2] = {OIDOID, TEXTOID};
	Oid			record_types[3] = {OIDOID, TEXTOID, JSONBOID};
	Oid			store;
	Oid			replays;
	char	   *store_name;
	char	   *replays_name;
	uint64		gen;

	if (plans_checked && forget_plan != NULL)
		return;
	if (!plans_callbacks_registered)
	{
		inval_listen(idempotency_invalidate);
		plans_callbacks_registered = true;
	}
	/*
	 * Checked only once the lookups succeed with no invalidation meanwhile:
	 * an error in them (the table renamed away) must not leave the old
	 * plans trusted, which plancache would re-analyse by name.
	 */
	plans_checked = false;
	gen = inval_generation;
	store = resilience_member_table("idempotency_store", NULL);
	replays = resilience_member_table("idempotency_replays", NULL);
	store_name = resilience_member_table_name(store);
	replays_name = resilience_member_table_name(replays);

	if (forget_plan != NULL &&
		store == plans_store_relid && replays == plans_replays_relid &&
		strcmp(store_name, plans_store_name) == 0 &&
		strcmp(replays_name, plans_replays_name) == 0)
	{
		plans_checked = gen == inval_generation;
		return;
	}

	idempotency_free_plan(&read_plan);
	idempotency_free_plan(&insert_plan);
	idempotency_free_plan(&takeover_plan);
	idempotency_free_plan(&record_plan);
	idempotency_free_plan(&replay_plan);
	idempotency_free_plan(&forget_plan);
	if (plans_store_name)
		pfree(plans_store_name);
	if (plans_replays_name)
		pfree(plans_replays_name);
	plans_store_name = MemoryContextStrdup(TopMemoryContext, store_name);
	plans_replays_name = MemoryContextStrdup(TopMemoryContext, replays_name);
	plans_store_relid = store;
	plans_replays_relid = replays;

	/* forget_plan last: set only once every plan is built */
	spiplan_saved(&read_plan,
				  psprintf("SELECT fingerprint, result, xmin,"
						   " expires_at OPERATOR(pg_catalog.<=) pg_catalog.clock_timestamp()"
						   " FROM %s"
						   " WHERE role_id OPERATOR(pg_catalog.=) $1"
						   " AND key OPERATOR(pg_catalog.=) $2"
						   " FOR KEY SHARE", store_name),
				  2, key_types);
	spiplan_saved(&insert_plan,
				  psprintf("INSERT INTO %s"
						   " (role_id, key, fingerprint, result, created_at, expires_at)"
						   " SELECT $1, $2, $3, NULL, c.t, c.t OPERATOR(pg_catalog.+) $4"
						   " FROM (SELECT pg_catalog.clock_timestamp() AS t) c"
						   " ON CONFLICT (role_id, key) DO NOTHING", store_name),
				  4, claim_types);
	spiplan_saved(&takeover_plan,
				  psprintf("UPDATE %s"
						   " SET fingerprint = $3, result = NULL,"
						   " created_at = c.t, expires_at = c.t OPERATOR(pg_catalog.+) $4"
						   " FROM (SELECT pg_catalog.clock_timestamp() AS t) c"
						   " WHERE role_id OPERATOR(pg_catalog.=) $1"
						   " AND key OPERATOR(pg_catalog.=) $2"
						   " AND expires_at OPERATOR(pg_catalog.<=) c.t", store_name),
				  4, claim_types);
	spiplan_saved(&record_plan,
				  psprintf("UPDATE %s SET result = $3"
						   " WHERE role_id OPERATOR(pg_catalog.=) $1"
						   " AND key OPERATOR(pg_catalog.=) $2", store_name),
				  3, record_types);
	spiplan_saved(&replay_plan,
				  psprintf("INSERT INTO %s (role_id, key)"
						   " VALUES ($1, $2)", replays_name),
				  2, key_types);
	spiplan_saved(&forget_plan,
				  psprintf("DELETE FROM %s"
						   " WHERE role_id OPERATOR(pg_catalog.=) $1"
						   " AND key OPERATOR(pg_catalog.=) $2", replays_name),
				  2, key_types);
	plans_checked = gen == inval_generation;
}

/* Append a 32-bit length in network byte order. */
static void
idempotency_append_u32(StringInfo buf, uint32 v)
{
	uint8		b[4] = {v >> 24, v >> 16, v >> 8, v};

	appendBinaryStringInfo(buf, (char *) b, 4);
}

/* Append a length-prefixed string. */
static void
idempotency_append_str(StringInfo buf, const char *str, uint32 len)
{
	idempotency_append_u32(buf, len);
	appendBinaryStringInfo(buf, str, len);
}

/*
 * The fingerprint's encoding of one non-NULL value of type typid.  A
 * composite value is encoded field by field (each with its type's
 * schema-qualified name) and an array element by element, with its
 * dimensions and lower bounds, rather than by record_send and array_send,
 * which write the OIDs of the field and element types: those of
 * user-defined types change with a dump and restore.  Any other value is
 * its binary send form, or its text form for a type without one.
 */
static void
idempotency_append_value(StringInfo buf, Oid typid, Datum v)
{
	Oid			base = getBaseType(typid);
	Oid			elem = get_element_type(base);

	check_stack_depth();		/* composites of arrays of composites ... */
	if (type_is_rowtype(base))
	{
		HeapTupleHeader td = DatumGetHeapTupleHeader(v);
		TupleDesc	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(td),
												  HeapTupleHeaderGetTypMod(td));
		HeapTupleData tuple;
		Datum	   *values = palloc(sizeof(Datum) * Max(desc->natts, 1));
		bool	   *isnull = palloc(sizeof(bool) * Max(desc->natts, 1));
		uint32		nfields = 0;

		tuple.t_len = HeapTupleHeaderGetDatumLength(td);
		ItemPointerSetInvalid(&tuple.t_self);
		tuple.t_tableOid = InvalidOid;
		tuple.t_data = td;
		heap_deform_tuple(&tuple, desc, values, isnull);
		for (int i = 0; i < desc->natts; i++)
			if (!TupleDescAttr(desc, i)->attisdropped)
				nfields++;
		appendStringInfoChar(buf, 'r');
		idempotency_append_u32(buf, nfields);
		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);
			char	   *name;

			if (att->attisdropped)
				continue;
			name = format_type_be_qualified(att->atttypid);
			idempotency_append_str(buf, name, strlen(name));
			if (isnull[i])
				appendStringInfoChar(buf, 'n');
			else
				idempotency_append_value(buf, att->atttypid, values[i]);
		}
		ReleaseTupleDesc(desc);
	}
	else if (OidIsValid(elem) && get_typlen(base) == -1)
	{
		ArrayType  *arr = DatumGetArrayTypeP(v);
		int			ndim = ARR_NDIM(arr);
		int16		typlen;
		bool		typbyval;
		char		typalign;
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		appendStringInfoChar(buf, 'a');
		idempotency_append_u32(buf, ndim);
		for (int d = 0; d < ndim; d++)
		{
			idempotency_append_u32(buf, ARR_DIMS(arr)[d]);
			idempotency_append_u32(buf, ARR_LBOUND(arr)[d]);
		}
		get_typlenbyvalalign(ARR_ELEMTYPE(arr), &typlen, &typbyval, &typalign);
		deconstruct_array(arr, ARR_ELEMTYPE(arr), typlen, typbyval, typalign,
						  &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
		{
			if (nulls[i])
				appendStringInfoChar(buf, 'n');
			else
				idempotency_append_value(buf, ARR_ELEMTYPE(arr), elems[i]);
		}
	}
	else
	{
		int16		typlen;
		bool		typbyval;
		char		typalign;
		char		typdelim;
		Oid			typioparam;
		Oid			func;
		bool		isvarlena;

		get_type_io_data(base, IOFunc_send, &typlen, &typbyval, &typalign,
						 &typdelim, &typioparam, &func);
		if (OidIsValid(func))
		{
			bytea	   *b = OidSendFunctionCall(func, v);

			appendStringInfoChar(buf, 'b');
			idempotency_append_str(buf, VARDATA(b), VARSIZE(b) - VARHDRSZ);
		}
		else
		{
			char	   *str;

			getTypeOutputInfo(base, &func, &isvarlena);
			str = OidOutputFunctionCall(func, v);
			appendStringInfoChar(buf, 't');
			idempotency_append_str(buf, str, strlen(str));
		}
	}
}

/*
 * The fingerprint's encoding of params of a type other than text.  Send
 * functions of text-like types (varchar, enum labels, json ...) convert to
 * the client's encoding: they run with the server's as the client encoding
 * (as for cursors, cursor.c), so that a retry from a client with another
 * client_encoding is the same request, and a character the client's
 * encoding lacks is no error.
 */
static void
idempotency_typed_params(StringInfo buf, Oid elemtype, Datum *elems,
						 bool *nulls, int nelems)
{
	char	   *typname = format_type_be_qualified(elemtype);
	int			client;

	appendStringInfoChar(buf, 'P');
	idempotency_append_str(buf, typname, strlen(typname));
	idempotency_append_u32(buf, nelems);
	client = cursor_encoding_enter();
	PG_TRY();
	{
		for (int i = 0; i < nelems; i++)
		{
			if (nulls[i])
				appendStringInfoChar(buf, 'n');
			else
				idempotency_append_value(buf, elemtype, elems[i]);
		}
	}
	PG_FINALLY();
	{
		cursor_encoding_leave(client);
	}
	PG_END_TRY();
}

/*
 * SHA-256 of the request: the SQL text and every parameter, each
 * length-prefixed so that no two different requests share an encoding.
 * text[] params are encoded as in 1.0, so records made then still match;
 * params of another element type are tagged with its schema-qualified name
 * (not its OID, which a dump and restore changes), as are the fields of
 * composite values, and encoded by the binary send functions of their
 * parts (idempotency_append_value), which unlike their text forms do not
 * depend on settings such as DateStyle (run under the server's encoding as
 * the client's); a type without one falls back to its text form.
 */
static bytea *
idempotency_fingerprint(text *sql, ArrayType *params)
{
	StringInfoData buf;
	uint8		digest[SHA256_DIGEST_LEN];
	bytea	   *result;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "resilience.idempotent v1");
	appendStringInfoChar(&buf, '\0');
	idempotency_append_u32(&buf, VARSIZE_ANY_EXHDR(sql));
	appendBinaryStringInfo(&buf, VARDATA_ANY(sql), VARSIZE_ANY_EXHDR(sql));
	if (params == NULL)
		appendStringInfoChar(&buf, 'N');
	else
	{
		Datum	   *elems;
		bool	   *nulls;
		int			nelems;
		Oid			elemtype;

		nelems = args_param_array(params, "params", &elemtype, &elems, &nulls);
		if (elemtype != TEXTOID)
			idempotency_typed_params(&buf, elemtype, elems, nulls, nelems);
		else
		{
			appendStringInfoChar(&buf, 'A');
			idempotency_append_u32(&buf, nelems);
			for (int i = 0; i < nelems; i++)
			{
				if (nulls[i])
					appendStringInfoChar(&buf, 'n');
				else
				{
					text	   *t = DatumGetTextPP(elems[i]);

					appendStringInfoChar(&buf, 'v');
					idempotency_append_u32(&buf, VARSIZE_ANY_EXHDR(t));
					appendBinaryStringInfo(&buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				}
			}
		}
	}

	sha256(buf.data, buf.len, digest);
	pfree(buf.data);

	result = (bytea *) palloc(VARHDRSZ + sizeof(digest));
	SET_VARSIZE(result, VARHDRSZ + sizeof(digest));
	memcpy(VARDATA(result), digest, sizeof(digest));
	return result;
}

/* {"replayed": ..., "result": ...} */
static Jsonb *
idempotency_reply(bool replayed, Jsonb *result)
{
	JsonbParseState *state = NULL;
	JsonbValue	k;
	JsonbValue	v;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);

	k.type = jbvString;
	k.val.string.val = "replayed";
	k.val.string.len = strlen("replayed");
	pushJsonbValue(&state, WJB_KEY, &k);
	v.type = jbvBool;
	v.val.boolean = replayed;
	pushJsonbValue(&state, WJB_VALUE, &v);

	k.val.string.val = "result";
	k.val.string.len = strlen("result");
	pushJsonbValue(&state, WJB_KEY, &k);
	if (result == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvBinary;
		v.val.binary.data = &result->root;
		v.val.binary.len = VARSIZE(result) - VARHDRSZ;
	}
	pushJsonbValue(&state, WJB_VALUE, &v);

	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/*
 * Replay the record SPI_tuptable holds (fingerprint, result): refuse it if it
 * was made for another request, count the replay, and build the reply in
 * replycxt.
 */
static Jsonb *
idempotency_replay(text *key, bytea *fingerprint, Datum *keyvalues,
				   MemoryContext replycxt, Snapshot startsnap)
{
	bool		isnull;
	bool		resnull;
	Datum		fp;
	Datum		res;
	Jsonb	   *reply;
	MemoryContext old;
	int			rc;

	fp = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull || !DatumGetBool(DirectFunctionCall2(byteaeq, fp, PointerGetDatum(fingerprint))))
	{
		stats_idempotency_mismatch();
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("idempotency key \"%s\" was already used for a different request",
						text_to_cstring(key)),
				 errdetail("A key replays only the request it was first used with: the same SQL and parameters."),
				 errhint("Use a new key for a new request.")));
	}
	res = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &resnull);

	/*
	 * For the monitoring counters: a record whose writer was still running
	 * when the calling statement began made this call wait (or overlap).
	 */
	if (startsnap != NULL)
	{
		Datum		xmin = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);

		if (!isnull && !TransactionIdIsCurrentTransactionId(DatumGetTransactionId(xmin)) &&
			XidInMVCCSnapshot(DatumGetTransactionId(xmin), startsnap))
			stats_idempotency_wait();
	}
	old = MemoryContextSwitchTo(replycxt);
	reply = idempotency_reply(true, resnull ? NULL : DatumGetJsonbP(res));
	MemoryContextSwitchTo(old);

	/* Count the replay (an append, so replays never wait for each other). */
	rc = SPI_execute_plan(replay_plan, keyvalues, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "counting idempotency replay failed: %s", SPI_result_code_string(rc));
	stats_idempotency_replay();

	return reply;
}

/* Who a request runs as. */
typedef struct IdempotencyIdentity
{
	Oid			userid;
	int			sec_context;
	Oid			session_userid;
} IdempotencyIdentity;

/* The current user, security context and session user. */
static void
idempotency_identity(IdempotencyIdentity *id)
{
	GetUserIdAndSecContext(&id->userid, &id->sec_context);
	id->session_userid = GetSessionUserId();
}

/* 0A000 if the request ended as someone other than it started. */
static void
idempotency_check_identity(const IdempotencyIdentity *before)
{
	IdempotencyIdentity after;

	idempotency_identity(&after);
	if (after.session_userid != before->session_userid)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("idempotent request changed the session user"),
				 errdetail("The request started with session user \"%s\" and ended with \"%s\".",
						   GetUserNameFromId(before->session_userid, false),
						   GetUserNameFromId(after.session_userid, false)),
				 errhint("Change roles before calling resilience.idempotent(): a key and its result belong to the calling role.")));
	if (after.userid != before->userid || after.sec_context != before->sec_context)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("idempotent request changed the current role"),
				 errdetail("The request started as role \"%s\" and ended as \"%s\".",
						   GetUserNameFromId(before->userid, false),
						   GetUserNameFromId(after.userid, false)),
				 errhint("Change roles before calling resilience.idempotent(): a key and its result belong to the calling role.")));
}

/*
 * idempotent(key text, sql text, params anycompatiblearray, ttl interval)
 * RETURNS jsonb
 */
Datum
idempotency_run(PG_FUNCTION_ARGS)
{
	text	   *key;
	text	   *sql;
	ArrayType  *params;
	Interval   *ttl;
	TimestampTz now;
	Oid			elemtype;
	bytea	   *fingerprint;
	Datum		values[4];
	Oid			role = GetUserId();
	Jsonb	   *reply = NULL;
	MemoryContext callcxt = CurrentMemoryContext;
	Snapshot	startsnap = ActiveSnapshotSet() ? GetActiveSnapshot() : NULL;

	args_not_null(fcinfo, 0, "key");
	args_not_null(fcinfo, 1, "sql");
	args_not_null(fcinfo, 3, "ttl");
	key = PG_GETARG_TEXT_PP(0);
	sql = PG_GETARG_TEXT_PP(1);
	params = PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2);
	ttl = PG_GETARG_INTERVAL_P(3);

	if (VARSIZE_ANY_EXHDR(key) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("idempotency key must not be empty"),
				 errhint("Send a unique key per request, such as a UUID from the client.")));
	if (VARSIZE_ANY_EXHDR(key) > IDEMPOTENCY_MAX_KEY_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("idempotency key is too long"),
				 errdetail("The key has %d bytes; the limit is %d.",
						   (int) VARSIZE_ANY_EXHDR(key), IDEMPOTENCY_MAX_KEY_BYTES)));
	/* positive on the calendar too, as expires_at is computed */
	now = GetCurrentTimestamp();
	if (args_interval_usec(ttl, "ttl") <= 0 ||
		DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
												TimestampTzGetDatum(now),
												PointerGetDatum(ttl))) <= now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ttl must be a positive interval"),
				 errhint("Keep records at least as long as clients may retry, such as '24 hours'.")));
	/* no parameters is one request whether it is spelt NULL or '{}' */
	if (args_param_array_length(params, "params", &elemtype) == 0)
		params = NULL;

	fingerprint = idempotency_fingerprint(sql, params);

	spiplan_connect();
	idempotency_prepare_plans();

	values[0] = ObjectIdGetDatum(role);
	values[1] = PointerGetDatum(key);
	values[2] = PointerGetDatum(fingerprint);
	values[3] = PointerGetDatum(ttl);

	for (int round = 0; round < IDEMPOTENCY_MAX_CLAIMS && reply == NULL; round++)
	{
		bool		claimed;
		int			rc;

		/*
		 * Claim the key with a fresh insert.  It waits for a concurrent
		 * claimer's transaction and inserts nothing if a record exists.
		 */
		rc = SPI_execute_plan(insert_plan, values, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "claiming idempotency key failed: %s", SPI_result_code_string(rc));
		claimed = (SPI_processed == 1);

		if (!claimed)
		{
			/* A record exists: replay it, unless it expired before this call. */
			rc = SPI_execute_plan(read_plan, values, NULL, false, 1);
			if (rc != SPI_OK_SELECT)
				elog(ERROR, "reading idempotency record failed: %s", SPI_result_code_string(rc));
			if (SPI_processed == 1)
			{
				bool		isnull;
				bool		expired = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
																 SPI_tuptable->tupdesc, 4, &isnull));
				TransactionId xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[0],
																		 SPI_tuptable->tupdesc, 3, &isnull));

				/*
				 * A live record, or one whose writer is this transaction or was
				 * still running when this call began (we waited for it, or
				 * overlapped it): replay.  Only a record that was already
				 * committed and expired before this call may be taken over;
				 * otherwise a request longer than ttl runs twice.
				 */
				if (!expired ||
					TransactionIdIsCurrentTransactionId(xmin) ||
					(startsnap != NULL && XidInMVCCSnapshot(xmin, startsnap)))
				{
					reply = idempotency_replay(key, fingerprint, values, callcxt, startsnap);
					break;
				}
			}

			/*
			 * The record expired: take it over.  If that finds nothing, a
			 * purge removed it or another claimer renewed it meanwhile; the
			 * next round sees which.
			 */
			rc = SPI_execute_plan(takeover_plan, values, NULL, false, 0);
			if (rc != SPI_OK_UPDATE)
				elog(ERROR, "claiming expired idempotency key failed: %s", SPI_result_code_string(rc));
			claimed = (SPI_processed == 1);
			if (claimed)
			{
				/* the old record's replays are not the new one's */
				rc = SPI_execute_plan(forget_plan, values, NULL, false, 0);
				if (rc != SPI_OK_DELETE)
					elog(ERROR, "resetting idempotency replays failed: %s", SPI_result_code_string(rc));
			}
		}

		if (claimed)
		{
			/* The key is ours: run the request and record its result. */
			IdempotencyIdentity caller;
			Jsonb	   *result;
			Datum		rvalues[3];
			char		rnulls[3];
			MemoryContext old;

			idempotency_identity(&caller);
			result = sqlexec_execute(text_to_cstring(sql), params);
			idempotency_check_identity(&caller);
			rnulls[0] = ' ';
			rnulls[1] = ' ';
			rnulls[2] = result ? ' ' : 'n';

			rvalues[0] = values[0];
			rvalues[1] = values[1];
			rvalues[2] = PointerGetDatum(result);
			rc = SPI_execute_plan(record_plan, rvalues, rnulls, false, 0);
			if (rc != SPI_OK_UPDATE)
				elog(ERROR, "recording idempotency result failed: %s", SPI_result_code_string(rc));
			if (SPI_processed != 1)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("idempotency record of key \"%s\" vanished while its request ran",
								text_to_cstring(key)),
						 errdetail("The request deleted or re-keyed its own record in resilience.idempotency_store."),
						 errhint("Do not write resilience.idempotency_store from inside the request.")));
			stats_idempotency_first();

			old = MemoryContextSwitchTo(callcxt);
			reply = idempotency_reply(false, result);
			MemoryContextSwitchTo(old);
		}
	}

	if (reply == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not claim idempotency key \"%s\"", text_to_cstring(key)),
				 errdetail("Its record expired and was purged while this call was claiming it, %d times.",
						   IDEMPOTENCY_MAX_CLAIMS)));

	SPI_finish();
	PG_RETURN_JSONB_P(reply);
}

/*
 * idempotency_settled(xmin xid) RETURNS boolean: may idempotency_purge()
 * delete a record version written by xmin?  Only if every transaction
 * running now began after xmin ended: a call that waited for the record's
 * writer (its claim insert conflicted) takes the record's lock only in its
 * next statement, and a purge in between must not delete the record it is
 * about to replay, or the call would claim the key afresh and run the
 * request a second time.  Such a call's snapshot predates the writer's
 * commit, so it holds the xmin horizon at or below the writer's xid.  The
 * horizon is read at most every 10 ms within a transaction, not once per
 * row of a purge (it only moves forward: an older one skips more, never
 * less).
 */
Datum
idempotency_settled(PG_FUNCTION_ARGS)
{
	static LocalTransactionId horizon_lxid = InvalidLocalTransactionId;
	static TransactionId horizon = InvalidTransactionId;
	static TimestampTz horizon_at = 0;
	TransactionId xmin = DatumGetTransactionId(PG_GETARG_DATUM(0));
	TimestampTz now = GetCurrentTimestamp();

#if PG_VERSION_NUM >= 170000
	LocalTransactionId lxid = MyProc->vxid.lxid;
#else
	LocalTransactionId lxid = MyProc->lxid;
#endif

	if (horizon_lxid != lxid || !TransactionIdIsValid(horizon) ||
		now < horizon_at || now - horizon_at >= 10 * 1000)
	{
		horizon = GetOldestNonRemovableTransactionId(NULL);
		horizon_lxid = lxid;
		horizon_at = now;
	}
	PG_RETURN_BOOL(!TransactionIdIsNormal(xmin) || TransactionIdPrecedes(xmin, horizon));
}
