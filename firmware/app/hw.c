/*
 * hw.c - the hardware behind the reference tasks (AVR only; app.h):
 * the LED on PB5 (Arduino pin 13), the ADC (AVcc reference, prescaler
 * 128: 125 kHz at 16 MHz), and an uptime clock from Timer2 in CTC mode
 * at 250 Hz (clk/256, OCR2A = 249 at 16 MHz), whose interrupt costs a
 * few dozen cycles every 4 ms.
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <util/atomic.h>

#include "app.h"


#define TICK_HZ 250

static volatile uint32_t seconds;
static volatile uint8_t ticks;

ISR(TIMER2_COMPA_vect)
{
	if (++ticks == TICK_HZ) {
		ticks = 0;
		seconds++;
	}
}

void hw_init(void)
{
	DDRB |= _BV(DDB5);
	PORTB &= (uint8_t)~_BV(PORTB5);
	ADMUX = _BV(REFS0);
	ADCSRA = _BV(ADEN) | _BV(ADPS2) | _BV(ADPS1) | _BV(ADPS0);
	TCCR2A = _BV(WGM21); /* CTC */
	OCR2A = (uint8_t)(F_CPU / 256 / TICK_HZ - 1);
	TIMSK2 = _BV(OCIE2A);
	TCCR2B = _BV(CS22) | _BV(CS21); /* clk/256 */
}

uint8_t hw_led(uint8_t op)
{
	if (op == 0)
		PORTB &= (uint8_t)~_BV(PORTB5);
	else if (op == 1)
		PORTB |= _BV(PORTB5);
	else if (op == 2)
		PORTB ^= _BV(PORTB5);
	return (PORTB >> PORTB5) & 1;
}

uint16_t hw_adc(uint8_t channel)
{
	ADMUX = (uint8_t)(_BV(REFS0) | (channel & 7));
	ADCSRA |= _BV(ADSC);
	while (ADCSRA & _BV(ADSC)) {
	}
	return ADC;
}

uint32_t hw_uptime(void)
{
	uint32_t s;
	ATOMIC_BLOCK(ATOMIC_RESTORESTATE) {
		s = seconds;
	}
	return s;
}
