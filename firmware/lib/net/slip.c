/*
 * slip.c - SLIP (RFC 1055) framing: the receive state machine that
 * decodes frames into the caller's buffer, and the encoder that sends a
 * reply through the application's link output (see net.h).
 */
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


static __attribute__((noinline)) void dropped(uint8_t stat)
{
	NET_COUNT(stat);
	NET_COUNT(C_SLIP_DROP);
}

uint16_t slip_rx(struct slip_rx *s, uint8_t c)
{
	uint8_t st = s->state;
	if (c == SLIP_END) {
		uint16_t n = s->len;
		s->len = 0;
		s->state = RX_DATA;
		if (st == RX_DROP_BIG)
			dropped(C_MGMT_DROP_OVERSIZE);
		else if (st != RX_DATA) /* bad escape, or END right after ESC */
			dropped(C_MGMT_DROP_ESCAPE);
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
	if (s->len >= s->cap)
		st = RX_DROP_BIG;
	else
		s->buf[s->len++] = c;
out:
	s->state = st;
	return 0;
}

void slip_send(void (*out)(uint8_t), const uint8_t *p, uint16_t n)
{
	out(SLIP_END);
	while (n--) {
		uint8_t c = *p++;
		if (c == SLIP_END || c == SLIP_ESC) {
			out(SLIP_ESC);
			c = c == SLIP_END ? SLIP_ESC_END : SLIP_ESC_ESC;
		}
		out(c);
	}
	out(SLIP_END);
}
