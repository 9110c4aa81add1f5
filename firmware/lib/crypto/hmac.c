/*
 * hmac.c - HMAC (RFC 2104) over MD5 and SHA-256, see hmac.h.
 *
 * Both hashes have 64-octet blocks. The key is XORed with ipad/opad in one
 * stack buffer that is wiped before returning.
 */
#include <stddef.h>
#include <string.h>

#include "ct.h"
#include "hmac.h"
#include "md.h"

#define HMAC_BLOCK 64

#if CONFIG_MD5 || CONFIG_SHA256
/* hash_any_* and hmac_any_* (hmac.h): one body for both hashes; a
 * build with one hash keeps only its calls. */
#if CONFIG_MD5 && CONFIG_SHA256
#define IS_SHA(sha) (sha)
#else
#define IS_SHA(sha) CONFIG_SHA256
#endif

/*
 * The contexts of both hashes are h[n] || count || buf[64] (md5.h,
 * sha256.h): one body drives md.h with the hash's IV, word count, block
 * function and byte order.
 */
_Static_assert(offsetof(md5_ctx, count) == 16 && offsetof(md5_ctx, buf) == 20 &&
               offsetof(sha256_ctx, count) == 32 && offsetof(sha256_ctx, buf) == 36,
               "md5_ctx, sha256_ctx: h || count || buf");
#if CONFIG_SHA256 && CONFIG_MD5
#define H_WORDS(sha) ((sha) ? 8 : 4)
#define H_BLOCK(sha) ((sha) ? sha256_compress : md5_compress)
#define H_IV(sha) ((sha) ? sha256_iv : md5_iv)
#elif CONFIG_SHA256
#define H_WORDS(sha) 8
#define H_BLOCK(sha) sha256_compress
#define H_IV(sha) sha256_iv
#else
#define H_WORDS(sha) 4
#define H_BLOCK(sha) md5_compress
#define H_IV(sha) md5_iv
#endif

void hash_any_init(uint8_t sha, void *c)
{
	uint32_t *h = c;
	uint8_t n = H_WORDS(sha);
	(void)sha; /* constant in a build with one hash */
	md_init(h, H_IV(sha), n);
	h[n] = 0;
}

void hash_any_update(uint8_t sha, void *c, const uint8_t *msg, size_t len)
{
	uint32_t *h = c;
	uint8_t n = H_WORDS(sha);
	(void)sha;
	md_update(h, h + n, (uint8_t *)(h + n + 1), H_BLOCK(sha), msg, len);
}

void hash_any_final(uint8_t sha, void *c, uint8_t *out)
{
	uint32_t *h = c;
	uint8_t n = H_WORDS(sha);
	(void)sha;
	md_final(h, h[n], (uint8_t *)(h + n + 1), H_BLOCK(sha), IS_SHA(sha), out, n);
	wipe(c, (size_t)(4 * n + 4 + 64));
}

/* k0 = key (hashed first, in inner, if longer than a block) zero-padded
 * to 64 octets; inner absorbs k0 ^ ipad, outer k0 ^ opad. */
/* The outer context of the HMAC context c (the inner one is at c). */
static void *outer_of(uint8_t sha, void *c)
{
	(void)sha;
#if CONFIG_SHA256
	if (IS_SHA(sha))
		return &((hmac_sha256_ctx *)c)->outer;
#endif
#if CONFIG_MD5
	return &((hmac_md5_ctx *)c)->outer;
#else
	return NULL;
#endif
}

void hmac_any_init(uint8_t sha, void *c, const uint8_t *key, size_t key_len)
{
	void *inner = c, *outer = outer_of(sha, c);
	uint8_t k0[HMAC_BLOCK];
	uint8_t i;

	memset(k0, 0, sizeof k0);
	if (key_len > HMAC_BLOCK) {
		hash_any_init(sha, inner);
		hash_any_update(sha, inner, key, key_len);
		hash_any_final(sha, inner, k0);
	} else {
		memcpy(k0, key, key_len);
	}
	/* inner absorbs k0 ^ ipad, then outer k0 ^ opad */
	for (uint8_t x = 0x36; x; x = x == 0x36 ? 0x36 ^ 0x5c : 0) {
		for (i = 0; i < HMAC_BLOCK; i++)
			k0[i] ^= x;
		hash_any_init(sha, inner);
		hash_any_update(sha, inner, k0, HMAC_BLOCK);
		inner = outer;
	}
	wipe(k0, sizeof k0);
}

void hmac_any_final(uint8_t sha, void *c, uint8_t *mac)
{
	void *outer = outer_of(sha, c);
	hash_any_final(sha, c, mac);
	hash_any_update(sha, outer, mac, IS_SHA(sha) ? SHA256_DIGEST_SIZE : MD5_DIGEST_SIZE);
	hash_any_final(sha, outer, mac);
}
#endif

#if CONFIG_MD5
void hmac_md5_init(hmac_md5_ctx *ctx, const uint8_t *key, size_t key_len)
{
	hmac_any_init(0, ctx, key, key_len);
}

void hmac_md5_update(hmac_md5_ctx *ctx, const uint8_t *msg, size_t len)
{
	md5_update(&ctx->inner, msg, len);
}

void hmac_md5_final(hmac_md5_ctx *ctx, uint8_t mac[16])
{
	hmac_any_final(0, ctx, mac);
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
	hmac_any_init(1, ctx, key, key_len);
}

void hmac_sha256_update(hmac_sha256_ctx *ctx, const uint8_t *msg, size_t len)
{
	sha256_update(&ctx->inner, msg, len);
}

void hmac_sha256_final(hmac_sha256_ctx *ctx, uint8_t mac[32])
{
	hmac_any_final(1, ctx, mac);
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
