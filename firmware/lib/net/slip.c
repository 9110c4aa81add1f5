/*
 * slip.c - SLIP (RFC 1055) framing on the UART: the receive state machine
 * that decodes frames into the one packet buffer, and the encoder that
 * sends a reply from it (see net.h).
 */
#include "config.h"
#include "mgmt.h"
#include "uart.h"
#include "net.h"

/* RFC 1055 special bytes. */
#define SLIP_END 0xC0
#define SLIP_ESC 0xDB
#define SLIP_ESC_END 0xDC
#define SLIP_ESC_ESC 0xDD

/* Receive states. */
#define RX_DATA 0
#define RX_ESC 1      /* after ESC */
#define RX_DROP_BIG 2 /* frame longer than the buffer: skip to END */
#define RX_DROP_ESC 3 /* bad escape: skip to END */

uint8_t slip_buf[CONFIG_FRAME_MAX];
static uint16_t rx_len;
static uint8_t rx_state;

static __attribute__((noinline)) void dropped(uint32_t *stat)
{
	(*stat)++;
	net_count(C_SLIP_DROP);
}

uint16_t slip_rx(uint8_t c)
{
	uint8_t st = rx_state;
	if (c == SLIP_END) {
		uint16_t n = rx_len;
		rx_len = 0;
		rx_state = RX_DATA;
		if (st == RX_DROP_BIG)
			dropped(&mgmt_stats.drop_oversize);
		else if (st != RX_DATA) /* bad escape, or END right after ESC */
			dropped(&mgmt_stats.drop_escape);
		else
			return n;
		return 0;
	}
	if (st >= RX_DROP_BIG)
		return 0;
	if (st == RX_ESC) {
		st = RX_DROP_ESC;
		if (c == SLIP_ESC_END)
			c = SLIP_END;
		else if (c == SLIP_ESC_ESC)
			c = SLIP_ESC;
		else
			goto out;
		st = RX_DATA;
	} else if (c == SLIP_ESC) {
		st = RX_ESC;
		goto out;
	}
	if (rx_len >= CONFIG_FRAME_MAX)
		st = RX_DROP_BIG;
	else
		slip_buf[rx_len++] = c;
out:
	rx_state = st;
	return 0;
}

void slip_send(uint16_t n)
{
	const uint8_t *p = slip_buf;
	uart_putc(SLIP_END);
	while (n--) {
		uint8_t c = *p++;
		if (c == SLIP_END || c == SLIP_ESC) {
			uart_putc(SLIP_ESC);
			c = c == SLIP_END ? SLIP_ESC_END : SLIP_ESC_ESC;
		}
		uart_putc(c);
	}
	uart_putc(SLIP_END);
}
