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

/* Receive states: the odd ones skip to the next END; a frame ended in
 * state st > RX_DATA is counted under C_MGMT_DROP_OVERSIZE + (st >> 1). */
#define RX_DATA 0
#define RX_DROP_BIG 1 /* frame longer than the buffer: skip to END */
#define RX_ESC 2      /* after ESC */
#define RX_DROP_ESC 3 /* bad escape: skip to END */
_Static_assert(C_MGMT_DROP_ESCAPE == C_MGMT_DROP_OVERSIZE + 1, "slip.c counters");

uint16_t slip_rx(struct slip_rx *s, uint8_t c)
{
	uint8_t st = s->state;
	if (c == SLIP_END) {
		uint16_t n = s->len;
		s->len = 0;
		s->state = RX_DATA;
		if (st == RX_DATA)
			return n;
		/* too long; a bad escape, or END right after ESC */
		NET_COUNT(C_MGMT_DROP_OVERSIZE + (st >> 1));
		return net_count(C_SLIP_DROP);
	}
	if (st & 1)
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
