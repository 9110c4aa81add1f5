/*
 * mgmt.h - the management channel. Wire format: docs/management.md.
 *
 * A management frame is one SLIP frame (RFC 1055) on the UART whose first
 * byte is MGMT_MAGIC (0x00); SLIP frames starting with 0x45..0x4F are IPv4
 * datagrams and never reach this module. Decoded layout:
 *
 *   off  size  field
 *   0    1     magic   0x00
 *   1    1     type    request: command (0x01..0x7E); reply: command|0x80;
 *                      error reply: MGMT_ERROR (0xFF)
 *   2    1     seq     chosen by the host, echoed in the reply
 *   3    2     len     payload length, big-endian; must equal frame - 7
 *   5    len   payload
 *   5+len 2    crc     CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no
 *                      reflection, no final xor) of bytes 0..5+len-1, BE
 *
 * Frames that fail any check are dropped and counted; nothing is answered,
 * so line noise never produces traffic. Well-formed requests with a bad
 * command or bad arguments get an error reply.
 */
#ifndef MS_MGMT_H
#define MS_MGMT_H

#include <stddef.h>
#include <stdint.h>

#include "mgmt_proto.h"

/*
 * Work caps: what one management frame may make the device do, so that
 * no frame (none is authenticated) keeps it from ESP, MSSL and the
 * management channel for more than about a second (docs/management.md,
 * "Work caps"; the watchdog, main.c, resets a device stuck for longer).
 * MGMT_HASH_MAX: bytes one COMPUTE hash may take (msg x repeat) and one
 * BENCH run of a hash or HMAC (n): 16384, about 0.5 s of SHA-256 at
 * 16 MHz. MGMT_BENCH_BUDGET: BENCH starts no further run once its runs
 * have taken this many measured cycles (half a second); it reports how
 * many it made.
 */
#define MGMT_HASH_MAX 16384
#define MGMT_BENCH_BUDGET (F_CPU / 2)

/* Primitive ids for BENCH and COMPUTE. */
#define PRIM_AES_KEYEXP 0x01
#define PRIM_AES_ENC 0x02
#define PRIM_AES_DEC 0x03
#define PRIM_CBC_ENC 0x04
#define PRIM_CBC_DEC 0x05
#define PRIM_CTR 0x06
#define PRIM_CCM_SEAL 0x07
#define PRIM_CCM_OPEN 0x08
#define PRIM_MD5 0x09
#define PRIM_SHA256 0x0A
#define PRIM_HMAC_MD5 0x0B
#define PRIM_HMAC_SHA256 0x0C
#define PRIM_MAX 0x0C

/* The counters STATS reports (reset at boot) are net_counters'
 * C_MGMT_* (ms_base.h), counted with net_count like the others. */

/* The last IPv4 packet (STATUS): Timer1 cycles from its frame to its
 * reply queued, its length, and whether it was dropped. Set by main.c. */
struct mgmt_last {
	uint32_t cycles;
	uint16_t len;
	uint8_t dropped;
};
extern struct mgmt_last mgmt_last;

/* Set by main() from MCUSR at boot, reported by STATS. */
extern uint8_t mgmt_reset_cause;

/*
 * mgmt_handle - process one management frame of len bytes in buf (of
 * capacity cap; buf[0] is MGMT_MAGIC, which is how the caller, ms_frame,
 * told it from IPv4) and build the reply in place. Returns the reply length to
 * send, or 0 to send nothing (the frame was dropped and counted).
 */
size_t mgmt_handle(uint8_t *buf, size_t len, size_t cap);

#endif /* MS_MGMT_H */
