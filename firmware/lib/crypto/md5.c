/*
 * md5.c - MD5 (RFC 1321).
 *
 * The 64 steps run from a table of (constant, shift, message index) in
 * flash; there are no data-dependent branches. On AVR the compression
 * function is crypto/md5_avr.S unless CONFIG_MD5_ASM is 0; md5_block()
 * below is the C reference.
 */
#include <string.h>

#include "ct.h"
#include "md.h"
#include "md5.h"
#include "pgm.h"
#include "config.h"

#if CONFIG_MD5_ASM
/* crypto/md5_avr.S: md5_compress (md5.h) */
#define md5_block md5_compress
#else
/* T[i] = floor(2^32 * abs(sin(i + 1))), RFC 1321 section 3.4. */
static const uint32_t md5_t[64] PGM = {
	0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a,
	0xa8304613, 0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be,
	0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340,
	0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
	0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8,
	0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
	0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
	0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
	0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92,
	0xffeff47d, 0x85845dd1, 0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
	0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

/*
 * Rotation amounts, RFC 1321 section 3.4: s[round][step & 3]. Each is
 * encoded for rotl_s(): bits 4-3 = whole bytes to rotate left, bits 2-0 =
 * single-bit rotations left (1..4), or right when bit 7 is set, so no
 * rotation needs more than four single-bit steps on AVR.
 */
#define RL(bytes, bits) (uint8_t)((bytes) << 3 | (bits))
#define RR(bytes, bits) (uint8_t)(0x80 | (bytes) << 3 | (bits))
static const uint8_t md5_s[16] PGM = {
	RR(1, 1), RL(1, 4), RL(2, 1), RR(3, 2), /*  7 12 17 22 */
	RR(1, 3), RL(1, 1), RR(2, 2), RL(2, 4), /*  5  9 14 20 */
	RL(0, 4), RL(1, 3), RL(2, 0), RR(3, 1), /*  4 11 16 23 */
	RR(1, 2), RL(1, 2), RR(2, 1), RR(3, 3), /*  6 10 15 21 */
};

/* Message word index per step: rounds 2..4 use (1+5i), (5+3i), 7i mod 16. */
static const uint8_t md5_k[64] PGM = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
	1, 6, 11, 0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12,
	5, 8, 11, 14, 1, 4, 7, 10, 13, 0, 3, 6, 9, 12, 15, 2,
	0, 7, 14, 5, 12, 3, 10, 1, 8, 15, 6, 13, 4, 11, 2, 9,
};

/* Rotate left by the amount encoded in code (public). */
static uint32_t rotl_s(uint32_t x, uint8_t code)
{
	uint8_t n;

	if (code & 0x10) {
		x = rol16(x);
	}
	if (code & 0x08) {
		x = rol8(x);
	}
	n = code & 7;
	if (code & 0x80) {
		while (n-- > 0) {
			x = ror1(x);
		}
	} else {
		while (n-- > 0) {
			x = rol1(x);
		}
	}
	return x;
}

static uint32_t load_le(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

#define md5_block md5_compress
void md5_compress(uint32_t h[4], const uint8_t block[64])
{
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
	uint8_t i;

	for (i = 0; i < 64; i++) {
		uint32_t f, t;

		switch (i >> 4) { /* the round is public */
		case 0:
			f = d ^ (b & (c ^ d));
			break;
		case 1:
			f = c ^ (d & (b ^ c));
			break;
		case 2:
			f = b ^ c ^ d;
			break;
		default:
			f = c ^ (b | ~d);
			break;
		}
		t = a + f + PGM_DWORD(&md5_t[i]) +
		    load_le(block + 4 * PGM_BYTE(&md5_k[i]));
		a = d;
		d = c;
		c = b;
		b += rotl_s(t, PGM_BYTE(&md5_s[((i >> 4) << 2) | (i & 3)]));
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
}
#endif /* CONFIG_MD5_ASM */

const uint32_t md5_iv[4] PGM_FIRST(md5_iv) = {
	0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476,
};

void md5_init(md5_ctx *ctx)
{
	md_init(ctx->h, md5_iv, 4);
	ctx->count = 0;
}

void md5_update(md5_ctx *ctx, const uint8_t *msg, size_t len)
{
	md_update(ctx->h, &ctx->count, ctx->buf, md5_block, msg, len);
}

void md5_final(md5_ctx *ctx, uint8_t digest[16])
{
	md_final(ctx->h, ctx->count, ctx->buf, md5_block, 0, digest, 4);
	wipe(ctx, sizeof *ctx);
}

void md5(uint8_t digest[16], const uint8_t *msg, size_t len)
{
	md5_ctx ctx;

	md5_init(&ctx);
	md5_update(&ctx, msg, len);
	md5_final(&ctx, digest);
}
