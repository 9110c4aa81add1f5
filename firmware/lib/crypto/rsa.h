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
 * Method: Montgomery arithmetic with 64-bit digits (R = 2^(8k)); the
 * squarings exploit symmetry (each cross product once, then doubled);
 * s^65537 mod n is Mont(s, R^2) followed by 16 Montgomery squarings and
 * one Montgomery multiplication by s (18 Montgomery operations, none to
 * leave the Montgomery domain). The multiply-accumulate row T += B * A (B
 * 64 bits, in registers) is the one hot loop; it, the squaring and the
 * reduction (digit computation, rows, carries) are AVR assembly in
 * bignum_avr.S (CONFIG_RSA_ASM), with C references in rsa.c. The expected
 * encoding EM = 00 01 FF..FF 00 || DigestInfo(SHA-256) || hash is built
 * byte by byte and compared with s^e mod n in full, in constant time
 * (nothing is parsed).
 *
 * Nothing in a verification is secret (n, s and the hash are public), so
 * the arithmetic branches on data (carries, the subtraction of n only
 * when a result reaches R); only the final comparison is constant-time,
 * as the brief asks.
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
 * bn_mac64 - the hot loop (exposed for tests): with T, A and B big-endian
 * numbers given by pointers just PAST their least significant byte
 * (position p of T is t[-1-p]), add B * A[0..len) to T[0..len+8), where
 * B is the 64-bit number b[-8..-1], and return the carry out of position
 * len+7 (0 or 1). len is 0..1020. B is read before anything is written; T
 * must not overlap A at positions still to be read (the AVR kernel writes
 * position p after reading A's byte p; the C reference may write up to 7
 * positions ahead, so in-place callers keep A above T's range).
 */
uint8_t bn_mac64(uint8_t *t, const uint8_t *a, uint16_t len, const uint8_t *b);

/*
 * bn_redc - Montgomery reduction in place (exposed for tests): T (2k
 * bytes, t just past position 0, with room for carries up to position
 * 2k+4, zeroed by the caller) becomes T + M n with M < 2^(8k) such that
 * positions 0..k-1 are zero; (T + M n) / 2^(8k) is then at positions
 * k..2k. n: k bytes, pointer just past its least significant byte; k a
 * multiple of 8; ni = -n^-1 mod 2^64, 8 bytes little-endian.
 */
void bn_redc(uint8_t *t, const uint8_t *n, uint16_t k, const uint8_t *ni);

/*
 * bn_sqr - squaring in place in the work area (exposed for tests): t is
 * just past position 0 of the (2k+5)-byte work number, x (k bytes) at
 * positions k..2k-1, positions 0..k-1 zero; afterwards x^2 is at
 * positions 0..2k-1. k a multiple of 8.
 */
void bn_sqr(uint8_t *t, uint16_t k);

#endif /* MS_RSA_H */
