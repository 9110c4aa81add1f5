/*
 * udp.c - UDP (RFC 768) inside ESP: length and checksum checks, the task
 * port, the reply's header.
 */
#include "config.h"
#include "tasks.h"
#include "mssl.h"
#include "net.h"

uint16_t udp_input(uint8_t *ip, uint16_t off, uint16_t n, uint16_t room)
{
	uint8_t *u = ip + off;
	if (n < UDP_HDR_LEN || net_be16(u + 4) != n ||
	    (net_be16(u + 6) != 0 && net_udp_sum(ip, u, n) != 0xFFFF))
		return net_count(C_UDP_BAD);
	uint16_t r;
#if CONFIG_MSSL
	if (net_be16(u + 2) == CONFIG_MSSL_PORT) /* MSSL (FW-MSSL) */
		r = mssl_input(u + UDP_HDR_LEN, (uint16_t)(n - UDP_HDR_LEN),
		               (uint16_t)(room - UDP_HDR_LEN), ip + 12, net_be16(u));
	else
#endif
	if (net_be16(u + 2) != CONFIG_TASK_PORT)
		return net_count(C_UDP_NOPORT);
	else
		r = tasks_handle(u + UDP_HDR_LEN, (uint16_t)(n - UDP_HDR_LEN),
		                 (uint16_t)(room - UDP_HDR_LEN));
	if (!r)
		return 0;
	for (uint8_t i = 0; i < 2; i++) { /* swap the ports */
		uint8_t t = u[i];
		u[i] = u[i + 2];
		u[i + 2] = t;
	}
	n = (uint16_t)(UDP_HDR_LEN + r);
	net_put16(u + 4, n);
	net_put16(u + 6, 0);
	uint16_t s = (uint16_t)~net_udp_sum(ip, u, n);
	net_put16(u + 6, s ? s : 0xFFFF);
	return n;
}
