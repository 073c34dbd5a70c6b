/*-------------------------------------------------------------------------
 *
 * sha256.h
 *		SHA-256 and HMAC-SHA256 (used by cursor.c, guard.c and idempotency.c).
 *
 * For a digest of one buffer call sha256(); the init/update/final triple
 * is for data absorbed in pieces (the HMAC key states, for instance).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_SHA256_H
#define RESILIENCE_SHA256_H

#include "postgres.h"

#define SHA256_BLOCK_LEN	64
#define SHA256_DIGEST_LEN	32

typedef struct Sha256
{
	uint32		h[8];			/* chaining state */
	uint64		len;			/* bytes absorbed so far */
	uint8		buf[SHA256_BLOCK_LEN];	/* the pending partial block */
} Sha256;

/* An HMAC-SHA256 key, as the states after its inner and outer pads. */
typedef struct Sha256HmacKey
{
	Sha256		inner;
	Sha256		outer;
} Sha256HmacKey;

/*
 * The backend loads extensions with RTLD_GLOBAL, so names this common
 * exported from here could bind to, or be bound by, another library's:
 * keep them inside resilience.so.
 */
#if defined(__GNUC__) || defined(__clang__)
#define SHA256_INTERNAL __attribute__((visibility("hidden")))
#else
#define SHA256_INTERNAL
#endif

extern SHA256_INTERNAL void sha256_init(Sha256 *ctx);
extern SHA256_INTERNAL void sha256_update(Sha256 *ctx, const uint8 *data, size_t len);
extern SHA256_INTERNAL void sha256_final(Sha256 *ctx, uint8 *digest);

/* SHA-256 of len bytes at data, into digest (SHA256_DIGEST_LEN bytes). */
extern SHA256_INTERNAL void sha256(const void *data, size_t len, uint8 *digest);

extern SHA256_INTERNAL void sha256_hmac_key(Sha256HmacKey *hk, const uint8 *key,
											size_t keylen);
extern SHA256_INTERNAL void sha256_hmac(const Sha256HmacKey *hk, const uint8 *data,
										size_t len, uint8 *mac);

#endif							/* RESILIENCE_SHA256_H */
