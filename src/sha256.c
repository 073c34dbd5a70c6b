/*-------------------------------------------------------------------------
 *
 * sha256.c
 *		SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), in plain C.
 *
 * PostgreSQL has both (pg_cryptohash, pg_hmac), but built with OpenSSL they
 * allocate an EVP context, look the algorithm up among OpenSSL's providers
 * and register the context with the resource owner on every call.  For the
 * short messages hashed here (a guard's name, a cursor of a few dozen
 * bytes) that setup costs several times the hashing: with it, verifying a
 * cursor's signature took about 5% of a page() call.  Here an HMAC key is
 * prepared once, as the hash states after its inner and outer pads, so a
 * signature costs two or three block compressions and no allocation.
 *
 * SHA-256 touches no table indexed by data or key, so its time does not
 * depend on them.  The regression suites check both functions against the
 * server's sha256() and pgcrypto's hmac().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "sha256.h"

/* round constants (FIPS 180-4, 4.2.2) */
static const uint32 sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5,
	0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
	0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
	0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5,
	0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define SHA256_ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

/* One compression of a 64-byte block into state h. */
static void
sha256_block(uint32 *h, const uint8 *p)
{
	uint32		w[64];
	uint32		a = h[0],
				b = h[1],
				c = h[2],
				d = h[3],
				e = h[4],
				f = h[5],
				g = h[6],
				hh = h[7];

	for (int i = 0; i < 16; i++)
		w[i] = ((uint32) p[4 * i] << 24) | ((uint32) p[4 * i + 1] << 16) |
			((uint32) p[4 * i + 2] << 8) | (uint32) p[4 * i + 3];
	for (int i = 16; i < 64; i++)
	{
		uint32		s0 = SHA256_ROTR(w[i - 15], 7) ^ SHA256_ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32		s1 = SHA256_ROTR(w[i - 2], 17) ^ SHA256_ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	for (int i = 0; i < 64; i++)
	{
		uint32		t1 = hh + (SHA256_ROTR(e, 6) ^ SHA256_ROTR(e, 11) ^ SHA256_ROTR(e, 25)) +
			((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
		uint32		t2 = (SHA256_ROTR(a, 2) ^ SHA256_ROTR(a, 13) ^ SHA256_ROTR(a, 22)) +
			((a & b) ^ (a & c) ^ (b & c));

		hh = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
	h[5] += f;
	h[6] += g;
	h[7] += hh;
}

/* Start a hash. */
void
sha256_init(Sha256 *ctx)
{
	static const uint32 iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};

	memcpy(ctx->h, iv, sizeof(iv));
	ctx->len = 0;
}

/* Absorb len bytes. */
void
sha256_update(Sha256 *ctx, const uint8 *data, size_t len)
{
	size_t		have = ctx->len % SHA256_BLOCK_LEN;

	ctx->len += len;
	if (have > 0)
	{
		size_t		take = Min(len, SHA256_BLOCK_LEN - have);

		memcpy(ctx->buf + have, data, take);
		data += take;
		len -= take;
		if (have + take < SHA256_BLOCK_LEN)
			return;
		sha256_block(ctx->h, ctx->buf);
	}
	for (; len >= SHA256_BLOCK_LEN; data += SHA256_BLOCK_LEN, len -= SHA256_BLOCK_LEN)
		sha256_block(ctx->h, data);
	memcpy(ctx->buf, data, len);
}

/* Finish the hash into digest (SHA256_DIGEST_LEN bytes); ctx is spent. */
void
sha256_final(Sha256 *ctx, uint8 *digest)
{
	size_t		have = ctx->len % SHA256_BLOCK_LEN;
	uint64		bits = ctx->len * 8;

	/* padding: 0x80, zeros, then the length in bits, big-endian */
	ctx->buf[have++] = 0x80;
	if (have > SHA256_BLOCK_LEN - 8)
	{
		memset(ctx->buf + have, 0, SHA256_BLOCK_LEN - have);
		sha256_block(ctx->h, ctx->buf);
		have = 0;
	}
	memset(ctx->buf + have, 0, SHA256_BLOCK_LEN - 8 - have);
	for (int i = 0; i < 8; i++)
		ctx->buf[SHA256_BLOCK_LEN - 1 - i] = (uint8) (bits >> (8 * i));
	sha256_block(ctx->h, ctx->buf);
	for (int i = 0; i < 8; i++)
	{
		digest[4 * i] = (uint8) (ctx->h[i] >> 24);
		digest[4 * i + 1] = (uint8) (ctx->h[i] >> 16);
		digest[4 * i + 2] = (uint8) (ctx->h[i] >> 8);
		digest[4 * i + 3] = (uint8) ctx->h[i];
	}
}

/* Prepare an HMAC-SHA256 key: the states after key^ipad and key^opad. */
void
sha256_hmac_key(Sha256HmacKey *hk, const uint8 *key, size_t keylen)
{
	uint8		k[SHA256_BLOCK_LEN];
	uint8		pad[SHA256_BLOCK_LEN];

	memset(k, 0, sizeof(k));
	if (keylen > SHA256_BLOCK_LEN)
	{
		Sha256		c;

		sha256_init(&c);
		sha256_update(&c, key, keylen);
		sha256_final(&c, k);
	}
	else
		memcpy(k, key, keylen);

	for (int i = 0; i < SHA256_BLOCK_LEN; i++)
		pad[i] = k[i] ^ 0x36;
	sha256_init(&hk->inner);
	sha256_update(&hk->inner, pad, sizeof(pad));
	for (int i = 0; i < SHA256_BLOCK_LEN; i++)
		pad[i] = k[i] ^ 0x5c;
	sha256_init(&hk->outer);
	sha256_update(&hk->outer, pad, sizeof(pad));
	explicit_bzero(k, sizeof(k));
	explicit_bzero(pad, sizeof(pad));
}

/* HMAC-SHA256 of data under a prepared key, into mac (SHA256_DIGEST_LEN bytes). */
void
sha256_hmac(const Sha256HmacKey *hk, const uint8 *data, size_t len, uint8 *mac)
{
	Sha256		c = hk->inner;
	uint8		inner[SHA256_DIGEST_LEN];

	sha256_update(&c, data, len);
	sha256_final(&c, inner);
	c = hk->outer;
	sha256_update(&c, inner, sizeof(inner));
	sha256_final(&c, mac);
	explicit_bzero(&c, sizeof(c));
	explicit_bzero(inner, sizeof(inner));
}
