/*
 * bootstrap.h - the device side of Kang's secure bootstrapping (the
 * paper's SBI; docs/bootstrap.md; Go reference: pkg/bootstrap/device.go,
 * reproduced byte for byte, vectors/bootstrap.txt).
 *
 * The device holds, in the EEPROM's bootstrap area (store.h, EE_BOOT),
 * RN_i and its current key (IK after enrolment, later a PSK) in one of
 * two slots. A controller sends flight 4:
 *
 *   "MB" 01 04 id(4) TID(8) ‖ AES-128-CCM(key, nonce = 04 ‖ id ‖ TID,
 *   aad = the 16-byte header; RN_i ‖ RN_c) ‖ tag(16)             64 bytes
 *
 * bootstrap_handle checks, in this order and before any cryptography
 * where it can: exact length, magic, version, type; the id is the
 * device's (else NAK 1); a provisioned config and a valid key slot (else
 * NAK 5); the flight opens under the current key (else NAK 2); RN_i
 * matches, compared in constant time (else NAK 3). It then derives
 *
 *   PSK = AES-128(key = current key, RN_i ⊕ RN_c)
 *
 * and commits it atomically to the other slot (marker erased, gen + 1,
 * key, CRC, marker written last: a power cut leaves the old key or the
 * new one, never neither; NAK 4 when the EEPROM refuses). The PSK is then
 * the master key (store_master_key): where the EEPROM can stage
 * (STORE_CAN_STAGE) the config's two ESP SAs are replaced through the
 * provisioning journal by SAs derived from it (docs/bootstrap.md "After
 * the join": aes128-ccm8, SP 800-108 counter mode with AES-CMAC, labels
 * "ESP-h2d " and "ESP-d2h "; the SA flags are kept; ESP counters start
 * at zero under the new keys), and the device reloads (store_init,
 * esp_init, mssl_reset). The reply is flight 5:
 *
 *   "MB" 01 05 id TID ‖ AES-128-CCM(PSK, 05 ‖ id ‖ TID; RN_c) ‖ tag  48 bytes
 *
 * A byte-identical copy of the last accepted flight 4 (RAM: its TID and
 * tag; it opens under the previous slot's key) gets the same flight 5
 * again without a second commit. A NAK (17 bytes, unauthenticated) is
 * "MB" 01 0e id(the device's) TID code.
 *
 * A power cut between the key commit and the SA journal leaves the new
 * key with the old SAs: the controller's next join (its pending key, as
 * docs/bootstrap.md "Additions" describes) re-keys the device again and
 * installs the SAs.
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
#define BOOT_NAK_NO_KEY 5   /* no valid key slot (or no valid config) */

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

/* bootstrap_reset - forget the last flight 4 (what a reset does to RAM). */
void bootstrap_reset(void);

#endif /* MS_BOOTSTRAP_H */
