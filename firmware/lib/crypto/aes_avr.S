/*
 * aes_avr.S - AES-128 key expansion and cipher in AVR assembly
 * (FIPS-197), selected by CONFIG_AES_ASM=1. crypto/aes.c is the C
 * reference for the same functions and both pass the same vectors
 * (make host-test runs the C; the device runs whichever was built).
 *
 *   void aes128_init(aes128_ctx *ctx, const uint8_t key[16]);
 *   void aes128_encrypt(const aes128_ctx *ctx, uint8_t block[16]);
 *   void aes128_encrypt_copy(const aes128_ctx *ctx, const uint8_t in[16],
 *                            uint8_t out[16]);
 *   void aes128_decrypt(const aes128_ctx *ctx, uint8_t block[16]);
 *                                        (with CONFIG_AES_DECRYPT)
 *
 * One copy of MixColumns: the encryption round falls through into it and
 * it jumps back; with CONFIG_AES_DECRYPT the inverse cipher jumps into
 * the same code and the T flag (the direction, public) sends it back.
 * Both directions share the entry (register saves, state load) and the
 * exit (last AddRoundKey fused with the stores). InvMixColumns is a
 * {04}-multiplication pre-step plus MixColumns.
 *
 * Constant time: no branch depends on key or data (the only branches are
 * the round loops, and with CONFIG_AES_KEY_ONTHEFLY the public rcon
 * step); S-box lookups are LPM from a 256-byte-aligned table, 3 cycles
 * for any index; xtime is lsl / sbc / andi / eor (4 cycles, no
 * branch).
 *
 * Register use (avr-gcc ABI: r2-r17, r28-r29 call-saved, r1 = 0 on
 * return, r0 scratch, arguments in r24:r25, r22:r23, r20:r21):
 *   state s[4c+r] of column c: c = 0,1 in r2..r9; c = 2,3 in r18..r25,
 *     so each column is two register pairs (movw in MixColumns)
 *   r10..r14, r0  scratch (ShiftRows temporaries, MixColumns sums, t);
 *                 r14:r15 the InvMixColumns pre-step's pair (decryption)
 *   X             round key pointer, read once in order with ld X+
 *   Z             S-box index (ZH = page of the table, ZL = byte; ZL is
 *                 also the xtime mask); the out pointer waits on the stack
 *   r1            round counter, counts down to 0 (so r1 = 0 at exit)
 * With CONFIG_AES_KEY_ONTHEFLY: Y the round key (derived in out, no
 * stack) instead of X, r16 rcon, no out pointer on the stack.
 */
#include "../config.h"
#if defined(__AVR__)
#include <avr/io.h>
#endif

#if defined(__AVR__) && CONFIG_AES_ASM

#define S0 r2
#define S1 r3
#define S2 r4
#define S3 r5
#define S4 r6
#define S5 r7
#define S6 r8
#define S7 r9
#define S8 r18
#define S9 r19
#define S10 r20
#define S11 r21
#define S12 r22
#define S13 r23
#define S14 r24
#define S15 r25

#define ZL r30
#define ZH r31

/* the call-saved registers the cipher uses (r2..r14), and back */
.macro SAVE_R2_R14
	push	r2
	push	r3
	push	r4
	push	r5
	push	r6
	push	r7
	push	r8
	push	r9
	push	r10
	push	r11
	push	r12
	push	r13
	push	r14
.endm
.macro RESTORE_R14_R2
	pop	r14
	pop	r13
	pop	r12
	pop	r11
	pop	r10
	pop	r9
	pop	r8
	pop	r7
	pop	r6
	pop	r5
	pop	r4
	pop	r3
	pop	r2
.endm

/* the state from in (Z) */
.macro LOAD_STATE
	ld	S0, Z+
	ld	S1, Z+
	ld	S2, Z+
	ld	S3, Z+
	ld	S4, Z+
	ld	S5, Z+
	ld	S6, Z+
	ld	S7, Z+
	ld	S8, Z+
	ld	S9, Z+
	ld	S10, Z+
	ld	S11, Z+
	ld	S12, Z+
	ld	S13, Z+
	ld	S14, Z+
	ld	S15, Z+
.endm

/* dst = S(src ^ next round-key byte) */
.macro SUBK dst, src
	ld	ZL, X+
	eor	ZL, \src
	lpm	\dst, Z
.endm

/* x = x * {02} in GF(2^8), branch-free; clobbers ZL (the S-box page in
 * ZH survives MixColumns) */
.macro XTIME x
	lsl	\x
	sbc	ZL, ZL
	andi	ZL, 0x1b
	eor	\x, ZL
.endm

/*
 * MixColumns on one column a0..a3 (a0:a1 a register pair; t0:t1 a pair of
 * temporaries, t2 a third): b_i = a_i ^ t ^ xtime(a_i ^ a_i+1), with
 * t = a0 ^ a1 ^ a2 ^ a3. xtime is linear, so xtime(a3 ^ a0) = xtime(a0^a1)
 * ^ xtime(a1^a2) ^ xtime(a2^a3): three xtimes instead of four; t is
 * folded into the three products first, so a3 gets t ^ xtime(a3 ^ a0)
 * from their sum. 28 cycles. The column is circulant, so any rotation of
 * its bytes may be passed. With mv = 1, a0 and a1 arrive in t0:t1 (where
 * ShiftRows left them) and the movw puts them home instead of copying
 * them out. Uses r0 (t) and ZL (xtime mask).
 */
.macro MIXCOL a0, a1, a2, a3, t0, t1, t2, mv
	.if \mv
	movw	\a0, \t0	/* a0, a1 home; t0, t1 keep copies */
	.else
	movw	\t0, \a0	/* t0 = a0, t1 = a1 */
	.endif
	mov	\t2, \a2
	eor	\t0, \a1	/* a0^a1 */
	eor	\t1, \a2	/* a1^a2 */
	eor	\t2, \a3	/* a2^a3 */
	mov	r0, \t0
	eor	r0, \t2		/* t */
	XTIME	\t0
	XTIME	\t1
	XTIME	\t2
	eor	\t0, r0
	eor	\t1, r0
	eor	\t2, r0
	eor	\a0, \t0
	eor	\a1, \t1
	eor	\a2, \t2
	eor	\a3, \t0
	eor	\a3, \t1
	eor	\a3, \t2
.endm

/*
 * MixColumns on the state as the round leaves it: s10, s11 in r10:r11 and
 * s14, s15 in r12:r13 (their home pairs free), the rest at home. Column 3
 * first (temporaries r12..r14, while r10:r11 wait), then column 2, 0, 1.
 */
.macro MIXCOLUMNS
	MIXCOL	S14, S15, S12, S13, r12, r13, r14, 1
	MIXCOL	S10, S11, S8, S9, r10, r11, r12, 1
	MIXCOL	S0, S1, S2, S3, r10, r11, r12, 0
	MIXCOL	S4, S5, S6, S7, r10, r11, r12, 0
.endm

/*
 * InvMixColumns = MixColumns after multiplying each column by
 * {04}x^2 + {05} (FIPS-197 5.3.3): a0 ^= u, a2 ^= u with
 * u = {04}(a0 ^ a2); a1 ^= v, a3 ^= v with v = {04}(a1 ^ a3).
 */
.macro INVPRE a0, a1, a2, a3
	movw	r14, \a0	/* r14 = a0, r15 = a1 */
	eor	r14, \a2
	eor	r15, \a3
	XTIME	r14
	XTIME	r14
	XTIME	r15
	XTIME	r15
	eor	\a0, r14
	eor	\a2, r14
	eor	\a1, r15
	eor	\a3, r15
.endm

/* out[i] = s ^ next round-key byte */
.macro AFINAL s, i
	ld	r0, X+
	eor	\s, r0
	std	Z+\i, \s
.endm

/* dst = InvS(src), ZH = page of the inverse S-box */
.macro INVSUB dst, src
	mov	ZL, \src
	lpm	\dst, Z
.endm

/*
 * Round keys are read backwards with ld -X (X starts at ctx + 176); the
 * state bytes are visited 15..0 so the key bytes line up; s10, s11, s14,
 * s15 are in r10..r13 (the layout INVSUBSHIFT leaves).
 */
.macro ADDKEY_DOWN
.irp s, r13, r12, S13, S12, r11, r10, S9, S8, S7, S6, S5, S4, S3, S2, S1, S0
	ld	r0, -X
	eor	\s, r0
.endr
.endm

/* InvShiftRows + InvSubBytes: row r moves r columns right. From the state
 * at home (as MixColumns leaves it) to the layout MixColumns takes: s10,
 * s11 in r10:r11, s14, s15 in r12:r13, which also spares the moves of
 * rows 2 and 3. */
.macro INVSUBSHIFT
	INVSUB	S0, S0
	INVSUB	S4, S4
	INVSUB	S8, S8
	INVSUB	S12, S12
	INVSUB	r0, S13		/* row 1: 1 <- 13 <- 9 <- 5 <- 1 */
	INVSUB	S13, S9
	INVSUB	S9, S5
	INVSUB	S5, S1
	mov	S1, r0
	INVSUB	r10, S2		/* row 2: 10 <- 2 <- 10, 14 <- 6 <- 14 */
	INVSUB	S2, S10
	INVSUB	r12, S6
	INVSUB	S6, S14
	INVSUB	r13, S3		/* row 3: 15 <- 3 <- 7 <- 11 <- 15 */
	INVSUB	S3, S7
	INVSUB	S7, S11
	INVSUB	r11, S15
.endm

/* The S-box, FIPS-197 figure 7, on a 256-byte boundary. Its section
 * name puts it among the linker's first flash data (.progmem.gcc*, right
 * after the vector table: the lower 64 KB, which LPM reaches), so that
 * the padding before it is what the vectors and switch tables leave of
 * the first 256 bytes, not whatever the other tables' sizes leave
 * (0..255 bytes, changing with every table). */
	.section .progmem.gcc_aes_sbox, "a", @progbits
	.balign	256
	.global	aes_sbox
	.type	aes_sbox, @object
aes_sbox:
	.byte 0x63,0x7c,0x77,0x7b,0xf2,0x6b,0x6f,0xc5,0x30,0x01,0x67,0x2b,0xfe,0xd7,0xab,0x76
	.byte 0xca,0x82,0xc9,0x7d,0xfa,0x59,0x47,0xf0,0xad,0xd4,0xa2,0xaf,0x9c,0xa4,0x72,0xc0
	.byte 0xb7,0xfd,0x93,0x26,0x36,0x3f,0xf7,0xcc,0x34,0xa5,0xe5,0xf1,0x71,0xd8,0x31,0x15
	.byte 0x04,0xc7,0x23,0xc3,0x18,0x96,0x05,0x9a,0x07,0x12,0x80,0xe2,0xeb,0x27,0xb2,0x75
	.byte 0x09,0x83,0x2c,0x1a,0x1b,0x6e,0x5a,0xa0,0x52,0x3b,0xd6,0xb3,0x29,0xe3,0x2f,0x84
	.byte 0x53,0xd1,0x00,0xed,0x20,0xfc,0xb1,0x5b,0x6a,0xcb,0xbe,0x39,0x4a,0x4c,0x58,0xcf
	.byte 0xd0,0xef,0xaa,0xfb,0x43,0x4d,0x33,0x85,0x45,0xf9,0x02,0x7f,0x50,0x3c,0x9f,0xa8
	.byte 0x51,0xa3,0x40,0x8f,0x92,0x9d,0x38,0xf5,0xbc,0xb6,0xda,0x21,0x10,0xff,0xf3,0xd2
	.byte 0xcd,0x0c,0x13,0xec,0x5f,0x97,0x44,0x17,0xc4,0xa7,0x7e,0x3d,0x64,0x5d,0x19,0x73
	.byte 0x60,0x81,0x4f,0xdc,0x22,0x2a,0x90,0x88,0x46,0xee,0xb8,0x14,0xde,0x5e,0x0b,0xdb
	.byte 0xe0,0x32,0x3a,0x0a,0x49,0x06,0x24,0x5c,0xc2,0xd3,0xac,0x62,0x91,0x95,0xe4,0x79
	.byte 0xe7,0xc8,0x37,0x6d,0x8d,0xd5,0x4e,0xa9,0x6c,0x56,0xf4,0xea,0x65,0x7a,0xae,0x08
	.byte 0xba,0x78,0x25,0x2e,0x1c,0xa6,0xb4,0xc6,0xe8,0xdd,0x74,0x1f,0x4b,0xbd,0x8b,0x8a
	.byte 0x70,0x3e,0xb5,0x66,0x48,0x03,0xf6,0x0e,0x61,0x35,0x57,0xb9,0x86,0xc1,0x1d,0x9e
	.byte 0xe1,0xf8,0x98,0x11,0x69,0xd9,0x8e,0x94,0x9b,0x1e,0x87,0xe9,0xce,0x55,0x28,0xdf
	.byte 0x8c,0xa1,0x89,0x0d,0xbf,0xe6,0x42,0x68,0x41,0x99,0x2d,0x0f,0xb0,0x54,0xbb,0x16
	.size	aes_sbox, 256

#if CONFIG_AES_DECRYPT
/* The inverse S-box, FIPS-197 figure 14, in its own section so that
 * --gc-sections drops it when aes128_decrypt is not linked. */
	.section .progmem.gcc_aes_inv_sbox, "a", @progbits
	.balign	256
	.global	aes_inv_sbox
	.type	aes_inv_sbox, @object
aes_inv_sbox:
	.byte 0x52,0x09,0x6a,0xd5,0x30,0x36,0xa5,0x38,0xbf,0x40,0xa3,0x9e,0x81,0xf3,0xd7,0xfb
	.byte 0x7c,0xe3,0x39,0x82,0x9b,0x2f,0xff,0x87,0x34,0x8e,0x43,0x44,0xc4,0xde,0xe9,0xcb
	.byte 0x54,0x7b,0x94,0x32,0xa6,0xc2,0x23,0x3d,0xee,0x4c,0x95,0x0b,0x42,0xfa,0xc3,0x4e
	.byte 0x08,0x2e,0xa1,0x66,0x28,0xd9,0x24,0xb2,0x76,0x5b,0xa2,0x49,0x6d,0x8b,0xd1,0x25
	.byte 0x72,0xf8,0xf6,0x64,0x86,0x68,0x98,0x16,0xd4,0xa4,0x5c,0xcc,0x5d,0x65,0xb6,0x92
	.byte 0x6c,0x70,0x48,0x50,0xfd,0xed,0xb9,0xda,0x5e,0x15,0x46,0x57,0xa7,0x8d,0x9d,0x84
	.byte 0x90,0xd8,0xab,0x00,0x8c,0xbc,0xd3,0x0a,0xf7,0xe4,0x58,0x05,0xb8,0xb3,0x45,0x06
	.byte 0xd0,0x2c,0x1e,0x8f,0xca,0x3f,0x0f,0x02,0xc1,0xaf,0xbd,0x03,0x01,0x13,0x8a,0x6b
	.byte 0x3a,0x91,0x11,0x41,0x4f,0x67,0xdc,0xea,0x97,0xf2,0xcf,0xce,0xf0,0xb4,0xe6,0x73
	.byte 0x96,0xac,0x74,0x22,0xe7,0xad,0x35,0x85,0xe2,0xf9,0x37,0xe8,0x1c,0x75,0xdf,0x6e
	.byte 0x47,0xf1,0x1a,0x71,0x1d,0x29,0xc5,0x89,0x6f,0xb7,0x62,0x0e,0xaa,0x18,0xbe,0x1b
	.byte 0xfc,0x56,0x3e,0x4b,0xc6,0xd2,0x79,0x20,0x9a,0xdb,0xc0,0xfe,0x78,0xcd,0x5a,0xf4
	.byte 0x1f,0xdd,0xa8,0x33,0x88,0x07,0xc7,0x31,0xb1,0x12,0x10,0x59,0x27,0x80,0xec,0x5f
	.byte 0x60,0x51,0x7f,0xa9,0x19,0xb5,0x4a,0x0d,0x2d,0xe5,0x7a,0x9f,0x93,0xc9,0x9c,0xef
	.byte 0xa0,0xe0,0x3b,0x4d,0xae,0x2a,0xf5,0xb0,0xc8,0xeb,0xbb,0x3c,0x83,0x53,0x99,0x61
	.byte 0x17,0x2b,0x04,0x7e,0xba,0x77,0xd6,0x26,0xe1,0x69,0x14,0x63,0x55,0x21,0x0c,0x7d
	.size	aes_inv_sbox, 256
#endif

/* ------------------------------------------------------------------ */
/* void aes128_encrypt(const aes128_ctx *ctx, uint8_t block[16])       */
/* ------------------------------------------------------------------ */
/*
 * Layout: the encryption round (AddRoundKey + SubBytes + ShiftRows) falls
 * through into MixColumns, which jumps back (5 cycles of loop overhead per
 * round, no call). With CONFIG_AES_DECRYPT the inverse cipher jumps into
 * the same MixColumns code and the T flag (the direction, public) sends it
 * back to the inverse round; both directions also share the entry
 * (register saves, state load) and the exit (last AddRoundKey fused with
 * the stores).
 */
#if !CONFIG_AES_KEY_ONTHEFLY
#if CONFIG_AES_DECRYPT
	.section .text.aes128_crypt, "ax", @progbits
	.global	aes128_decrypt
	.type	aes128_decrypt, @function
aes128_decrypt:
	set
	movw	r20, r22		/* in place */
	rjmp	aes_common
	.global	aes128_encrypt
	.type	aes128_encrypt, @function
aes128_encrypt:
	movw	r20, r22		/* in place */
	.global	aes128_encrypt_copy
	.type	aes128_encrypt_copy, @function
aes128_encrypt_copy:
	clt
aes_common:
#else
	.section .text.aes128_encrypt, "ax", @progbits
	.global	aes128_encrypt
	.type	aes128_encrypt, @function
aes128_encrypt:
	movw	r20, r22		/* in place */
	.global	aes128_encrypt_copy
	.type	aes128_encrypt_copy, @function
aes128_encrypt_copy:
#endif
	SAVE_R2_R14
	push	r20			/* out, for the stores */
	push	r21
	movw	r26, r24		/* X = round keys */
	movw	r30, r22		/* Z = in */
	LOAD_STATE
	ldi	r31, 10
	mov	r1, r31			/* rounds, counts down to 0 */
#if CONFIG_AES_DECRYPT
	brts	aes_dec_stub
#endif
	ldi	ZH, hi8(aes_sbox)	/* MixColumns leaves ZH alone */
	rjmp	aes_enc_round
#if CONFIG_AES_DECRYPT
aes_dec_stub:
	rjmp	aes_decrypt_start
#endif
aes_enc_last:
	movw	S10, r10		/* s10, s11 home */
	movw	S14, r12		/* s14, s15 home */
	rjmp	aes_final		/* X = round key 10 */
aes_enc_round:
	/* AddRoundKey + SubBytes + ShiftRows: old byte p goes to
	 * 4*((p/4 - p%4) & 3) + p%4. The round key is read in order, so
	 * bytes whose destination has not been read yet wait: s13 in r0
	 * and s7 in r14 until their homes are free (2 moves per round);
	 * s10, s11 stay in r10:r11 and s14, s15 in r12:r13 for MixColumns,
	 * whose movw puts them home. */
	SUBK	S0, S0
	SUBK	r0, S1		/* -> 13 */
	SUBK	r10, S2		/* -> 10 */
	SUBK	r14, S3		/* -> 7 */
	SUBK	S4, S4
	SUBK	S1, S5
	SUBK	r12, S6		/* -> 14 */
	SUBK	r11, S7		/* -> 11 */
	mov	S7, r14
	SUBK	S8, S8
	SUBK	S5, S9
	SUBK	S2, S10
	SUBK	r13, S11	/* -> 15 */
	SUBK	S12, S12
	SUBK	S9, S13
	mov	S13, r0
	SUBK	S6, S14
	SUBK	S3, S15
	dec	r1
	breq	aes_enc_last
aes_mix_columns:
	MIXCOLUMNS
#if CONFIG_AES_DECRYPT
	brts	aes_dec_after_mix
#endif
	rjmp	aes_enc_round
#if CONFIG_AES_DECRYPT
/*
 * The inverse cipher: AddRoundKey(10), then InvShiftRows + InvSubBytes,
 * and nine times AddRoundKey(r), InvMixColumns (a {04} pre-step plus the
 * shared MixColumns), InvShiftRows + InvSubBytes; AddRoundKey(0) is
 * fused with the stores in aes_final.
 */
aes_dec_last:
	pop	r15			/* pushed by aes_decrypt_start */
	movw	S10, r10		/* s10, s11 home */
	movw	S14, r12		/* s14, s15 home */
	sbiw	r26, 16			/* X = round key 0 */
	rjmp	aes_final		/* round key 0, with the stores */
aes_dec_after_mix:
	INVSUBSHIFT
	dec	r1
	breq	aes_dec_last
aes_dec_addkey:
	ADDKEY_DOWN			/* round keys 10..1 */
	brts	1f
	set				/* first pass (round key 10): no */
	movw	S10, r10		/* InvMixColumns; state home for */
	movw	S14, r12		/* InvShiftRows */
	rjmp	aes_dec_after_mix
1:
	INVPRE	S0, S1, S2, S3
	INVPRE	S4, S5, S6, S7
	INVPRE	S8, S9, r10, r11
	INVPRE	S12, S13, r12, r13
	rjmp	aes_mix_columns
aes_decrypt_start:
	subi	r26, lo8(-176)		/* X = ctx + 176 */
	sbci	r27, hi8(-176)
	ldi	ZH, hi8(aes_inv_sbox)	/* for the whole inverse cipher */
	push	r15			/* InvMixColumns pre-step; popped */
	clt				/* T = 0 marks the first pass */
	movw	r10, S10		/* the layout ADDKEY_DOWN takes */
	movw	r12, S14
	rjmp	aes_dec_addkey
#endif
aes_final:
	/* last AddRoundKey (X = that round key), fused with the stores
	 * to out */
	pop	r31
	pop	r30
	AFINAL	S0, 0
	AFINAL	S1, 1
	AFINAL	S2, 2
	AFINAL	S3, 3
	AFINAL	S4, 4
	AFINAL	S5, 5
	AFINAL	S6, 6
	AFINAL	S7, 7
	AFINAL	S8, 8
	AFINAL	S9, 9
	AFINAL	S10, 10
	AFINAL	S11, 11
	AFINAL	S12, 12
	AFINAL	S13, 13
	AFINAL	S14, 14
	AFINAL	S15, 15
	RESTORE_R14_R2
	ret				/* r1 is 0: the round counter ran out */
#if CONFIG_AES_DECRYPT
	.size	aes128_decrypt, . - aes128_decrypt
#endif
	.size	aes128_encrypt, . - aes128_encrypt
	.size	aes128_encrypt_copy, . - aes128_encrypt_copy
#else /* CONFIG_AES_KEY_ONTHEFLY */

/*
 * The same cipher with the round keys computed on the fly
 * (CONFIG_AES_KEY_ONTHEFLY, encryption only): ctx holds the key; a copy
 * of it in out (Y) becomes round key 1, 2, .. 10 in place between the
 * rounds: the state is in registers from the first load to the last
 * store, so out is free meanwhile (no stack for the key), and the last
 * AddRoundKey turns round key 10 into the ciphertext byte by byte. (out
 * must not overlap ctx, aes.h.) The key step runs
 * where the state is home (after MixColumns, and after the last round's
 * ShiftRows put s10, s11, s14, s15 home), so r10..r14 are free for it:
 * r10..r13 carry the new word w0 down the cascade w1 ^= w0, w2 ^= w1,
 * w3 ^= w2. rcon in r16 (public, like the round counter in r1).
 */

/* dst = S(src ^ round-key byte i) */
.macro SUBKY dst, src, i
	ldd	ZL, Y+\i
	eor	ZL, \src
	lpm	\dst, Z
.endm

/* out[i] = s ^ round-key byte i, which out[i] holds (through r14, not
 * r0: every interrupt handler saves r0, on free stack) */
.macro AFINALY s, i
	ldd	r14, Y+\i
	eor	\s, r14
	std	Y+\i, \s
.endm

/* w0 byte i: a = k[i] ^ S(k[j]) (j the RotWord source in w3), ^ rcon
 * with rc = 1 */
.macro KEYW0 a, j, i, rc=0
	ldd	ZL, Y+\j
	lpm	\a, Z
	.if \rc
	eor	\a, r16
	.endif
	ldd	r14, Y+\i
	eor	\a, r14
	std	Y+\i, \a
.endm

/* w1..w3 byte i: k[i] ^= k[i-4], with k[i-4] (new) in a */
.macro KEYW a, i
	ldd	r14, Y+\i
	eor	\a, r14
	std	Y+\i, \a
.endm

	.section .text.aes128_encrypt, "ax", @progbits
	.global	aes128_encrypt
	.type	aes128_encrypt, @function
aes128_encrypt:
	movw	r20, r22		/* in place */
	.global	aes128_encrypt_copy
	.type	aes128_encrypt_copy, @function
aes128_encrypt_copy:
	SAVE_R2_R14
	push	r16
	push	r28
	push	r29
	movw	r26, r24		/* X = ctx */
	movw	r28, r20		/* Y = out */
	movw	r30, r22		/* Z = in */
	LOAD_STATE			/* (in read: out may be in) */
	/* round key 0 = the key, into out (through r14, as AFINALY) */
	ldi	r16, 16
1:	ld	r14, X+
	st	Y+, r14
	dec	r16
	brne	1b
	sbiw	r28, 16
	ldi	r31, 10
	mov	r1, r31			/* rounds, counts down to 0 */
	ldi	r16, 1			/* rcon */
	ldi	ZH, hi8(aes_sbox)	/* MixColumns leaves ZH alone */
	rjmp	aes_enc_round
aes_enc_last:
	movw	S10, r10		/* s10, s11 home */
	movw	S14, r12		/* s14, s15 home */
	rjmp	aes_next_key		/* round key 10, then the stores */
aes_enc_round:
	/* AddRoundKey + SubBytes + ShiftRows, as in the expanded cipher
	 * above (same moves), the key bytes from Y + 0..15 */
	SUBKY	S0, S0, 0
	SUBKY	r0, S1, 1	/* -> 13 */
	SUBKY	r10, S2, 2	/* -> 10 */
	SUBKY	r14, S3, 3	/* -> 7 */
	SUBKY	S4, S4, 4
	SUBKY	S1, S5, 5
	SUBKY	r12, S6, 6	/* -> 14 */
	SUBKY	r11, S7, 7	/* -> 11 */
	mov	S7, r14
	SUBKY	S8, S8, 8
	SUBKY	S5, S9, 9
	SUBKY	S2, S10, 10
	SUBKY	r13, S11, 11	/* -> 15 */
	SUBKY	S12, S12, 12
	SUBKY	S9, S13, 13
	mov	S13, r0
	SUBKY	S6, S14, 14
	SUBKY	S3, S15, 15
	dec	r1
	breq	aes_enc_last
	MIXCOLUMNS
aes_next_key:
	/* w0 ^= SubWord(RotWord(w3)) ^ rcon, w1 ^= w0, w2 ^= w1, w3 ^= w2 */
	KEYW0	r10, 13, 0, 1
	KEYW0	r11, 14, 1
	KEYW0	r12, 15, 2
	KEYW0	r13, 12, 3
	KEYW	r10, 4
	KEYW	r11, 5
	KEYW	r12, 6
	KEYW	r13, 7
	KEYW	r10, 8
	KEYW	r11, 9
	KEYW	r12, 10
	KEYW	r13, 11
	KEYW	r10, 12
	KEYW	r11, 13
	KEYW	r12, 14
	KEYW	r13, 15
	lsl	r16			/* rcon = xtime(rcon); public */
	brcc	1f
	ldi	r16, 0x1b
1:	tst	r1
	breq	aes_final
	rjmp	aes_enc_round
aes_final:
	/* last AddRoundKey (round key 10, in out), fused with the stores:
	 * out holds the ciphertext, no round key */
	AFINALY	S0, 0
	AFINALY	S1, 1
	AFINALY	S2, 2
	AFINALY	S3, 3
	AFINALY	S4, 4
	AFINALY	S5, 5
	AFINALY	S6, 6
	AFINALY	S7, 7
	AFINALY	S8, 8
	AFINALY	S9, 9
	AFINALY	S10, 10
	AFINALY	S11, 11
	AFINALY	S12, 12
	AFINALY	S13, 13
	AFINALY	S14, 14
	AFINALY	S15, 15
	pop	r29
	pop	r28
	pop	r16
	RESTORE_R14_R2
	ret
	.size	aes128_encrypt, . - aes128_encrypt
	.size	aes128_encrypt_copy, . - aes128_encrypt_copy
#endif /* CONFIG_AES_KEY_ONTHEFLY */

/* ------------------------------------------------------------------ */
/* void aes128_init(aes128_ctx *ctx, const uint8_t key[16])            */
/* ------------------------------------------------------------------ */
/*
 * The current round key lives in K0..K15; each round is stored with
 * st X+ and the next one computed in registers. The loop ends when rcon
 * steps past 0x36 (the 10th constant) to 0x6c. rcon is public.
 */
#define K0 r0
#define K1 r1
#define K2 r18
#define K3 r19
#define K4 r20
#define K5 r21
#define K6 r22
#define K7 r23
#define K8 r24
#define K9 r2
#define K10 r3
#define K11 r4
#define K12 r5
#define K13 r6
#define K14 r7
#define K15 r8
#define RCON r25

#if CONFIG_AES_KEY_ONTHEFLY
/* the context is the key (round key 0) */
	.section .text.aes128_init, "ax", @progbits
	.global	aes128_init
	.type	aes128_init, @function
aes128_init:
	movw	r26, r24		/* X = ctx */
	movw	r30, r22		/* Z = key */
	ldi	r18, 16
1:	ld	r0, Z+
	st	X+, r0
	dec	r18
	brne	1b
	ret
	.size	aes128_init, . - aes128_init
#else
	.section .text.aes128_init, "ax", @progbits
	.global	aes128_init
	.type	aes128_init, @function
aes128_init:
	push	r2
	push	r3
	push	r4
	push	r5
	push	r6
	push	r7
	push	r8
	movw	r26, r24		/* X = round keys */
	movw	r30, r22		/* Z = key */
.irp k, K0, K1, K2, K3, K4, K5, K6, K7, K8, K9, K10, K11, K12, K13, K14, K15
	ld	\k, Z+
.endr
	ldi	ZH, hi8(aes_sbox)
	ldi	RCON, 1
1:
.irp k, K0, K1, K2, K3, K4, K5, K6, K7, K8, K9, K10, K11, K12, K13, K14, K15
	st	X+, \k
.endr
	cpi	RCON, 0x6c
	breq	2f
	/* w0 ^= SubWord(RotWord(w3)) ^ rcon */
	mov	ZL, K13
	lpm	ZL, Z
	eor	K0, ZL
	eor	K0, RCON
	mov	ZL, K14
	lpm	ZL, Z
	eor	K1, ZL
	mov	ZL, K15
	lpm	ZL, Z
	eor	K2, ZL
	mov	ZL, K12
	lpm	ZL, Z
	eor	K3, ZL
	/* w1 ^= w0, w2 ^= w1, w3 ^= w2 */
	eor	K4, K0
	eor	K5, K1
	eor	K6, K2
	eor	K7, K3
	eor	K8, K4
	eor	K9, K5
	eor	K10, K6
	eor	K11, K7
	eor	K12, K8
	eor	K13, K9
	eor	K14, K10
	eor	K15, K11
	lsl	RCON			/* rcon = xtime(rcon); public */
	brcc	1b
	ldi	RCON, 0x1b
	rjmp	1b
2:
	clr	r1
	pop	r8
	pop	r7
	pop	r6
	pop	r5
	pop	r4
	pop	r3
	pop	r2
	ret
	.size	aes128_init, . - aes128_init
#endif /* CONFIG_AES_KEY_ONTHEFLY */

#endif /* __AVR__ && CONFIG_AES_ASM */
