/*
 * entropy.c - the boot epoch (see entropy.h).
 */
#include <string.h>

#include "entropy.h"
#include "net/net.h"

uint8_t entropy_epoch[ENTROPY_EPOCH_LEN];

#if defined(__AVR__)
#include <avr/interrupt.h>
#include <avr/io.h>

static volatile uint8_t left = CONFIG_ENTROPY_SAMPLES;

/*
 * Each watchdog interrupt ends a period of the 128 kHz RC oscillator,
 * whose length in crystal cycles varies from period to period; Timer0,
 * free-running at clk/1, carries that variation in its count when the
 * interrupt is taken. The samples are folded into the epoch with XOR,
 * which never loses what a sample adds; the epoch need not look uniform
 * (it only enters AES and CMAC inputs), it must not repeat.
 */
ISR(WDT_vect)
{
	static uint8_t j;
	entropy_epoch[j] ^= TCNT0;
	if (++j == ENTROPY_EPOCH_LEN)
		j = 0;
	/* WDIE again: simavr clears it when it serves the interrupt (a
	 * chip does that only with WDE set) */
	WDTCSR = --left ? _BV(WDIE) : 0;
}

void entropy_start(void)
{
	TCCR0B = _BV(CS00);
	WDTCSR = _BV(WDIE); /* interrupt mode, 16 ms; WDE stays 0 */
}

uint8_t entropy_ready(void)
{
	return left == 0;
}
#endif

void entropy_nonce(uint8_t out[16], uint32_t counter)
{
#if defined(__AVR__)
	while (left)
		; /* the first nonce of a boot waits for the epoch (< 0.6 s) */
#endif
	net_put32(out, counter);
	memcpy(out + 4, entropy_epoch, ENTROPY_EPOCH_LEN);
}
