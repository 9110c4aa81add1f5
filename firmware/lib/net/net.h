/*
 * net.h - the device's IPv4 stack: IPv4, ICMP echo, UDP (RFC 791, 792,
 * 768, 1071) on ONE buffer processed in place, plus its drop counters.
 * Contract and counters: docs/firmware-net.md, docs/tasks.md.
 *
 * net_input() takes one IPv4 datagram (a decoded SLIP frame) in buf and
 * either builds the reply over it and returns its length, or returns 0
 * (nothing to send; the reason is counted in net_counters). It never
 * reads past len and never writes past cap. Every check a packet can
 * fail is counted exactly once; a dropped packet changes no other state
 * (replay window, sequence numbers, EEPROM).
 *
 * Accepted: version 4, IHL 5, total length == len, header checksum, no
 * fragment, destination == the provisioned address. Then ESP (protocol
 * 50, or UDP/4500 when the inbound SA has UDP encapsulation) through
 * esp.c, or a clear ICMP echo request when the config allows it.
 */
#ifndef MS_NET_H
#define MS_NET_H

#include <stdint.h>

#include "ms_base.h"

#define IP_HDR_LEN 20
#define UDP_HDR_LEN 8
#define IP_PROTO_ICMP 1
#define IP_PROTO_UDP 17
#define IP_PROTO_ESP 50
#define ESP_NH_DUMMY 59
#define UDP_PORT_ESP 4500

/*
 * SLIP (RFC 1055, net/slip.c). struct slip_rx decodes received bytes into
 * the caller's buffer (buf, cap bytes); slip_rx takes one received byte
 * and returns the length of the frame it completes (> 0, in buf), or 0:
 * more to come, an empty frame, or a frame dropped (longer than cap, or a
 * bad escape; counted under C_SLIP_DROP and in the management STATS).
 * slip_send sends p[0..n) as one frame through out.
 */
struct slip_rx {
	uint8_t *buf;
	uint16_t cap;
	uint16_t len;
	uint8_t state;
};
uint16_t slip_rx(struct slip_rx *s, uint8_t c);
void slip_send(void (*out)(uint8_t), const uint8_t *p, uint16_t n);

/* net_input - see above. buf holds len bytes; cap is its capacity. */
uint16_t net_input(uint8_t *buf, uint16_t len, uint16_t cap);

/*
 * net_sum - add n bytes at p, as big-endian 16-bit words (a last odd byte
 * is the high half of a word), to the ones' complement sum sum; returns
 * the folded sum (not complemented). A correct checksum sums to 0xFFFF.
 */
uint16_t net_sum(uint16_t sum, const uint8_t *p, uint16_t n);

/* net_udp_sum - the folded UDP pseudo-header + datagram sum for the IPv4
 * header at ip and the n-byte datagram at udp. */
uint16_t net_udp_sum(const uint8_t *ip, const uint8_t *udp, uint16_t n);

/*
 * icmp_input - an ICMP message of n bytes at p (ICMP header first):
 * an echo request with a right checksum becomes an echo reply in place
 * (returns n); anything else is counted and dropped (returns 0).
 */
uint16_t icmp_input(uint8_t *p, uint16_t n);

/*
 * udp_input - a UDP datagram of n bytes at ip + off, under the IPv4 header
 * at ip (for the pseudo-header); room bytes are writable from ip + off.
 * Hands it to the application's service on its port (ms_app.h; via_esp
 * 0: it came in clear, and only MSSL is served in clear) and returns the
 * reply datagram's length (ports swapped, checksum set), or 0 (counted).
 */
uint16_t udp_input(uint8_t *ip, uint16_t off, uint16_t n, uint16_t room,
                   uint8_t via_esp);

#endif /* MS_NET_H */
