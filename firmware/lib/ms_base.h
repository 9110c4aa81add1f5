/*
 * ms_base.h - the library's leaf: big-endian byte helpers and the packet
 * counters. Every module may include it; it includes nothing of the
 * library but config.h, so no dependency points up from here.
 *
 * The counters are the device's only global diagnostics: one 32-bit
 * counter per event, in the order of docs/tasks.md (task 2, counters),
 * reset at boot. A drop is counted exactly once, where it is decided.
 */
#ifndef MS_BASE_H
#define MS_BASE_H

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
	NET_NCOUNTERS,
	/* The management channel's (STATS, docs/management.md), in reply
	 * order: in the same array so that one increment counts them all. */
	C_MGMT_FRAMES_OK = NET_NCOUNTERS, /* management frames accepted */
	C_MGMT_DROP_CRC,      /* management frames with a bad CRC */
	C_MGMT_DROP_LEN,      /* too short, or len field != frame length */
	C_MGMT_DROP_OVERSIZE, /* SLIP frames longer than the buffer */
	C_MGMT_DROP_ESCAPE,   /* SLIP frames with a bad escape sequence */
	C_MGMT_DROP_OTHER,    /* neither management nor IPv4 */
	C_MGMT_IPV4,          /* IPv4 frames handed to the IP stack */
	C_MGMT_ERRORS,        /* error replies sent */
	MS_NCOUNTERS
};

/* net_counters[0..NET_NCOUNTERS): the packet counters (task 2, STATUS);
 * then the management channel's (STATS). 16 bits that stop at 65,535
 * with CONFIG_COUNTER16 (config.h), 32 otherwise; reported as 32 bits
 * either way (net_put_counters). */
#if CONFIG_COUNTER16
typedef uint16_t ms_counter;
#else
typedef uint32_t ms_counter;
#endif
extern ms_counter net_counters[MS_NCOUNTERS];

/* net_count - count one event under counter c (one out-of-line copy of
 * the increment; with CONFIG_COUNTER16 it stops at 65,535); returns 0,
 * so a drop is `return net_count(c);`. */
uint16_t net_count(uint8_t c);
#define NET_COUNT(c) ((void)net_count(c))

static inline uint16_t net_be16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}
static inline void net_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
/* ms_inc32 - ++*p: one out-of-line copy of the 32-bit increment for every
 * counter (on AVR an inline one costs about 40 bytes a site). */
void ms_inc32(uint32_t *p);

/* Big-endian 32-bit access: out of line (one copy saves flash on AVR). */
uint32_t net_be32(const uint8_t *p);
void net_put32(uint8_t *p, uint32_t v);
/* net_put32s - the n values at v, big-endian, one after the other at p. */
void net_put32s(uint8_t *p, const uint32_t *v, uint8_t n);

/* net_put_counters - counters first .. first + n - 1 at p, each as a
 * 32-bit big-endian value. */
#if CONFIG_COUNTER16
void net_put_counters(uint8_t *p, uint8_t first, uint8_t n);
#else
static inline void net_put_counters(uint8_t *p, uint8_t first, uint8_t n)
{
	net_put32s(p, &net_counters[first], n);
}
#endif

/* ms_raise32 - *f = max(*f, the big-endian value at p); returns 1 if *f
 * rose (the floors of MSSL and provisioning). */
uint8_t ms_raise32(uint32_t *f, const uint8_t *p);

#endif /* MS_BASE_H */
