/*
 * udp.c - UDP (RFC 768) inside ESP: length and checksum checks, the
 * services the application listed (ms_app.h, struct ms_port), the reply's
 * header.
 */
#include "config.h"
#include "ms_app.h"
#include "net.h"

uint16_t udp_input(uint8_t *ip, uint16_t off, uint16_t n, uint16_t room,
                   uint8_t via_esp)
{
	uint8_t *u = ip + off;
	/* The datagram is what its own length says: bytes after it are TFC
	 * padding (RFC 4303 §2.4: a sender may add it where the payload
	 * states its length, as UDP's does). */
	uint16_t ulen = net_be16(u + 4);
	if (ulen < UDP_HDR_LEN || ulen > n ||
	    (net_be16(u + 6) != 0 && net_udp_sum(ip, u, ulen) != 0xFFFF))
		return net_count(C_UDP_BAD);
	n = ulen;
	uint16_t port = net_be16(u + 2), r;
	const struct ms_port *e = MS_APP(ports);
	for (uint8_t i = MS_PGM_U8(&ms_app->nports);; e++) {
		if (!i--)
			return net_count(C_UDP_NOPORT);
		if (MS_PGM_READ(&e->port) == port)
			break;
	}
#if CONFIG_MSSL || CONFIG_BOOTSTRAP
	/* In clear (ipv4.c admits only CONFIG_MSSL_PORT and
	 * CONFIG_BOOTSTRAP_PORT) only a service that protects itself, MSSL
	 * or bootstrapping; whatever else the application listed on that
	 * port is never reached without ESP. (Without either, ipv4.c
	 * admits no UDP in clear: via_esp is always 1.) */
	if (!via_esp && !MS_PGM_U8(&e->clear))
		return net_count(C_NOT_ESP);
#else
	(void)via_esp;
#endif
	ms_port_fn input = MS_PGM_READ(&e->input);
	r = input(u + UDP_HDR_LEN, (uint16_t)(n - UDP_HDR_LEN),
	          (uint16_t)(room - UDP_HDR_LEN), ip + 12, net_be16(u));
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
