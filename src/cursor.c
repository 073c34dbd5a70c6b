/*-------------------------------------------------------------------------
 *
 * cursor.c
 *		Signed, opaque pagination cursors and the keys that sign them.
 *
 * The bytes of a cursor (layout, base64url, signature) are cursor_codec.c's,
 * which authenticates a cursor before it looks at anything in it (the doom
 * principle; see there).  This file adds what needs the server: the keys,
 * the key values' send and receive functions, and the errors.  Every cursor
 * that fails authentication, whatever was changed in it (a bit of a value,
 * of the key id or of the signature, a truncation, an extension, a length
 * over CURSOR_MAX_TEXT), gets the one message cursor_reject_invalid() gives;
 * an authentic cursor made for another relation or sort gets its own, and
 * so does an authentic value its type's receive function refuses (it names
 * the type: only a key holder can make one, or a type that changed under a
 * cursor, such as a domain given a new constraint).
 *
 * Keys live in resilience.cursor_keys (id, key, created_at), which no
 * ordinary role can read.  Signing and verification run with the caller's
 * rights (no SECURITY DEFINER), so the key is read here directly with a heap
 * scan that does no permission check: the key never leaves this file, it is
 * only fed to HMAC.  Cursors are not signed with a stored key itself but with
 * a key derived from it and the database's OID, once when the keys are
 * loaded: a database created with this one as TEMPLATE copies the stored
 * keys, but not the OID, so it refuses this database's cursors (and pg_upgrade
 * and physical replicas keep the OID, so cursors survive those).  The two
 * newest keys are cached per backend; the newest signs, both verify.
 * rotate_cursor_key() adds a key, drops all but the two newest and sends a
 * relcache invalidation for the table, which tells every backend to reload;
 * an unknown key id also forces one reload.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "cursor.h"
#include "cursor_int.h"
#include "extension.h"
#include "inval.h"
#include "resilience.h"
#include "sha256.h"
#include "stats.h"

RESILIENCE_FUNCTION(cursor_rotate_key);

typedef struct CursorKey
{
	int64		id;
	Sha256HmacKey hmac;			/* this database's key derived from it,
								 * prepared for HMAC */
} CursorKey;

/* Per-backend key cache: [0] newest (signs), [1] previous; nkeys 0..2. */
static CursorKey cursor_keys[2];
static int	cursor_nkeys = 0;
static bool cursor_keys_valid = false;
static Oid	cursor_keys_relid = InvalidOid;
static bool cursor_callback_registered = false;

/* Invalidation listener (inval.h): forget the keys when cursor_keys (or anything) changed. */
static void
cursor_keys_invalidate(Oid relid)
{
	if (relid == InvalidOid || relid == cursor_keys_relid)
		cursor_keys_valid = false;
}

/* The OID of the extension's cursor_keys table (found by membership). */
static Oid
cursor_keys_table(Oid *owner)
{
	return resilience_member_table("cursor_keys", owner);
}

/*
 * (Re)load the two newest keys.  A plain heap scan without permission checks:
 * see the file header for why that is fine.
 */
static void
cursor_load_keys(void)
{
	Relation	rel;
	Snapshot	snap;
	TableScanDesc scan;
	TupleTableSlot *slot;
	CursorKey	found[2];
	int			nfound = 0;

	if (!cursor_callback_registered)
	{
		inval_listen(cursor_keys_invalidate);
		cursor_callback_registered = true;
	}
	cursor_keys_relid = cursor_keys_table(NULL);

	rel = table_open(cursor_keys_relid, AccessShareLock);
	if (RelationGetDescr(rel)->natts < 2 ||
		TupleDescAttr(RelationGetDescr(rel), 0)->atttypid != INT8OID ||
		TupleDescAttr(RelationGetDescr(rel), 1)->atttypid != BYTEAOID)
		elog(ERROR, "resilience.cursor_keys has an unexpected layout");
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snap, 0, NULL);
	slot = table_slot_create(rel, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull_id,
					isnull_key;
		int64		id = DatumGetInt64(slot_getattr(slot, 1, &isnull_id));
		Datum		kd = slot_getattr(slot, 2, &isnull_key);
		bytea	   *kb;
		CursorKey	k;

		if (isnull_id || isnull_key)
			continue;
		kb = DatumGetByteaPP(kd);
		if (VARSIZE_ANY_EXHDR(kb) != CURSOR_KEY_LEN)
			continue;
		k.id = id;
		cursor_derive_key(&k.hmac, (const uint8 *) VARDATA_ANY(kb), MyDatabaseId);
		if (nfound == 0 || id > found[0].id)
		{
			found[1] = found[0];
			found[0] = k;
			nfound = Min(nfound + 1, 2);
		}
		else if (nfound == 1 || id > found[1].id)
		{
			found[1] = k;
			nfound = 2;
		}
		explicit_bzero(&k, sizeof(k));
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);

	explicit_bzero(cursor_keys, sizeof(cursor_keys));
	memcpy(cursor_keys, found, sizeof(CursorKey) * nfound);
	cursor_nkeys = nfound;
	cursor_keys_valid = true;
	explicit_bzero(found, sizeof(found));
}

/* The cached keys, loaded if needed; ERROR if there is none. */
static void
cursor_ensure_keys(void)
{
	if (!cursor_keys_valid)
		cursor_load_keys();
	if (cursor_nkeys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("there is no cursor key"),
				 errhint("The extension owner can create one with SELECT resilience.rotate_cursor_key().")));
}

/* The first CURSOR_FINGERPRINT_LEN bytes of SHA-256(data). */
void
cursor_fingerprint(const char *data, size_t len, uint8 *out)
{
	Sha256		c;
	uint8		digest[SHA256_DIGEST_LEN];

	sha256_init(&c);
	sha256_update(&c, (const uint8 *) data, len);
	sha256_final(&c, digest);
	memcpy(out, digest, CURSOR_FINGERPRINT_LEN);
}

/*
 * The binary send and receive functions of text-like types (text, varchar,
 * name, enums, json ...) convert between the server's and the client's
 * encoding, so a cursor made under one client_encoding would decode to other
 * values under another, or not at all.  Cursors carry server-encoding bytes:
 * the client encoding is the server's while values are sent or received.
 * (A NOTICE raised meanwhile, say by a domain's CHECK calling PL/pgSQL,
 * reaches the client in the server's encoding.)  Returns the client
 * encoding to restore with cursor_encoding_leave().  The idempotency
 * fingerprint (idempotency.c) sends parameter values the same way.
 */
int
cursor_encoding_enter(void)
{
	int			client = pg_get_client_encoding();

	if (client != GetDatabaseEncoding())
		SetClientEncoding(GetDatabaseEncoding());
	return client;
}

/* Restore the client encoding cursor_encoding_enter() returned; safe in error cleanup. */
void
cursor_encoding_leave(int client)
{
	/* it was in use, so its conversions are prepared: this cannot fail */
	if (client != pg_get_client_encoding() && SetClientEncoding(client) < 0)
		elog(WARNING, "could not restore client encoding %s", pg_encoding_to_char(client));
}

/* Encode key values into a signed cursor. */
char *
cursor_encode(const uint8 *fingerprint, int nkeys, FmgrInfo *sendfns,
			  const Datum *values, const bool *nulls)
{
	StringInfoData buf;
	char	   *out;
	size_t		outlen;
	int			client;

	cursor_ensure_keys();
	Assert(nkeys > 0 && nkeys < 256);

	initStringInfo(&buf);
	pq_sendbyte(&buf, CURSOR_VERSION);
	pq_sendint32(&buf, (uint32) cursor_keys[0].id);
	pq_sendbytes(&buf, (const char *) fingerprint, CURSOR_FINGERPRINT_LEN);
	pq_sendbyte(&buf, (uint8) nkeys);
	client = cursor_encoding_enter();
	PG_TRY();
	{
		for (int i = 0; i < nkeys; i++)
		{
			if (nulls[i])
				pq_sendbyte(&buf, 0);
			else
			{
				bytea	   *b = SendFunctionCall(&sendfns[i], values[i]);

				pq_sendbyte(&buf, 1);
				pq_sendint32(&buf, VARSIZE(b) - VARHDRSZ);
				pq_sendbytes(&buf, VARDATA(b), VARSIZE(b) - VARHDRSZ);
			}
		}
	}
	PG_FINALLY();
	{
		cursor_encoding_leave(client);
	}
	PG_END_TRY();

	enlargeStringInfo(&buf, CURSOR_MAC_LEN);
	out = palloc(CURSOR_TEXT_SIZE(buf.len + CURSOR_MAC_LEN));
	outlen = cursor_seal(&cursor_keys[0].hmac, (uint8 *) buf.data, buf.len, out);
	if (outlen > CURSOR_MAX_TEXT)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cursor would be longer than %d bytes", CURSOR_MAX_TEXT),
				 errdetail("The sort key values of this row are too large to carry in a cursor."),
				 errhint("Sort by shorter columns, such as an id, a timestamp or a prefix of the text.")));
	pfree(buf.data);
	return out;
}

/*
 * ERROR 22023 for a cursor that is not authentic: one message, whatever was
 * changed in it (see the file header).
 */
static void
cursor_reject_invalid(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("cursor is not valid"),
			 errdetail("It is not a cursor this database signed with a current key: it was altered, truncated or extended, made by another database or by resilience 1.0, or signed with a key retired by two rotations since."),
			 errhint("Pass a cursor exactly as page_json() or cursor_of() returned it in this database; to start over, omit after and before.")));
}

/* what cursor_lookup_key saw, for the monitoring counters' reasons */
#define CURSOR_LOOKUP_NONE		0	/* not called: malformed before the key id */
#define CURSOR_LOOKUP_FOUND		1	/* a current key: a bad signature is forged */
#define CURSOR_LOOKUP_MISSING	2	/* no such key: retired (or a made-up id) */

/*
 * The cached key with this id, reloading the keys once if there is none;
 * *(int *) arg says which (CURSOR_LOOKUP_*).
 */
static const Sha256HmacKey *
cursor_lookup_key(uint32 keyid, void *arg)
{
	bool		reloaded = false;

	*(int *) arg = CURSOR_LOOKUP_FOUND;

	if (!cursor_keys_valid)
	{
		cursor_load_keys();
		reloaded = true;
	}
	for (;;)
	{
		for (int i = 0; i < cursor_nkeys; i++)
			if ((uint32) cursor_keys[i].id == keyid)
				return &cursor_keys[i].hmac;
		if (reloaded)
		{
			*(int *) arg = CURSOR_LOOKUP_MISSING;
			return NULL;
		}
		cursor_load_keys();
		reloaded = true;
	}
}

/*
 * Whether an error a receive function raised says the value is not one of
 * its type: those are reported as a cursor error naming the type.  Others
 * (a cancel, a timeout, running out of memory, a permission a domain's check
 * needs) keep their own code.
 */
static bool
cursor_is_value_error(int sqlerrcode)
{
	switch (ERRCODE_TO_CATEGORY(sqlerrcode))
	{
		case ERRCODE_CONNECTION_EXCEPTION:	/* 08P01 from pq_getmsg*() */
		case ERRCODE_DATA_EXCEPTION:	/* 22P03, 22021, ... */
		case ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION:	/* a domain's constraint */
			return true;
		default:
			break;
	}
	return sqlerrcode == ERRCODE_DATATYPE_MISMATCH ||	/* array_recv(), record_recv() */
		sqlerrcode == ERRCODE_PROGRAM_LIMIT_EXCEEDED ||	/* array sizes */
		sqlerrcode == ERRCODE_INTERNAL_ERROR;	/* elog() in a receive function */
}

/*
 * Re-throw a receive function's error (copied off the error stack, which was
 * then flushed) as 22023 naming the type, its message as the detail.  Nothing
 * runs between the catch and this but allocation: the state the error left
 * is cleaned up by the abort the re-thrown error leads to, as for any error.
 */
static void
cursor_rethrow_value_error(ErrorData *edata, const char *typname)
{
	char	   *reported = edata->message ? edata->message : "unknown error";

	edata->sqlerrcode = ERRCODE_INVALID_PARAMETER_VALUE;
	edata->message = psprintf("cursor holds a value that type %s does not accept", typname);
	edata->message_id = edata->message;
	edata->detail = psprintf("Reading it reported: %s.", reported);
	edata->detail_log = NULL;
	edata->hint = pstrdup("Cursors are made by page_json() and cursor_of(); a cursor whose key type changed since cannot be read.");
	ReThrowError(edata);
}

/* Verify and decode a cursor; see the file header. */
void
cursor_decode(const char *text, size_t len, const uint8 *fingerprint,
			  int nkeys, FmgrInfo *recvfns, const Oid *typioparams,
			  const int32 *typmods, const char *const *typnames,
			  Datum *values, bool *nulls)
{
	uint8	   *raw;
	CursorValue vals[256];
	MemoryContext cxt = CurrentMemoryContext;
	volatile int i = 0;
	int			client;
	int			lookup = CURSOR_LOOKUP_NONE;

	Assert(nkeys > 0 && nkeys < 256);
	if (len > CURSOR_MAX_TEXT)
	{
		stats_keyset_cursor_rejected(STATS_CURSOR_MALFORMED);
		cursor_reject_invalid();
	}
	raw = palloc(CURSOR_RAW_SIZE(len));
	switch (cursor_read(text, len, cursor_lookup_key, &lookup, fingerprint, nkeys, raw, vals))
	{
		case CURSOR_VALID:
			break;
		case CURSOR_INVALID:
			stats_keyset_cursor_rejected(lookup == CURSOR_LOOKUP_NONE ? STATS_CURSOR_MALFORMED :
										 lookup == CURSOR_LOOKUP_MISSING ? STATS_CURSOR_RETIRED_KEY :
										 STATS_CURSOR_FORGED);
			cursor_reject_invalid();
			break;
		case CURSOR_OTHER_SPEC:
			stats_keyset_cursor_rejected(STATS_CURSOR_OTHER_SORT);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cursor was made for another relation or sort order"),
					 errdetail("A cursor only continues the walk over the relation and normalized sort order it was made for."),
					 errhint("Pass a cursor exactly as page_json() or cursor_of() returned it, with the same relation and sort.")));
			break;
	}

	client = cursor_encoding_enter();
	PG_TRY();
	{
		for (i = 0; i < nkeys; i++)
		{
			StringInfoData vbuf;
			uint8		saved;

			if (vals[i].isnull)
			{
				values[i] = (Datum) 0;
				nulls[i] = true;
				continue;
			}

			/*
			 * Receive functions want a NUL-terminated StringInfo: read the
			 * value in place, with a NUL over the byte after it meanwhile,
			 * as record_recv() does (the signature follows the last value).
			 */
			vbuf.data = (char *) raw + vals[i].off;
			vbuf.len = vals[i].len;
			vbuf.maxlen = vals[i].len + 1;
			vbuf.cursor = 0;
			saved = raw[vals[i].off + vals[i].len];
			raw[vals[i].off + vals[i].len] = '\0';
			values[i] = ReceiveFunctionCall(&recvfns[i], &vbuf, typioparams[i], typmods[i]);
			raw[vals[i].off + vals[i].len] = saved;
			if (vbuf.cursor != vbuf.len)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
						 errmsg("incorrect binary data format")));
			nulls[i] = false;
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		cursor_encoding_leave(client);
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (!cursor_is_value_error(edata->sqlerrcode))
			PG_RE_THROW();
		FlushErrorState();
		stats_keyset_cursor_rejected(STATS_CURSOR_OTHER);
		cursor_rethrow_value_error(edata, typnames[i]);
	}
	PG_END_TRY();
	cursor_encoding_leave(client);
	pfree(raw);
}

/* Run one statement (SPI connected) on a fresh snapshot; ERROR unless rc. */
static void
cursor_execute_latest(const char *sql, int nargs, Oid *argtypes, Datum *args, int expected)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_execute_snapshot(plan, args, NULL, GetLatestSnapshot(), InvalidSnapshot,
							 false, true, 0) != expected)
		elog(ERROR, "could not update resilience.cursor_keys");
	SPI_freeplan(plan);
}

/*
 * rotate_cursor_key(): add a fresh random key and keep only the previous one
 * besides it.  Extension owner (as pg_extension says now) or superuser only.
 *
 * Nobody holds privileges on cursor_keys: once the caller passed the check,
 * the writes run as the table's owner, with a restricted security context
 * (as foreign key checks and maintenance commands run theirs), so the right
 * follows the extension's ownership instead of grants made at install time.
 * An error on the way restores the caller's identity with the (sub)transaction
 * abort.
 */
Datum
cursor_rotate_key(PG_FUNCTION_ARGS)
{
	uint8		key[CURSOR_KEY_LEN];
	Oid			argtypes[1] = {BYTEAOID};
	Datum		args[1];
	bytea	   *kb;
	ResilienceExtension ext;
	Oid			relid;
	Oid			relowner;
	Oid			save_userid;
	int			save_sec_context;
	char	   *table;
	StringInfoData sql;

	resilience_extension_lookup(&ext);
	if (!superuser() && !has_privs_of_role(GetUserId(), ext.owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to rotate the cursor key"),
				 errdetail("Only the owner of extension resilience or a superuser may rotate the cursor key.")));
	relid = cursor_keys_table(&relowner);
	table = resilience_member_table_name(relid);

	if (!pg_strong_random(key, sizeof(key)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random cursor key")));
	kb = palloc(VARHDRSZ + CURSOR_KEY_LEN);
	SET_VARSIZE(kb, VARHDRSZ + CURSOR_KEY_LEN);
	memcpy(VARDATA(kb), key, CURSOR_KEY_LEN);
	explicit_bzero(key, sizeof(key));
	args[0] = PointerGetDatum(kb);

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(relowner, save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	SPI_connect();

	/*
	 * One rotation at a time, so ids stay dense and "previous" is exact.  The
	 * lock alone is not enough under REPEATABLE READ or SERIALIZABLE, whose
	 * snapshot may predate a rotation that committed while this one waited:
	 * the next id and the keys to retire are computed on a snapshot taken
	 * after the lock (as foreign key checks do), so they see it.  The lock
	 * keeps every other rotation out until commit.
	 */
	initStringInfo(&sql);
	appendStringInfo(&sql, "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE", table);
	if (SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not lock %s", table);
	resetStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO %s (id, key) "
					 "SELECT COALESCE(pg_catalog.max(id), 0) OPERATOR(pg_catalog.+) 1, $1 "
					 "FROM %s", table, table);
	cursor_execute_latest(sql.data, 1, argtypes, args, SPI_OK_INSERT);
	resetStringInfo(&sql);
	appendStringInfo(&sql, "DELETE FROM %s WHERE id OPERATOR(pg_catalog.<) "
					 "(SELECT pg_catalog.max(id) OPERATOR(pg_catalog.-) 1 FROM %s)",
					 table, table);
	cursor_execute_latest(sql.data, 0, NULL, NULL, SPI_OK_DELETE);
	explicit_bzero(VARDATA(kb), CURSOR_KEY_LEN);
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);

	/* every backend (this one at the next command) reloads its key cache */
	CacheInvalidateRelcacheByRelid(relid);
	cursor_keys_valid = false;
	PG_RETURN_VOID();
}
