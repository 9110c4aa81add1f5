/*
 * cmac.h - AES-CMAC (RFC 4493, NIST SP 800-38B) with AES-128.
 *
 * Used by MSSL's key schedule (PRK = AES-CMAC(Kh, Nh || Nd), docs/mssl.md)
 * and by serial provisioning's key derivation and tags
 * (docs/provisioning.md), which stream their message from the EEPROM a
 * byte at a time. The caller keys the AES context and keeps it keyed
 * from the first update to the final (the subkeys K1/K2 are derived at
 * the final, one extra block encryption). The state is wiped at the
 * final.
 */
#ifndef MS_CMAC_H
#define MS_CMAC_H

#include <stddef.h>
#include <stdint.h>

#include "aes.h"

struct aes128_cmac {
	uint8_t x[16]; /* chaining value, the open block's bytes XORed in */
	uint8_t n;     /* bytes of the open block (it may be the last) */
};

/* aes128_cmac_update - absorb msg[0..len) (state zeroed to start). */
void aes128_cmac_update(const aes128_ctx *ctx, struct aes128_cmac *c, const uint8_t *msg, size_t len);

/* aes128_cmac_final - tag of everything absorbed; wipes the state. tag
 * (also the subkey's scratch) must not overlap the state. */
void aes128_cmac_final(const aes128_ctx *ctx, struct aes128_cmac *c, uint8_t tag[16]);

/* aes128_cmac - tag = AES-CMAC(key of ctx, msg[0..len)), in one call. */
void aes128_cmac(const aes128_ctx *ctx, const uint8_t *msg, size_t len, uint8_t tag[16]);

#endif /* MS_CMAC_H */
