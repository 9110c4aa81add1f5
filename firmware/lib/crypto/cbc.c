/*
 * cbc.c - AES-128-CBC (see cbc.h).
 */
#include <string.h>

#include "cbc.h"
#include "ct.h"

void aes128_cbc_encrypt(const aes128_ctx *ctx, uint8_t iv[16], uint8_t *buf,
                        size_t nblocks)
{
	const uint8_t *prev = iv; /* the chaining value: iv, then C_(i-1) */

	while (nblocks > 0) {
		uint8_t i;

		for (i = 0; i < 16; i++) {
			buf[i] ^= prev[i];
		}
		aes128_encrypt(ctx, buf);
		prev = buf;
		buf += 16;
		nblocks--;
	}
	if (prev != iv) {
		memcpy(iv, prev, 16);
	}
}

#if CONFIG_AES_DECRYPT
void aes128_cbc_decrypt(const aes128_ctx *ctx, uint8_t iv[16], uint8_t *buf,
                        size_t nblocks)
{
	uint8_t c[16];

	while (nblocks > 0) {
		uint8_t i;

		memcpy(c, buf, 16);
		aes128_decrypt(ctx, buf);
		for (i = 0; i < 16; i++) {
			buf[i] ^= iv[i];
		}
		memcpy(iv, c, 16);
		buf += 16;
		nblocks--;
	}
	wipe(c, sizeof c);
}
#endif
