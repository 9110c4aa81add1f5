/*
 * asm_diff.c - differential test on simavr: the AVR assembly
 * (crypto/aes_avr.S, md5_avr.S, sha256_avr.S) against the C references
 * (crypto/aes.c, md5.c and sha256.c compiled a second time with the *_ASM
 * options 0 and their symbols renamed ref_*, see the Makefile target
 * avr-test):
 *   AES: FIPS-197 C.1 and 2000 pseudo-random keys and blocks (key
 *        schedule, encryption and, with CONFIG_AES_DECRYPT, decryption);
 *   MD5, SHA-256: "abc" (RFC 1321 A.5, FIPS 180-2 B.1) and pseudo-random
 *        messages of every length 0..299 octets (0..129 on 1 KB parts). Prints "N passed, M failed" on simavr's UART and stops.
 */
#include <stdint.h>
#include <string.h>

#include <avr/io.h>
#include <avr/interrupt.h>
#include <avr/sleep.h>

#include "avr/avr_mcu_section.h"

#include "crypto/aes.h"
#include "crypto/md5.h"
#include "crypto/sha256.h"

AVR_MCU(F_CPU, "atmega328p");

void ref_aes128_init(aes128_ctx *ctx, const uint8_t key[16]);
void ref_aes128_encrypt(const aes128_ctx *ctx, uint8_t block[16]);
void ref_aes128_decrypt(const aes128_ctx *ctx, uint8_t block[16]);
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

static void puts_(const char *s)
{
	while (*s) {
		putch(*s++);
	}
}

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
