/*-------------------------------------------------------------------------
 *
 * cursor_fuzz.c
 *		libFuzzer harness of the cursor decoder (src/cursor_codec.c).
 *
 * The decoder is compiled from the extension's own source, unchanged, with
 * the server's headers; fuzz/shim.c supplies the one server function it can
 * reach (the assertion handler, which aborts: a failed Assert is a crash).
 *
 * The first input byte chooses what the rest is:
 *
 *	bit 0 clear: a cursor text, read as the server reads what a client
 *		sends.  Almost every mutation fails authentication; the seeds are
 *		valid cursors signed with the harness's keys, so mutations near them
 *		exercise the checks before the signature.  Bits 1-7: number of key
 *		values expected minus one.
 *	bit 0 set: the bytes of a cursor body, which the harness signs with one
 *		of its keys before reading it, so the code after the signature check
 *		(the parse of lengths and flags) is reached with arbitrary bytes.
 *		bit 1: write the id of the signing key into the body; bit 2: which
 *		of the two keys; bit 3: expect the fingerprint and count the body
 *		names, else the fixed ones, with bits 4-6 the count minus one.
 *
 * Checked for every input, beyond ASan and UBSan: a signed input is
 * accepted exactly when a separate, simple reading of the same bytes says
 * it is well formed, with the same values; an accepted cursor's values lie
 * inside its body, in order; and re-signing an accepted cursor's bytes
 * spells exactly the text that was read (one spelling per cursor).
 *
 * Built with -DCURSOR_FUZZ_SEEDS instead of -fsanitize=fuzzer, it writes the
 * seed corpus (fuzz/corpus/) into the directory given as its argument.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "port/pg_bswap.h"

/* the real stdio, not libpgport's replacements (not linked here) */
#undef fprintf
#undef snprintf

#include "cursor_int.h"

#define FUZZ_DBOID		16384
#define FUZZ_KEY_ID_0	7
#define FUZZ_KEY_ID_1	8
/* the longest body whose signed text still fits CURSOR_MAX_TEXT */
#define FUZZ_MAX_BODY	(CURSOR_MAX_TEXT / 4 * 3 - CURSOR_MAC_LEN)

static const uint8 fuzz_fingerprint[CURSOR_FINGERPRINT_LEN] = {
	0xf1, 0x02, 0xe3, 0x04, 0xd5, 0x06, 0xc7, 0x08
};

static Sha256HmacKey fuzz_keys[2];
static bool fuzz_ready = false;

/* Derive the two keys as the extension does, from fixed stored keys. */
static void
fuzz_init(void)
{
	for (int k = 0; k < 2; k++)
	{
		uint8		stored[CURSOR_KEY_LEN];

		for (int i = 0; i < CURSOR_KEY_LEN; i++)
			stored[i] = (uint8) (i * 29 + k * 101 + 3);
		cursor_derive_key(&fuzz_keys[k], stored, FUZZ_DBOID);
	}
	fuzz_ready = true;
}

/* The key lookup the decoder calls back, over the harness's two keys. */
static const Sha256HmacKey *
fuzz_lookup(uint32 keyid, void *arg)
{
	if (keyid == FUZZ_KEY_ID_0)
		return &fuzz_keys[0];
	if (keyid == FUZZ_KEY_ID_1)
		return &fuzz_keys[1];
	return NULL;
}

/* Stop the run on a broken invariant: libFuzzer saves the input. */
static void
fuzz_fail(const char *what)
{
	fprintf(stderr, "cursor_fuzz: invariant broken: %s\n", what);
	abort();
}

/* A big-endian uint32 at p, read byte by byte (not as the decoder does). */
static uint32
fuzz_get32(const uint8 *p)
{
	return ((uint32) p[0] << 24) | ((uint32) p[1] << 16) | ((uint32) p[2] << 8) | p[3];
}

/*
 * The reference reading of a signed body: what cursor_read must conclude
 * once the signature matched, written plainly and independently.
 */
static CursorResult
fuzz_reference(const uint8 *body, size_t n, const uint8 *fp, int nkeys, CursorValue *vals)
{
	size_t		pos = CURSOR_HEADER_LEN;

	if (n < CURSOR_HEADER_LEN || body[0] != CURSOR_VERSION)
		return CURSOR_INVALID;
	if (body[13] != nkeys || memcmp(body + 5, fp, CURSOR_FINGERPRINT_LEN) != 0)
		return CURSOR_OTHER_SPEC;
	for (int i = 0; i < nkeys; i++)
	{
		uint64		vlen;

		if (pos + 1 > n)
			return CURSOR_INVALID;
		if (body[pos] == 0)
		{
			vals[i].isnull = true;
			pos++;
			continue;
		}
		if (body[pos] != 1 || pos + 5 > n)
			return CURSOR_INVALID;
		vlen = fuzz_get32(body + pos + 1);
		if ((uint64) pos + 5 + vlen > n)
			return CURSOR_INVALID;
		vals[i].isnull = false;
		vals[i].off = pos + 5;
		vals[i].len = (uint32) vlen;
		pos += 5 + vlen;
	}
	return pos == n ? CURSOR_VALID : CURSOR_INVALID;
}

/* The checks on an accepted cursor (see the file header). */
static void
fuzz_check_valid(const char *text, size_t len, const uint8 *raw, int nkeys,
				 const CursorValue *vals)
{
	size_t		rawlen = len * 6 / 8;
	size_t		bodylen = rawlen - CURSOR_MAC_LEN;
	size_t		pos = CURSOR_HEADER_LEN;
	const Sha256HmacKey *key = fuzz_lookup(fuzz_get32(raw + 1), NULL);
	uint8		body[CURSOR_MAX_TEXT];
	char		again[CURSOR_TEXT_SIZE(CURSOR_MAX_TEXT)];

	if (rawlen < CURSOR_MIN_RAW || key == NULL)
		fuzz_fail("accepted a cursor too short or under an unknown key");
	for (int i = 0; i < nkeys; i++)
	{
		if (vals[i].isnull)
		{
			pos++;
			continue;
		}
		if (vals[i].off != pos + 5 || vals[i].off + (size_t) vals[i].len > bodylen)
			fuzz_fail("a value lies outside its place in the body");
		pos = vals[i].off + vals[i].len;
	}
	if (pos != bodylen)
		fuzz_fail("the values do not cover the body");
	memcpy(body, raw, bodylen);
	if (cursor_seal(key, body, bodylen, again) != len || memcmp(again, text, len) != 0)
		fuzz_fail("an accepted cursor has another spelling");
}

/* Read a cursor text as the server does; then the checks. */
static CursorResult
fuzz_read(const char *text, size_t len, const uint8 *fp, int nkeys, CursorValue *vals)
{
	uint8	   *raw = malloc(CURSOR_RAW_SIZE(len));
	CursorResult r;

	r = cursor_read(text, len, fuzz_lookup, NULL, fp, nkeys, raw, vals);
	if (r == CURSOR_VALID)
		fuzz_check_valid(text, len, raw, nkeys, vals);
	free(raw);
	return r;
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8		mode;
	CursorValue vals[256];

	if (!fuzz_ready)
		fuzz_init();
	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;

	if ((mode & 1) == 0)
	{
		/* a cursor text, as a client would send it */
		char	   *text = malloc(size + 1);

		memcpy(text, data, size);
		text[size] = '\0';
		(void) fuzz_read(text, size, fuzz_fingerprint, 1 + (mode >> 1), vals);
		free(text);
	}
	else
	{
		/* a body the harness signs, so the parse after the signature runs */
		size_t		n = Min(size, FUZZ_MAX_BODY);
		uint8	   *body = malloc(n + CURSOR_MAC_LEN);
		char	   *text = malloc(CURSOR_TEXT_SIZE(n + CURSOR_MAC_LEN));
		int			k = (mode >> 2) & 1;
		uint32		named;
		const uint8 *fp = fuzz_fingerprint;
		int			nkeys = 1 + ((mode >> 4) & 7);
		size_t		len;
		CursorResult r,
					expect;
		CursorValue rvals[256];

		memcpy(body, data, n);
		if ((mode & 2) && n >= 5)
		{
			uint32		be = pg_hton32(k == 0 ? FUZZ_KEY_ID_0 : FUZZ_KEY_ID_1);

			memcpy(body + 1, &be, 4);
		}
		if ((mode & 8) && n >= CURSOR_HEADER_LEN)
		{
			fp = body + 5;
			nkeys = Max(body[13], 1);
		}
		len = cursor_seal(&fuzz_keys[k], body, n, text);
		if (len > CURSOR_MAX_TEXT)
			fuzz_fail("a signed body of the largest size spells too long a text");
		r = fuzz_read(text, len, fp, nkeys, vals);

		named = n >= 5 ? fuzz_get32(body + 1) : 0;
		if (n + CURSOR_MAC_LEN < CURSOR_MIN_RAW ||
			named != (k == 0 ? FUZZ_KEY_ID_0 : FUZZ_KEY_ID_1))
			expect = CURSOR_INVALID;	/* too short, or not the signing key */
		else
			expect = fuzz_reference(body, n, fp, nkeys, rvals);
		if (r != expect)
			fuzz_fail("the decoder and the reference reading disagree");
		if (r == CURSOR_VALID)
			for (int i = 0; i < nkeys; i++)
				if (vals[i].isnull != rvals[i].isnull ||
					(!vals[i].isnull && (vals[i].off != rvals[i].off || vals[i].len != rvals[i].len)))
					fuzz_fail("the decoder and the reference reading find other values");
		free(body);
		free(text);
	}
	return 0;
}

#ifdef CURSOR_FUZZ_SEEDS
/* Append a value (or a NULL when len < 0) to a body under construction. */
static size_t
seed_value(uint8 *b, size_t n, const char *v, int len)
{
	if (len < 0)
	{
		b[n++] = 0;
		return n;
	}
	b[n++] = 1;
	b[n++] = (uint8) (len >> 24);
	b[n++] = (uint8) (len >> 16);
	b[n++] = (uint8) (len >> 8);
	b[n++] = (uint8) len;
	memcpy(b + n, v, len);
	return n + len;
}

/* Write one seed file: the mode byte, then the bytes. */
static void
seed_write(const char *dir, const char *name, uint8 mode, const void *bytes, size_t len)
{
	char		path[1024];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(&mode, 1, 1, f) != 1 || fwrite(bytes, 1, len, f) != len || fclose(f) != 0)
	{
		perror(path);
		exit(1);
	}
}

/*
 * The seeds: cursors of one to four values (int4, NULL, text, a long text,
 * numeric), each as a signed text (raw mode) and as a body (signed mode).
 */
int
main(int argc, char **argv)
{
	static const struct
	{
		const char *name;
		int			nvals;
		const char *v[4];
		int			len[4];
	}			seeds[] = {
		{"int4", 1, {"\0\0\0\5"}, {4}},
		{"null", 1, {NULL}, {-1}},
		{"text_int4", 2, {"row 5", "\0\0\0\5"}, {5, 4}},
		{"null_text", 2, {NULL, "\xc3\xa9t\xc3\xa9"}, {-1, 6}},
		{"numeric_int8", 2, {"\0\2\0\0\0\0\0\4\0\1\x09\xc4", "\0\0\0\0\0\0\0\x2a"}, {12, 8}},
		{"four", 4, {"a", NULL, "", "\x7f\xff\xff\xff"}, {1, -1, 0, 4}},
		{"long_text", 1, {NULL}, {300}},
	};
	static char longtext[300];

	if (argc != 2)
	{
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	memset(longtext, 'x', sizeof(longtext));
	fuzz_init();
	for (size_t s = 0; s < lengthof(seeds); s++)
	{
		uint8		body[1024];
		char		text[CURSOR_TEXT_SIZE(sizeof(body) + CURSOR_MAC_LEN)];
		char		name[128];
		size_t		n = 0;
		size_t		len;
		int			k = s % 2;
		uint32		id = k == 0 ? FUZZ_KEY_ID_0 : FUZZ_KEY_ID_1;
		CursorValue vals[4];

		body[n++] = CURSOR_VERSION;
		body[n++] = (uint8) (id >> 24);
		body[n++] = (uint8) (id >> 16);
		body[n++] = (uint8) (id >> 8);
		body[n++] = (uint8) id;
		memcpy(body + n, fuzz_fingerprint, CURSOR_FINGERPRINT_LEN);
		n += CURSOR_FINGERPRINT_LEN;
		body[n++] = (uint8) seeds[s].nvals;
		for (int i = 0; i < seeds[s].nvals; i++)
			n = seed_value(body, n, seeds[s].len[i] == 300 ? longtext : seeds[s].v[i], seeds[s].len[i]);

		snprintf(name, sizeof(name), "body-%s", seeds[s].name);
		seed_write(argv[1], name, 1 | 2 | (k << 2) | 8, body, n);
		len = cursor_seal(&fuzz_keys[k], body, n, text);
		if (fuzz_read(text, len, fuzz_fingerprint, seeds[s].nvals, vals) != CURSOR_VALID)
			fuzz_fail("a seed does not verify");
		snprintf(name, sizeof(name), "text-%s", seeds[s].name);
		seed_write(argv[1], name, (uint8) ((seeds[s].nvals - 1) << 1), text, len);
	}
	return 0;
}
#endif
