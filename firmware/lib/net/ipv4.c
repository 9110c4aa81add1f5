/*
 * ipv4.c - IPv4 input and output on one buffer (see net.h): header checks,
 * the dispatch to ESP / clear ICMP, and the reply's header.
 */
#include <string.h>

#include "esp.h"
#include "store.h"
#include "net.h"


#define drop net_count

uint16_t net_input(uint8_t *b, uint16_t len, uint16_t cap)
{
	/* sport: the reply's UDP destination port when the outbound SA
	 * encapsulates (RFC 3948): the sender's, else 4500 */
	uint16_t off = IP_HDR_LEN, pt, ptl, rlen, room, dst = 0, sport = UDP_PORT_ESP;
	uint8_t proto, nh, via_esp = 0, eoff = 0;
	const struct store_sa *out = &store_cfg.sa[1];

	/* RFC 791 header checks: version 4, IHL 5 (0x45..0x4F: version 4,
	 * an IHL of 5 words or more), length, checksum. */
	uint8_t v = b[0];
	if (len < IP_HDR_LEN || v < 0x45 || v > 0x4F)
		return drop(C_IP_BAD);
	if (v != 0x45)
		return drop(C_IP_OPT_FRAG); /* options are not processed */
	if (net_be16(b + 2) != len || net_sum(0, b, IP_HDR_LEN) != 0xFFFF)
		return drop(C_IP_BAD);
	if ((b[6] & 0x3F) | b[7])
		return drop(C_IP_OPT_FRAG); /* MF set or fragment offset != 0 */
	if (!store_provisioned())
		return drop(C_NOT_ESP); /* no address, no keys: nothing is ours */
	if (memcmp(b + 16, store_cfg.addr, 4) != 0)
		return drop(C_IP_NOT_MINE);
	net_count(C_IP_RX);

	proto = b[9];
	if (store_cfg.sa_count == 2) {
		if (proto == IP_PROTO_UDP && (store_cfg.sa[0].flags & SA_UDP_ENCAP) &&
		    len >= IP_HDR_LEN + UDP_HDR_LEN && net_be16(b + 22) == UDP_PORT_ESP) {
			/* ESP-in-UDP (RFC 3948): checksum not checked (sent as 0). */
			if (net_be16(b + 24) != len - IP_HDR_LEN)
				return drop(C_UDP_BAD);
			/* keepalive (1 byte 0xFF) or non-ESP marker (SPI 0): not ESP */
			if (len < IP_HDR_LEN + UDP_HDR_LEN + ESP_HDR_LEN ||
			    net_be32(b + IP_HDR_LEN + UDP_HDR_LEN) == 0)
				return drop(C_NOT_ESP);
			sport = net_be16(b + 20);
			off = IP_HDR_LEN + UDP_HDR_LEN;
			proto = IP_PROTO_ESP;
		}
		if (proto == IP_PROTO_ESP) {
			const uint8_t *peer = store_cfg.peer;
			if ((peer[0] | peer[1] | peer[2] | peer[3]) && memcmp(b + 12, peer, 4) != 0)
				return drop(C_ESP_SPI); /* no SA with this source */
			if (esp_open(b, off, len, &pt, &ptl, &nh))
				return 0; /* counted by esp_open */
			if (nh == ESP_NH_DUMMY)
				return 0; /* RFC 4303 2.6: authenticated, discarded */
			via_esp = 1;
			goto open;
		}
	}
	/* In clear: */
	pt = IP_HDR_LEN;
	ptl = (uint16_t)(len - IP_HDR_LEN);
	nh = proto;
#if CONFIG_MSSL || CONFIG_BOOTSTRAP
	if (proto == IP_PROTO_UDP && len >= IP_HDR_LEN + UDP_HDR_LEN &&
	    ((CONFIG_MSSL && net_be16(b + 22) == CONFIG_MSSL_PORT) ||
	     (CONFIG_BOOTSTRAP && net_be16(b + 22) == CONFIG_BOOTSTRAP_PORT)))
		goto open; /* MSSL (docs/mssl.md) and bootstrapping's flight 4
		            * (docs/bootstrap.md): they protect themselves */
#endif
	if (proto != IP_PROTO_ICMP || !(store_cfg.flags & CFG_CLEAR_ICMP))
		return drop(C_NOT_ESP);

open:
	room = (uint16_t)(cap - pt);
	if (via_esp) {
		/* A service's reply is built at pt, then moved to dst, where
		 * the outbound SA's headers end, and sealed with the outbound
		 * suite's padding, trailer and ICV after it: the service gets
		 * the room both leave (ms_app.h: what fits is answered). Never
		 * below 0: dst <= 52 and the overhead <= 33, while cap >=
		 * CONFIG_FRAME_MAX >= 137 (ms_frame, config.h). */
		eoff = (out->flags & SA_UDP_ENCAP) ? IP_HDR_LEN + UDP_HDR_LEN : IP_HDR_LEN;
		dst = (uint16_t)(eoff + ESP_HDR_LEN + esp_iv_len(out->suite));
		room = (uint16_t)(cap - (dst > pt ? dst : pt) - esp_overhead_max(out->suite));
	}
	if (nh == IP_PROTO_ICMP)
		rlen = icmp_input(b + pt, ptl);
	else /* nh == IP_PROTO_UDP: esp_open admits nothing else */
		rlen = udp_input(b, pt, ptl, room, via_esp);
	if (!rlen)
		return 0;

	/* The reply: back to the sender. */
	for (uint8_t i = 12; i < 16; i++) {
		uint8_t t = b[i];
		b[i] = b[i + 4];
		b[i + 4] = t;
	}
	proto = nh; /* ICMP, or UDP (clear MSSL); ESP below */
	len = (uint16_t)(IP_HDR_LEN + rlen);
	if (via_esp) {
		if (dst + rlen + esp_overhead_max(out->suite) > cap)
			return drop(C_NO_SEND);
		memmove(b + dst, b + pt, rlen);
		len = esp_seal(b, eoff, rlen, nh);
		if (!len)
			return 0; /* counted */
		proto = IP_PROTO_ESP;
		if (eoff != IP_HDR_LEN) {
			uint8_t *u = b + IP_HDR_LEN;
			len = (uint16_t)(len + UDP_HDR_LEN);
			net_put16(u, UDP_PORT_ESP);
			net_put16(u + 2, sport);
			net_put16(u + 4, len);
			net_put16(u + 6, 0); /* RFC 3948 2.1 */
			proto = IP_PROTO_UDP;
		}
		len = (uint16_t)(len + IP_HDR_LEN);
	}
	/* version 4, IHL 5, TOS 0, ID 0 (atomic datagram, RFC 6864), DF,
	 * TTL 64, checksum over the header */
	memset(b, 0, 12);
	b[0] = 0x45;
	net_put16(b + 2, len);
	b[6] = 0x40;
	b[8] = 64;
	b[9] = proto;
	net_put16(b + 10, (uint16_t)~net_sum(0, b, IP_HDR_LEN));
	net_count(C_SENT);
	return len;
}
