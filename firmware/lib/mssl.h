/*
 * mssl.h - MSSL on the device (OWNER: FW-MSSL): the grant-based handshake,
 * AES-128-CCM-8 records and task authorisation of docs/mssl.md, exactly as
 * the Go reference server pkg/mssl/server.go behaves (same checks in the
 * same order, same alerts, same bytes; vectors/mssl.txt).
 *
 * Transport: UDP port CONFIG_MSSL_PORT (7412) in clear on the IPv4 stack
 * (net/ipv4.c admits it, net/udp.c dispatches here); one message per
 * datagram, processed in place in the frame buffer, the answer (if any)
 * written over it. Lock-step: one message in, at most one out.
 *
 * State (RAM, docs/PERFORMANCE.md "Device: MSSL"): only what must
 * survive between messages: one session (peer, PRK, sequence numbers,
 * the grant's tasks, serial and not_after, a floor statement's hash and
 * floors while it waits for its signature), one pending handshake (peer,
 * PRK, Kh, the grant body's SHA-256, seal tag and the fields the session
 * takes over), CONFIG_MSSL_CACHE verified grants (SHA-256 of the body and
 * host key), the issuer key id and nonce key; all lost at reset. Seal-only
 * (CONFIG_MSSL_RSA=0) keeps no Kh, hashes, cache or key id: the PRK is
 * derived from Kh as the ClientHello arrives. The
 * management RSA bench borrows the RAM for its key only while MSSL holds
 * no session, handshake, floor statement or cached grant (mssl_lend).
 * Persistent: the nonce counter (store_nonce_take, the reservation
 * rule), the serial and time floors (store_st, written with
 * store_commit). The record keys and salts are derived from the PRK for
 * each record in the shared work area fw_work (esp.h) and wiped; RSA
 * runs on fw_work too, with the issuer modulus copied from the EEPROM
 * into the verifying frame, and no hash on the stack under it.
 *
 * A message that fails a check changes nothing but the documented alert
 * (and, per the protocol, ends a pending handshake where docs/mssl.md says
 * so). RSA runs only for GrantSignature after an authenticated Finished,
 * and for a FloorSignature inside a session.
 *
 * One deviation from the reference server, forced by the single frame
 * buffer: when a floor statement revokes (or expires) the session's own
 * grant, the server sends two messages (the Floor record, then the alert
 * record revoked/expired); the device sends the Floor record only and
 * ends the session. The client decides the same from the floors it gets
 * (pkg/mssl Session.RaiseFloor) and never waits for the second message.
 */
#ifndef MS_MSSL_H
#define MS_MSSL_H

#include <stdint.h>

#include "config.h"

#if CONFIG_MSSL

/* Message types and sizes (pkg/mssl/wire.go). */
#define MSSL_CLIENT_HELLO 0x01
#define MSSL_SERVER_HELLO 0x02
#define MSSL_GRANT_SIG 0x03
#define MSSL_SIG_REQUEST 0x04
#define MSSL_ALERT 0x05
#define MSSL_FLOOR_SIG 0x06
#define MSSL_REC_FINISHED 0x14
#define MSSL_REC_ALERT 0x15
#define MSSL_REC_DATA 0x17
#define MSSL_REC_FLOOR 0x18

#define MSSL_CLIENT_HELLO_LEN 97
#define MSSL_SERVER_HELLO_LEN 19
#define MSSL_REC_OVERHEAD 13 /* type, seq (4), tag (8) */
#define MSSL_BODY 79         /* grant body */
#define MSSL_FLOOR_BODY 28   /* floor statement body */

/* Alert codes (pkg/mssl/alert.go). */
#define MSSL_A_CLOSE_NOTIFY 0
#define MSSL_A_UNEXPECTED 1
#define MSSL_A_BAD_RECORD_MAC 2
#define MSSL_A_REPLAY 3
#define MSSL_A_OVERFLOW 4
#define MSSL_A_DECODE 5
#define MSSL_A_VERSION 6
#define MSSL_A_BAD_GRANT 7
#define MSSL_A_UNKNOWN_ISSUER 8
#define MSSL_A_BAD_SIGNATURE 9
#define MSSL_A_WRONG_DEVICE 10
#define MSSL_A_WRONG_HOST 11
#define MSSL_A_REVOKED 12
#define MSSL_A_EXPIRED 13
#define MSSL_A_INTERNAL 14

/*
 * mssl_input - one MSSL message m[0..n) from the host at ip (4 bytes,
 * network order) and UDP port. room bytes are writable at m. Returns the
 * length of the answer written at m, or 0 (no answer: a cleartext alert
 * from the host, an empty message, a non-close alert record; or the
 * device has no issuer key, counted as C_UDP_NOPORT).
 */
uint16_t mssl_input(uint8_t *m, uint16_t n, uint16_t room,
                    const uint8_t ip[4], uint16_t port);

/*
 * mssl_reset - forget every session, pending handshake and cached grant
 * and recompute the issuer key id at the next message. Call after the
 * config changes (re-provisioning); a reset does it implicitly.
 */
void mssl_reset(void);

/*
 * mssl_lend - the management channel's RSA bench (mgmt_rsa.c, KEY) asks
 * for MSSL's state RAM for its key (CONFIG_RSA_MAX_BYTES bytes). NULL
 * while MSSL holds a session, a pending handshake, a floor statement
 * waiting for its signature or a cached grant: the bench (not
 * authenticated) never ends them. Otherwise the RAM is wiped and lent;
 * MSSL takes it back at its next message and first calls reclaim (the
 * borrower forgets what it kept there; mgmt_rsa.c's key).
 */
uint8_t *mssl_lend(void (*reclaim)(void));

#endif /* CONFIG_MSSL */
#endif /* MS_MSSL_H */
