/*
 * cmac.c - AES-CMAC (RFC 4493), see cmac.h.
 */
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

void aes128_cmac(const aes128_ctx *ctx, const uint8_t *msg, size_t len, uint8_t tag[16])
{
	uint8_t k[16] = {0};
	uint8_t i;

	aes128_encrypt(ctx, k); /* L = AES(K, 0) */
	dbl(k);                 /* K1 */
	for (i = 0; i < 16; i++)
		tag[i] = 0;
	/* every block but the last: X = AES(K, X ^ M_i) */
	while (len > 16) {
		for (i = 0; i < 16; i++)
			tag[i] ^= *msg++;
		aes128_encrypt(ctx, tag);
		len -= 16;
	}
	/* the last block: complete with K1, else padded with K2 */
	if (len < 16) {
		dbl(k); /* K2 */
		tag[len] ^= 0x80;
	}
	for (i = 0; i < 16; i++)
		tag[i] ^= (uint8_t)((i < len ? msg[i] : 0) ^ k[i]);
	aes128_encrypt(ctx, tag);
	wipe(k, sizeof k);
}
