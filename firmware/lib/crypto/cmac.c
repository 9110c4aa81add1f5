/*
 * cmac.c - AES-CMAC (RFC 4493), see cmac.h.
 *
 * The message is XORed into the chaining value as it arrives; a full
 * block is encrypted only when a byte of the next one comes, so the last
 * block is still open at the final, where its subkey (and padding) is
 * XORed in. No copy of the pending block is kept.
 */
#include <string.h>

#include "cmac.h"
#include "ct.h"

/* Doubling in GF(2^128) (RFC 4493 2.3): k <<= 1, xor 0x87 on carry. */
static void dbl(uint8_t k[16])
{
	uint8_t c = 0, i = 16;
	while (i--) {
		uint8_t b = k[i];
		k[i] = (uint8_t)(b << 1 | c);
		c = (uint8_t)(b >> 7);
	}
	k[15] ^= (uint8_t)(0x87 & -c);
}

void aes128_cmac_update(const aes128_ctx *ctx, struct aes128_cmac *c, const uint8_t *msg, size_t len)
{
	while (len--) {
		if (c->n == 16) {
			aes128_encrypt(ctx, c->x);
			c->n = 0;
		}
		c->x[c->n++] ^= *msg++;
	}
}

void aes128_cmac_final(const aes128_ctx *ctx, struct aes128_cmac *c, uint8_t tag[16])
{
	/* the subkey is computed in tag: L = AES(K, 0), K1 = dbl(L) */
	memset(tag, 0, 16);
	aes128_encrypt(ctx, tag);
	dbl(tag);
	if (c->n < 16) { /* padded: 80 00 ..., with K2 */
		c->x[c->n] ^= 0x80;
		dbl(tag);
	}
	for (uint8_t i = 0; i < 16; i++)
		tag[i] ^= c->x[i];
	aes128_encrypt(ctx, tag);
	wipe(c, sizeof *c);
}

void aes128_cmac(const aes128_ctx *ctx, const uint8_t *msg, size_t len, uint8_t tag[16])
{
	struct aes128_cmac c;
	memset(&c, 0, sizeof c);
	aes128_cmac_update(ctx, &c, msg, len);
	aes128_cmac_final(ctx, &c, tag);
}
