/*
 * rsa.h - RSASSA-PKCS1-v1_5 signature verification with SHA-256 and the
 * public exponent e = 65537 (RFC 8017 section 8.2.2), for moduli of
 * exactly 1024 or 2048 bits.
 *
 * OWNER: ENGINEER RSA (rsa.h, rsa.c, bignum_avr.S; the RSA block of
 * config.h and the RSA block of the Makefile). FW-CRYPTO: please leave
 * these to me; the rest of crypto/ is yours.
 *
 * Everything works on caller-owned buffers; no malloc, no static RAM.
 * Numbers are big-endian byte strings of exactly k bytes (k = 128 or
 * 256), as the modulus is stored in EEPROM (docs/eeprom.md) and as the
 * signature travels in a grant (docs/grant.md).
 *
 * Method: Montgomery arithmetic with 32-bit digits (R = 2^(8k)); the
 * squarings exploit symmetry (half the partial products); s^65537 mod n is
 * Mont(s, R^2) followed by 16 Montgomery squarings and one Montgomery
 * multiplication by s (18 Montgomery operations, none to leave the
 * Montgomery domain). The multiply-accumulate row T += b * A (b 32 bits)
 * is the one hot loop: AVR assembly in bignum_avr.S (CONFIG_RSA_ASM), C
 * reference in rsa.c. The expected encoding EM = 00 01 FF..FF 00 ||
 * DigestInfo(SHA-256) || hash is built byte by byte and compared with
 * s^e mod n in full, in constant time (nothing is parsed).
 *
 * Nothing in a verification is secret (n, s and the hash are public), so
 * the arithmetic branches on data; only the final comparison is
 * constant-time, as the brief asks.
 */
#ifndef MS_RSA_H
#define MS_RSA_H

#include <stddef.h>
#include <stdint.h>

#define RSA_E 65537UL
/* Modulus sizes in bytes that the device accepts. */
#define RSA1024_BYTES 128
#define RSA2048_BYTES 256

/*
 * RSA_WORK_SIZE(k) - bytes of the caller-owned work area for a k-byte
 * modulus: 2k + 5 (517 for RSA-2048, 261 for RSA-1024). The squarings and
 * multiplications run in place in it.
 */
#define RSA_WORK_SIZE(k) (2u * (k) + 5u)

/*
 * rsa_check_modulus - 0 if n (k bytes, big-endian) is a modulus this code
 * verifies with: k is 128 or 256, the top bit of n is set (exactly 1024 or
 * 2048 bits) and n is odd; -1 otherwise.
 */
int rsa_check_modulus(const uint8_t *n, size_t k);

/*
 * rsa_r2 - compute R^2 mod n (R = 2^(8k)) into work[0..k), big-endian,
 * using the rest of work (RSA_WORK_SIZE(k) bytes) as scratch. This is the
 * Montgomery constant a device may cache (it depends on n alone). n must
 * pass rsa_check_modulus.
 */
void rsa_r2(const uint8_t *n, size_t k, uint8_t *work);

/*
 * rsa_public - s^65537 mod n into work[5..5+k), big-endian. r2 is R^2 mod
 * n (k bytes) or NULL to compute it here (rsa_r2); r2 may be work itself
 * (then rsa_r2 must have left it there). Returns -1 if the modulus is not
 * acceptable or s >= n (nothing computed), 0 otherwise. s is only read.
 */
int rsa_public(const uint8_t *n, size_t k, const uint8_t *r2,
               const uint8_t *s, uint8_t *work);

/* Offset of the result of rsa_public in work. */
#define RSA_RESULT_OFFSET 5u

/*
 * rsa_verify_pkcs1_sha256 - verify RSASSA-PKCS1-v1_5 signature sig (k
 * bytes, as long as n) on a message whose SHA-256 is hash. r2 as for
 * rsa_public (NULL: computed, about a third more time). Returns 0 if the
 * signature is valid, -1 for any failure (bad modulus, s >= n, any byte of
 * the encoding different). work is left holding public values only.
 */
int rsa_verify_pkcs1_sha256(const uint8_t *n, size_t k, const uint8_t *r2,
                            const uint8_t *sig, const uint8_t hash[32],
                            uint8_t *work);

/*
 * bn_mac32 - the hot loop (exposed for tests): with T and A big-endian
 * numbers given by pointers just PAST their least significant byte
 * (position p of T is t[-1-p]), add b * A[0..len) to T[0..len+4) and
 * return the carry out of position len+3 (0 or 1). len is a multiple of 4,
 * 4..256. T must not overlap A at positions still to be read (positions
 * are written low to high, each after the A byte of the same step is read).
 */
uint8_t bn_mac32(uint8_t *t, const uint8_t *a, uint16_t len, uint32_t b);

#endif /* MS_RSA_H */
