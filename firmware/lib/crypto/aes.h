/*
 * aes.h - AES-128 block cipher (FIPS-197).
 *
 * Caller-owned context holding the expanded key (11 round keys, 176
 * bytes). The same context serves encryption and decryption (the inverse
 * cipher walks the schedule backwards and applies InvMixColumns itself),
 * so one schedule of 176 bytes of RAM is all a session needs. With
 * CONFIG_AES_KEY_ONTHEFLY (encryption only; the ATmega168's default) the
 * context is the 16-byte key and encryption derives the round keys as it
 * goes: the AVR assembly in the output block itself (the state is in
 * registers meanwhile; the last round leaves the ciphertext there), the
 * C reference in a wiped copy on its stack.
 *
 * Constant time on AVR: no branch depends on key or data; S-box lookups
 * are LPM reads from flash (constant time, no cache); xtime is computed
 * without branches. See docs/firmware.md.
 *
 * Interrupts are not masked: a handler that runs mid-cipher pushes the
 * registers it uses onto the free stack, and the cipher's registers hold
 * key-dependent bytes (S-box outputs of key ^ data, round-key bytes)
 * there until the stack is reused. The cipher leaves no secret behind
 * itself (make avr-test); an application that must rule out this residue
 * too calls it with interrupts off.
 *
 * Build options (config.h): CONFIG_AES_DECRYPT builds aes128_decrypt();
 * CONFIG_AES_ASM selects crypto/aes_avr.S (key expansion, both directions)
 * on AVR; the host always builds the C reference in aes.c.
 */
#ifndef MS_AES_H
#define MS_AES_H

#include <stdint.h>
#include <string.h>
#include "config.h"

#define AES128_KEY_SIZE 16
#define AES_BLOCK_SIZE 16
#define AES128_ROUNDS 10

/* The context: the expanded schedule (round keys 0..10, 16 bytes each),
 * or with CONFIG_AES_KEY_ONTHEFLY the key alone (round key 0; encryption
 * derives the others as it goes). */
#if CONFIG_AES_KEY_ONTHEFLY
#define AES128_CTX_SIZE 16
#else
#define AES128_CTX_SIZE 176
#endif
typedef struct {
	uint8_t rk[AES128_CTX_SIZE];
} aes128_ctx;

/*
 * aes128_init - expand key into ctx (copy it, with
 * CONFIG_AES_KEY_ONTHEFLY). Cannot fail. The caller should
 * wipe() its copy of the key when no longer needed and call
 * aes128_wipe(ctx) when the session ends.
 */
void aes128_init(aes128_ctx *ctx, const uint8_t key[16]);

/* aes128_encrypt - encrypt one block in place with the forward cipher.
 * The block (and aes128_encrypt_copy's out) must not overlap ctx: with
 * CONFIG_AES_KEY_ONTHEFLY the assembly derives the round keys there. */
void aes128_encrypt(const aes128_ctx *ctx, uint8_t block[16]);

/*
 * aes128_encrypt_copy - out = E(in); in and out may be the same block
 * (then it is aes128_encrypt) but must not otherwise overlap. Saves CTR
 * and CCM the copy of the counter block: the assembly loads from in and
 * stores to out; the C reference copies and encrypts in place.
 */
#if CONFIG_AES_ASM
void aes128_encrypt_copy(const aes128_ctx *ctx, const uint8_t in[16],
                         uint8_t out[16]);
#else
static inline void aes128_encrypt_copy(const aes128_ctx *ctx,
                                       const uint8_t in[16], uint8_t out[16])
{
	if (out != in) {
		memcpy(out, in, 16);
	}
	aes128_encrypt(ctx, out);
}
#endif

#if CONFIG_AES_DECRYPT
/* aes128_decrypt - decrypt one block in place with the inverse cipher. */
void aes128_decrypt(const aes128_ctx *ctx, uint8_t block[16]);
#endif

/* aes128_wipe - zero the key schedule. */
void aes128_wipe(aes128_ctx *ctx);

#endif /* MS_AES_H */
