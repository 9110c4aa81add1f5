/*
 * hmac.h - HMAC (RFC 2104) over MD5 and SHA-256.
 *
 * Keys of any length (longer than 64 octets are hashed first, as RFC 2104
 * says). The context holds the inner and outer hash states after the
 * padded key was absorbed, so the key itself is not kept and one context
 * can be reused by copying it (struct assignment) before update: a device
 * keeps one keyed context per SA and copies it per packet, saving two
 * compression function calls per MAC.
 *
 * To check a (possibly truncated) MAC, compute it and compare the leading
 * octets with ct_equal() (ct.h), e.g. 12 octets for HMAC-MD5-96 /
 * HMAC-SHA-256-96, 16 for HMAC-SHA-256-128 (RFC 4868).
 *
 * final writes the full-length MAC and wipes the context.
 */
#ifndef MS_HMAC_H
#define MS_HMAC_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "md5.h"
#include "sha256.h"

#if CONFIG_MD5
typedef struct {
	md5_ctx inner; /* after absorbing key ^ ipad */
	md5_ctx outer; /* after absorbing key ^ opad */
} hmac_md5_ctx;

void hmac_md5_init(hmac_md5_ctx *ctx, const uint8_t *key, size_t key_len);
void hmac_md5_update(hmac_md5_ctx *ctx, const uint8_t *msg, size_t len);
void hmac_md5_final(hmac_md5_ctx *ctx, uint8_t mac[16]);
void hmac_md5(uint8_t mac[16], const uint8_t *key, size_t key_len,
              const uint8_t *msg, size_t len);
#endif

#if CONFIG_SHA256
typedef struct {
	sha256_ctx inner; /* after absorbing key ^ ipad */
	sha256_ctx outer; /* after absorbing key ^ opad */
} hmac_sha256_ctx;

void hmac_sha256_init(hmac_sha256_ctx *ctx, const uint8_t *key,
                      size_t key_len);
void hmac_sha256_update(hmac_sha256_ctx *ctx, const uint8_t *msg, size_t len);
void hmac_sha256_final(hmac_sha256_ctx *ctx, uint8_t mac[32]);
void hmac_sha256(uint8_t mac[32], const uint8_t *key, size_t key_len,
                 const uint8_t *msg, size_t len);
#endif

#if CONFIG_MD5 || CONFIG_SHA256
/*
 * Either hash, or either HMAC, chosen at run time: sha 1 is SHA-256
 * (c: a sha256_ctx, or an hmac_sha256_ctx), 0 MD5 (md5_ctx,
 * hmac_md5_ctx); a build with one hash takes that one whatever sha says.
 * The HMAC's inner context is its first member, so hmac_any_update is
 * hash_any_update on the HMAC context. out and mac: the digest size.
 */
void hash_any_init(uint8_t sha, void *c);
void hash_any_update(uint8_t sha, void *c, const uint8_t *msg, size_t len);
void hash_any_final(uint8_t sha, void *c, uint8_t *out);
void hmac_any_init(uint8_t sha, void *c, const uint8_t *key, size_t key_len);
#define hmac_any_update hash_any_update
void hmac_any_final(uint8_t sha, void *c, uint8_t *mac);
#endif

#endif /* MS_HMAC_H */
