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

#include "config.h"

/* Counters, in the order of docs/tasks.md (task 2) + additions. */
enum {
	C_SLIP_RX = 0,     /* SLIP frames received */
	C_SLIP_DROP,       /* frames dropped: oversized, bad escape or noise */
	C_IP_RX,           /* IPv4 packets received for this device */
	C_IP_BAD,          /* IPv4 dropped: bad header (version, length, checksum) */
	C_IP_OPT_FRAG,     /* IPv4 dropped: options or fragments */
	C_IP_NOT_MINE,     /* IPv4 dropped: not for this device's address */
	C_NOT_ESP,         /* dropped: not ESP and not allowed in clear */
	C_ESP_SPI,         /* ESP dropped: unknown SPI */
	C_ESP_AUTH,        /* ESP dropped: authentication failed */
	C_ESP_REPLAY,      /* ESP dropped: replayed or too old */
	C_ESP_MALFORMED,   /* ESP dropped: malformed (length, padding, next header) */
	C_UDP_BAD,         /* UDP dropped: bad checksum or length */
	C_UDP_NOPORT,      /* UDP dropped: no service on the port */
	C_ICMP_ECHO,       /* ICMP echo requests answered */
	C_TASKS,           /* task requests served */
	C_SENT,            /* packets sent */
	C_ICMP_DROP,       /* ICMP dropped: bad checksum or not an echo request */
	C_NO_SEND,         /* not answered: no room, sequence exhausted, EEPROM */
	NET_NCOUNTERS
};

extern uint32_t net_counters[NET_NCOUNTERS];

/* net_count - count one event under counter c (one out-of-line copy of
 * the 32-bit increment); returns 0, so a drop is `return net_count(c);`. */
uint16_t net_count(uint8_t c);
#define NET_COUNT(c) ((void)net_count(c))

#define IP_HDR_LEN 20
#define UDP_HDR_LEN 8
#define IP_PROTO_ICMP 1
#define IP_PROTO_UDP 17
#define IP_PROTO_ESP 50
#define ESP_NH_DUMMY 59
#define UDP_PORT_ESP 4500

/*
 * SLIP (RFC 1055, net/slip.c). slip_buf is THE packet buffer: frames are
 * decoded into it, processed in place, and replies sent from it.
 * slip_rx takes one received byte and returns the length of the frame it
 * completes (> 0), or 0: more to come, an empty frame, or a frame dropped
 * (oversized or a bad escape; counted under C_SLIP_DROP and in the
 * management STATS). slip_send sends slip_buf[0..n) as one frame.
 */
extern uint8_t slip_buf[CONFIG_FRAME_MAX];
uint16_t slip_rx(uint8_t c);
void slip_send(uint16_t n);

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
 * Serves the task port and returns the reply datagram's length (ports
 * swapped, checksum set), or 0 (counted).
 */
uint16_t udp_input(uint8_t *ip, uint16_t off, uint16_t n, uint16_t room);

static inline uint16_t net_be16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}
/* Big-endian 32-bit access: out of line (one copy saves flash on AVR). */
uint32_t net_be32(const uint8_t *p);
void net_put32(uint8_t *p, uint32_t v);
static inline void net_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

#endif /* MS_NET_H */
