/*
 * bignum_avr.S - the multiply-accumulate row of RSA verification in AVR
 * assembly, selected by CONFIG_RSA_ASM=1 (OWNER: ENGINEER RSA). The C
 * reference of the same function is in crypto/rsa.c.
 *
 *   uint8_t bn_mac32(uint8_t *t, const uint8_t *a, uint16_t len, uint32_t b);
 *
 * T[0..len+4) += b * A[0..len); returns the carry out of position len+3.
 * T and A are big-endian; t and a point just past their least significant
 * byte, so both are walked with pre-decrement (ld -X / ld -Z). len is a
 * multiple of 4, 4..1020 (0 does nothing).
 *
 * Operand scanning with a 32-bit multiplier in registers (b0..b3): each
 * step loads one byte a_j and one byte t_j, makes the four products
 * a_j*b0..a_j*b3 and adds them and t_j into a 5-byte window holding
 * positions j..j+4, then stores position j. The products are added in two
 * carry chains of non-overlapping products (a_j*b0 + t_j with a_j*b2, and
 * a_j*b1 with a_j*b3), since MUL clobbers the carry flag. The window value
 * never exceeds 2^40 - 1 ((2^8-1)(2^32-1) + (2^32-1) + (2^8-1)), so five
 * bytes hold it without loss. Per step: 2 loads, 4 MUL, 13 additions,
 * 2 MOVW, 1 store = 28 cycles for 4 byte products (7 cycles each); the
 * window lives in a ring of 8 registers, realigned by two MOVW every 4
 * steps (loop unrolled by 4), so a step has no register shuffling.
 *
 * Registers: window ring W0..W7 r2-r9, A r10, T r11, O r12:r13 and
 * E r14:r15 (product copies), b0..b3 r16-r19, ZERO r23, CNT r22,
 * X = t, Z = a. r1 is cleared before returning.
 */
#include "../config.h"

#if defined(__AVR__) && CONFIG_RSA_ASM

#define W0 r2
#define W1 r3
#define W2 r4
#define W3 r5
#define W4 r6
#define W5 r7
#define W6 r8
#define W7 r9
#define RA r10
#define RT r11
#define O0 r12
#define O1 r13
#define E0 r14
#define E1 r15
#define B0 r16
#define B1 r17
#define B2 r18
#define B3 r19
#define CNT r22
#define ZERO r23

/* One step: window positions j..j+4 in c0..c4 (c4 is free on entry). */
.macro STEP c0, c1, c2, c3, c4
	ld	RA, -Z
	ld	RT, -X
	mul	RA, B1		; a*b1 at j+1
	movw	O0, r0
	mul	RA, B3		; a*b3 at j+3
	add	\c1, O0
	adc	\c2, O1
	adc	\c3, r0
	adc	r1, ZERO	; high byte of a*b3 <= 0xFE: no overflow
	mov	\c4, r1
	mul	RA, B0		; a*b0 + t_j at j (< 2^16)
	movw	E0, r0
	add	E0, RT
	adc	E1, ZERO
	mul	RA, B2		; a*b2 at j+2
	add	\c0, E0
	adc	\c1, E1
	adc	\c2, r0
	adc	\c3, r1
	adc	\c4, ZERO
	st	X, \c0		; position j is final
.endm

	.section .text.bn_mac32, "ax", @progbits
	.global	bn_mac32
	.type	bn_mac32, @function
bn_mac32:
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
	movw	r26, r24	; X = t
	movw	r30, r22	; Z = a
	lsr	r21		; CNT = len / 4
	ror	r20
	lsr	r21
	ror	r20
	mov	CNT, r20
	clr	ZERO
	clr	W0
	clr	W1
	clr	W2
	clr	W3
	tst	CNT
	brne	1f
	rjmp	2f
1:
	STEP	W0, W1, W2, W3, W4
	STEP	W1, W2, W3, W4, W5
	STEP	W2, W3, W4, W5, W6
	STEP	W3, W4, W5, W6, W7
	movw	W0, W4
	movw	W2, W6
	dec	CNT
	breq	2f
	rjmp	1b		; the unrolled loop is too long for brne
2:
	/* Add the window (positions len..len+3) into T; carry out. */
	ld	RT, -X
	add	RT, W0
	st	X, RT
	ld	RT, -X
	adc	RT, W1
	st	X, RT
	ld	RT, -X
	adc	RT, W2
	st	X, RT
	ld	RT, -X
	adc	RT, W3
	st	X, RT
	clr	r24
	rol	r24
	clr	r1
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
	.size	bn_mac32, . - bn_mac32

#endif
