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
/*
 * The hash under an HMAC, by sha (1: SHA-256, 0: MD5): one HMAC body
 * serves both (the contexts are the hash's own types; a build with one
 * hash keeps only its calls).
 */
#if CONFIG_MD5 && CONFIG_SHA256
#define IS_SHA(sha) (sha)
#else
#define IS_SHA(sha) CONFIG_SHA256
#endif

static void h_init(uint8_t sha, void *c)
{
	(void)sha; /* constant in a build with one hash */
#if CONFIG_SHA256
	if (IS_SHA(sha)) {
		sha256_init(c);
		return;
	}
#endif
#if CONFIG_MD5
	md5_init(c);
#endif
}

static void h_update(uint8_t sha, void *c, const uint8_t *msg, size_t len)
{
	(void)sha; /* constant in a build with one hash */
#if CONFIG_SHA256
	if (IS_SHA(sha)) {
		sha256_update(c, msg, len);
		return;
	}
#endif
#if CONFIG_MD5
	md5_update(c, msg, len);
#endif
}

static void h_final(uint8_t sha, void *c, uint8_t *out)
{
	(void)sha; /* constant in a build with one hash */
#if CONFIG_SHA256
	if (IS_SHA(sha)) {
		sha256_final(c, out);
		return;
	}
#endif
#if CONFIG_MD5
	md5_final(c, out);
#endif
}

/* k0 = key (hashed first, in inner, if longer than a block) zero-padded
 * to 64 octets; inner absorbs k0 ^ ipad, outer k0 ^ opad. */
static void hmac_init(uint8_t sha, void *inner, void *outer, const uint8_t *key, size_t key_len)
{
	uint8_t k0[HMAC_BLOCK];
	uint8_t i;

	memset(k0, 0, sizeof k0);
	if (key_len > HMAC_BLOCK) {
		h_init(sha, inner);
		h_update(sha, inner, key, key_len);
		h_final(sha, inner, k0);
	} else {
		memcpy(k0, key, key_len);
	}
	for (i = 0; i < HMAC_BLOCK; i++)
		k0[i] ^= 0x36;
	h_init(sha, inner);
	h_update(sha, inner, k0, HMAC_BLOCK);
	for (i = 0; i < HMAC_BLOCK; i++)
		k0[i] ^= 0x36 ^ 0x5c;
	h_init(sha, outer);
	h_update(sha, outer, k0, HMAC_BLOCK);
	wipe(k0, sizeof k0);
}

static void hmac_final(uint8_t sha, void *inner, void *outer, uint8_t *mac)
{
	h_final(sha, inner, mac);
	h_update(sha, outer, mac, IS_SHA(sha) ? SHA256_DIGEST_SIZE : MD5_DIGEST_SIZE);
	h_final(sha, outer, mac);
}
#endif

#if CONFIG_MD5
void hmac_md5_init(hmac_md5_ctx *ctx, const uint8_t *key, size_t key_len)
{
	hmac_init(0, &ctx->inner, &ctx->outer, key, key_len);
}

void hmac_md5_update(hmac_md5_ctx *ctx, const uint8_t *msg, size_t len)
{
	md5_update(&ctx->inner, msg, len);
}

void hmac_md5_final(hmac_md5_ctx *ctx, uint8_t mac[16])
{
	hmac_final(0, &ctx->inner, &ctx->outer, mac);
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
	hmac_init(1, &ctx->inner, &ctx->outer, key, key_len);
}

void hmac_sha256_update(hmac_sha256_ctx *ctx, const uint8_t *msg, size_t len)
{
	sha256_update(&ctx->inner, msg, len);
}

void hmac_sha256_final(hmac_sha256_ctx *ctx, uint8_t mac[32])
{
	hmac_final(1, &ctx->inner, &ctx->outer, mac);
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
