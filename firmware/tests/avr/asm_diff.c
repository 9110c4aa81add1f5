/*
 * asm_diff.c - differential test on simavr: the AVR assembly
 * (crypto/aes_avr.S, ccm_avr.S, md5_avr.S, sha256_avr.S, bignum_avr.S)
 * against the C references (crypto/aes.c, ccm.c, md5.c, sha256.c and
 * rsa.c compiled a second time with the *_ASM
 * options 0 and their symbols renamed ref_*, see the Makefile target
 * avr-test):
 *   AES: FIPS-197 C.1 and 2000 pseudo-random keys and blocks (key
 *        schedule, encryption and, with CONFIG_AES_DECRYPT, decryption);
 *   CCM:  RFC 3610 packet vector #1, and 600 pseudo-random calls (every
 *        nonce and tag length, AAD 0..40 and payload 0..70 octets; 0..24
 *        and 0..40 on 1 KB parts): seal,
 *        open, open of a tampered tag (-1, payload wiped) and bad
 *        parameters, each with the same result, output and tag as the C;
 *        the assembly's one restriction (aad_len >= 0xff00 fails);
 *   MD5, SHA-256: "abc" (RFC 1321 A.5, FIPS 180-2 B.1) and pseudo-random
 *        messages of every length 0..299 octets (0..129 on 1 KB parts);
 *   bn_mac64, bn_redc, bn_sqr (2 KB parts): against rsa.c, random moduli;
 *   CCM over 256..290 octets (2 KB parts): counter blocks past A_16;
 *   ABI and wipe (check_abi, check_bignum): each routine's call-saved
 *        registers and r1, and no secret left on the stack it released.
 * Prints "N passed, M failed" on simavr's UART and stops.
 */
#include <stdint.h>
#include <string.h>

#include <avr/io.h>
#include <avr/interrupt.h>
#include <avr/pgmspace.h>
#include <avr/sleep.h>

#include "avr/avr_mcu_section.h"

#include "crypto/aes.h"
#include "crypto/ccm.h"
#include "crypto/md5.h"
#include "crypto/rsa.h"
#include "crypto/sha256.h"

AVR_MCU(F_CPU, "atmega328p");

void ref_aes128_init(aes128_ctx *ctx, const uint8_t key[16]);
void ref_aes128_encrypt(const aes128_ctx *ctx, uint8_t block[16]);
void ref_aes128_decrypt(const aes128_ctx *ctx, uint8_t block[16]);
int ref_aes128_ccm_crypt(const aes128_ctx *ctx, const uint8_t *nonce, size_t nonce_len,
                         const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
                         uint8_t *tag, size_t tag_len, uint8_t decrypt);
void ref_md5(uint8_t digest[16], const uint8_t *msg, size_t len);
void ref_sha256(uint8_t digest[32], const uint8_t *msg, size_t len);
void ref_md5_compress(uint32_t h[4], const uint8_t block[64]);
uint8_t ref_bn_mac64(uint8_t *t, const uint8_t *a, uint16_t len, const uint8_t *b);
void ref_bn_redc(uint8_t *t, const uint8_t *n, uint16_t k, const uint8_t *ni);
void ref_bn_sqr(uint8_t *t, uint16_t k);
void ref_sha256_compress(uint32_t h[8], const uint8_t block[64]);

static void putch(char c)
{
	while (!(UCSR0A & _BV(UDRE0))) {
	}
	UDR0 = (uint8_t)c;
}

static void putu(uint32_t v)
{
	char b[11];
	uint8_t i = 0;

	do {
		b[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i) {
		putch(b[--i]);
	}
}

/* Messages from flash: in RAM they would take the 1 KB parts' stack. */
static void puts_p(const char *s)
{
	char c;
	while ((c = (char)pgm_read_byte(s++)) != 0) {
		putch(c);
	}
}
#define puts_(s) puts_p(PSTR(s))

static uint32_t rng = 0x12345678;

static uint8_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return (uint8_t)rng;
}

static aes128_ctx a, r;
/* 300 octets on the 2 KB parts; 130 (still over two blocks) on 1 KB ones */
#if RAMEND < 0x800
#define MSG_MAX 130
#else
#define MSG_MAX 300
#endif
static uint8_t msg[MSG_MAX];

static void __attribute__((noinline)) check_hashes(uint16_t *passed, uint16_t *failed)
{
	static const uint8_t abc[16] = {0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2,
	                                0x4f, 0xb0, 0xd6, 0x96, 0x3f, 0x7d,
	                                0x28, 0xe1, 0x7f, 0x72};
	uint8_t d1[16], d2[16];
	uint16_t n, i;

	static const uint8_t abc256[32] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
		0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
		0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	uint8_t s1[32], s2[32];

	sha256(s1, (const uint8_t *)"abc", 3);
	if (memcmp(s1, abc256, 32) == 0) {
		(*passed)++;
	} else {
		(*failed)++;
		puts_("FAIL sha256 abc\n");
	}
	md5(d1, (const uint8_t *)"abc", 3);
	if (memcmp(d1, abc, 16) == 0) {
		(*passed)++;
	} else {
		(*failed)++;
		puts_("FAIL md5 abc\n");
	}
	for (n = 0; n < sizeof msg; n++) {
		for (i = 0; i < n; i++) {
			msg[i] = rnd();
		}
		md5(d1, msg, n);
		ref_md5(d2, msg, n);
		sha256(s1, msg, n);
		ref_sha256(s2, msg, n);
		if (memcmp(d1, d2, 16) == 0 && memcmp(s1, s2, 32) == 0) {
			(*passed)++;
		} else {
			(*failed)++;
			puts_("FAIL md5/sha256 length ");
			putu(n);
			putch('\n');
		}
	}
}

/* One CCM call of the assembly and the reference on copies of the same
 * input: 1 if result, buffer and tag agree. */
#if RAMEND < 0x800
#define CCM_LEN_MAX 40 /* 1 KB parts: still over two blocks */
#define CCM_AAD_MAX 24
#else
#define CCM_LEN_MAX 70
#define CCM_AAD_MAX 40
#endif
/* the payloads and the AAD in msg (the hashes' buffer, used after) */
#define cb1 msg
#define cb2 (msg + CCM_LEN_MAX)
#define aad (msg + 2 * CCM_LEN_MAX)
typedef char abi_fits_msg[64 + 64 <= MSG_MAX ? 1 : -1];
typedef char ccm_fits_msg[2 * CCM_LEN_MAX + CCM_AAD_MAX <= MSG_MAX ? 1 : -1];
static uint8_t ct1[16], ct2[16];

static uint8_t ccm_same(const uint8_t *nonce, size_t nl, const uint8_t *ad, size_t al,
                        size_t len, size_t tl, uint8_t decrypt, int *res)
{
	memcpy(cb2, cb1, len);
	memcpy(ct2, ct1, sizeof ct1);
	int r1 = aes128_ccm_crypt(&a, nonce, nl, ad, al, cb1, len, ct1, tl, decrypt);
	int r2 = ref_aes128_ccm_crypt(&r, nonce, nl, ad, al, cb2, len, ct2, tl, decrypt);
	*res = r1;
	return r1 == r2 && memcmp(cb1, cb2, len) == 0 && memcmp(ct1, ct2, sizeof ct1) == 0;
}

static void __attribute__((noinline)) check_ccm(uint16_t *passed, uint16_t *failed)
{
	/* RFC 3610 packet vector #1: key C0..CF, nonce 00000003020100A0A1A2A3A4A5,
	 * 8 octets of AAD (00..07), 23 of payload (08..1E), M = 8 */
	static const uint8_t want[31] = {
		0x58, 0x8c, 0x97, 0x9a, 0x61, 0xc6, 0x63, 0xd2, 0xf0, 0x66, 0xd0,
		0xc2, 0xc0, 0xf9, 0x89, 0x80, 0x6d, 0x5f, 0x6b, 0x61, 0xda, 0xc3,
		0x84, 0x17, 0xe8, 0xd1, 0x2c, 0xfd, 0xf9, 0x26, 0xe0};
	uint8_t k[16], nonce[13], tag[8];
	uint16_t n, i;
	int res;

	for (i = 0; i < 16; i++)
		k[i] = (uint8_t)(0xc0 + i);
	static const uint8_t nonce1[13] = {0, 0, 0, 3, 2, 1, 0, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5};
	memcpy(nonce, nonce1, 13);
	for (i = 0; i < 8; i++)
		aad[i] = (uint8_t)i;
	for (i = 0; i < 23; i++)
		cb1[i] = (uint8_t)(8 + i);
	aes128_init(&a, k);
	res = aes128_ccm_seal(&a, nonce, 13, aad, 8, cb1, 23, tag, 8);
	if (res == 0 && memcmp(cb1, want, 23) == 0 && memcmp(tag, want + 23, 8) == 0 &&
	    aes128_ccm_open(&a, nonce, 13, aad, 8, cb1, 23, tag, 8) == 0 && cb1[0] == 8 && cb1[22] == 30) {
		(*passed)++;
	} else {
		(*failed)++;
		puts_("FAIL ccm RFC 3610 #1\n");
	}

	for (n = 0; n < 600; n++) {
		size_t nl = 7 + n % 7, tl = 4 + 2 * (n / 7 % 7), al, len;
		uint8_t ok = 1, bad;
		al = n % 5 == 0 ? 0 : rnd() % (CCM_AAD_MAX + 1);
		len = rnd() % (CCM_LEN_MAX + 1);
		for (i = 0; i < 16; i++)
			k[i] = rnd();
		aes128_init(&a, k);
		ref_aes128_init(&r, k);
		for (i = 0; i < 13; i++)
			nonce[i] = rnd();
		for (i = 0; i < al; i++)
			aad[i] = rnd();
		for (i = 0; i < len; i++)
			cb1[i] = rnd();
		for (i = 0; i < 16; i++)
			ct1[i] = rnd();
		/* seal */
		ok &= ccm_same(nonce, nl, aad, al, len, tl, 0, &res) && res == 0;
		/* open the sealed message: the plaintext back */
		ok &= ccm_same(nonce, nl, aad, al, len, tl, 1, &res) && res == 0;
		/* seal again, tamper one tag bit, open: -1, payload wiped */
		ok &= ccm_same(nonce, nl, aad, al, len, tl, 0, &res) && res == 0;
		ct1[rnd() % tl] ^= (uint8_t)(1u << (rnd() & 7));
		ok &= ccm_same(nonce, nl, aad, al, len, tl, 1, &res) && res == -1;
		for (i = 0; i < len; i++)
			ok &= cb1[i] == 0;
		/* bad parameters (both directions): -1 */
		for (i = 0; i < len; i++)
			cb1[i] = rnd();
		bad = rnd() & 3;
		ok &= ccm_same(nonce, bad == 0 ? 6 : bad == 1 ? 14 : nl, aad, al, len,
		               bad == 2 ? tl + 1 : bad == 3 ? 18 : tl, n & 1, &res) && res == -1;
		if (ok) {
			(*passed)++;
		} else {
			(*failed)++;
			puts_("FAIL ccm case ");
			putu(n);
			putch('\n');
		}
	}
	/* aad_len >= 0xff00: refused before any byte of it is read */
	res = aes128_ccm_crypt(&a, nonce, 13, (const uint8_t *)0, 0xff00, cb1, 0, ct1, 8, 0);
	if (res == -1) {
		(*passed)++;
	} else {
		(*failed)++;
		puts_("FAIL ccm aad_len 0xff00\n");
	}
}

/*
 * The ABI and the wipe: each assembly routine called through abi_call.S
 * with random values in r2..r29, on a stack painted below the caller's.
 * It must return with r1 = 0 and r2..r17, r28, r29 as given (avr-gcc's
 * call-saved registers; the arguments in r8..r17 are call-saved too), the
 * result of the C reference, and no secret on the stack it released: no
 * 4 bytes in a row (either order) of a round key, CCM's key stream or a
 * hashed block. (CCM's state and SHA-256's message schedule are wiped
 * before they are freed; the on-the-fly AES derives its round keys in
 * its output block, which ends up holding the ciphertext.)
 */
#define ABI_REGS 31 /* r1, r2..r29, stack-argument flag, stack argument */
void abi_call(void (*fn)(void), uint8_t regs[ABI_REGS]);
extern const uint8_t aes_sbox[256] PROGMEM; /* aes_avr.S */
extern uint8_t __bss_end;

static uint8_t regs[ABI_REGS];
/* the secrets to look for: the 11 round keys, then CCM's key stream
 * and S_0; or SHA-256's message schedule */
static uint8_t secret[176 + CCM_LEN_MAX + 16];
static uint8_t nsecret;
#define REG(n) regs[(n) - 1]

static void __attribute__((noinline)) abi_arg(uint8_t reg, uint16_t v)
{
	REG(reg) = (uint8_t)v;
	REG(reg + 1) = (uint8_t)(v >> 8);
}

static void __attribute__((noinline)) abi_random(void)
{
	uint8_t i;
	for (i = 1; i <= 28; i++)
		regs[i] = rnd();
	regs[29] = 0;
}

/* secret[0..176): the round keys of k (FIPS-197 5.2, from the S-box in
 * flash: independent of both implementations' key steps) */
static void __attribute__((noinline)) round_keys(const uint8_t k[16])
{
	uint8_t i, j, rc = 1;
	memcpy(secret, k, 16);
	for (i = 16; i < 176; i += 4) {
		uint8_t *w = secret + i;
		for (j = 0; j < 4; j++)
			w[j] = w[j - 4];
		if (i % 16 == 0) {
			uint8_t t = w[0];
			w[0] = (uint8_t)(pgm_read_byte(&aes_sbox[w[1]]) ^ rc);
			w[1] = pgm_read_byte(&aes_sbox[w[2]]);
			w[2] = pgm_read_byte(&aes_sbox[w[3]]);
			w[3] = pgm_read_byte(&aes_sbox[t]);
			rc = (uint8_t)(rc << 1 ^ (rc & 0x80 ? 0x1b : 0));
		}
		for (j = 0; j < 4; j++)
			w[j] ^= w[j - 16];
	}
	nsecret = 176;
}

/* secret[0..64), a block, becomes W[48..64) of SHA-256's message
 * schedule (FIPS 180-4 6.2.2, big-endian words, W[t] at t mod 16): what
 * a 16-word schedule holds at the end */
static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint16_t)p[2] << 8 | p[3];
}
static uint32_t rotr(uint32_t x, uint8_t n)
{
	return x >> n | x << (32 - n);
}
static void __attribute__((noinline)) sha256_schedule(void)
{
	uint8_t t;
	for (t = 16; t < 64; t++) {
		uint32_t w15 = be32(secret + 4 * ((t - 15) & 15));
		uint32_t w2 = be32(secret + 4 * ((t - 2) & 15));
		uint32_t w = be32(secret + 4 * (t & 15)) +
		             be32(secret + 4 * ((t - 7) & 15)) +
		             (rotr(w15, 7) ^ rotr(w15, 18) ^ w15 >> 3) +
		             (rotr(w2, 17) ^ rotr(w2, 19) ^ w2 >> 10);
		uint8_t *p = secret + 4 * (t & 15);
		p[0] = (uint8_t)(w >> 24);
		p[1] = (uint8_t)(w >> 16);
		p[2] = (uint8_t)(w >> 8);
		p[3] = (uint8_t)w;
	}
}

/* fn through abi_call; 1 if the registers came back as the ABI says and
 * no word of secret[0..nsecret) is left on the stack below the caller's.
 * The scan runs here, before any other call reuses that stack. */
static uint8_t __attribute__((noinline)) abi_run(void (*fn)(void))
{
	uint8_t want[ABI_REGS];
	uint8_t *hi = (uint8_t *)SP, *lo = hi - 320, *p;
	uint8_t i, ok;

	if (lo < &__bss_end)
		lo = &__bss_end;
	for (p = lo; p < hi; p++)
		*p = 0xa5;
	memcpy(want, regs, sizeof want);
	abi_call(fn, regs);
	ok = regs[0] == 0;
	for (i = 1; i <= 16; i++)
		ok &= regs[i] == want[i];
	ok &= regs[27] == want[27] && regs[28] == want[28];
	for (p = lo; p + 4 <= hi; p++) {
		for (i = 0; i + 4 <= nsecret; i += 4) {
			const uint8_t *s = secret + i;
			if ((p[0] == s[0] && p[1] == s[1] && p[2] == s[2] && p[3] == s[3]) ||
			    (p[0] == s[3] && p[1] == s[2] && p[2] == s[1] && p[3] == s[0]))
				ok = 0;
		}
	}
	return ok;
}

static void __attribute__((noinline)) count(uint8_t ok, uint16_t *passed, uint16_t *failed, const char *what,
                  uint16_t n)
{
	if (ok) {
		(*passed)++;
		return;
	}
	(*failed)++;
	puts_("FAIL abi_call ");
	puts_p(what);
	putch(' ');
	putu(n);
	putch('\n');
}

static void __attribute__((noinline)) check_abi(uint16_t *passed, uint16_t *failed)
{
	/* few locals: on 1 KB parts this frame sits between main's and the
	 * C SHA-256's; the CCM call reuses the AES call's blocks */
	uint8_t k[16], b1[16], b2[16];
	uint8_t *const nonce = k, *const tag = b1, *const tag2 = b2;
	uint32_t *const h1 = (uint32_t *)(msg + 64), *const h2 = h1 + 8;
	uint8_t n, i;

	for (n = 0; n < 16; n++) {
		uint8_t tl = (uint8_t)(4 + 2 * (n % 7)), len = (uint8_t)(rnd() % (CCM_LEN_MAX + 1));
		uint8_t al = (uint8_t)(rnd() % (CCM_AAD_MAX + 1)), ok;
		int res;

		for (i = 0; i < 16; i++) {
			k[i] = rnd();
			b1[i] = b2[i] = rnd();
		}
		round_keys(k);
		ref_aes128_init(&r, k);

		abi_random();
		abi_arg(24, (uint16_t)&a);
		abi_arg(22, (uint16_t)k);
		ok = abi_run((void (*)(void))aes128_init);
		count(ok && memcmp(&a, &r, sizeof a) == 0 &&
		      (sizeof a != 176 || memcmp(&a, secret, 176) == 0),
		      passed, failed, PSTR("aes128_init"), n);

		abi_random();
		abi_arg(24, (uint16_t)&a);
		abi_arg(22, (uint16_t)b1);
		ok = abi_run((void (*)(void))aes128_encrypt);
		ref_aes128_encrypt(&r, b2);
		count(ok && memcmp(b1, b2, 16) == 0, passed, failed, PSTR("aes128_encrypt"), n);

		abi_random();
		abi_arg(24, (uint16_t)&a);
		abi_arg(22, (uint16_t)b2);
		abi_arg(20, (uint16_t)b1);
		ok = abi_run((void (*)(void))aes128_encrypt_copy);
		ref_aes128_encrypt(&r, b2);
		count(ok && memcmp(b1, b2, 16) == 0, passed, failed,
		      PSTR("aes128_encrypt_copy"), n);
#if CONFIG_AES_DECRYPT
		abi_random();
		abi_arg(24, (uint16_t)&a);
		abi_arg(22, (uint16_t)b1);
		ok = abi_run((void (*)(void))aes128_decrypt);
		ref_aes128_decrypt(&r, b2);
		count(ok && memcmp(b1, b2, 16) == 0, passed, failed, PSTR("aes128_decrypt"), n);
#endif

		/* CCM: the key stream is plaintext ^ ciphertext (the C's) */
		for (i = 0; i < 13; i++)
			nonce[i] = rnd();
		for (i = 0; i < al; i++)
			aad[i] = rnd();
		for (i = 0; i < len; i++)
			cb1[i] = cb2[i] = rnd();
		ref_aes128_ccm_crypt(&r, nonce, 13 - n % 7, aad, al, cb2, len, tag2, tl, 0);
		for (i = 0; i < len; i++)
			secret[176 + i] = cb1[i] ^ cb2[i];
		/* and S_0 = E(A_0), the tag's key stream, which is what the
		 * state holds at the end: A_0 = flags (L - 1) || nonce || 0 */
		{
			uint8_t *s0 = secret + 176 + len, nl = (uint8_t)(13 - n % 7);
			memset(s0, 0, 16);
			s0[0] = (uint8_t)(14 - nl);
			memcpy(s0 + 1, nonce, nl);
			ref_aes128_encrypt(&r, s0);
		}
		nsecret = (uint8_t)(176 + len + 16);
		for (i = 0; i < 2; i++) {
			abi_random();
			abi_arg(24, (uint16_t)&a);
			abi_arg(22, (uint16_t)nonce);
			abi_arg(20, 13 - n % 7);
			abi_arg(18, (uint16_t)aad);
			abi_arg(16, al);
			abi_arg(14, (uint16_t)cb1);
			abi_arg(12, len);
			abi_arg(10, (uint16_t)tag);
			abi_arg(8, tl);
			regs[29] = 1;
			regs[30] = (uint8_t)i; /* seal, then open */
			if (i == 1 && n % 2)
				tag[n % tl] ^= 0x10; /* open fails: buf wiped */
			ok = abi_run((void (*)(void))aes128_ccm_crypt);
			res = (int)(REG(24) | (uint16_t)REG(25) << 8);
			if (i == 0)
				ok &= res == 0 && memcmp(cb1, cb2, len) == 0 &&
				      memcmp(tag, tag2, tl) == 0;
			else
				ok &= res == (n % 2 ? -1 : 0);
			/* an open gives the plaintext (ciphertext ^ key stream),
			 * or zeros when the tag fails */
			for (uint8_t j = 0; i == 1 && j < len; j++)
				ok &= cb1[j] == (n % 2 ? 0 : cb2[j] ^ secret[176 + j]);
			count(ok, passed, failed, i ? PSTR("ccm open") : PSTR("ccm seal"), n);
		}

		/* one block of each hash: the block is the secret (an HMAC's
		 * first block is the key ^ ipad) */
		for (i = 0; i < 64; i++)
			msg[i] = secret[i] = rnd();
		nsecret = 64;
		sha256_schedule();
		{
			for (i = 0; i < 8; i++)
				h1[i] = h2[i] = (uint32_t)rnd() << 24 | (uint32_t)rnd() << 8;
			abi_random();
			abi_arg(24, (uint16_t)h1);
			abi_arg(22, (uint16_t)msg);
			ok = abi_run((void (*)(void))sha256_compress_avr);
			ref_sha256_compress(h2, msg);
			count(ok && memcmp(h1, h2, 32) == 0, passed, failed, PSTR("sha256"), n);
			abi_random();
			abi_arg(24, (uint16_t)h1);
			abi_arg(22, (uint16_t)msg);
			ok = abi_run((void (*)(void))md5_compress_avr);
			ref_md5_compress(h2, msg);
			count(ok && memcmp(h1, h2, 16) == 0, passed, failed, PSTR("md5"), n);
		}
	}
}

#if RAMEND >= 0x800
/*
 * RSA's Montgomery arithmetic (bignum_avr.S) against the C (rsa.c), each
 * call through abi_call (its data are public: no secret to look for), on
 * the 2 KB parts (the 1 KB ones run no RSA): bn_mac64 for len 0..80,
 * bn_redc and bn_sqr for k = 8..64 with random odd moduli.
 */
#define BN_K 64
/* the bignum checks' numbers, then (check_ccm_long) two long payloads */
#define LONG_MAX 290
static union {
	struct {
		uint8_t n1[2 * BN_K + 5], n2[2 * BN_K + 5], n[BN_K], a[BN_K + 16], b[8];
	} bn;
	struct {
		uint8_t b1[LONG_MAX], b2[LONG_MAX];
	} ccm;
} big;
#define bn1 big.bn.n1
#define bn2 big.bn.n2
#define bn_n big.bn.n
#define bn_a big.bn.a
#define bn_b big.bn.b

/*
 * CCM with payloads past 16 blocks (counter blocks A_17 on: the counter's
 * second octet), which the 1 KB parts cannot hold: the assembly against
 * the C for 256, 257, 272 and 290 octets, seal then open, every nonce
 * length. (`make avr-test-rebuild` runs this with CONFIG_CCM_CTR_REBUILD,
 * the ATmega168's counter blocks built from the nonce.)
 */
static void __attribute__((noinline)) check_ccm_long(uint16_t *passed, uint16_t *failed)
{
	static const uint16_t lens[4] = {256, 257, 272, 290};
	uint8_t k[16], nonce[13], t1[16], t2[16], n, i;
	uint16_t j;

	for (n = 0; n < 14; n++) {
		uint16_t len = lens[n & 3];
		uint8_t nl = (uint8_t)(7 + n % 7), ok;
		for (i = 0; i < 16; i++)
			k[i] = rnd();
		for (i = 0; i < 13; i++)
			nonce[i] = rnd();
		for (j = 0; j < len; j++)
			big.ccm.b1[j] = big.ccm.b2[j] = rnd();
		aes128_init(&a, k);
		ref_aes128_init(&r, k);
		ok = aes128_ccm_crypt(&a, nonce, nl, nonce, 5, big.ccm.b1, len, t1, 8, 0) == 0 &&
		     ref_aes128_ccm_crypt(&r, nonce, nl, nonce, 5, big.ccm.b2, len, t2, 8, 0) == 0 &&
		     memcmp(big.ccm.b1, big.ccm.b2, len) == 0 && memcmp(t1, t2, 8) == 0;
		ok &= aes128_ccm_crypt(&a, nonce, nl, nonce, 5, big.ccm.b1, len, t1, 8, 1) == 0 &&
		      ref_aes128_ccm_crypt(&r, nonce, nl, nonce, 5, big.ccm.b2, len, t2, 8, 1) == 0 &&
		      memcmp(big.ccm.b1, big.ccm.b2, len) == 0;
		count(ok, passed, failed, PSTR("ccm long"), n);
	}
}

static void __attribute__((noinline)) check_bignum(uint16_t *passed, uint16_t *failed)
{
	uint8_t n, i, ok, c2;

	for (n = 0; n < 48; n++) {
		uint16_t len = (uint16_t)(n < 16 ? n : rnd() % (BN_K + 17));
		uint16_t k = (uint16_t)(8 * (1 + n % 8));
		uint64_t n0 = 0, inv;

		/* bn_mac64: T (len + 8) += B * A */
		for (i = 0; i < sizeof bn1; i++)
			bn1[i] = bn2[i] = rnd();
		for (i = 0; i < sizeof bn_a; i++)
			bn_a[i] = rnd();
		for (i = 0; i < 8; i++)
			bn_b[i] = rnd();
		abi_random();
		abi_arg(24, (uint16_t)(bn1 + len + 8));
		abi_arg(22, (uint16_t)(bn_a + len));
		abi_arg(20, len);
		abi_arg(18, (uint16_t)(bn_b + 8));
		nsecret = 0;
		ok = abi_run((void (*)(void))bn_mac64);
		c2 = ref_bn_mac64(bn2 + len + 8, bn_a + len, len, bn_b + 8);
		count(ok && REG(24) == c2 && memcmp(bn1, bn2, sizeof bn1) == 0, passed, failed,
		      PSTR("bn_mac64"), n);

		/* bn_redc: T (2k, zero above) by an odd n, ni = -n^-1 mod 2^64 */
		for (i = 0; i < k; i++)
			bn_n[i] = rnd();
		bn_n[0] |= 0x80;
		bn_n[k - 1] |= 1;
		for (i = 0; i < 8; i++)
			n0 = n0 << 8 | bn_n[k - 8 + i];
		inv = n0; /* Newton: correct to 3, 6, 12, 24, 48, 96 bits */
		for (i = 0; i < 5; i++)
			inv *= 2 - n0 * inv;
		inv = -inv;
		for (i = 0; i < 8; i++)
			bn_b[i] = (uint8_t)(inv >> (8 * i));
		memset(bn1, 0, sizeof bn1);
		for (i = 0; i < 2 * k; i++)
			bn1[sizeof bn1 - 1 - i] = rnd();
		memcpy(bn2, bn1, sizeof bn1);
		abi_random();
		abi_arg(24, (uint16_t)(bn1 + sizeof bn1));
		abi_arg(22, (uint16_t)(bn_n + k));
		abi_arg(20, k);
		abi_arg(18, (uint16_t)bn_b);
		ok = abi_run((void (*)(void))bn_redc);
		ref_bn_redc(bn2 + sizeof bn2, bn_n + k, k, bn_b);
		for (i = 0; i < k; i++) /* positions 0..k-1 reduced away */
			ok &= bn1[sizeof bn1 - 1 - i] == 0;
		count(ok && memcmp(bn1, bn2, sizeof bn1) == 0, passed, failed, PSTR("bn_redc"), n);

		/* bn_sqr: x at positions k..2k-1 of a 2k + 5 byte number */
		memset(bn1, 0, sizeof bn1);
		for (i = 0; i < k; i++)
			bn1[2 * k + 5 - 1 - k - i] = rnd();
		memcpy(bn2, bn1, sizeof bn1);
		abi_random();
		abi_arg(24, (uint16_t)(bn1 + 2 * k + 5));
		abi_arg(22, k);
		ok = abi_run((void (*)(void))bn_sqr);
		ref_bn_sqr(bn2 + 2 * k + 5, k);
		count(ok && memcmp(bn1, bn2, sizeof bn1) == 0, passed, failed, PSTR("bn_sqr"), n);
	}
}
#endif

/* FIPS-197 C.1, then random keys and blocks against the C */
static void __attribute__((noinline)) check_aes(uint16_t *passed, uint16_t *failed)
{
	static const uint8_t key[16] = {0, 1, 2, 3, 4, 5, 6, 7,
	                                8, 9, 10, 11, 12, 13, 14, 15};
	static const uint8_t ct[16] = {0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b,
	                               0x04, 0x30, 0xd8, 0xcd, 0xb7, 0x80,
	                               0x70, 0xb4, 0xc5, 0x5a};
	uint8_t k[16], b1[16], b2[16], pt[16];
	uint16_t n, i;

	for (i = 0; i < 16; i++) {
		b1[i] = (uint8_t)(i * 0x11);
	}
	aes128_init(&a, key);
	aes128_encrypt(&a, b1);
	if (memcmp(b1, ct, 16) == 0) {
		(*passed)++;
	} else {
		(*failed)++;
		puts_("FAIL FIPS-197 C.1\n");
	}
	for (n = 0; n < 2000; n++) {
		for (i = 0; i < 16; i++) {
			k[i] = rnd();
			b1[i] = rnd();
		}
		memcpy(b2, b1, 16);
		memcpy(pt, b1, 16);
		aes128_init(&a, k);
		ref_aes128_init(&r, k);
		aes128_encrypt(&a, b1);
		ref_aes128_encrypt(&r, b2);
		if (memcmp(&a, &r, sizeof a) != 0 || memcmp(b1, b2, 16) != 0) {
			(*failed)++;
			puts_("FAIL random case ");
			putu(n);
			putch('\n');
			continue;
		}
#if CONFIG_AES_DECRYPT
		/* decrypt(encrypt(x)) == x, and decrypt of a random block
		 * agrees with the C reference */
		aes128_decrypt(&a, b1);
		for (i = 0; i < 16; i++) {
			b2[i] = rnd();
		}
		memcpy(k, b2, 16);
		aes128_decrypt(&a, b2);
		ref_aes128_decrypt(&r, k);
		if (memcmp(b1, pt, 16) != 0 || memcmp(b2, k, 16) != 0) {
			(*failed)++;
			puts_("FAIL decrypt case ");
			putu(n);
			putch('\n');
			continue;
		}
#endif
		(*passed)++;
	}
}

int main(void)
{
	/* each check in a frame of its own: on 1 KB parts they do not fit
	 * on top of each other */
	uint16_t passed = 0, failed = 0;

	UBRR0 = 0;
	UCSR0A = _BV(U2X0);
	UCSR0B = _BV(TXEN0);
	check_aes(&passed, &failed);
	check_ccm(&passed, &failed);
	check_abi(&passed, &failed);
#if RAMEND >= 0x800
	check_bignum(&passed, &failed);
	check_ccm_long(&passed, &failed);
#endif
	check_hashes(&passed, &failed);
	putu(passed);
	puts_(" passed, ");
	putu(failed);
	puts_(" failed\n");
	cli();
	sleep_mode();
	for (;;) {
	}
}
