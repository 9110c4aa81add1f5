/*
 * udp.c - UDP (RFC 768) inside ESP: length and checksum checks, the task
 * port, the reply's header.
 */
#include "../config.h"
#include "../tasks.h"
#include "net.h"

uint16_t udp_input(uint8_t *ip, uint16_t off, uint16_t n, uint16_t room)
{
	uint8_t *u = ip + off;
	if (n < UDP_HDR_LEN || net_be16(u + 4) != n ||
	    (net_be16(u + 6) != 0 && net_udp_sum(ip, u, n) != 0xFFFF)) {
		NET_COUNT(C_UDP_BAD);
		return 0;
	}
	if (net_be16(u + 2) != CONFIG_TASK_PORT) {
		NET_COUNT(C_UDP_NOPORT);
		return 0;
	}
	uint16_t r = tasks_handle(u + UDP_HDR_LEN, (uint16_t)(n - UDP_HDR_LEN),
	                          (uint16_t)(room - UDP_HDR_LEN));
	if (!r)
		return 0;
	uint8_t sp0 = u[0], sp1 = u[1];
	u[0] = u[2];
	u[1] = u[3];
	u[2] = sp0;
	u[3] = sp1;
	n = (uint16_t)(UDP_HDR_LEN + r);
	net_put16(u + 4, n);
	net_put16(u + 6, 0);
	uint16_t s = (uint16_t)~net_udp_sum(ip, u, n);
	net_put16(u + 6, s ? s : 0xFFFF);
	return n;
}
