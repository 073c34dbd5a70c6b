/*-------------------------------------------------------------------------
 *
 * cursor.h
 *		Signed, opaque pagination cursors (used by keyset.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_CURSOR_H
#define RESILIENCE_CURSOR_H

#include "postgres.h"

#include "fmgr.h"

/* Longest cursor text accepted or produced, in bytes. */
#define CURSOR_MAX_TEXT		4096

/* Bytes of the (relation, sort) fingerprint a cursor carries. */
#define CURSOR_FINGERPRINT_LEN	8

/* The first CURSOR_FINGERPRINT_LEN bytes of SHA-256(data). */
extern void cursor_fingerprint(const char *data, size_t len, uint8 *out);

/*
 * Encode key values into a signed cursor (palloc'd, NUL-terminated).
 * sendfns are the key types' binary send functions.
 */
extern char *cursor_encode(const uint8 *fingerprint, int nkeys,
						   FmgrInfo *sendfns, const Datum *values,
						   const bool *nulls);

/*
 * Verify and decode a cursor made by cursor_encode in this database for the
 * same fingerprint and key count; ERROR 22023 otherwise (one message for
 * every cursor that is not authentic).  recvfns/typioparams/typmods describe
 * the key types, typnames names them in messages (computed beforehand: an
 * error in a receive function is re-thrown without catalog lookups).
 */
extern void cursor_decode(const char *text, size_t len,
						  const uint8 *fingerprint, int nkeys,
						  FmgrInfo *recvfns, const Oid *typioparams,
						  const int32 *typmods, const char *const *typnames,
						  Datum *values, bool *nulls);

/*
 * Make the client encoding the server's while binary send or receive
 * functions run (text-like types convert to the client's encoding), and
 * restore it; returns the encoding to pass to cursor_encoding_leave(),
 * which is safe in error cleanup.  A message raised in between reaches the
 * client unconverted (keyset_cursor.c holds them back for cursors).
 */
extern int	cursor_encoding_enter(void);
extern void cursor_encoding_leave(int client);

#endif							/* RESILIENCE_CURSOR_H */
