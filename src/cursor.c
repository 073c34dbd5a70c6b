/*-------------------------------------------------------------------------
 *
 * cursor.c
 *		Signed, opaque pagination cursors and the keys that sign them.
 *
 * A cursor is the base64url text (no padding) of
 *
 *		byte	version (1)
 *		uint32	id of the signing key (big endian)
 *		byte[8]	fingerprint of (relation, normalized sort, key types)
 *		byte	number of key values
 *		per key	byte 0 (NULL) or 1, then uint32 length and the value in its
 *				type's binary send format (lossless for every type; text in
 *				the server encoding, whatever the client's)
 *		byte[32] HMAC-SHA256 of everything before it
 *
 * Decoding checks, in this order and with distinct messages: size (at most
 * CURSOR_MAX_TEXT bytes, before any decoding), alphabet, structure
 * (truncated or trailing bytes, version, a last character with stray bits:
 * a cursor has one spelling), key id (a key rotated out twice is
 * reported as such), signature (constant-time compare), fingerprint (made
 * for another relation or sort).  Values reach the types' receive functions
 * only after the signature matched, so they are our own bytes.
 *
 * Keys live in resilience.cursor_keys (id, key, created_at), which no
 * ordinary role can read.  Signing and verification run with the caller's
 * rights (no SECURITY DEFINER), so the key is read here directly with a heap
 * scan that does no permission check: the key never leaves this file, it is
 * only fed to HMAC.  The two newest keys are cached per backend; the newest
 * signs, both verify.  rotate_cursor_key() adds a key, drops all but the two
 * newest and sends a relcache invalidation for the table, which tells every
 * backend to reload; an unknown key id also forces one reload.
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
#include "extension.h"
#include "resilience.h"
#include "sha256.h"

RESILIENCE_FUNCTION(cursor_rotate_key);

#define CURSOR_VERSION		1
#define CURSOR_KEY_LEN		32
#define CURSOR_MAC_LEN		SHA256_DIGEST_LEN
#define CURSOR_HEADER_LEN	(1 + 4 + CURSOR_FINGERPRINT_LEN + 1)

typedef struct CursorKey
{
	int64		id;
	Sha256HmacKey hmac;			/* the key, prepared for HMAC */
} CursorKey;

/* Per-backend key cache: [0] newest (signs), [1] previous; nkeys 0..2. */
static CursorKey cursor_keys[2];
static int	cursor_nkeys = 0;
static bool cursor_keys_valid = false;
static Oid	cursor_keys_relid = InvalidOid;
static bool cursor_callback_registered = false;

static const char b64url[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Relcache callback: forget the keys when cursor_keys (or everything) is invalidated. */
static void
cursor_keys_invalidate(Datum arg, Oid relid)
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
		CacheRegisterRelcacheCallback(cursor_keys_invalidate, (Datum) 0);
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
		sha256_hmac_key(&k.hmac, (const uint8 *) VARDATA_ANY(kb), CURSOR_KEY_LEN);
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

/* Constant-time equality of two byte strings of length len. */
static bool
cursor_mac_equal(const uint8 *a, const uint8 *b, size_t len)
{
	volatile uint8 diff = 0;

	for (size_t i = 0; i < len; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

/* base64url without padding. */
static char *
cursor_b64_encode(const uint8 *src, size_t len)
{
	char	   *out = palloc((len + 2) / 3 * 4 + 1);
	char	   *p = out;
	size_t		i;

	for (i = 0; i + 2 < len; i += 3)
	{
		uint32		v = (src[i] << 16) | (src[i + 1] << 8) | src[i + 2];

		*p++ = b64url[(v >> 18) & 63];
		*p++ = b64url[(v >> 12) & 63];
		*p++ = b64url[(v >> 6) & 63];
		*p++ = b64url[v & 63];
	}
	if (len - i == 1)
	{
		uint32		v = src[i] << 16;

		*p++ = b64url[(v >> 18) & 63];
		*p++ = b64url[(v >> 12) & 63];
	}
	else if (len - i == 2)
	{
		uint32		v = (src[i] << 16) | (src[i + 1] << 8);

		*p++ = b64url[(v >> 18) & 63];
		*p++ = b64url[(v >> 12) & 63];
		*p++ = b64url[(v >> 6) & 63];
	}
	*p = '\0';
	return out;
}

/*
 * Decode base64url without padding; false on a bad character or length.
 * *canonical is false if the last character carries bits the bytes do not
 * use, which would let one cursor be spelled several ways.
 */
static bool
cursor_b64_decode(const char *src, size_t len, uint8 *dst, size_t *dstlen, bool *canonical)
{
	uint32		acc = 0;
	int			bits = 0;
	size_t		n = 0;

	if (len % 4 == 1)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = src[i];
		int			v;

		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '-')
			v = 62;
		else if (c == '_')
			v = 63;
		else
			return false;
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			dst[n++] = (acc >> bits) & 0xFF;
		}
	}
	/* the bits left over are zero in the one spelling of these bytes */
	*canonical = (acc & ((1u << bits) - 1)) == 0;
	*dstlen = n;
	return true;
}

/*
 * The binary send and receive functions of text-like types (text, varchar,
 * name, enums, json ...) convert between the server's and the client's
 * encoding, so a cursor made under one client_encoding would decode to other
 * values under another, or not at all.  Cursors carry server-encoding bytes:
 * the client encoding is the server's while values are sent or received.
 * (A NOTICE raised meanwhile, say by a domain's CHECK calling PL/pgSQL,
 * reaches the client in the server's encoding.)  Returns the client
 * encoding to restore with cursor_encoding_leave().
 */
static int
cursor_encoding_enter(void)
{
	int			client = pg_get_client_encoding();

	if (client != GetDatabaseEncoding())
		SetClientEncoding(GetDatabaseEncoding());
	return client;
}

/* Restore the client encoding cursor_encoding_enter() returned; safe in error cleanup. */
static void
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
	uint8		mac[CURSOR_MAC_LEN];
	char	   *out;
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
	sha256_hmac(&cursor_keys[0].hmac, (uint8 *) buf.data, buf.len, mac);
	pq_sendbytes(&buf, (char *) mac, CURSOR_MAC_LEN);

	out = cursor_b64_encode((uint8 *) buf.data, buf.len);
	if (strlen(out) > CURSOR_MAX_TEXT)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cursor would be longer than %d bytes", CURSOR_MAX_TEXT),
				 errdetail("The sort key values of this row are too large to carry in a cursor."),
				 errhint("Sort by shorter columns, such as an id, a timestamp or a prefix of the text.")));
	pfree(buf.data);
	return out;
}

/* ERROR 22023 about a cursor: the one way every cursor problem is reported. */
static void
cursor_reject(const char *msg, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s", msg),
			 errdetail("%s", detail),
			 errhint("Pass a cursor exactly as page_json() or cursor_of() returned it, with the same relation and sort.")));
}

/* Verify and decode a cursor; see the file header for the order of checks. */
void
cursor_decode(const char *text, size_t len, const uint8 *fingerprint,
			  int nkeys, FmgrInfo *recvfns, const Oid *typioparams,
			  const int32 *typmods, Datum *values, bool *nulls)
{
	uint8	   *raw;
	size_t		rawlen;
	size_t		pos;
	int			nvals;
	uint32		keyid;
	const CursorKey *key = NULL;
	uint8		mac[CURSOR_MAC_LEN];
	size_t		maclen;
	bool		canonical;
	int			client;

	if (len > CURSOR_MAX_TEXT)
		cursor_reject("cursor is too long",
					  psprintf("A cursor has at most %d bytes; this one has %zu.",
							   CURSOR_MAX_TEXT, len));
	raw = palloc(len + 1);
	if (len == 0 || !cursor_b64_decode(text, len, raw, &rawlen, &canonical))
		cursor_reject("cursor is malformed",
					  "It is not URL-safe base64 text.");
	if (rawlen < CURSOR_HEADER_LEN)
		cursor_reject("cursor is truncated",
					  "It ends before its header does.");
	if (raw[0] != CURSOR_VERSION)
		cursor_reject("cursor is malformed",
					  psprintf("It has format version %d; this version of resilience reads version %d.",
							   raw[0], CURSOR_VERSION));

	/* walk the values to find where the signature starts */
	nvals = raw[CURSOR_HEADER_LEN - 1];
	pos = CURSOR_HEADER_LEN;
	for (int i = 0; i < nvals; i++)
	{
		uint32		vlen;

		if (pos + 1 > rawlen)
			cursor_reject("cursor is truncated", "It ends inside its key values.");
		if (raw[pos] > 1)
			cursor_reject("cursor is malformed", "A key value has an invalid null flag.");
		if (raw[pos++] == 0)
			continue;
		if (pos + 4 > rawlen)
			cursor_reject("cursor is truncated", "It ends inside its key values.");
		memcpy(&vlen, raw + pos, 4);
		vlen = pg_ntoh32(vlen);
		pos += 4;
		if (vlen > rawlen - pos)
			cursor_reject("cursor is truncated", "It ends inside its key values.");
		pos += vlen;
	}
	maclen = rawlen - pos;
	if (maclen < CURSOR_MAC_LEN)
		cursor_reject("cursor is truncated", "Its signature is incomplete.");
	if (maclen > CURSOR_MAC_LEN)
		cursor_reject("cursor is malformed", "It has bytes after its signature.");
	if (!canonical)
		cursor_reject("cursor is malformed", "Its last character is not the one its bytes end with.");

	/* the key it names: the cached ones, or after one reload */
	memcpy(&keyid, raw + 1, 4);
	keyid = pg_ntoh32(keyid);
	for (int attempt = 0; attempt < 2 && key == NULL; attempt++)
	{
		if (attempt == 1 || !cursor_keys_valid)
			cursor_load_keys();
		for (int i = 0; i < cursor_nkeys; i++)
			if ((uint32) cursor_keys[i].id == keyid)
				key = &cursor_keys[i];
	}
	if (key == NULL)
		cursor_reject("cursor was signed with a retired key",
					  "The cursor key was rotated twice since this cursor was made, or the cursor was forged.");

	sha256_hmac(&key->hmac, raw, pos, mac);
	if (!cursor_mac_equal(mac, raw + pos, CURSOR_MAC_LEN))
		cursor_reject("cursor signature does not match",
					  "The cursor was altered or was not made by this database.");

	if (nvals != nkeys ||
		memcmp(raw + 1 + 4, fingerprint, CURSOR_FINGERPRINT_LEN) != 0)
		cursor_reject("cursor was made for another relation or sort order",
					  "A cursor only continues the walk over the relation and normalized sort order it was made for.");

	pos = CURSOR_HEADER_LEN;
	client = cursor_encoding_enter();
	PG_TRY();
	{
		for (int i = 0; i < nkeys; i++)
		{
			uint32		vlen;
			StringInfoData vbuf;
			uint8		saved;

			if (raw[pos++] == 0)
			{
				values[i] = (Datum) 0;
				nulls[i] = true;
				continue;
			}
			memcpy(&vlen, raw + pos, 4);
			vlen = pg_ntoh32(vlen);
			pos += 4;
			/*
			 * Receive functions want a NUL-terminated StringInfo: read the
			 * value in place, with a NUL over the byte after it meanwhile,
			 * as record_recv() does (the signature follows the last value).
			 */
			vbuf.data = (char *) raw + pos;
			vbuf.len = vlen;
			vbuf.maxlen = vlen + 1;
			vbuf.cursor = 0;
			saved = raw[pos + vlen];
			raw[pos + vlen] = '\0';
			values[i] = ReceiveFunctionCall(&recvfns[i], &vbuf, typioparams[i], typmods[i]);
			raw[pos + vlen] = saved;
			if (vbuf.cursor != vbuf.len)
				cursor_reject("cursor is malformed",
							  "A key value is not in its type's binary format.");
			pos += vlen;
			nulls[i] = false;
		}
	}
	PG_FINALLY();
	{
		cursor_encoding_leave(client);
	}
	PG_END_TRY();
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
