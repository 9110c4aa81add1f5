/*
 * cmac.c - AES-CMAC (RFC 4493), see cmac.h.
 */
#include <string.h>

#include "cmac.h"
#include "ct.h"

/* Doubling in GF(2^128) (RFC 4493 2.3): k <<= 1, xor 0x87 on carry. */
static void dbl(uint8_t k[16])
{
	uint8_t c = (uint8_t)(k[0] >> 7);
	for (uint8_t i = 0; i < 15; i++)
		k[i] = (uint8_t)(k[i] << 1 | k[i + 1] >> 7);
	k[15] = (uint8_t)(k[15] << 1 ^ (0x87 & -c));
}

void aes128_cmac_update(const aes128_ctx *ctx, struct aes128_cmac *c, const uint8_t *msg, size_t len)
{
	while (len--) {
		/* a full block is processed only once more follows: the last
		 * one is completed with a subkey at the final */
		if (c->n == 16) {
			for (uint8_t i = 0; i < 16; i++)
				c->x[i] ^= c->m[i];
			aes128_encrypt(ctx, c->x);
			c->n = 0;
		}
		c->m[c->n++] = *msg++;
	}
}

void aes128_cmac_final(const aes128_ctx *ctx, struct aes128_cmac *c, uint8_t tag[16])
{
	uint8_t k[16] = {0};
	aes128_encrypt(ctx, k); /* L = AES(K, 0) */
	dbl(k);                 /* K1 */
	if (c->n < 16) {        /* padded with K2 */
		c->m[c->n] = 0x80;
		memset(c->m + c->n + 1, 0, (size_t)(15 - c->n));
		dbl(k);
	}
	for (uint8_t i = 0; i < 16; i++)
		c->x[i] ^= (uint8_t)(c->m[i] ^ k[i]);
	aes128_encrypt(ctx, c->x);
	memcpy(tag, c->x, 16);
	wipe(k, sizeof k);
	wipe(c, sizeof *c);
}

void aes128_cmac(const aes128_ctx *ctx, const uint8_t *msg, size_t len, uint8_t tag[16])
{
	struct aes128_cmac c;
	memset(&c, 0, sizeof c);
	aes128_cmac_update(ctx, &c, msg, len);
	aes128_cmac_final(ctx, &c, tag);
}
