/*
 * ctr.c - AES-128-CTR (see ctr.h).
 */
#include <string.h>

#include "ct.h"
#include "ctr.h"

void aes128_ctr(const aes128_ctx *ctx, uint8_t ctr[16], uint8_t *buf,
                size_t len)
{
	uint8_t ks[16];

	while (len > 0) {
		uint8_t n = len < 16 ? (uint8_t)len : 16;
		uint8_t i;

		aes128_encrypt_copy(ctx, ctr, ks);
		for (i = 0; i < n; i++) {
			buf[i] ^= ks[i];
		}
		buf += n;
		len -= n;
		/* 32-bit big-endian increment; the counter is public. */
		for (i = 15; i >= 12; i--) {
			if (++ctr[i] != 0) {
				break;
			}
		}
	}
	wipe(ks, sizeof ks);
}
