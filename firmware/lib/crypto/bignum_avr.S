/*
 * bignum_avr.S - the Montgomery arithmetic of RSA verification in AVR
 * assembly, selected by CONFIG_RSA_ASM=1 (OWNER: ENGINEER RSA). The C
 * references of the three functions are in crypto/rsa.c (rsa.h documents
 * them):
 *
 *   uint8_t bn_mac64(uint8_t *t, const uint8_t *a, uint16_t len,
 *                    const uint8_t *b);      T[0..len+8) += B * A[0..len)
 *   void bn_redc(uint8_t *t, const uint8_t *n, uint16_t k,
 *                const uint8_t *ni);         Montgomery reduction in place
 *   void bn_sqr(uint8_t *t, uint16_t k);    x^2 in place in the work area
 *
 * Numbers are big-endian; pointers point just past the least significant
 * byte, so everything is walked with pre-decrement. Verification handles
 * public data only (modulus, signature, hash), so the code branches on
 * data freely; nothing here needs to be constant-time.
 *
 * The row (the one hot loop, shared by all three): operand scanning with
 * a 64-bit multiplier in registers (b0..b7 = r2..r9). Step j loads a_j
 * and t_j, makes the eight products a_j*b0..a_j*b7 and adds them and t_j
 * into a 9-byte window holding positions j..j+8, then stores position j.
 * MUL clobbers the carry flag, so the products are added in two carry
 * chains of 8 bytes each: the even products a*b0 + t_j, a*b2, a*b4, a*b6
 * (positions j..j+7, carry into j+8) and the odd ones a*b1, a*b3, a*b5,
 * a*b7 (positions j+1..j+8). The window value never exceeds 2^72 - 1
 * ((2^8-1)(2^64-1) + (2^64-1) + (2^8-1)), so nine bytes hold it and the
 * top chain never carries out. Per step: 2 loads, 8 MUL, 6 MOVW, 19
 * additions, 1 clear, 1 store = 48 cycles for 8 byte products (6.0 cycles
 * each; the previous 32-bit row needed 7.0 and its C glue 15 % more).
 *
 * The window lives in a ring of 9 registers (r10..r18); the loop is
 * unrolled 9 times so no register is ever moved. len need not be a
 * multiple of 9: the ring starts all zero, so the first pass enters the
 * unrolled body at step 9 - (len mod 9) (a computed jump, PUSH/PUSH/RET)
 * and every pass leaves after step 8 with positions len..len+7 in
 * r10..r17, which are then added into T, or stored when the T flag is set
 * (the squaring's rows, whose top positions are new).
 *
 * Registers of the row: b0..b7 r2-r9, ring r10-r18, A r19, products P
 * r20-r25 (t_j rides in r24 until a*b4 needs it), X = t, Y = a, r30 =
 * pass count. The callers keep their loop state in small stack frames.
 */
#include "../config.h"

#if defined(__AVR__) && CONFIG_RSA_ASM

#define A  r19
#define P0 r20
#define P1 r21
#define P2 r22
#define P3 r23
#define P4 r24
#define P5 r25
#define CNT r30

/* Words in one STEP (checked below). */
#define STEPW 37

.macro STEP c0, c1, c2, c3, c4, c5, c6, c7, c8
	ld	A, -Y
	ld	P4, -X		; t_j
	clr	\c8		; the new top byte (its register was stored)
	mul	A, r2		; a*b0 + t_j < 2^16
	movw	P0, r0
	add	P0, P4
	adc	P1, \c8
	mul	A, r4		; a*b2
	movw	P2, r0
	mul	A, r6		; a*b4
	movw	P4, r0
	mul	A, r8		; a*b6 stays in r1:r0
	add	\c0, P0		; even chain: positions j..j+7
	adc	\c1, P1
	adc	\c2, P2
	adc	\c3, P3
	adc	\c4, P4
	adc	\c5, P5
	adc	\c6, r0
	adc	\c7, r1
	adc	\c8, \c8	; carry into j+8
	mul	A, r3		; a*b1
	movw	P0, r0
	mul	A, r5		; a*b3
	movw	P2, r0
	mul	A, r7		; a*b5
	movw	P4, r0
	mul	A, r9		; a*b7
	add	\c1, P0		; odd chain: positions j+1..j+8
	adc	\c2, P1
	adc	\c3, P2
	adc	\c4, P3
	adc	\c5, P4
	adc	\c6, P5
	adc	\c7, r0
	adc	\c8, r1		; no carry out: the window is < 2^72
	st	X, \c0		; position j is final
.endm

	.section .text.bn_mac64, "ax", @progbits
	.global	bn_mac64
	.type	bn_mac64, @function
bn_mac64:
	mov	r0, r20
	or	r0, r21
	brne	1f
	clr	r24		; len == 0: nothing to add
	ret
1:
	rcall	push_all
	movw	r26, r24	; X = t
	movw	r28, r22	; Y = a
	movw	r30, r18	; Z = b
	ld	r2, -Z
	ld	r3, -Z
	ld	r4, -Z
	ld	r5, -Z
	ld	r6, -Z
	ld	r7, -Z
	ld	r8, -Z
	ld	r9, -Z
	clt			; add the top of the row
	rcall	row
	rjmp	pop_all
	.size	bn_mac64, . - bn_mac64

/*
 * push_all / pop_all: save and restore the call-saved registers the
 * kernels use (r2-r17, r28, r29). push_all is RCALLed first thing (it
 * moves its own return address over the saved registers); pop_all is
 * jumped to last and returns to the kernel's caller with r1 cleared.
 */
	.section .text.bn_mac64, "ax", @progbits
	.type	push_all, @function
push_all:
	pop	r31		; our return address (high byte first)
	pop	r30
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
	ijmp
	.size	push_all, . - push_all

	.type	pop_all, @function
pop_all:
	clr	r1
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
	.size	pop_all, . - pop_all

/*
 * row: T[0..len+8) += B * A[0..len) with B in r2..r9 (b0..b7), X = t,
 * Y = a, r21:r20 = len (not 0). Returns the carry in r24, X at position
 * len+7. Clobbers r0, r1, r10-r25, r30, r31, X, Y; keeps r2-r9.
 */
	.type	row, @function
row:
	clr	r10
	clr	r11
	clr	r12
	clr	r13
	clr	r14
	clr	r15
	clr	r16
	clr	r17
	clr	r18
	/*
	 * passes = ceil(len / 9) = floor((len + 8) * 7282 / 2^16), exact for
	 * len + 8 < 2^12 (7282 / 2^16 - 1/9 < 2^-12 / 9); skip = 9 * passes -
	 * len (0..8). Byte 2 of the 16x16 product, in r23.
	 */
	movw	r24, r20
	adiw	r24, 8		; x = len + 8
	ldi	r22, lo8(7282)
	ldi	A, hi8(7282)
	mul	r24, r22	; x0*c0: only its carry into byte 2 matters
	mov	r21, r1		; byte 1 (len's high byte is not needed)
	clr	r23
	mul	r24, A		; x0*c1 at byte 1
	add	r21, r0
	adc	r23, r1
	mul	r25, r22	; x1*c0 at byte 1
	add	r21, r0
	adc	r23, r1
	mul	r25, A		; x1*c1 at byte 2
	add	r23, r0		; passes
	mov	A, r23
	ldi	r22, 9
	mul	r23, r22	; 9 * passes
	sub	r0, r20
	mov	r20, r0		; skip = (9 * passes - len) mod 256
	ldi	r21, STEPW
	mul	r20, r21
	ldi	r30, lo8(pm(.Ls0))
	ldi	r31, hi8(pm(.Ls0))
	add	r30, r0
	adc	r31, r1
	push	r30		; low byte first, as CALL does
	push	r31
	mov	CNT, A
	ret			; into the unrolled body
.Ls0:	STEP	r10, r11, r12, r13, r14, r15, r16, r17, r18
.Ls1:	STEP	r11, r12, r13, r14, r15, r16, r17, r18, r10
	STEP	r12, r13, r14, r15, r16, r17, r18, r10, r11
	STEP	r13, r14, r15, r16, r17, r18, r10, r11, r12
	STEP	r14, r15, r16, r17, r18, r10, r11, r12, r13
	STEP	r15, r16, r17, r18, r10, r11, r12, r13, r14
	STEP	r16, r17, r18, r10, r11, r12, r13, r14, r15
	STEP	r17, r18, r10, r11, r12, r13, r14, r15, r16
	STEP	r18, r10, r11, r12, r13, r14, r15, r16, r17
	dec	CNT
	breq	4f
	rjmp	.Ls0		; the unrolled loop is too long for brne
4:
	brts	5f
	/* Add the window (positions len..len+7, r10..r17) into T. */
	ld	P0, -X
	add	P0, r10
	st	X, P0
	ld	P0, -X
	adc	P0, r11
	st	X, P0
	ld	P0, -X
	adc	P0, r12
	st	X, P0
	ld	P0, -X
	adc	P0, r13
	st	X, P0
	ld	P0, -X
	adc	P0, r14
	st	X, P0
	ld	P0, -X
	adc	P0, r15
	st	X, P0
	ld	P0, -X
	adc	P0, r16
	st	X, P0
	ld	P0, -X
	adc	P0, r17
	st	X, P0
	clr	r24
	rol	r24
	ret
5:	/* T flag set: positions len..len+7 hold nothing yet; store. */
	st	-X, r10
	st	-X, r11
	st	-X, r12
	st	-X, r13
	st	-X, r14
	st	-X, r15
	st	-X, r16
	st	-X, r17
	clr	r24
	ret
	.size	row, . - row


/*
 * void bn_redc(uint8_t *t, const uint8_t *n, uint16_t k, const uint8_t *ni);
 *
 * Montgomery reduction of T (positions 0..2k-1, big-endian, t just past
 * position 0) by n (k bytes, n just past its least significant byte), k a
 * multiple of 8: for each 64-bit digit i (positions i..i+7, i = 0, 8, ..)
 * m = T_i * ni mod 2^64 (ni = -n^-1 mod 2^64, 8 bytes little-endian at
 * ni[0..8)), T += m n 2^(8i), the carry rippled upward (the caller leaves
 * room: positions up to 2k+4). Afterwards T / 2^(8k) is at positions
 * k..2k (with its carry).
 *
 * m is computed in registers by product scanning (36 byte products, the
 * truncated 64x64 product) and the row runs with it as the multiplier.
 * The loop state lives in a 9-byte stack frame addressed through Y.
 * Frame: Y+1 digits left, Y+2:3 ni, Y+4:5 k, Y+6:7 n, Y+8:9 t (high:low).
 */
	.section .text.bn_mac64, "ax", @progbits
	.global	bn_redc
	.type	bn_redc, @function
bn_redc:
	rcall	push_all
	push	r24
	push	r25
	push	r22
	push	r23
	push	r20
	push	r21
	push	r18
	push	r19
	movw	r30, r20
	lsr	r31		; digits = k / 8
	ror	r30
	lsr	r31
	ror	r30
	lsr	r31
	ror	r30
	push	r30
.Lred:
	in	r28, 0x3d	; Y = SP (SPL, SPH)
	in	r29, 0x3e
	ldd	r26, Y+9	; X = t (position i)
	ldd	r27, Y+8
	ld	r10, -X		; T_i, least significant byte first
	ld	r11, -X
	ld	r12, -X
	ld	r13, -X
	ld	r14, -X
	ld	r15, -X
	ld	r16, -X
	ld	r17, -X
	ldd	r30, Y+3	; Z = ni
	ldd	r31, Y+2
	ld	r18, Z+
	ld	r22, Z+
	ld	r24, Z+
	ld	r25, Z+
	ld	r26, Z+
	ld	r27, Z+
	ld	r28, Z+
	ld	r29, Z+
	clr	r19
	clr	r20
	clr	r21
	clr	r23
	mul	r10, r18
	add	r19, r0
	adc	r20, r1
	adc	r21, r23
	mov	r2, r19	; m byte 0
	mov	r19, r20
	mov	r20, r21
	clr	r21
	mul	r10, r22
	add	r19, r0
	adc	r20, r1
	adc	r21, r23
	mul	r11, r18
	add	r19, r0
	adc	r20, r1
	adc	r21, r23
	mov	r3, r19	; m byte 1
	mov	r19, r20
	mov	r20, r21
	clr	r21
	mul	r10, r24
	add	r19, r0
	adc	r20, r1
	adc	r21, r23
	mul	r11, r22
	add	r19, r0
	adc	r20, r1
	adc	r21, r23
	mul	r12, r18
	add	r19, r0
	adc	r20, r1
	adc	r21, r23
	mov	r4, r19	; m byte 2
	mov	r19, r20
	mov	r20, r21
	clr	r21
	mul	r10, r25
	add	r19, r0
	adc	r20, r1
	adc	r21, r23
	mul	r11, r24
	add	r19, r0
	adc	r20, r1
	adc	r21, r23
	mul	r12, r22
	add	r19, r0
	adc	r20, r1
	adc	r21, r23
	mul	r13, r18
	add	r19, r0
	adc	r20, r1
	adc	r21, r23
	mov	r5, r19	; m byte 3
	mov	r19, r20
	mov	r20, r21
	clr	r21
	mul	r10, r26
	add	r19, r0
	adc	r20, r1
	adc	r21, r23
	mul	r11, r25
	add	r19, r0
	adc	r20, r1
	adc	r21, r23
	mul	r12, r24
	add	r19, r0
	adc	r20, r1
	adc	r21, r23
	mul	r13, r22
	add	r19, r0
	adc	r20, r1
	adc	r21, r23
	mul	r14, r18
	add	r19, r0
	adc	r20, r1
	adc	r21, r23
	mov	r6, r19	; m byte 4
	mov	r19, r20
	mov	r20, r21
	clr	r21
	mul	r10, r27
	add	r19, r0
	adc	r20, r1
	adc	r21, r23
	mul	r11, r26
	add	r19, r0
	adc	r20, r1
	adc	r21, r23
	mul	r12, r25
	add	r19, r0
	adc	r20, r1
	adc	r21, r23
	mul	r13, r24
	add	r19, r0
	adc	r20, r1
	adc	r21, r23
	mul	r14, r22
	add	r19, r0
	adc	r20, r1
	adc	r21, r23
	mul	r15, r18
	add	r19, r0
	adc	r20, r1
	adc	r21, r23
	mov	r7, r19	; m byte 5
	mov	r19, r20
	mov	r20, r21
	clr	r21
	mul	r10, r28
	add	r19, r0
	adc	r20, r1
	mul	r11, r27
	add	r19, r0
	adc	r20, r1
	mul	r12, r26
	add	r19, r0
	adc	r20, r1
	mul	r13, r25
	add	r19, r0
	adc	r20, r1
	mul	r14, r24
	add	r19, r0
	adc	r20, r1
	mul	r15, r22
	add	r19, r0
	adc	r20, r1
	mul	r16, r18
	add	r19, r0
	adc	r20, r1
	mov	r8, r19	; m byte 6
	mov	r19, r20
	mov	r20, r21
	clr	r21
	mul	r10, r29
	add	r19, r0
	mul	r11, r28
	add	r19, r0
	mul	r12, r27
	add	r19, r0
	mul	r13, r26
	add	r19, r0
	mul	r14, r25
	add	r19, r0
	mul	r15, r24
	add	r19, r0
	mul	r16, r22
	add	r19, r0
	mul	r17, r18
	add	r19, r0
	mov	r9, r19	; m byte 7
	in	r28, 0x3d
	in	r29, 0x3e
	ldd	r26, Y+9	; X = t (position i)
	ldd	r27, Y+8
	ldd	r20, Y+5	; len = k
	ldd	r21, Y+4
	ldd	r24, Y+7
	ldd	r25, Y+6
	movw	r28, r24	; Y = n
	clt
	rcall	row
	tst	r24		; ripple the carry from position i+k+8 up
	breq	2f
1:	ld	r22, -X
	inc	r22
	st	X, r22
	breq	1b
2:	in	r28, 0x3d
	in	r29, 0x3e
	ldd	r24, Y+9	; t moves to position i + 8
	ldd	r25, Y+8
	sbiw	r24, 8
	std	Y+9, r24
	std	Y+8, r25
	ldd	r24, Y+1
	dec	r24
	std	Y+1, r24
	breq	3f
	rjmp	.Lred
3:	pop	r0		; drop the frame
	pop	r0
	pop	r0
	pop	r0
	pop	r0
	pop	r0
	pop	r0
	pop	r0
	pop	r0
	rjmp	pop_all
	.size	bn_redc, . - bn_redc


/*
 * void bn_sqr(uint8_t *t, uint16_t k);
 *
 * The squaring of rsa.c (sqr_in_place, whose C reference this follows)
 * in place in the work area: t is just past position 0 of the work
 * area's 2k+5-byte number, x (k bytes) is at positions k..2k-1 and
 * positions 0..k-1 are zero on entry; on return T = x^2 is at positions
 * 0..2k-1. With 64-bit digits D_i (positions k+i..k+i+7, i = 0, 8, ..)
 * and h_i = floor(D_i / 2): D_i is read into the multiplier registers and
 * replaced in memory by h_i, then row i adds D_i times (h_i, D_i+1, D_i+2,
 * ..) at position 2i, i.e. D_i h_i 2^(16i) and every cross product
 * D_i D_j (j > i) once; its top 8 positions are stored, not added (T
 * flag), as nothing was there. The segment at positions 2i..2i+15 is then
 * final: it is doubled (bit carried from the segment below), gets D_i
 * added if D_i is odd (2 D_i h_i + (D_i mod 2) D_i = D_i^2) and the
 * pending carry of the segment below, rippled inside the segment; what
 * leaves it waits for the next segment, so it is not doubled.
 * Frame (Y = SP): Y+1 the doubling's bit, Y+2 the pending carry, Y+3:4
 * i, Y+5:6 k, Y+7:8 t (low:high).
 */
	.section .text.bn_mac64, "ax", @progbits
	.global	bn_sqr
	.type	bn_sqr, @function
bn_sqr:
	rcall	push_all
	clr	r0
	push	r25
	push	r24
	push	r23
	push	r22
	push	r0		; i = 0
	push	r0
	push	r0		; pending carry
	push	r0		; bit
.Lsq:
	in	r28, 0x3d	; Y = SP
	in	r29, 0x3e
	ldd	r20, Y+5	; k + i
	ldd	r21, Y+6
	ldd	r22, Y+3
	ldd	r23, Y+4
	add	r20, r22
	adc	r21, r23
	ldd	r24, Y+7	; t
	ldd	r25, Y+8
	movw	r30, r24	; Z = t - (k + i): just past position k+i
	sub	r30, r20
	sbc	r31, r21
	ld	r2, -Z		; D_i, least significant byte first
	ld	r3, -Z
	ld	r4, -Z
	ld	r5, -Z
	ld	r6, -Z
	ld	r7, -Z
	ld	r8, -Z
	ld	r9, -Z
	/* Replace D_i in memory by h_i = floor(D_i / 2) (Z is just below
	 * position k+i+7, its most significant byte). */
	mov	r19, r9
	lsr	r19
	st	Z, r19
	mov	r19, r8
	ror	r19
	std	Z+1, r19
	mov	r19, r7
	ror	r19
	std	Z+2, r19
	mov	r19, r6
	ror	r19
	std	Z+3, r19
	mov	r19, r5
	ror	r19
	std	Z+4, r19
	mov	r19, r4
	ror	r19
	std	Z+5, r19
	mov	r19, r3
	ror	r19
	std	Z+6, r19
	mov	r19, r2
	ror	r19
	std	Z+7, r19
	ldd	r20, Y+5	; len = k - i (8 or more)
	ldd	r21, Y+6
	sub	r20, r22
	sbc	r21, r23
	movw	r26, r24	; X = t - 2i: just past position 2i
	sub	r26, r22
	sbc	r27, r23
	sub	r26, r22
	sbc	r27, r23
	movw	r28, r30	; Y = just past position k+i (h_i, then D_i+1 ..)
	adiw	r28, 8
	set			; the row's top 8 positions are new: store them
	rcall	row		; + D_i h_i 2^(16i) + the cross products
	clt
	in	r28, 0x3d
	in	r29, 0x3e
	ldd	r24, Y+7
	ldd	r25, Y+8
	ldd	r22, Y+3
	ldd	r23, Y+4
	movw	r26, r24	; X = t - 2i: just past position 2i
	sub	r26, r22
	sbc	r27, r23
	sub	r26, r22
	sbc	r27, r23
	movw	r30, r26	; kept in Z
	ldd	r20, Y+1	; C = the bit from the segment below
	lsr	r20
	ld	r21, -X
	rol	r21
	st	X, r21
	ld	r21, -X
	rol	r21
	st	X, r21
	ld	r21, -X
	rol	r21
	st	X, r21
	ld	r21, -X
	rol	r21
	st	X, r21
	ld	r21, -X
	rol	r21
	st	X, r21
	ld	r21, -X
	rol	r21
	st	X, r21
	ld	r21, -X
	rol	r21
	st	X, r21
	ld	r21, -X
	rol	r21
	st	X, r21
	ld	r21, -X
	rol	r21
	st	X, r21
	ld	r21, -X
	rol	r21
	st	X, r21
	ld	r21, -X
	rol	r21
	st	X, r21
	ld	r21, -X
	rol	r21
	st	X, r21
	ld	r21, -X
	rol	r21
	st	X, r21
	ld	r21, -X
	rol	r21
	st	X, r21
	ld	r21, -X
	rol	r21
	st	X, r21
	ld	r21, -X
	rol	r21
	st	X, r21
	clr	r20
	rol	r20
	std	Y+1, r20
	/* 2 D_i h_i + (D_i & 1) D_i = D_i^2: add D_i if it is odd. */
	clr	r24		; carries leaving the segment
	sbrs	r2, 0
	rjmp	5f
	movw	r26, r30
	ld	r22, -X
	add	r22, r2
	st	X, r22
	ld	r22, -X
	adc	r22, r3
	st	X, r22
	ld	r22, -X
	adc	r22, r4
	st	X, r22
	ld	r22, -X
	adc	r22, r5
	st	X, r22
	ld	r22, -X
	adc	r22, r6
	st	X, r22
	ld	r22, -X
	adc	r22, r7
	st	X, r22
	ld	r22, -X
	adc	r22, r8
	st	X, r22
	ld	r22, -X
	adc	r22, r9
	st	X, r22
	brcc	5f
	ldi	r23, 8
6:	ld	r22, -X
	inc	r22
	st	X, r22
	brne	5f
	dec	r23
	brne	6b
	inc	r24		; it left the segment
5:	movw	r26, r30	; the pending carry of the segment below
	ldd	r25, Y+2
	ld	r22, -X
	add	r22, r25
	st	X, r22
	brcc	2f
	ldi	r23, 15
1:	ld	r22, -X
	inc	r22
	st	X, r22
	brne	2f
	dec	r23
	brne	1b
	inc	r24		; it left the segment
2:	std	Y+2, r24
	ldd	r22, Y+3	; i += 8
	ldd	r23, Y+4
	subi	r22, -8
	sbci	r23, -1
	std	Y+3, r22
	std	Y+4, r23
	ldd	r20, Y+5
	ldd	r21, Y+6
	cp	r22, r20
	cpc	r23, r21
	brsh	3f
	rjmp	.Lsq
3:	pop	r0		; drop the frame
	pop	r0
	pop	r0
	pop	r0
	pop	r0
	pop	r0
	pop	r0
	pop	r0
	rjmp	pop_all
	.size	bn_sqr, . - bn_sqr

	.if (.Ls1 - .Ls0) != 2 * STEPW
	.error "STEPW does not match the STEP macro"
	.endif

#endif
