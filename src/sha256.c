/*-------------------------------------------------------------------------
 *
 * sha256.c
 *		SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), without OpenSSL.
 *
 * PostgreSQL has both (pg_cryptohash, pg_hmac), but built with OpenSSL they
 * allocate an EVP context, look the algorithm up among OpenSSL's providers
 * and register the context with the resource owner on every call.  For the
 * short messages hashed here (a guard's name, a cursor of a few dozen
 * bytes, an idempotent request) that setup costs several times the
 * hashing: with it, verifying a cursor's signature took about 5% of a
 * page() call.  Here an HMAC key is prepared once, as the hash states
 * after its inner and outer pads, so a signature costs two block
 * compressions and no allocation.
 *
 * On x86-64 processors with the SHA extensions (Intel since 2016's Goldmont
 * and 2019's Ice Lake, AMD since Zen), blocks are compressed with those
 * instructions, chosen at run time as PostgreSQL chooses its CRC-32C code;
 * elsewhere in plain C.  Neither touches a table indexed by data or key,
 * so their time does not depend on them.  The regression suites check both
 * functions against the server's sha256() and pgcrypto's hmac(), and
 * assert-enabled builds check the two block functions against each other.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

/*
 * The SHA extensions' intrinsics and target("sha") need gcc 5 or a clang
 * that has them; other compilers get the plain C code only.
 */
#if defined(__x86_64__)
#if defined(__clang__)
#if defined(__has_builtin)
#if __has_builtin(__builtin_ia32_sha256rnds2)
#define SHA256_HAVE_SHANI 1
#endif
#endif
#elif defined(__GNUC__) && __GNUC__ >= 5
#define SHA256_HAVE_SHANI 1
#endif
#endif

#ifdef SHA256_HAVE_SHANI
#include <cpuid.h>
#include <immintrin.h>
#endif

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

/* Compress nblocks 64-byte blocks into state h, in plain C. */
static void
sha256_blocks_c(uint32 *h, const uint8 *p, size_t nblocks)
{
	for (; nblocks > 0; nblocks--, p += SHA256_BLOCK_LEN)
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
}

#ifdef SHA256_HAVE_SHANI
/*
 * Compress nblocks 64-byte blocks into state h with the SHA extensions.
 * The instructions keep the state as (A,B,E,F) and (C,D,G,H); each
 * sha256rnds2 runs two rounds, and sha256msg1/msg2 extend the message
 * schedule four words at a time (Intel, "Intel SHA Extensions", 2013).
 */
__attribute__((target("sha,ssse3,sse4.1")))
static void
sha256_blocks_shani(uint32 *h, const uint8 *p, size_t nblocks)
{
	/* byte-swaps each 32-bit word: the message is big-endian */
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i		abef,
				cdgh,
				t;

	t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *) &h[0]), 0xB1);	/* CDAB */
	cdgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *) &h[4]), 0x1B);	/* EFGH */
	abef = _mm_alignr_epi8(t, cdgh, 8);
	cdgh = _mm_blend_epi16(cdgh, t, 0xF0);

	for (; nblocks > 0; nblocks--, p += SHA256_BLOCK_LEN)
	{
		__m128i		abef0 = abef,
					cdgh0 = cdgh,
					w[4];		/* the last 16 schedule words, 4 to a group */

		for (int i = 0; i < 16; i++)
		{
			__m128i		wk;

			if (i < 4)
				w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *) (p + 16 * i)), bswap);
			else
				/* W[t-16] + s0(W[t-15]), + W[t-7], + s1(W[t-2]) */
				w[i & 3] = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(w[i & 3], w[(i + 1) & 3]),
															  _mm_alignr_epi8(w[(i + 3) & 3], w[(i + 2) & 3], 4)),
												w[(i + 3) & 3]);
			wk = _mm_add_epi32(w[i & 3], _mm_loadu_si128((const __m128i *) &sha256_k[4 * i]));
			cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
			abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
		}
		abef = _mm_add_epi32(abef, abef0);
		cdgh = _mm_add_epi32(cdgh, cdgh0);
	}

	t = _mm_shuffle_epi32(abef, 0x1B);	/* FEBA */
	cdgh = _mm_shuffle_epi32(cdgh, 0xB1);	/* DCHG */
	_mm_storeu_si128((__m128i *) &h[0], _mm_blend_epi16(t, cdgh, 0xF0));	/* DCBA */
	_mm_storeu_si128((__m128i *) &h[4], _mm_alignr_epi8(cdgh, t, 8));	/* HGFE */
}

/* Whether this processor has the SHA extensions (and SSSE3, SSE4.1). */
static bool
sha256_cpu_has_shani(void)
{
	unsigned int a,
				b,
				c,
				d;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSSE3) || !(c & bit_SSE4_1))
		return false;
	if (__get_cpuid_max(0, NULL) < 7)
		return false;
	__cpuid_count(7, 0, a, b, c, d);
	return (b & (1u << 29)) != 0;	/* CPUID.(EAX=7,ECX=0):EBX.SHA */
}
#endif

/* Compress nblocks 64-byte blocks into state h, the fastest way here. */
static void
sha256_blocks(uint32 *h, const uint8 *p, size_t nblocks)
{
#ifdef SHA256_HAVE_SHANI
	static int	use_shani = -1;

	if (unlikely(use_shani < 0))
	{
		use_shani = sha256_cpu_has_shani() ? 1 : 0;
#ifdef USE_ASSERT_CHECKING
		/* the two block functions agree (so CI runs the plain C one too) */
		if (use_shani)
		{
			uint8		data[3 * SHA256_BLOCK_LEN];
			uint32		h1[8],
						h2[8];

			for (int i = 0; i < (int) sizeof(data); i++)
				data[i] = (uint8) (i * 37 + 11);
			for (int i = 0; i < 8; i++)
				h1[i] = h2[i] = sha256_k[i * 5];
			sha256_blocks_c(h1, data, 3);
			sha256_blocks_shani(h2, data, 3);
			Assert(memcmp(h1, h2, sizeof(h1)) == 0);
		}
#endif
	}
	if (use_shani)
	{
		sha256_blocks_shani(h, p, nblocks);
		return;
	}
#endif
	sha256_blocks_c(h, p, nblocks);
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
		sha256_blocks(ctx->h, ctx->buf, 1);
	}
	if (len >= SHA256_BLOCK_LEN)
	{
		sha256_blocks(ctx->h, data, len / SHA256_BLOCK_LEN);
		data += len - len % SHA256_BLOCK_LEN;
		len %= SHA256_BLOCK_LEN;
	}
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
		sha256_blocks(ctx->h, ctx->buf, 1);
		have = 0;
	}
	memset(ctx->buf + have, 0, SHA256_BLOCK_LEN - 8 - have);
	for (int i = 0; i < 8; i++)
		ctx->buf[SHA256_BLOCK_LEN - 1 - i] = (uint8) (bits >> (8 * i));
	sha256_blocks(ctx->h, ctx->buf, 1);
	for (int i = 0; i < 8; i++)
	{
		digest[4 * i] = (uint8) (ctx->h[i] >> 24);
		digest[4 * i + 1] = (uint8) (ctx->h[i] >> 16);
		digest[4 * i + 2] = (uint8) (ctx->h[i] >> 8);
		digest[4 * i + 3] = (uint8) ctx->h[i];
	}
}

/* One-shot SHA-256 of a buffer; the state is wiped (it may hash a key). */
void
sha256(const void *data, size_t len, uint8 *digest)
{
	Sha256		c;

	sha256_init(&c);
	sha256_update(&c, (const uint8 *) data, len);
	sha256_final(&c, digest);
	explicit_bzero(&c, sizeof(c));
}

#ifdef USE_ASSERT_CHECKING
/*
 * RFC 4231's test cases 2 and 6 (a key shorter than a block, and one longer,
 * which is hashed first): the sizes the regression suites do not reach.
 */
static void
sha256_hmac_self_test(void)
{
	static const uint8 mac2[SHA256_DIGEST_LEN] = {
		0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26,
		0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83,
		0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43,
	};
	static const uint8 mac6[SHA256_DIGEST_LEN] = {
		0x60, 0xe4, 0x31, 0x59, 0x1e, 0xe0, 0xb6, 0x7f, 0x0d, 0x8a, 0x26, 0xaa,
		0xcb, 0xf5, 0xb7, 0x7f, 0x8e, 0x0b, 0xc6, 0x21, 0x37, 0x28, 0xc5, 0x14,
		0x05, 0x46, 0x04, 0x0f, 0x0e, 0xe3, 0x7f, 0x54,
	};
	const char *data2 = "what do ya want for nothing?";
	const char *data6 = "Test Using Larger Than Block-Size Key - Hash Key First";
	uint8		key6[131];
	uint8		mac[SHA256_DIGEST_LEN];
	Sha256HmacKey hk;

	sha256_hmac_key(&hk, (const uint8 *) "Jefe", 4);
	sha256_hmac(&hk, (const uint8 *) data2, strlen(data2), mac);
	Assert(memcmp(mac, mac2, sizeof(mac)) == 0);
	memset(key6, 0xaa, sizeof(key6));
	sha256_hmac_key(&hk, key6, sizeof(key6));
	sha256_hmac(&hk, (const uint8 *) data6, strlen(data6), mac);
	Assert(memcmp(mac, mac6, sizeof(mac)) == 0);
}
#endif

/* Prepare an HMAC-SHA256 key: the states after key^ipad and key^opad. */
void
sha256_hmac_key(Sha256HmacKey *hk, const uint8 *key, size_t keylen)
{
	uint8		k[SHA256_BLOCK_LEN];
	uint8		pad[SHA256_BLOCK_LEN];

#ifdef USE_ASSERT_CHECKING
	static bool tested = false;

	if (!tested)
	{
		tested = true;
		sha256_hmac_self_test();
	}
#endif

	memset(k, 0, sizeof(k));
	if (keylen > SHA256_BLOCK_LEN)
		sha256(key, keylen, k);
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
