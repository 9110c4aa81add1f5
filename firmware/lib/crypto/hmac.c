/*
 * hmac.c - HMAC (RFC 2104) over MD5 and SHA-256, see hmac.h.
 *
 * Both hashes have 64-octet blocks. The key is XORed with ipad/opad in one
 * stack buffer that is wiped before returning.
 */
#include <string.h>

#include "ct.h"
#include "hmac.h"

#define HMAC_BLOCK 64

#if CONFIG_MD5 || CONFIG_SHA256
/* k0 = key (hashed if longer than a block) zero-padded to 64 octets. */
static void pad_key(uint8_t k0[HMAC_BLOCK], uint8_t x)
{
	uint8_t i;

	for (i = 0; i < HMAC_BLOCK; i++) {
		k0[i] ^= x;
	}
}
#endif

#if CONFIG_MD5
void hmac_md5_init(hmac_md5_ctx *ctx, const uint8_t *key, size_t key_len)
{
	uint8_t k0[HMAC_BLOCK];

	memset(k0, 0, sizeof k0);
	if (key_len > HMAC_BLOCK) {
		md5(k0, key, key_len);
	} else {
		memcpy(k0, key, key_len);
	}
	pad_key(k0, 0x36);
	md5_init(&ctx->inner);
	md5_update(&ctx->inner, k0, HMAC_BLOCK);
	pad_key(k0, 0x36 ^ 0x5c);
	md5_init(&ctx->outer);
	md5_update(&ctx->outer, k0, HMAC_BLOCK);
	wipe(k0, sizeof k0);
}

void hmac_md5_update(hmac_md5_ctx *ctx, const uint8_t *msg, size_t len)
{
	md5_update(&ctx->inner, msg, len);
}

void hmac_md5_final(hmac_md5_ctx *ctx, uint8_t mac[16])
{
	md5_final(&ctx->inner, mac);
	md5_update(&ctx->outer, mac, MD5_DIGEST_SIZE);
	md5_final(&ctx->outer, mac);
}

void hmac_md5(uint8_t mac[16], const uint8_t *key, size_t key_len,
              const uint8_t *msg, size_t len)
{
	hmac_md5_ctx ctx;

	hmac_md5_init(&ctx, key, key_len);
	hmac_md5_update(&ctx, msg, len);
	hmac_md5_final(&ctx, mac);
}
#endif

#if CONFIG_SHA256
void hmac_sha256_init(hmac_sha256_ctx *ctx, const uint8_t *key,
                      size_t key_len)
{
	uint8_t k0[HMAC_BLOCK];

	memset(k0, 0, sizeof k0);
	if (key_len > HMAC_BLOCK) {
		sha256(k0, key, key_len);
	} else {
		memcpy(k0, key, key_len);
	}
	pad_key(k0, 0x36);
	sha256_init(&ctx->inner);
	sha256_update(&ctx->inner, k0, HMAC_BLOCK);
	pad_key(k0, 0x36 ^ 0x5c);
	sha256_init(&ctx->outer);
	sha256_update(&ctx->outer, k0, HMAC_BLOCK);
	wipe(k0, sizeof k0);
}

void hmac_sha256_update(hmac_sha256_ctx *ctx, const uint8_t *msg, size_t len)
{
	sha256_update(&ctx->inner, msg, len);
}

void hmac_sha256_final(hmac_sha256_ctx *ctx, uint8_t mac[32])
{
	sha256_final(&ctx->inner, mac);
	sha256_update(&ctx->outer, mac, SHA256_DIGEST_SIZE);
	sha256_final(&ctx->outer, mac);
}

void hmac_sha256(uint8_t mac[32], const uint8_t *key, size_t key_len,
                 const uint8_t *msg, size_t len)
{
	hmac_sha256_ctx ctx;

	hmac_sha256_init(&ctx, key, key_len);
	hmac_sha256_update(&ctx, msg, len);
	hmac_sha256_final(&ctx, mac);
}
#endif
