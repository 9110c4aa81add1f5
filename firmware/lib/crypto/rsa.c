/*
 * rsa.c - RSASSA-PKCS1-v1_5 / SHA-256 verification, e = 65537 (rsa.h).
 * OWNER: ENGINEER RSA.
 *
 * Layout of the work area (W = 2k + 5 bytes). It holds one big-endian
 * number of 2k + 5 bytes; "position p" is byte p counted from the least
 * significant end, i.e. address work[W - 1 - p]:
 *
 *   positions k .. 2k-1    (work[5 .. k+5))    the operand x (k bytes)
 *   positions 0 .. 2k-1    (work[5 .. W))      the double-length product T
 *   positions k .. 2k      (work[4 .. k+5))    the reduced result and carry
 *
 * A product X * A (A outside the work area) or a square x^2 is formed in
 * place: row block i (64-bit multiplier digit at positions k+i .. k+i+7,
 * copied out and cleared first) writes positions up to i + k + 7, always
 * below the digits not yet used (position k + 8 + i and up); in a
 * squaring the multiplicand is x itself above the digit, and the row
 * kernel stays below the multiplicand bytes it has still to read.
 * Montgomery reduction then runs on T in place and leaves (T + M n) / R
 * at positions k..2k, which is the operand's place again (no move); a
 * subtraction of n when position 2k is set keeps it below R. The 5 bytes
 * above position 2k-1 take the reduction's carries.
 */
#include <string.h>

#include "config.h"
#include "pgm.h"
#include "rsa.h"

/* Pointer just past position p, for bn_mac64. */
#define END(w, W, p) ((w) + (W) - (p))

/* DigestInfo for SHA-256 (RFC 8017 section 9.2, note 1). */
static const uint8_t digest_info[19] PGM_FIRST(digest_info) = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
	0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
};

#if !CONFIG_RSA_ASM
uint8_t bn_mac64(uint8_t *t, const uint8_t *a, uint16_t len, const uint8_t *b)
{
	uint8_t out = 0;
	uint16_t j, q, p;

	for (j = 0; j < len; j++) {
		uint8_t aj = a[-1 - (int)j];
		uint16_t c = 0;
		/* 255 * 255 + 255 + 255 = 65535: no overflow. */
		for (q = 0; q < 8; q++) {
			uint16_t v = (uint16_t)(aj * b[-1 - (int)q] +
			                        t[-1 - (int)(j + q)] + c);
			t[-1 - (int)(j + q)] = (uint8_t)v;
			c = v >> 8;
		}
		for (p = (uint16_t)(j + 8); c && p < len + 8u; p++) {
			c = (uint16_t)(c + t[-1 - (int)p]);
			t[-1 - (int)p] = (uint8_t)c;
			c >>= 8;
		}
		out = (uint8_t)(out + c);
	}
	return out;
}
#endif

int rsa_check_modulus(const uint8_t *n, size_t k)
{
	if (k != RSA1024_BYTES && k != RSA2048_BYTES)
		return -1;
	if (k > CONFIG_RSA_MAX_BYTES)
		return -1;
	if (!(n[0] & 0x80) || !(n[k - 1] & 1))
		return -1;
	return 0;
}

/*
 * ni = -n^-1 mod 2^64 (8 bytes, little-endian), byte by byte (Hensel
 * lifting; small code, no 64-bit multiplication library): with
 * r = (n y + 1) / 2^(8b), byte b of y is -r_0 / n_0 mod 256, which makes
 * r divisible by 256.
 */
MS_NOINLINE static void neg_inv64(uint8_t ni[8], const uint8_t *n, size_t k)
{
	uint8_t r[8] = {1}, b, j, n0 = n[k - 1], inv = n0;

	for (b = 0; b < 3; b++) /* n0 n0 = 1 mod 8: 3, 6, 12, 24 bits */
		inv = (uint8_t)(inv * (2 - n0 * inv));
	for (b = 0; b < 8; b++) {
		uint8_t y = (uint8_t)(0u - (unsigned)r[0] * inv);
		uint16_t c = 0;
		ni[b] = y;
		for (j = 0; j < 8; j++) {
			c = (uint16_t)(c + r[j] + y * n[k - 1 - j]);
			r[j] = (uint8_t)c;
			c >>= 8;
		}
		for (j = 0; j < 7; j++) /* r[0] is 0 now */
			r[j] = r[j + 1];
		r[7] = 0;
	}
}

/* T = x * s (x at the operand's place, s big-endian outside). */
MS_NOINLINE static void mul_in_place(uint8_t *w, size_t k, const uint8_t *s)
{
	size_t W = RSA_WORK_SIZE(k), i;
	uint8_t d[8];

	memset(w + k + 5, 0, k); /* positions 0 .. k-1 */
	for (i = 0; i < k; i += 8) {
		/* The digit at positions k+i .. k+i+7, then clear them (the
		 * top of this row). */
		memcpy(d, END(w, W, k + 8 + i), 8);
		memset(END(w, W, k + 8 + i), 0, 8);
		(void)bn_mac64(END(w, W, i), s + k, (uint16_t)k, d + 8);
	}
}

/*
 * T = x^2 (x at the operand's place), with 64-bit digits D_i. Row i adds
 * the cross products D_i * (the digits above i) once; after it, positions
 * below 16i/8 + 24 = 2i + 24 no longer change, so the 16-byte segment at
 * positions 2i .. 2i+15 is doubled there (bit carried from the segment
 * below), then gets the pending carry and the square D_i^2 added (by the
 * row kernel, D_i * D_i). Carries out of a segment wait (c) until the next
 * segment is doubled, so they are not doubled: x^2 = 2 U + sum D_i^2
 * 2^(128 i). (The assembly bn_sqr gets the same with one row per digit:
 * D_i * (floor(D_i / 2), higher digits), plus D_i when D_i is odd.)
 */
#if !CONFIG_RSA_ASM
/* The C reference of bn_sqr (bignum_avr.S): T = x^2 in the work area, t
 * just past position 0, x at positions k..2k-1, positions 0..k-1 zero. */
void bn_sqr(uint8_t *t, uint16_t k)
{
	uint16_t i;
	uint8_t d[8], bit = 0;
	uint16_t c = 0;

	for (i = 0; i < k; i += 8) {
		uint8_t *p = t - 2 * i, j;
		memcpy(d, t - (k + 8 + i), 8);
		memset(t - (k + 8 + i), 0, 8);
		if (i + 8 < k)
			(void)bn_mac64(t - (2 * i + 8), t - (k + 8 + i),
			               (uint16_t)(k - i - 8), d + 8);
		for (j = 1; j <= 16; j++) {
			uint8_t v = p[-j];
			p[-j] = (uint8_t)(v << 1 | bit);
			bit = v >> 7;
		}
		for (j = 1; c && j <= 16; j++) {
			c = (uint16_t)(c + p[-j]);
			p[-j] = (uint8_t)c;
			c >>= 8;
		}
		c = (uint16_t)(c + bn_mac64(p, d + 8, 8, d + 8));
	}
}
#endif

MS_NOINLINE static void sqr_in_place(uint8_t *w, size_t k)
{
	memset(w + k + 5, 0, k); /* positions 0 .. k-1 */
	bn_sqr(w + RSA_WORK_SIZE(k), (uint16_t)k);
}

/* Compare the k-byte big-endian numbers a and b: <0, 0, >0. */
static int cmp(const uint8_t *a, const uint8_t *b, size_t k)
{
	size_t i;

	for (i = 0; i < k; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return 0;
}

#if !CONFIG_RSA_ASM
/* The low 64 bits of the big-endian number ending just before end. */
static uint64_t low64(const uint8_t *end)
{
	uint64_t v = 0;
	uint8_t i;

	for (i = 8; i--;)
		v = v << 8 | end[-1 - i];
	return v;
}

/* The C reference of bn_redc (bignum_avr.S): Montgomery reduction of T
 * (positions 0..2k-1, t just past position 0) by n, digit by digit. */
void bn_redc(uint8_t *t, const uint8_t *n, uint16_t k, const uint8_t *ni)
{
	uint64_t x = 0;
	uint16_t i, p;
	uint8_t d[8], j, c;

	for (j = 8; j--;)
		x = x << 8 | ni[j];
	for (i = 0; i < k; i += 8) {
		uint64_t m = low64(t - i) * x;
		for (j = 0; j < 8; j++)
			d[7 - j] = (uint8_t)(m >> (8 * j));
		c = bn_mac64(t - i, n, k, d + 8);
		for (p = (uint16_t)(i + k + 8); c; p++) {
			uint16_t v = (uint16_t)(t[-1 - (int)p] + c);
			t[-1 - (int)p] = (uint8_t)v;
			c = (uint8_t)(v >> 8);
		}
	}
}
#endif

/*
 * Montgomery reduction of T (positions 0..2k-1) in place: T R^-1 mod n at
 * positions k..2k-1 (work[5..k+5)), the operand's place. Verification
 * handles public data only, so this branches freely: inputs below R give
 * a result below R + n, and n is subtracted only when it reaches R (the
 * carry byte at position 2k), which keeps every operand below R. The last
 * reduction (full) also subtracts when the result is n or more, making it
 * canonical (its input is below 2n there).
 */
MS_NOINLINE static void reduce_in_place(uint8_t *w, size_t k, const uint8_t *n,
                                        const uint8_t *ni, uint8_t full)
{
	uint8_t *u = w + 5;

	memset(w, 0, 5); /* positions 2k .. 2k+4 */
	bn_redc(w + RSA_WORK_SIZE(k), n + k, (uint16_t)k, ni);
	/* u = result (k bytes) with carry w[4] (0 or 1). */
	if (w[4] || (full && cmp(u, n, k) >= 0)) {
		uint16_t br = 0;
		size_t j = k;
		while (j--) {
			uint16_t d = (uint16_t)((uint16_t)u[j] - n[j] - br);
			u[j] = (uint8_t)d;
			br = (d >> 8) & 1;
		}
		w[4] = 0;
	}
}

void rsa_r2(const uint8_t *n, size_t k, uint8_t *w)
{
	size_t a, j;
	uint16_t br;

	/* r = R mod n = R - n (n > R/2): the two's complement of n. */
	br = 0;
	for (j = k; j--;) {
		uint16_t d = (uint16_t)(0u - n[j] - br);
		w[j] = (uint8_t)d;
		br = (d >> 8) & 1;
	}
	/*
	 * k times r = r * 256 mod n: one schoolbook division step each
	 * (Knuth 4.3.1 D; n is normalised, so the estimated quotient byte is
	 * at most 2 too large). r slides one byte up the work area per step.
	 */
	for (a = 0; a < k; a++) {
		uint8_t *u = w + a; /* u = r || 00, k + 1 bytes */
		uint16_t q = (uint16_t)(((uint16_t)u[0] << 8 | u[1]) / n[0]);
		uint16_t c = 0;
		uint8_t neg;
		if (q > 255)
			q = 255;
		u[k] = 0;
		br = 0;
		for (j = k; j--;) {
			uint16_t prod = (uint16_t)(q * n[j] + c);
			uint16_t d = (uint16_t)((uint16_t)u[j + 1] - (uint8_t)prod - br);
			c = prod >> 8;
			u[j + 1] = (uint8_t)d;
			br = (d >> 8) & 1;
		}
		neg = (uint8_t)((((uint16_t)u[0] - c - br) >> 8) & 1);
		u[0] = (uint8_t)(u[0] - c - br);
		while (neg) {
			c = 0;
			for (j = k; j--;) {
				c = (uint16_t)(c + u[j + 1] + n[j]);
				u[j + 1] = (uint8_t)c;
				c >>= 8;
			}
			c = (uint16_t)(c + u[0]);
			u[0] = (uint8_t)c;
			if (c >> 8)
				neg = 0;
		}
	}
	memmove(w, w + k, k);
}

int rsa_public(const uint8_t *n, size_t k, const uint8_t *r2,
               const uint8_t *s, uint8_t *w)
{
	uint8_t ni[8], i;

	if (rsa_check_modulus(n, k) || cmp(s, n, k) >= 0)
		return -1;
	neg_inv64(ni, n, k);
	if (r2 == NULL)
		rsa_r2(n, k, w);
	/* The operand lives at positions k..2k-1 (work[5..k+5)), where each
	 * reduction leaves its result. */
	memmove(w + RSA_RESULT_OFFSET, r2 ? r2 : w, k);
	/* x = Mont(R^2, s) = s R mod n. */
	mul_in_place(w, k, s);
	reduce_in_place(w, k, n, ni, 0);
	for (i = 0; i < 16; i++) { /* x = s^(2^16) R */
		sqr_in_place(w, k);
		reduce_in_place(w, k, n, ni, 0);
	}
	/* Mont(s^(2^16) R, s) = s^65537 mod n, already out of the domain. */
	mul_in_place(w, k, s);
	reduce_in_place(w, k, n, ni, 1);
	return 0;
}

int rsa_verify_pkcs1_sha256(const uint8_t *n, size_t k, const uint8_t *r2,
                            const uint8_t *sig, const uint8_t hash[32],
                            uint8_t *work)
{
	const uint8_t *em = work + RSA_RESULT_OFFSET;
	uint8_t d = 0;
	size_t i;

	if (rsa_public(n, k, r2, sig, work))
		return -1;
	/* EM = 00 01 FF..FF 00 DigestInfo hash, k bytes (RFC 8017 9.2). */
	for (i = 0; i < k; i++) {
		uint8_t want;
		if (i == 0)
			want = 0x00;
		else if (i == 1)
			want = 0x01;
		else if (i < k - 52)
			want = 0xFF;
		else if (i == k - 52)
			want = 0x00;
		else if (i < k - 32)
			want = PGM_BYTE(&digest_info[i - (k - 51)]);
		else
			want = hash[i - (k - 32)];
		d |= (uint8_t)(em[i] ^ want);
	}
	/* d == 0 -> 0, else -1, without a branch on d. */
	return (int)(1u & (((unsigned)d - 1u) >> 8)) - 1;
}
