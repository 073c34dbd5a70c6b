/*-------------------------------------------------------------------------
 *
 * cursor_int.h
 *		The cursor codec shared by cursor.c and the fuzz harness.
 *
 * cursor_codec.c is plain C over bytes: no palloc, no ereport, no catalog.
 * The extension (cursor.c) and fuzz/cursor_fuzz.c both call it, so the
 * fuzzer runs the very code that reads cursors in the server.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_CURSOR_INT_H
#define RESILIENCE_CURSOR_INT_H

#include "postgres.h"

#include "cursor.h"
#include "sha256.h"

/* Format version 2: signed with a per-database key (1.0 wrote version 1). */
#define CURSOR_VERSION		2
#define CURSOR_KEY_LEN		32
#define CURSOR_MAC_LEN		SHA256_DIGEST_LEN
/* version, key id, fingerprint, number of values */
#define CURSOR_HEADER_LEN	(1 + 4 + CURSOR_FINGERPRINT_LEN + 1)
/* the shortest cursor: a header and a signature, no value */
#define CURSOR_MIN_RAW		(CURSOR_HEADER_LEN + CURSOR_MAC_LEN)

/* Room for the bytes of a cursor text of len characters. */
#define CURSOR_RAW_SIZE(len)	((len) / 4 * 3 + 3)
/* Room for the text (with its NUL) of rawlen cursor bytes. */
#define CURSOR_TEXT_SIZE(rawlen)	(((rawlen) + 2) / 3 * 4 + 1)

/* Where one key value lies in a verified cursor's bytes. */
typedef struct CursorValue
{
	bool		isnull;
	uint32		off;			/* offset of the value's bytes in raw */
	uint32		len;
} CursorValue;

typedef enum CursorResult
{
	CURSOR_VALID,				/* signed by a key we hold, well formed */
	CURSOR_INVALID,				/* anything else before or at the signature */
	CURSOR_OTHER_SPEC			/* authentic, for another relation or sort */
} CursorResult;

/* The verification key for a key id, or NULL if there is none. */
typedef const Sha256HmacKey *(*CursorKeyLookup) (uint32 keyid, void *arg);

/*
 * Authenticate, then parse, a cursor text.  raw must have room for
 * CURSOR_RAW_SIZE(len) bytes; on CURSOR_VALID it holds the cursor's bytes and
 * vals[0..nkeys-1] say where each value is in it.
 */
extern CursorResult cursor_read(const char *text, size_t len,
								CursorKeyLookup lookup, void *lookup_arg,
								const uint8 *fingerprint, int nkeys,
								uint8 *raw, CursorValue *vals);

/*
 * Sign body (bodylen bytes, with room for CURSOR_MAC_LEN more after it) by
 * appending its MAC, and write the cursor text into text (room for
 * CURSOR_TEXT_SIZE(bodylen + CURSOR_MAC_LEN)).  Returns the text's length.
 */
extern size_t cursor_seal(const Sha256HmacKey *key, uint8 *body, size_t bodylen,
						  char *text);

/*
 * The key cursors are signed with in one database: HMAC(stored key,
 * "resilience cursor v2" || database OID), so a database cloned from
 * another (CREATE DATABASE ... TEMPLATE) refuses the other's cursors.
 */
extern void cursor_derive_key(Sha256HmacKey *hk, const uint8 *stored, uint32 dboid);

#endif							/* RESILIENCE_CURSOR_INT_H */
