/*
 * sha256.c - SHA-256 (FIPS 180-4).
 *
 * On AVR the compression function is crypto/sha256_avr.S unless
 * CONFIG_SHA256_ASM is 0; sha256_block() below is the C reference.
 *
 * The message schedule is kept as a rolling 16-word window (64 bytes of
 * stack instead of 256). No data-dependent branches; the only branches
 * depend on the round number.
 */
#include <string.h>

#include "ct.h"
#include "md.h"
#include "pgm.h"
#include "sha256.h"
#include "config.h"

#if CONFIG_SHA256_ASM
/* crypto/sha256_avr.S: sha256_compress (sha256.h) */
#define sha256_block sha256_compress
#else
/* FIPS 180-4 section 4.2.2. */
static const uint32_t sha256_k[64] PGM = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* FIPS 180-4 section 4.1.2, rotations composed from byte and 1-bit ones. */
MS_INLINE uint32_t big_sigma0(uint32_t x)
{
	/* ror2 ^ ror13 ^ ror22 */
	uint32_t r2 = ror1(ror1(x));
	uint32_t r13 = rol1(rol1(rol1(rol16(x))));
	uint32_t r22 = rol1(rol1(rol8(x)));

	return r2 ^ r13 ^ r22;
}

MS_INLINE uint32_t big_sigma1(uint32_t x)
{
	/* ror6 ^ ror11 ^ ror25 */
	uint32_t r8 = ror8(x);
	uint32_t r6 = rol1(rol1(r8));
	uint32_t r11 = ror1(ror1(ror1(r8)));
	uint32_t r25 = ror1(rol8(x));

	return r6 ^ r11 ^ r25;
}

MS_INLINE uint32_t small_sigma0(uint32_t x)
{
	/* ror7 ^ ror18 ^ shr3 */
	uint32_t r7 = rol1(ror8(x));
	uint32_t r18 = ror1(ror1(rol16(x)));

	return r7 ^ r18 ^ (((x >> 1) >> 1) >> 1);
}

MS_INLINE uint32_t small_sigma1(uint32_t x)
{
	/* ror17 ^ ror19 ^ shr10 */
	uint32_t r17 = ror1(rol16(x));
	uint32_t r19 = ror1(ror1(r17));

	return r17 ^ r19 ^ (((x >> 8) >> 1) >> 1);
}

static uint32_t load_be(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/*
 * The working variables a..h live in v[k..k+7] of a 16-word buffer whose
 * halves mirror each other (v[j] == v[j + 8]); each round moves k back by
 * one and writes only the new a and e (twice), instead of shifting eight
 * words.
 */
#define sha256_block sha256_compress
void sha256_compress(uint32_t h[8], const uint8_t block[64])
{
	uint32_t w[16];
	uint32_t v[16];
	uint8_t i, k = 0;

	for (i = 0; i < 16; i++) {
		w[i] = load_be(block + 4 * i);
	}
	for (i = 0; i < 8; i++) {
		v[i] = v[i + 8] = h[i];
	}
	for (i = 0; i < 64; i++) {
		const uint32_t *p = v + k;
		uint32_t t1, t2, wi;
		uint8_t e;

		if (i < 16) {
			wi = w[i];
		} else {
			wi = w[i & 15] += small_sigma0(w[(i + 1) & 15]) +
			                  w[(i + 9) & 15] +
			                  small_sigma1(w[(i + 14) & 15]);
		}
		t1 = p[7] + big_sigma1(p[4]) + (p[6] ^ (p[4] & (p[5] ^ p[6]))) +
		     PGM_DWORD(&sha256_k[i]) + wi;
		t2 = big_sigma0(p[0]) + ((p[0] & p[1]) | (p[2] & (p[0] | p[1])));
		/* next round: a' = t1 + t2 at k - 1, e' = d + t1 at k + 3 */
		k = (uint8_t)((k - 1) & 7);
		e = (uint8_t)((k + 4) & 7);
		v[e] += t1;
		v[e + 8] = v[e];
		v[k] = v[k + 8] = t1 + t2;
	}
	for (i = 0; i < 8; i++) {
		h[i] += v[i];
	}
	wipe(w, sizeof w);
	wipe(v, sizeof v);
}
#endif /* CONFIG_SHA256_ASM */

const uint32_t sha256_iv[8] PGM = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

void sha256_init(sha256_ctx *ctx)
{
	md_init(ctx->h, sha256_iv, 8);
	ctx->count = 0;
}

void sha256_update(sha256_ctx *ctx, const uint8_t *msg, size_t len)
{
	md_update(ctx->h, &ctx->count, ctx->buf, sha256_block, msg, len);
}

void sha256_final(sha256_ctx *ctx, uint8_t digest[32])
{
	md_final(ctx->h, ctx->count, ctx->buf, sha256_block, 1, digest, 8);
	wipe(ctx, sizeof *ctx);
}

void sha256(uint8_t digest[32], const uint8_t *msg, size_t len)
{
	sha256_ctx ctx;

	sha256_init(&ctx);
	sha256_update(&ctx, msg, len);
	sha256_final(&ctx, digest);
}
