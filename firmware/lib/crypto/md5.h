/*
 * md5.h - MD5 (RFC 1321). For HMAC-MD5-96 (RFC 2403) interop with the seed
 * only: MD5 is broken for collision resistance; HMAC-MD5 still has no
 * practical attack, but new suites use SHA-256 or CCM.
 *
 * Caller-owned context; init/update/final. Messages up to 2^32-1 octets.
 */
#ifndef MS_MD5_H
#define MS_MD5_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define MD5_DIGEST_SIZE 16
#define MD5_BLOCK_SIZE 64

typedef struct {
	uint32_t h[4];   /* chaining state */
	uint32_t count;  /* message octets so far */
	uint8_t buf[64]; /* pending partial block */
} md5_ctx;

void md5_init(md5_ctx *ctx);
void md5_update(md5_ctx *ctx, const uint8_t *msg, size_t len);
/* md5_final - write the digest and wipe ctx. */
void md5_final(md5_ctx *ctx, uint8_t digest[16]);
/* md5 - one-shot. */
void md5(uint8_t digest[16], const uint8_t *msg, size_t len);

/* md5_compress - one 64-byte block into h (crypto/md5_avr.S, or the
 * C reference with CONFIG_MD5_ASM=0); md5_iv - the initial h, in
 * flash. For hash_any_* (hmac.h), which drive md.h themselves. */
#if CONFIG_MD5_ASM
#define md5_compress md5_compress_avr
#endif
void md5_compress(uint32_t h[4], const uint8_t block[64]);
extern const uint32_t md5_iv[4];

#endif /* MS_MD5_H */
