/*
 * icmp.c - ICMP echo (RFC 792): the only ICMP message the device answers.
 */
#include "net.h"

uint16_t icmp_input(uint8_t *p, uint16_t n)
{
	if (n < 8 || net_sum(0, p, n) != 0xFFFF || p[0] != 8 || p[1] != 0)
		return net_count(C_ICMP_DROP);
	p[0] = 0; /* echo reply; identifier, sequence and data echoed */
	net_put16(p + 2, 0);
	net_put16(p + 2, (uint16_t)~net_sum(0, p, n));
	net_count(C_ICMP_ECHO);
	return n;
}
