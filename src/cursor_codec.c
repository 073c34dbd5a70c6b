/*-------------------------------------------------------------------------
 *
 * cursor_codec.c
 *		Cursor bytes: base64url, signature, layout.  No server calls.
 *
 * A cursor is the base64url text (no padding) of
 *
 *		byte	version (CURSOR_VERSION)
 *		uint32	id of the signing key (big endian)
 *		byte[8]	fingerprint of (relation, normalized sort, key types)
 *		byte	number of key values
 *		per key	byte 0 (NULL) or 1, then uint32 length and the value in its
 *				type's binary send format (lossless for every type; text in
 *				the server encoding, whatever the client's: see cursor.c)
 *		byte[32] HMAC-SHA256 of everything before it, under the database's
 *				derived key (cursor_derive_key)
 *
 * Reading follows the cryptographic doom principle: nothing in a cursor is
 * interpreted before its signature has been checked.  The signature is the
 * last CURSOR_MAC_LEN bytes whatever the rest says, so before the check only
 * the text's size and alphabet, its one spelling and the key id are looked
 * at, and every failure up to and including the signature is the same
 * CURSOR_INVALID: whoever alters a cursor learns nothing about where the
 * change was noticed.  Lengths and flags are walked only in bytes we signed;
 * they are checked all the same (a key holder could sign anything, and the
 * fuzz harness does), and values stay inside the signed body.
 *
 * This file is compiled into the extension and, unchanged, into the fuzz
 * harness (fuzz/), so it uses nothing but c.h and sha256.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/pg_bswap.h"

#include "cursor_int.h"

static const char cursor_b64url[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The domain of the key derivation: a new version gets new keys. */
static const char cursor_derive_label[] = "resilience cursor v2";

/* Constant-time equality of two byte strings of length len. */
static bool
cursor_mac_equal(const uint8 *a, const uint8 *b, size_t len)
{
	volatile uint8 diff = 0;

	for (size_t i = 0; i < len; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

/* base64url without padding into out (room for CURSOR_TEXT_SIZE(len)); its length. */
static size_t
cursor_b64_encode(const uint8 *src, size_t len, char *out)
{
	char	   *p = out;
	size_t		i;

	for (i = 0; i + 2 < len; i += 3)
	{
		uint32		v = ((uint32) src[i] << 16) | ((uint32) src[i + 1] << 8) | src[i + 2];

		*p++ = cursor_b64url[(v >> 18) & 63];
		*p++ = cursor_b64url[(v >> 12) & 63];
		*p++ = cursor_b64url[(v >> 6) & 63];
		*p++ = cursor_b64url[v & 63];
	}
	if (len - i == 1)
	{
		uint32		v = (uint32) src[i] << 16;

		*p++ = cursor_b64url[(v >> 18) & 63];
		*p++ = cursor_b64url[(v >> 12) & 63];
	}
	else if (len - i == 2)
	{
		uint32		v = ((uint32) src[i] << 16) | ((uint32) src[i + 1] << 8);

		*p++ = cursor_b64url[(v >> 18) & 63];
		*p++ = cursor_b64url[(v >> 12) & 63];
		*p++ = cursor_b64url[(v >> 6) & 63];
	}
	*p = '\0';
	return p - out;
}

/*
 * Decode base64url without padding into dst (room for CURSOR_RAW_SIZE(len));
 * false on a character outside the alphabet, an impossible length, or a last
 * character with bits the bytes do not use (which would give one cursor
 * several spellings).
 */
static bool
cursor_b64_decode(const char *src, size_t len, uint8 *dst, size_t *dstlen)
{
	uint32		acc = 0;
	int			bits = 0;
	size_t		n = 0;

	if (len % 4 == 1)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = src[i];
		uint32		v;

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
		acc = ((acc << 6) | v) & 0xFFFFFF;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			dst[n++] = (acc >> bits) & 0xFF;
		}
	}
	*dstlen = n;
	/* the bits left over are zero in the one spelling of these bytes */
	return (acc & ((1u << bits) - 1)) == 0;
}

/* Read a big-endian uint32 at p. */
static uint32
cursor_get32(const uint8 *p)
{
	uint32		v;

	memcpy(&v, p, 4);
	return pg_ntoh32(v);
}

/* Authenticate, then parse; see the file header. */
CursorResult
cursor_read(const char *text, size_t len, CursorKeyLookup lookup, void *lookup_arg,
			const uint8 *fingerprint, int nkeys, uint8 *raw, CursorValue *vals)
{
	size_t		rawlen;
	size_t		bodylen;
	size_t		pos;
	const Sha256HmacKey *key;
	uint8		mac[CURSOR_MAC_LEN];
	bool		match;

	/* before the signature: size, alphabet, spelling, the key id */
	if (len == 0 || len > CURSOR_MAX_TEXT)
		return CURSOR_INVALID;
	if (!cursor_b64_decode(text, len, raw, &rawlen) || rawlen < CURSOR_MIN_RAW)
		return CURSOR_INVALID;
	Assert(rawlen < CURSOR_RAW_SIZE(len));
	bodylen = rawlen - CURSOR_MAC_LEN;
	key = lookup(cursor_get32(raw + 1), lookup_arg);
	if (key == NULL)
		return CURSOR_INVALID;
	sha256_hmac(key, raw, bodylen, mac);
	match = cursor_mac_equal(mac, raw + bodylen, CURSOR_MAC_LEN);
	explicit_bzero(mac, sizeof(mac));
	if (!match)
		return CURSOR_INVALID;

	/* signed by us: now its contents mean something */
	if (raw[0] != CURSOR_VERSION)
		return CURSOR_INVALID;
	if (raw[CURSOR_HEADER_LEN - 1] != nkeys ||
		memcmp(raw + 1 + 4, fingerprint, CURSOR_FINGERPRINT_LEN) != 0)
		return CURSOR_OTHER_SPEC;
	pos = CURSOR_HEADER_LEN;
	for (int i = 0; i < nkeys; i++)
	{
		uint32		vlen;

		if (pos >= bodylen || raw[pos] > 1)
			return CURSOR_INVALID;
		vals[i].isnull = raw[pos++] == 0;
		vals[i].off = pos;
		vals[i].len = 0;
		if (vals[i].isnull)
			continue;
		if (bodylen - pos < 4)
			return CURSOR_INVALID;
		vlen = cursor_get32(raw + pos);
		pos += 4;
		if (vlen > bodylen - pos)
			return CURSOR_INVALID;
		vals[i].off = pos;
		vals[i].len = vlen;
		pos += vlen;
	}
	if (pos != bodylen)
		return CURSOR_INVALID;
	return CURSOR_VALID;
}

/* Append body's MAC and write its text; see cursor_int.h. */
size_t
cursor_seal(const Sha256HmacKey *key, uint8 *body, size_t bodylen, char *text)
{
	sha256_hmac(key, body, bodylen, body + bodylen);
	return cursor_b64_encode(body, bodylen + CURSOR_MAC_LEN, text);
}

/* The database's signing key derived from a stored key; see cursor_int.h. */
void
cursor_derive_key(Sha256HmacKey *hk, const uint8 *stored, uint32 dboid)
{
	Sha256HmacKey master;
	uint8		msg[sizeof(cursor_derive_label) - 1 + 4];
	uint8		derived[SHA256_DIGEST_LEN];
	uint32		be = pg_hton32(dboid);

	memcpy(msg, cursor_derive_label, sizeof(cursor_derive_label) - 1);
	memcpy(msg + sizeof(cursor_derive_label) - 1, &be, 4);
	sha256_hmac_key(&master, stored, CURSOR_KEY_LEN);
	sha256_hmac(&master, msg, sizeof(msg), derived);
	sha256_hmac_key(hk, derived, sizeof(derived));
	explicit_bzero(&master, sizeof(master));
	explicit_bzero(derived, sizeof(derived));
}
