/*
 * entropy.c - the boot epoch (see entropy.h).
 */
#include <string.h>

#include "entropy.h"
#include "ms_base.h"

uint8_t entropy_epoch[ENTROPY_EPOCH_LEN];

#if defined(__AVR__) && ENTROPY_SAMPLED
#include <avr/interrupt.h>
#include <avr/io.h>

#include <avr/wdt.h>

static volatile uint8_t left = CONFIG_ENTROPY_SAMPLES;
static volatile uint8_t armed;

/*
 * Each watchdog interrupt ends a period of the 128 kHz RC oscillator,
 * whose length in crystal cycles varies from period to period; Timer0,
 * free-running, carries that variation in its count when the interrupt
 * is taken. entropy_start runs it at clk/1 if it is stopped; a Timer0
 * the application already runs is left alone: Arduino's core counts
 * millis() and micros() on it at clk/64 (its overflow interrupt), and
 * changing its prescaler would make them run 64 times fast. At clk/64
 * the count moves only with variations of 64 crystal cycles (4 us) or
 * more, so a sample carries fewer bits than at clk/1. The samples are
 * folded into the epoch with XOR, which never loses what a sample adds;
 * the epoch need not look uniform (it only enters AES and CMAC inputs),
 * it must not repeat.
 *
 * The watchdog runs in interrupt-and-reset mode meanwhile: the chip
 * clears WDIE when it takes the interrupt and this handler sets it again,
 * so a device stuck with interrupts off resets at the next period. Once
 * the epoch is complete the handler keeps it so for at most 4 s more, for
 * the main loop to arm the watchdog in system-reset mode (entropy_arm,
 * outside an interrupt: the change takes WDCE's timed sequence); a main
 * loop that never comes resets the device.
 */
ISR(WDT_vect)
{
	static uint8_t j, grace = 250;
	if (armed)
		return;
	if (left) {
		entropy_epoch[j] ^= TCNT0;
		if (++j == ENTROPY_EPOCH_LEN)
			j = 0;
		left--;
	} else if (!--grace) {
		return;
	}
	WDTCSR = _BV(WDIE) | _BV(WDE);
}

void entropy_start(void)
{
	if (!(TCCR0B & 7)) /* stopped: run it; else see above */
		TCCR0B = _BV(CS00);
	wdt_enable(WDTO_15MS);
	WDTCSR = _BV(WDIE) | _BV(WDE);
}

uint8_t entropy_arm(uint8_t timeout)
{
	if (left)
		return 0;
	armed = 1;
	wdt_enable(timeout);
	return 1;
}

uint8_t entropy_ready(void)
{
	return left == 0;
}
#endif

void entropy_nonce(uint8_t out[16], uint32_t counter)
{
#if defined(__AVR__) && ENTROPY_SAMPLED
	while (left)
		; /* the first nonce of a boot waits for the epoch (< 0.6 s) */
#endif
	net_put32(out, counter);
	memcpy(out + 4, entropy_epoch, ENTROPY_EPOCH_LEN);
}
