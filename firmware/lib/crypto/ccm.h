/*
 * ccm.h - AES-128-CCM authenticated encryption (RFC 3610; RFC 4309 for ESP
 * uses 8-, 12- or 16-octet ICVs and an 11-octet nonce, salt(3) || iv(8)).
 *
 * Parameters (RFC 3610 section 2):
 *   nonce_len  7..13 octets; the length field L = 15 - nonce_len octets
 *              (RFC 4309: 11, so L = 4).
 *   tag_len    M = 4, 6, 8, 10, 12, 14 or 16 octets.
 *   len        message length; must fit in L octets.
 *   aad        additional authenticated data, any length (may be NULL when
 *              aad_len == 0); below 0xff00 octets with the AVR assembly
 *              (CONFIG_CCM_ASM, crypto/ccm_avr.S), which fails longer.
 * Both functions work in place on buf and only need the forward cipher.
 * The nonce must not overlap buf or tag, and must not change during the
 * call: it is copied into B_0 before buf is touched, and the counter
 * blocks are built from it (with CONFIG_CCM_CTR_REBUILD, the ATmega168's
 * default, once per block, reading it again each time).
 *
 * aes128_ccm_open decrypts in place and then verifies the tag with
 * ct_equal(); on failure it wipes buf (the caller never sees unverified
 * plaintext) and returns -1. There is one failure result for bad
 * parameters and bad tags alike.
 *
 * Never reuse a nonce with the same key.
 */
#ifndef MS_CCM_H
#define MS_CCM_H

#include <stddef.h>
#include <stdint.h>
#include "aes.h"

#define CCM_NONCE_MIN 7
#define CCM_NONCE_MAX 13
#define CCM_TAG_MAX 16

/*
 * aes128_ccm_crypt - seal (decrypt 0) or open (decrypt 1): what the two
 * below call. (They are inline: a wrapper that passes ten arguments on
 * costs the AVR a frame of twelve saved registers on the deepest stack.)
 */
int aes128_ccm_crypt(const aes128_ctx *ctx,
                     const uint8_t *nonce, size_t nonce_len,
                     const uint8_t *aad, size_t aad_len,
                     uint8_t *buf, size_t len,
                     uint8_t *tag, size_t tag_len, uint8_t decrypt);

/*
 * aes128_ccm_seal - encrypt buf[0..len) in place and write the tag_len-octet
 * tag to tag. Returns 0, or -1 (nothing written) if nonce_len, tag_len or
 * len are out of range.
 */
static inline int aes128_ccm_seal(const aes128_ctx *ctx,
                                  const uint8_t *nonce, size_t nonce_len,
                                  const uint8_t *aad, size_t aad_len,
                                  uint8_t *buf, size_t len,
                                  uint8_t *tag, size_t tag_len)
{
	return aes128_ccm_crypt(ctx, nonce, nonce_len, aad, aad_len, buf, len, tag, tag_len, 0);
}

/*
 * aes128_ccm_open - decrypt buf[0..len) in place and verify the
 * tag_len-octet tag in constant time. Returns 0 if authentic; otherwise
 * -1 with buf wiped (all zero).
 */
static inline int aes128_ccm_open(const aes128_ctx *ctx,
                                  const uint8_t *nonce, size_t nonce_len,
                                  const uint8_t *aad, size_t aad_len,
                                  uint8_t *buf, size_t len,
                                  const uint8_t *tag, size_t tag_len)
{
	/* (tag is only read when decrypting) */
	return aes128_ccm_crypt(ctx, nonce, nonce_len, aad, aad_len, buf, len,
	                        (uint8_t *)(uintptr_t)tag, tag_len, 1);
}

#endif /* MS_CCM_H */
