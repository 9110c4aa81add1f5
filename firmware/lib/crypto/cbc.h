/*
 * cbc.h - AES-128 in CBC mode (NIST SP 800-38A; RFC 3602 for ESP).
 *
 * Whole blocks only, no padding (ESP pads itself). The IV is caller-owned
 * and is updated to the chaining value, so a message can be processed in
 * several calls. CBC gives no integrity: use it only under a MAC checked
 * first (encrypt-then-MAC, as ESP does).
 */
#ifndef MS_CBC_H
#define MS_CBC_H

#include <stddef.h>
#include <stdint.h>
#include "aes.h"

/*
 * aes128_cbc_encrypt - encrypt nblocks 16-byte blocks of buf in place.
 * On return iv holds the last ciphertext block. Cannot fail.
 */
void aes128_cbc_encrypt(const aes128_ctx *ctx, uint8_t iv[16], uint8_t *buf,
                        size_t nblocks);

#if CONFIG_AES_DECRYPT
/*
 * aes128_cbc_decrypt - decrypt nblocks 16-byte blocks of buf in place.
 * On return iv holds the last ciphertext block. Cannot fail.
 */
void aes128_cbc_decrypt(const aes128_ctx *ctx, uint8_t iv[16], uint8_t *buf,
                        size_t nblocks);
#endif

#endif /* MS_CBC_H */
