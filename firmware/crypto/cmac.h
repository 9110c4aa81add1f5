/*
 * cmac.h - AES-CMAC (RFC 4493, NIST SP 800-38B) with AES-128.
 *
 * OWNER: FW-MSSL (MSSL's key schedule: PRK = AES-CMAC(Kh, Nh || Nd),
 * docs/mssl.md). Any length, one call; the caller keys the AES context
 * (the subkeys K1/K2 are derived here, one extra block encryption).
 * Nothing is kept between calls; the temporaries are wiped.
 */
#ifndef MS_CMAC_H
#define MS_CMAC_H

#include <stddef.h>
#include <stdint.h>

#include "aes.h"

/* aes128_cmac - tag = AES-CMAC(key of ctx, msg[0..len)). */
void aes128_cmac(const aes128_ctx *ctx, const uint8_t *msg, size_t len, uint8_t tag[16]);

#endif /* MS_CMAC_H */
