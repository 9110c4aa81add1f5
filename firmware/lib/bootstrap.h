/*
 * bootstrap.h - the device side of Kang's secure bootstrapping (the
 * paper's SBI; docs/bootstrap.md; Go reference: pkg/bootstrap/device.go,
 * reproduced byte for byte, vectors/bootstrap.txt).
 *
 * A device enrolled for bootstrapping has CFG_BOOTSTRAP in its config
 * (store.h): its master key is IK, later the PSK of the last join, its
 * two ESP SAs derive from the master key (esp.c, esp_init), and RN_i sits
 * in the EEPROM's bootstrap area (EE_BOOT). A controller sends flight 4:
 *
 *   "MB" 01 04 id(4) TID(8) ‖ AES-128-CCM(key, nonce = 04 ‖ id ‖ TID,
 *   aad = the 16-byte header; RN_i ‖ RN_c) ‖ tag(16)             64 bytes
 *
 * bootstrap_handle checks, in this order and before any cryptography
 * where it can: exact length, magic, version, type; a copy of the last
 * flight 4 accepted (its tag: answered from RAM, below); a provisioned
 * config enrolled for bootstrapping (else NAK 5); the id is the device's
 * (else NAK 1); the flight opens under the master key (else NAK 2); RN_i
 * matches, compared in constant time (else NAK 3). It then derives
 *
 *   PSK = AES-128(key = master key, RN_i ⊕ RN_c)
 *
 * and makes it the master key in one journalled commit (store.h): the
 * config's first 36 bytes with the key and the CRC replaced are staged,
 * and the journal copies them over the config and writes a state slot
 * with the ESP counters at zero (the SAs derived from the PSK are new). A
 * power cut leaves the old key, SAs and counters or the new ones (NAK 4
 * when the EEPROM refuses). The device reloads (store_init, esp_init,
 * mssl_reset, ms_coap_reset) and answers flight 5:
 *
 *   "MB" 01 05 id TID ‖ AES-128-CCM(PSK, 05 ‖ id ‖ TID; RN_c) ‖ tag  48 bytes
 *
 * A flight 4 with the tag of the last one accepted (RAM: that flight 5
 * and the tag; a retransmission, since the tag authenticates the flight
 * under the key it was sent for) gets the same flight 5 again without a
 * second commit; a forgery with that tag gets the same public bytes and
 * nothing else. A reset forgets it. A NAK (17 bytes, unauthenticated) is
 * "MB" 01 0e id(the device's) TID code.
 *
 * No malloc; keys live on the stack and in fw_work only while a flight is
 * handled, and are wiped. Host-testable (no AVR headers).
 */
#ifndef MS_BOOTSTRAP_H
#define MS_BOOTSTRAP_H

#include <stddef.h>
#include <stdint.h>

#define MGMT_BOOTSTRAP 0x07 /* management command: payload flight 4 */

#define BOOT_HEADER_SIZE 16
#define BOOT_FLIGHT4_SIZE 64
#define BOOT_FLIGHT5_SIZE 48
#define BOOT_NAK_SIZE 17

#define BOOT_TYPE_REKEY 0x04
#define BOOT_TYPE_PROOF 0x05
#define BOOT_TYPE_NAK 0x0e

/* NAK codes (docs/bootstrap.md). */
#define BOOT_NAK_NOT_MINE 1 /* flight 4 names another device */
#define BOOT_NAK_AUTH 2     /* does not open under the device's key */
#define BOOT_NAK_LABEL 3    /* opens, but carries another RN_i */
#define BOOT_NAK_STORE 4    /* the EEPROM did not take the new key */
#define BOOT_NAK_NO_KEY 5   /* not enrolled for bootstrapping (or no valid config) */

/*
 * bootstrap_handle - one message from the device link, n bytes at m (at
 * least BOOT_FLIGHT4_SIZE bytes of room when n is that). The reply is
 * written over m: returns its length (BOOT_FLIGHT5_SIZE or BOOT_NAK_SIZE),
 * or 0 to send nothing (not a flight 4).
 */
size_t bootstrap_handle(uint8_t *m, size_t n);

/*
 * ms_bootstrap_input - the UDP service (an ms_port_fn: MS_PORT_BOOTSTRAP,
 * mstool.h, in clear on CONFIG_BOOTSTRAP_PORT): bootstrap_handle on the
 * datagram's payload. Meant for the clear path: a join replaces the SAs,
 * so a flight 4 sent inside ESP would have its reply sealed under the
 * new outbound SA.
 */
uint16_t ms_bootstrap_input(uint8_t *p, uint16_t n, uint16_t room,
                            const uint8_t *src_ip, uint16_t src_port);

/* bootstrap_reset - forget the last flight 4 and 5 (what a reset does to
 * RAM). */
void bootstrap_reset(void);

#endif /* MS_BOOTSTRAP_H */
