/*
 * asm_diff.c - differential test on simavr: the AVR assembly
 * (crypto/aes_avr.S, md5_avr.S, sha256_avr.S) against the C references
 * (crypto/aes.c, md5.c and sha256.c compiled a second time with the *_ASM
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
 *        messages of every length 0..299 octets (0..129 on 1 KB parts). Prints "N passed, M failed" on simavr's UART and stops.
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

static void check_hashes(uint16_t *passed, uint16_t *failed)
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

static void check_ccm(uint16_t *passed, uint16_t *failed)
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

int main(void)
{
	static const uint8_t key[16] = {0, 1, 2, 3, 4, 5, 6, 7,
	                                8, 9, 10, 11, 12, 13, 14, 15};
	static const uint8_t ct[16] = {0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b,
	                               0x04, 0x30, 0xd8, 0xcd, 0xb7, 0x80,
	                               0x70, 0xb4, 0xc5, 0x5a};
	uint8_t k[16], b1[16], b2[16], pt[16];
	uint16_t n, i, passed = 0, failed = 0;

	UBRR0 = 0;
	UCSR0A = _BV(U2X0);
	UCSR0B = _BV(TXEN0);

	for (i = 0; i < 16; i++) {
		b1[i] = (uint8_t)(i * 0x11);
	}
	aes128_init(&a, key);
	aes128_encrypt(&a, b1);
	if (memcmp(b1, ct, 16) == 0) {
		passed++;
	} else {
		failed++;
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
			failed++;
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
			failed++;
			puts_("FAIL decrypt case ");
			putu(n);
			putch('\n');
			continue;
		}
#endif
		passed++;
	}
	check_ccm(&passed, &failed);
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
