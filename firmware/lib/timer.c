/*
 * timer.c - Timer1 cycle counter (see timer.h).
 */
#include <avr/interrupt.h>
#include <avr/io.h>

#include "config.h"
#include "ms_app.h"
#include "timer.h"

/* Only a build that measures cycles takes Timer1 and its overflow
 * interrupt: otherwise (the Arduino profile, arduino/ms_profile.h) the
 * interrupt vector stays free for the application, even when this file is
 * linked as an object rather than from libmstool.a. */
#if CONFIG_PACKET_CYCLES || CONFIG_MGMT_CRYPTO

static volatile uint16_t overflows;

ISR(TIMER1_OVF_vect)
{
	overflows++;
}

void timer_start(void)
{
	TCCR1B = 0; /* stop */
	TCCR1A = 0; /* normal mode, no output compare pins */
	TCNT1 = 0;
	overflows = 0;
	TIFR1 = _BV(TOV1); /* clear a stale overflow flag (write 1) */
	TIMSK1 = _BV(TOIE1);
	TCCR1B = _BV(CS10); /* clk/1: count starts now */
}

uint32_t timer_stop(void)
{
	uint8_t sreg = SREG;
	cli();
	uint16_t lo = TCNT1; /* read while running (16-bit read, low byte first) */
	uint8_t tov = TIFR1 & _BV(TOV1);
	TCCR1B = 0;
	uint16_t hi = overflows;
	/* An overflow not yet served by the interrupt belongs to this count
	 * if it happened before the read (then lo is small). */
	if (tov && lo < 0x8000)
		hi++;
	TIFR1 = _BV(TOV1);
	TIMSK1 = 0;
	SREG = sreg;
	return ((uint32_t)hi << 16) | lo;
}

uint16_t timer_overhead(void)
{
	timer_start();
	return (uint16_t)timer_stop();
}

uint16_t timer_quiet(void)
{
	void (*flush)(void) = MS_APP(link_flush);
	if (flush)
		flush();
	return timer_overhead();
}

uint32_t timer_net(uint32_t t, uint16_t ovh)
{
	return t > ovh ? t - ovh : 0;
}
#endif /* CONFIG_PACKET_CYCLES || CONFIG_MGMT_CRYPTO */
