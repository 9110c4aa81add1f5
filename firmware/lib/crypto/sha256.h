/*
 * sha256.h - SHA-256 (FIPS 180-4).
 *
 * Caller-owned context; init/update/final. Messages up to 2^32-1 octets.
 */
#ifndef MS_SHA256_H
#define MS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define SHA256_DIGEST_SIZE 32
#define SHA256_BLOCK_SIZE 64

typedef struct {
	uint32_t h[8];   /* chaining state */
	uint32_t count;  /* message octets so far */
	uint8_t buf[64]; /* pending partial block */
} sha256_ctx;

void sha256_init(sha256_ctx *ctx);
void sha256_update(sha256_ctx *ctx, const uint8_t *msg, size_t len);
/* sha256_final - write the digest and wipe ctx. */
void sha256_final(sha256_ctx *ctx, uint8_t digest[32]);
/* sha256 - one-shot. */
void sha256(uint8_t digest[32], const uint8_t *msg, size_t len);

/* sha256_compress - one 64-byte block into h (crypto/sha256_avr.S, or the
 * C reference with CONFIG_SHA256_ASM=0); sha256_iv - the initial h, in
 * flash. For hash_any_* (hmac.h), which drive md.h themselves. */
#if CONFIG_SHA256_ASM
#define sha256_compress sha256_compress_avr
#endif
void sha256_compress(uint32_t h[8], const uint8_t block[64]);
extern const uint32_t sha256_iv[8];

#endif /* MS_SHA256_H */
