/*
 * sum.c - the Internet checksum (RFC 1071) for IPv4, ICMP and UDP
 * (net.h: net_sum, net_udp_sum); a module of its own so that the
 * protocols above IPv4 need nothing from ipv4.c.
 */
#include "net.h"

/* Ones' complement addition: the carry out of bit 15 comes back in. */
static uint16_t add16(uint16_t sum, uint16_t w)
{
	sum = (uint16_t)(sum + w);
	return (uint16_t)(sum + (sum < w));
}

/* Byte by byte: high and low halves of a word are separate addends,
 * which gives the same ones' complement sum as whole words. */
uint16_t net_sum(uint16_t sum, const uint8_t *p, uint16_t n)
{
	uint8_t hi = 1;
	while (n--) {
		uint16_t w = *p++;
		if (hi)
			w = (uint16_t)(w << 8);
		hi ^= 1;
		sum = add16(sum, w);
	}
	return sum;
}

uint16_t net_udp_sum(const uint8_t *ip, const uint8_t *udp, uint16_t n)
{
	/* pseudo-header: source, destination, then the words 0x0011
	 * (protocol) and n (UDP length), whose sum n + 17 cannot carry */
	return net_sum(net_sum((uint16_t)(n + IP_PROTO_UDP), ip + 12, 8), udp, n);
}
