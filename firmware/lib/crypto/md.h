/*
 * md.h - private: the Merkle-Damgard plumbing shared by MD5 and SHA-256
 * (64-octet blocks, 0x80 padding, 64-bit bit length; MD5 stores the length
 * and the digest little-endian, SHA-256 big-endian).
 */
#ifndef MS_MD_H
#define MS_MD_H

#include <stddef.h>
#include <stdint.h>

typedef void md_block_fn(uint32_t *h, const uint8_t block[64]);

/* h[0..n) = iv[0..n), iv in flash (pgm.h). */
void md_init(uint32_t *h, const uint32_t *iv, uint8_t n);

/* Absorb len octets; count is the number of octets so far. */
void md_update(uint32_t *h, uint32_t *count, uint8_t buf[64],
               md_block_fn *block, const uint8_t *msg, size_t len);

/*
 * Pad, process the last block(s), write n words of h to out in the given
 * byte order (big_endian 0 or 1).
 */
void md_final(uint32_t *h, uint32_t count, uint8_t buf[64],
              md_block_fn *block, uint8_t big_endian, uint8_t *out,
              uint8_t n);

#endif /* MS_MD_H */
