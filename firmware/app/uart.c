/*
 * uart.c - USART0 driver (see uart.h).
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <util/atomic.h>

#include "config.h"
#include "uart.h"

#if (CONFIG_UART_RX_SIZE & (CONFIG_UART_RX_SIZE - 1)) || CONFIG_UART_RX_SIZE > 256
#error "CONFIG_UART_RX_SIZE must be a power of two <= 256"
#endif
#if (CONFIG_UART_TX_SIZE & (CONFIG_UART_TX_SIZE - 1)) || CONFIG_UART_TX_SIZE > 256
#error "CONFIG_UART_TX_SIZE must be 0 or a power of two <= 256"
#endif

_Static_assert(DOR0 != 0, "bit 0 of the ISR's lost mask is the ring's");

#define RX_MASK ((uint8_t)(CONFIG_UART_RX_SIZE - 1))
#define TX_MASK ((uint8_t)(CONFIG_UART_TX_SIZE - 1))

static uint8_t rx_buf[CONFIG_UART_RX_SIZE];
static volatile uint8_t rx_head, rx_tail; /* head: ISR writes; tail: main */
static volatile uint32_t rx_overruns;

#if CONFIG_UART_TX_SIZE
static uint8_t tx_buf[CONFIG_UART_TX_SIZE];
static volatile uint8_t tx_head, tx_tail; /* head: main writes; tail: ISR */
#endif

ISR(USART_RX_vect)
{
	uint8_t status = UCSR0A;
	uint8_t c = UDR0; /* always read, to clear RXC */
	uint8_t head = rx_head, next = (uint8_t)((head + 1) & RX_MASK);
	/* the hardware lost a byte before this one; the ring loses this one
	 * (counted one increment at a time, from one site: adding a count
	 * to the 32-bit counter took five more registers, pushed on every
	 * byte's interrupt, on top of the deepest stack; tools/stackcheck.py) */
	uint8_t lost = status & _BV(DOR0);
	if (next == rx_tail) {
		lost |= 1; /* DOR0 is bit 3 (below): bit 0 stands for the ring */
	} else {
		rx_buf[head] = c;
		rx_head = next;
	}
	while (lost) {
		rx_overruns++;
		lost &= (uint8_t)(lost - 1);
	}
}

#if CONFIG_UART_TX_SIZE
ISR(USART_UDRE_vect)
{
	if (tx_head == tx_tail) {
		UCSR0B &= (uint8_t)~_BV(UDRIE0);
		return;
	}
	UDR0 = tx_buf[tx_tail];
	tx_tail = (uint8_t)((tx_tail + 1) & TX_MASK);
}
#endif

void uart_init(void)
{
	const uint16_t ubrr = (uint16_t)((F_CPU + UART_BAUD * 4) / (UART_BAUD * 8) - 1);
	UBRR0 = ubrr;
	UCSR0A = _BV(U2X0);
	UCSR0C = _BV(UCSZ01) | _BV(UCSZ00); /* 8N1 */
	UCSR0B = _BV(RXEN0) | _BV(TXEN0) | _BV(RXCIE0);
}

int uart_getc(void)
{
	if (rx_head == rx_tail)
		return -1;
	uint8_t c = rx_buf[rx_tail];
	rx_tail = (uint8_t)((rx_tail + 1) & RX_MASK);
	return c;
}

#if CONFIG_UART_TX_SIZE
void uart_putc(uint8_t c)
{
	uint8_t next = (uint8_t)((tx_head + 1) & TX_MASK);
	while (next == tx_tail) {
		/* ring full: the UDRE interrupt makes room */
	}
	tx_buf[tx_head] = c;
	tx_head = next;
	ATOMIC_BLOCK(ATOMIC_RESTORESTATE) {
		UCSR0B |= _BV(UDRIE0);
	}
}

void uart_flush(void)
{
	while (tx_head != tx_tail) {
	}
	/* TXC0 is meaningful only after a byte was sent; wait for the last. */
	while ((UCSR0B & _BV(UDRIE0)) || !(UCSR0A & _BV(UDRE0))) {
	}
}
#else
/* No ring: each byte waits for the data register. The main loop waited
 * for room byte by byte with a ring too, so only the last few bytes of a
 * reply no longer drain while it goes back to reading. */
void uart_putc(uint8_t c)
{
	while (!(UCSR0A & _BV(UDRE0))) {
	}
	UDR0 = c;
}

void uart_flush(void)
{
	while (!(UCSR0A & _BV(UDRE0))) {
	}
}
#endif

void uart_idle(void)
{
	set_sleep_mode(SLEEP_MODE_IDLE);
	cli();
	if (rx_head == rx_tail) {
		sleep_enable();
		sei(); /* the instruction after sei runs before any interrupt: */
		sleep_cpu(); /* no lost wake-up between the test and the sleep */
		sleep_disable();
	}
	sei();
}

uint32_t uart_rx_overruns(void)
{
	uint32_t n;
	ATOMIC_BLOCK(ATOMIC_RESTORESTATE) {
		n = rx_overruns;
	}
	return n;
}
