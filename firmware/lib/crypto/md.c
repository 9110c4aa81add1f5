/*
 * md.c - Merkle-Damgard plumbing shared by md5.c and sha256.c (md.h).
 * Only lengths (public) steer the branches.
 */
#include <string.h>

#include "md.h"
#include "pgm.h"

void md_init(uint32_t *h, const uint32_t *iv, uint8_t n)
{
	uint8_t i;

	for (i = 0; i < n; i++) {
		h[i] = PGM_DWORD(&iv[i]);
	}
}

void md_update(uint32_t *h, uint32_t *count, uint8_t buf[64],
               md_block_fn *block, const uint8_t *msg, size_t len)
{
	uint8_t used = (uint8_t)(*count & 63);

	*count += (uint32_t)len;
	while (len > 0) {
		uint8_t n = (uint8_t)(64 - used);

		if (used == 0 && len >= 64) {
			block(h, msg); /* whole blocks straight from the input */
			msg += 64;
			len -= 64;
			continue;
		}
		if (len < n) {
			n = (uint8_t)len;
		}
		memcpy(buf + used, msg, n);
		used = (uint8_t)(used + n);
		msg += n;
		len -= n;
		if (used == 64) {
			block(h, buf);
			used = 0;
		}
	}
}

/* Store v at p in the given byte order. */
static MS_NOINLINE void store32(uint8_t *p, uint32_t v, uint8_t big_endian)
{
	uint8_t i;

	for (i = 0; i < 4; i++) {
		p[big_endian ? 3 - i : i] = (uint8_t)v;
		v >>= 8;
	}
}

void md_final(uint32_t *h, uint32_t count, uint8_t buf[64],
              md_block_fn *block, uint8_t big_endian, uint8_t *out,
              uint8_t n)
{
	uint8_t used = (uint8_t)(count & 63);
	uint8_t i;

	buf[used++] = 0x80;
	if (used > 56) {
		memset(buf + used, 0, (size_t)(64 - used));
		block(h, buf);
		used = 0;
	}
	memset(buf + used, 0, (size_t)(56 - used));
	/* 64-bit bit length = count * 8 */
	store32(buf + (big_endian ? 60 : 56), count << 3, big_endian);
	store32(buf + (big_endian ? 56 : 60), count >> 29, big_endian);
	block(h, buf);
	for (i = 0; i < n; i++) {
		store32(out + 4 * i, h[i], big_endian);
	}
}
