/*
 * timer.h - cycle counting with Timer1 (FW-DEVICE).
 *
 * Timer1 runs at prescaler 1 (one count per CPU cycle); its overflow
 * interrupt extends it to 32 bits (2^32 cycles = 268 s at 16 MHz). The
 * measurement itself costs a fixed number of cycles, timer_overhead(),
 * calibrated by timing an empty interval; callers subtract it. Other
 * interrupts (UART) that fire inside an interval are counted too: the
 * management channel measures only while the host is silent.
 */
#ifndef MS_TIMER_H
#define MS_TIMER_H

#include <stdint.h>

/* timer_start - reset the counter to 0 and start counting CPU cycles. */
void timer_start(void);

/* timer_stop - stop counting; return the cycles since timer_start(). */
uint32_t timer_stop(void);

/*
 * timer_overhead - the cycles timer_start(); timer_stop(); count with
 * nothing in between (measured, not assumed).
 */
uint16_t timer_overhead(void);

/* timer_quiet - let the link's transmit ring drain (the application's
 * link_flush, ms_app.h: no transmit interrupt inside a measurement), then
 * return timer_overhead(). */
uint16_t timer_quiet(void);

/* timer_net - cycles t of an interval less the overhead ovh (0 if t is
 * smaller). */
uint32_t timer_net(uint32_t t, uint16_t ovh);

#endif /* MS_TIMER_H */
