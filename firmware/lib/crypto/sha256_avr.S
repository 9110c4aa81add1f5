/*
 * sha256_avr.S - the SHA-256 compression function (FIPS 180-4 section
 * 6.2.2) in AVR assembly, selected by CONFIG_SHA256_ASM=1; crypto/sha256.c
 * holds the C reference (sha256_block) and the rest of SHA-256.
 * `make avr-test` checks this code against the C on simavr.
 *
 *   void sha256_compress_avr(uint32_t h[8], const uint8_t block[64]);
 *
 * Frame (128 bytes on the stack, Y = its first byte, wiped on return):
 *   Y+0..63    W[0..15], the message schedule as a ring of 16 words
 *   Y+64..127  v[0..15], the working variables: round i uses
 *              a..h = v[k..k+7] with k = -i mod 8; v[j] and v[j+8] are kept
 *              equal, so a round writes only the new a and e (twice each)
 * Words are stored little-endian (AVR order). Every index is derived from
 * r26 = 4i (mod 256): W[i+c] at Y + ((4i + 4c) & 60), the window at
 * Y + 64 + (-4i & 28), K[i] at sha256_k + 4i. Branches depend on i only.
 *
 * Register groups (4 bytes, little-endian): ACC r2-r5 (T1), E r6-r9,
 * F r10-r13, G r14-r17, H r18-r21, T r22-r25; r26 = 4i, r27 scratch,
 * Y frame, Z pointer, r0 scratch, r1 = 0.
 */
#include "../config.h"

#if defined(__AVR__) && CONFIG_SHA256_ASM

#define ACC r2, r3, r4, r5
#define GE r6, r7, r8, r9
#define GF r10, r11, r12, r13
#define GG r14, r15, r16, r17
#define GH r18, r19, r20, r21
#define GT r22, r23, r24, r25

#define SPL_ 0x3d
#define SPH_ 0x3e
#define SREG_ 0x3f

.macro MOV4 d0, d1, d2, d3, s0, s1, s2, s3
	movw	\d0, \s0
	movw	\d2, \s2
.endm
.macro XOR4 d0, d1, d2, d3, s0, s1, s2, s3
	eor	\d0, \s0
	eor	\d1, \s1
	eor	\d2, \s2
	eor	\d3, \s3
.endm
.macro AND4 d0, d1, d2, d3, s0, s1, s2, s3
	and	\d0, \s0
	and	\d1, \s1
	and	\d2, \s2
	and	\d3, \s3
.endm
.macro OR4 d0, d1, d2, d3, s0, s1, s2, s3
	or	\d0, \s0
	or	\d1, \s1
	or	\d2, \s2
	or	\d3, \s3
.endm
.macro ADD4 d0, d1, d2, d3, s0, s1, s2, s3
	add	\d0, \s0
	adc	\d1, \s1
	adc	\d2, \s2
	adc	\d3, \s3
.endm
/* d = s rotated right by 8 / left by 8 / by 16 (register moves) */
.macro ROR8C d0, d1, d2, d3, s0, s1, s2, s3
	mov	\d0, \s1
	mov	\d1, \s2
	mov	\d2, \s3
	mov	\d3, \s0
.endm
.macro ROL8C d0, d1, d2, d3, s0, s1, s2, s3
	mov	\d0, \s3
	mov	\d1, \s0
	mov	\d2, \s1
	mov	\d3, \s2
.endm
.macro ROR16C d0, d1, d2, d3, s0, s1, s2, s3
	movw	\d0, \s2
	movw	\d2, \s0
.endm
/* d = s >> 8 */
.macro SHR8C d0, d1, d2, d3, s0, s1, s2, s3
	mov	\d0, \s1
	mov	\d1, \s2
	mov	\d2, \s3
	clr	\d3
.endm
.macro ROR1 d0, d1, d2, d3
	bst	\d0, 0
	ror	\d3
	ror	\d2
	ror	\d1
	ror	\d0
	bld	\d3, 7
.endm
.macro ROL1 d0, d1, d2, d3
	lsl	\d0
	rol	\d1
	rol	\d2
	rol	\d3
	adc	\d0, r1
.endm
.macro SHR1 d0, d1, d2, d3
	lsr	\d3
	ror	\d2
	ror	\d1
	ror	\d0
.endm
/* d = word at Z+q; d += word at Z+q; word at Z+q = s */
.macro LDZ d0, d1, d2, d3, q
	ldd	\d0, Z+\q
	ldd	\d1, Z+\q+1
	ldd	\d2, Z+\q+2
	ldd	\d3, Z+\q+3
.endm
.macro ADDZ d0, d1, d2, d3, q
	ldd	r0, Z+\q
	add	\d0, r0
	ldd	r0, Z+\q+1
	adc	\d1, r0
	ldd	r0, Z+\q+2
	adc	\d2, r0
	ldd	r0, Z+\q+3
	adc	\d3, r0
.endm
.macro STZ q, s0, s1, s2, s3
	std	Z+\q, \s0
	std	Z+\q+1, \s1
	std	Z+\q+2, \s2
	std	Z+\q+3, \s3
.endm
/* Z = &W[i + c] (c in words, may be negative) */
.macro WPTR c
	mov	r27, r26
	subi	r27, lo8(-4 * (\c))
	andi	r27, 60
	movw	r30, r28
	add	r30, r27
	adc	r31, r1
.endm
/* Z = Y + 64 + ((-(4i + 4 * n) + 4 * m) & 28): the window of round i + n
 * shifted by m words */
.macro VPTR n, m
	mov	r27, r26
	subi	r27, lo8(-4 * (\n))
	neg	r27
	subi	r27, lo8(-4 * (\m))
	andi	r27, 28
	subi	r27, lo8(-64)
	movw	r30, r28
	add	r30, r27
	adc	r31, r1
.endm

/* G = Sigma1(E) = ror6 ^ ror11 ^ ror25, temp H */
.macro BSIGMA1
	ROR8C	GG, GE
	ROL1	GG
	ROL1	GG
	ROR8C	GH, GE
	ROR1	GH
	ROR1	GH
	ROR1	GH
	XOR4	GG, GH
	ROL8C	GH, GE
	ROR1	GH
	XOR4	GG, GH
.endm
/* G = Sigma0(E) = ror2 ^ ror13 ^ ror22, temp H */
.macro BSIGMA0
	MOV4	GG, GE
	ROR1	GG
	ROR1	GG
	ROR16C	GH, GE
	ROL1	GH
	ROL1	GH
	ROL1	GH
	XOR4	GG, GH
	ROL8C	GH, GE
	ROL1	GH
	ROL1	GH
	XOR4	GG, GH
.endm
/* G = sigma0(E) = ror7 ^ ror18 ^ shr3, temp H */
.macro SSIGMA0
	ROR8C	GG, GE
	ROL1	GG
	ROR16C	GH, GE
	ROR1	GH
	ROR1	GH
	XOR4	GG, GH
	MOV4	GH, GE
	SHR1	GH
	SHR1	GH
	SHR1	GH
	XOR4	GG, GH
.endm
/* F = sigma1(E) = ror17 ^ ror19 ^ shr10, temp H */
.macro SSIGMA1
	ROR16C	GF, GE
	ROR1	GF
	MOV4	GH, GF
	ROR1	GH
	ROR1	GH
	XOR4	GF, GH
	SHR8C	GH, GE
	SHR1	GH
	SHR1	GH
	XOR4	GF, GH
.endm

	.section .progmem.sha256_k, "a", @progbits
	.type	sha256_k_avr, @object
sha256_k_avr:
	.long 0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5
	.long 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5
	.long 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3
	.long 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174
	.long 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc
	.long 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da
	.long 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7
	.long 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967
	.long 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13
	.long 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85
	.long 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3
	.long 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070
	.long 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5
	.long 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3
	.long 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208
	.long 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
	.size	sha256_k_avr, . - sha256_k_avr

	.section .text.sha256_compress_avr, "ax", @progbits
	.global	sha256_compress_avr
	.type	sha256_compress_avr, @function
sha256_compress_avr:
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
	push	r15
	push	r16
	push	r17
	push	r28
	push	r29
	push	r24			/* h: at Y+129 (low), Y+128 (high) */
	push	r25
	in	r28, SPL_
	in	r29, SPH_
	subi	r28, 128
	sbc	r29, r1
	in	r0, SREG_
	cli
	out	SPH_, r29
	out	SREG_, r0
	out	SPL_, r28
	adiw	r28, 1			/* Y = frame */

	/* v[j] = v[j + 8] = h[j] */
	movw	r26, r24		/* X = h */
	movw	r30, r28
	adiw	r30, 63
	adiw	r30, 1			/* Z = v */
	ldi	r16, 32
1:	ld	r0, X+
	std	Z+32, r0
	st	Z+, r0
	dec	r16
	brne	1b
	/* W[j] = big-endian word j of the block */
	movw	r30, r22		/* Z = block */
	movw	r26, r28		/* X = W */
	ldi	r16, 16
2:	ld	r21, Z+
	ld	r20, Z+
	ld	r19, Z+
	ld	r18, Z+
	st	X+, r18
	st	X+, r19
	st	X+, r20
	st	X+, r21
	dec	r16
	brne	2b

	clr	r26			/* 4i */
.Lround:
	/* ACC = K[i] */
	ldi	r30, lo8(sha256_k_avr)
	ldi	r31, hi8(sha256_k_avr)
	add	r30, r26
	adc	r31, r1
	lpm	r2, Z+
	lpm	r3, Z+
	lpm	r4, Z+
	lpm	r5, Z
	cpi	r26, 64
	brsh	.Lsched
	/* rounds 0..15: ACC += W[i] */
	WPTR	0
	ADDZ	ACC, 0
	rjmp	.Lmain
.Lsched:
	/* W[i] += sigma1(W[i-2]) + W[i-7] + sigma0(W[i-15]); ACC += W[i] */
	WPTR	-15
	LDZ	GE, 0
	SSIGMA0
	WPTR	-2
	LDZ	GE, 0
	SSIGMA1
	ADD4	GG, GF
	WPTR	-7
	ADDZ	GG, 0
	WPTR	0
	ADDZ	GG, 0
	STZ	0, GG
	ADD4	ACC, GG
.Lmain:
	VPTR	0, 0			/* Z = &a */
	/* ACC += h + Sigma1(e) + Ch(e, f, g) */
	LDZ	GE, 16
	LDZ	GF, 20
	LDZ	GG, 24
	XOR4	GF, GG
	AND4	GF, GE
	XOR4	GF, GG
	ADD4	ACC, GF
	ADDZ	ACC, 28
	BSIGMA1
	ADD4	ACC, GG			/* ACC = T1 */
	/* G = T2 = Sigma0(a) + Maj(a, b, c) */
	LDZ	GE, 0
	LDZ	GF, 4
	LDZ	GT, 8
	BSIGMA0
	MOV4	GH, GE
	OR4	GH, GF
	AND4	GH, GT
	AND4	GF, GE
	OR4	GF, GH
	ADD4	GG, GF
	/* e' = d + T1, a' = T1 + T2 */
	LDZ	GE, 12
	ADD4	GE, ACC
	ADD4	GG, ACC
	VPTR	1, 0			/* a' at the next round's v[k] */
	STZ	0, GG
	STZ	32, GG
	VPTR	1, 4			/* e' at the next round's v[k + 4] */
	STZ	0, GE
	STZ	32, GE
	subi	r26, -4
	breq	3f
	rjmp	.Lround
3:
	/* h[j] += v[j] (k = 0 again after 64 rounds) */
	movw	r30, r28
	subi	r30, lo8(-128)
	sbci	r31, hi8(-128)
	ld	r27, Z+			/* pushed r25 */
	ld	r26, Z			/* pushed r24: X = h */
	movw	r30, r28
	adiw	r30, 63
	adiw	r30, 1			/* Z = v */
	ldi	r16, 8
4:	ld	r18, X
	ld	r0, Z+
	add	r18, r0
	st	X+, r18
	ld	r18, X
	ld	r0, Z+
	adc	r18, r0
	st	X+, r18
	ld	r18, X
	ld	r0, Z+
	adc	r18, r0
	st	X+, r18
	ld	r18, X
	ld	r0, Z+
	adc	r18, r0
	st	X+, r18
	dec	r16
	brne	4b
	/* wipe the frame */
	movw	r30, r28
	ldi	r16, 128
5:	st	Z+, r1
	dec	r16
	brne	5b
	subi	r28, lo8(-127)		/* SP = Y + 127 */
	sbci	r29, hi8(-127)
	in	r0, SREG_
	cli
	out	SPH_, r29
	out	SREG_, r0
	out	SPL_, r28
	pop	r0
	pop	r0
	pop	r29
	pop	r28
	pop	r17
	pop	r16
	pop	r15
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
	ret
	.size	sha256_compress_avr, . - sha256_compress_avr

#endif /* __AVR__ && CONFIG_SHA256_ASM */
