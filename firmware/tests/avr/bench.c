/*
 * bench.c - quick cycle counts of the crypto core on simavr (FW-CRYPTO's
 * own measurement while tuning; the device figures of record come from
 * the management channel: `mstool bench`, docs/PERFORMANCE.md).
 *
 *   make -C firmware bench [MCU=atmega328p] [CONFIG_AES_ASM=1]
 *
 * Timer1 runs at F_CPU (prescaler 1) with an overflow counter, so counts
 * are CPU cycles including the call; the fixed overhead of reading the
 * timer is measured and subtracted. Results go to UART0, which simavr
 * prints on its console, and the program ends with cli+sleep, which stops
 * simavr. It also self-checks AES against FIPS-197 C.1 and prints FAIL
 * if the (C or assembly) cipher is wrong.
 */
#include <stdint.h>
#include <string.h>

#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>

#include "avr/avr_mcu_section.h"

#include "config.h"
#include "crypto/aes.h"
#include "crypto/cbc.h"
#include "crypto/ccm.h"
#include "crypto/ct.h"
#include "crypto/ctr.h"
#include "crypto/hmac.h"
#include "crypto/md5.h"
#include "crypto/sha256.h"

AVR_MCU(F_CPU, "atmega328p");

static volatile uint16_t ovf;

ISR(TIMER1_OVF_vect)
{
	ovf++;
}

static uint32_t now(void)
{
	uint16_t t, o;

	cli();
	t = TCNT1;
	o = ovf;
	if ((TIFR1 & _BV(TOV1)) && t < 0x8000) {
		o++;
	}
	sei();
	return ((uint32_t)o << 16) | t;
}

static void putch(char c)
{
	while (!(UCSR0A & _BV(UDRE0))) {
	}
	UDR0 = (uint8_t)c;
}

static void puts_(const char *s)
{
	while (*s) {
		putch(*s++);
	}
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

static uint32_t overhead;

static void report(const char *name, uint32_t cycles, uint16_t bytes)
{
	puts_(name);
	puts_(" cycles=");
	putu(cycles);
	if (bytes > 0) {
		puts_(" bytes=");
		putu(bytes);
		puts_(" cpb=");
		putu((cycles + bytes / 2) / bytes);
	}
	putch('\n');
}

#define MEASURE(name, bytes, stmt)                                   \
	do {                                                             \
		uint32_t t0_ = now();                                        \
		stmt;                                                        \
		report(name, now() - t0_ - overhead, bytes);                 \
	} while (0)

static aes128_ctx aes;
static uint8_t buf[512];

int main(void)
{
	static const uint8_t key[16] = {0, 1, 2, 3, 4, 5, 6, 7,
	                                8, 9, 10, 11, 12, 13, 14, 15};
	static const uint8_t want[16] = {0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b,
	                                 0x04, 0x30, 0xd8, 0xcd, 0xb7, 0x80,
	                                 0x70, 0xb4, 0xc5, 0x5a};
	uint8_t blk[16], tag[32], nonce[13];
	md5_ctx m;
	sha256_ctx s;
	hmac_sha256_ctx hs;
	uint8_t i;

	UBRR0 = 0;
	UCSR0A = _BV(U2X0);
	UCSR0B = _BV(TXEN0);
	TCCR1A = 0;
	TCCR1B = _BV(CS10);
	TIMSK1 = _BV(TOIE1);
	sei();
	{
		uint32_t a = now();
		overhead = now() - a;
	}
	for (i = 0; i < 16; i++) {
		blk[i] = (uint8_t)(i * 0x11);
	}
	memset(nonce, 7, sizeof nonce);

	MEASURE("aes128_init", 0, aes128_init(&aes, key));
	MEASURE("aes128_encrypt", 0, aes128_encrypt(&aes, blk));
	puts_(ct_equal(blk, want, 16) == 0 ? "aes encrypt ok\n"
	                                   : "aes encrypt FAIL\n");
#if CONFIG_AES_DECRYPT
	MEASURE("aes128_decrypt", 0, aes128_decrypt(&aes, blk));
	for (i = 0; i < 16; i++) {
		if (blk[i] != (uint8_t)(i * 0x11)) {
			puts_("aes decrypt FAIL\n");
		}
	}
	MEASURE("aes128_cbc_decrypt", 256, aes128_cbc_decrypt(&aes, blk, buf, 16));
#endif
	MEASURE("aes128_cbc_encrypt", 256, aes128_cbc_encrypt(&aes, blk, buf, 16));
	MEASURE("aes128_ctr", 256, aes128_ctr(&aes, blk, buf, 256));
	MEASURE("aes128_ccm_seal", 256,
	        aes128_ccm_seal(&aes, nonce, 13, NULL, 0, buf, 256, tag, 8));
	MEASURE("aes128_ccm_seal", 512,
	        aes128_ccm_seal(&aes, nonce, 13, NULL, 0, buf, 512, tag, 16));
	MEASURE("aes128_ccm_open", 512,
	        aes128_ccm_open(&aes, nonce, 13, NULL, 0, buf, 512, tag, 16));
	md5_init(&m);
	MEASURE("md5_update", 512, md5_update(&m, buf, 512));
	MEASURE("md5 (64 bytes)", 64, md5(tag, buf, 64));
	sha256_init(&s);
	MEASURE("sha256_update", 512, sha256_update(&s, buf, 512));
	MEASURE("sha256 (64 bytes)", 64, sha256(tag, buf, 64));
	MEASURE("hmac_sha256_init", 0, hmac_sha256_init(&hs, key, 16));
	MEASURE("hmac_md5 (64 bytes)", 64, hmac_md5(tag, key, 16, buf, 64));
	MEASURE("ct_equal (16)", 16, (void)ct_equal(tag, buf, 16));
	puts_("done\n");
	cli();
	sleep_mode();
	for (;;) {
	}
}
