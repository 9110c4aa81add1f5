/*
 * ctr.h - AES-128 in counter mode (NIST SP 800-38A; RFC 3686 for ESP).
 *
 * The counter block is caller-owned: for RFC 3686 it is
 * nonce(4) || iv(8) || 00000001. The last 4 bytes are incremented as a
 * 32-bit big-endian counter after each block (SP 800-38A's standard
 * incrementing function with m = 32; it wraps modulo 2^32 and never
 * carries into the IV, as RFC 3686 requires).
 *
 * Encryption and decryption are the same operation.
 */
#ifndef MS_CTR_H
#define MS_CTR_H

#include <stddef.h>
#include <stdint.h>
#include "aes.h"

/*
 * aes128_ctr - XOR len bytes of buf in place with the keystream starting at
 * counter block ctr. On return ctr holds the next unused counter block:
 * ceil(len/16) blocks were consumed. A partial last block's leftover
 * keystream is discarded, so to split one message over several calls, make
 * every call but the last a multiple of 16 bytes. Cannot fail.
 */
void aes128_ctr(const aes128_ctx *ctx, uint8_t ctr[16], uint8_t *buf,
                size_t len);

#endif /* MS_CTR_H */
