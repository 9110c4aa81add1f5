/*
 * rsa.c - RSASSA-PKCS1-v1_5 / SHA-256 verification, e = 65537 (rsa.h).
 * OWNER: ENGINEER RSA.
 *
 * Layout of the work area (W = 2k + 5 bytes). It holds one big-endian
 * number of 2k + 5 bytes; "position p" is byte p counted from the least
 * significant end, i.e. address work[W - 1 - p]:
 *
 *   positions k+5 .. 2k+4  (work[0 .. k))      the operand x (k bytes)
 *   positions 0 .. 2k-1    (work[5 .. W))      the double-length product T
 *   positions k .. 2k      (work[4 .. k+5))    the reduced result and carry
 *
 * A product X * A (A outside the work area) or a square x^2 is formed in
 * place: row block i (32-bit multiplier digit x_i..x_{i+3}) writes
 * positions up to i + k + 3, always below the digits not yet used
 * (position k + 5 + i and up), and the row kernel writes every position
 * after reading the multiplicand byte of the same step. Montgomery
 * reduction then runs on T in place and leaves (T + M n) / R at positions
 * k..2k; one conditional subtraction makes it canonical (< n) and a move
 * of 5 bytes puts it back at the operand's place.
 */
#include <string.h>

#include "../config.h"
#include "pgm.h"
#include "rsa.h"

/* Pointer just past position p, for bn_mac32. */
#define END(w, W, p) ((w) + (W) - (p))
/* The byte at position p. */
#define POS(w, W, p) ((w)[(W) - 1 - (p)])

/* DigestInfo for SHA-256 (RFC 8017 section 9.2, note 1). */
static const uint8_t digest_info[19] PGM = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
	0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
};

#if !CONFIG_RSA_ASM
uint8_t bn_mac32(uint8_t *t, const uint8_t *a, uint16_t len, uint32_t b)
{
	/* acc < 2^40: (2^8-1)(2^32-1) + (2^32-1) + (2^8-1) = 2^40 - 1. */
	uint64_t acc = 0;
	uint16_t j;

	for (j = 0; j < len; j++) {
		acc += (uint64_t)a[-1 - (int)j] * b + t[-1 - (int)j];
		t[-1 - (int)j] = (uint8_t)acc;
		acc >>= 8;
	}
	for (j = len; j < len + 4u; j++) {
		acc += t[-1 - (int)j];
		t[-1 - (int)j] = (uint8_t)acc;
		acc >>= 8;
	}
	return (uint8_t)acc;
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

/* -n^-1 mod 2^32 by Newton's iteration (n odd: n*n = 1 mod 8). */
static uint32_t neg_inv32(const uint8_t *n, size_t k)
{
	uint32_t n0 = (uint32_t)n[k - 4] << 24 | (uint32_t)n[k - 3] << 16 |
	              (uint32_t)n[k - 2] << 8 | n[k - 1];
	uint32_t y = n0;
	uint8_t i;

	for (i = 0; i < 4; i++) /* 3, 6, 12, 24, 48 correct bits */
		y *= 2u - n0 * y;
	return 0u - y;
}

/* Add v (< 2^24) at position p, carrying upward. */
static void add_at(uint8_t *w, size_t W, size_t p, uint32_t v)
{
	while (v) {
		v += POS(w, W, p);
		POS(w, W, p) = (uint8_t)v;
		v >>= 8;
		p++;
	}
}

/* The 32-bit multiplier digit at positions q..q+3. */
static uint32_t digit(const uint8_t *w, size_t W, size_t q)
{
	return (uint32_t)POS(w, W, q) | (uint32_t)POS(w, W, q + 1) << 8 |
	       (uint32_t)POS(w, W, q + 2) << 16 | (uint32_t)POS(w, W, q + 3) << 24;
}

/* T = x * s (x at the operand's place, s big-endian outside). */
MS_NOINLINE static void mul_in_place(uint8_t *w, size_t k, const uint8_t *s)
{
	size_t W = RSA_WORK_SIZE(k), i;

	memset(w + k, 0, k + 5); /* positions 0 .. k+4 */
	for (i = 0; i < k; i += 4) {
		uint32_t b = digit(w, W, k + 5 + i);
		if (i)
			memset(END(w, W, i + k + 4), 0, 4); /* positions i+k .. i+k+3 */
		(void)bn_mac32(END(w, W, i), s + k, (uint16_t)k, b);
	}
}

/*
 * T = x^2 (x at the operand's place). The off-diagonal products are
 * summed once, together with floor(D / 2) where D = sum x_a^2 2^(16a), and
 * the total doubled at the end with the low bit of x_0 added back:
 * x^2 = 2 (U + floor(D / 2)) + (x_0 & 1).
 */
MS_NOINLINE static void sqr_in_place(uint8_t *w, size_t k)
{
	size_t W = RSA_WORK_SIZE(k), i, p;
	uint8_t low = POS(w, W, k + 5) & 1, carry;

	memset(w + k, 0, k + 5); /* positions 0 .. k+4 */
	for (i = 0; i < k; i += 4) {
		uint32_t b = digit(w, W, k + 5 + i);
		uint8_t x[4];
		size_t a;
		x[0] = (uint8_t)b;
		x[1] = (uint8_t)(b >> 8);
		x[2] = (uint8_t)(b >> 16);
		x[3] = (uint8_t)(b >> 24);
		if (i)
			memset(END(w, W, i + k + 4), 0, 4);
		if (i + 4 < k)
			(void)bn_mac32(END(w, W, 2 * i + 4), END(w, W, k + 9 + i),
			               (uint16_t)(k - i - 4), b);
		add_at(w, W, 2 * i + 1, (uint32_t)x[0] * x[1]);
		add_at(w, W, 2 * i + 2, (uint32_t)x[0] * x[2]);
		add_at(w, W, 2 * i + 3, (uint32_t)x[0] * x[3]);
		add_at(w, W, 2 * i + 3, (uint32_t)x[1] * x[2]);
		add_at(w, W, 2 * i + 4, (uint32_t)x[1] * x[3]);
		add_at(w, W, 2 * i + 5, (uint32_t)x[2] * x[3]);
		for (a = 0; a < 4; a++) {
			uint32_t sq = (uint32_t)x[a] * x[a];
			if (i + a == 0)
				add_at(w, W, 0, sq >> 1);
			else
				add_at(w, W, 2 * (i + a) - 1, sq << 7);
		}
	}
	carry = low;
	for (p = 0; p < 2 * k; p++) {
		uint8_t v = POS(w, W, p);
		POS(w, W, p) = (uint8_t)(v << 1 | carry);
		carry = v >> 7;
	}
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

/*
 * Montgomery reduction of T (positions 0..2k-1) in place: the result
 * T R^-1 mod n, canonical, at positions k..2k-1 (work[5..k+5)).
 */
MS_NOINLINE static void reduce_in_place(uint8_t *w, size_t k, const uint8_t *n, uint32_t ni)
{
	size_t W = RSA_WORK_SIZE(k), i;
	uint8_t *u = w + 5;

	memset(w, 0, 5); /* positions 2k .. 2k+4 */
	for (i = 0; i < k; i += 4) {
		uint32_t m = digit(w, W, i) * ni;
		uint8_t c = bn_mac32(END(w, W, i), n + k, (uint16_t)k, m);
		size_t p = i + k + 4;
		while (c) {
			uint16_t v = (uint16_t)(POS(w, W, p) + c);
			POS(w, W, p) = (uint8_t)v;
			c = (uint8_t)(v >> 8);
			p++;
		}
	}
	/* u = result (k bytes) with carry w[4] (0 or 1); u < 2n. */
	if (w[4] || cmp(u, n, k) >= 0) {
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
	uint32_t ni;
	uint8_t i;

	if (rsa_check_modulus(n, k) || cmp(s, n, k) >= 0)
		return -1;
	ni = neg_inv32(n, k);
	if (r2 == NULL)
		rsa_r2(n, k, w);
	else if (r2 != w)
		memcpy(w, r2, k);
	/* x = Mont(R^2, s) = s R mod n. */
	mul_in_place(w, k, s);
	reduce_in_place(w, k, n, ni);
	for (i = 0; i < 16; i++) { /* x = s^(2^16) R */
		memmove(w, w + 5, k);
		sqr_in_place(w, k);
		reduce_in_place(w, k, n, ni);
	}
	/* Mont(s^(2^16) R, s) = s^65537 mod n, already out of the domain. */
	memmove(w, w + 5, k);
	mul_in_place(w, k, s);
	reduce_in_place(w, k, n, ni);
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
