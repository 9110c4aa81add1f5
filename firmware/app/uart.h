/*
 * uart.h - USART0, interrupt-driven, fixed ring buffers (FW-DEVICE).
 *
 * 115200 baud 8N1 (U2X, UBRR0 = 16 at 16 MHz: 117647 baud, +2.1 %, the
 * usual Arduino setting). Receive: the RX interrupt puts bytes in a ring
 * of CONFIG_UART_RX_SIZE bytes; when the ring is full, further bytes are
 * dropped and counted (uart_rx_overruns). Transmit: uart_putc() queues into
 * a ring of CONFIG_UART_TX_SIZE bytes drained by the UDRE interrupt; it
 * waits while the ring is full. With CONFIG_UART_TX_SIZE 0 there is no
 * ring and no UDRE interrupt: uart_putc() waits for the data register.
 * No malloc.
 */
#ifndef MS_UART_H
#define MS_UART_H

#include <stdint.h>

#define UART_BAUD 115200UL

/* uart_init - configure USART0 and enable its interrupts (call sei()). */
void uart_init(void);

/* uart_getc - next received byte (0..255), or -1 if none is waiting. */
int uart_getc(void);

/* uart_putc - queue one byte for transmission (waits if the ring is full). */
void uart_putc(uint8_t c);

/* uart_flush - wait until every queued byte has left the shift register. */
void uart_flush(void);

/*
 * uart_idle - sleep (idle mode) until an interrupt if nothing was
 * received; returns at once otherwise.
 */
void uart_idle(void);

/* uart_rx_overruns - received bytes dropped because the ring was full. */
uint32_t uart_rx_overruns(void);

#endif /* MS_UART_H */
