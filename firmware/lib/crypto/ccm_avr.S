/*
 * ccm_avr.S - AES-128-CCM (RFC 3610) in AVR assembly, selected by
 * CONFIG_CCM_ASM=1 (with CONFIG_AES_ASM: it calls aes_avr.S's
 * aes128_encrypt and aes128_encrypt_copy). crypto/ccm.c is the C
 * reference for the same function; `make avr-test` checks the two
 * against each other on simavr (tests/avr/asm_diff.c).
 *
 *   int aes128_ccm_crypt(const aes128_ctx *ctx,
 *                        const uint8_t *nonce, size_t nonce_len,
 *                        const uint8_t *aad, size_t aad_len,
 *                        uint8_t *buf, size_t len,
 *                        uint8_t *tag, size_t tag_len, uint8_t decrypt);
 *
 * The same pass as ccm.c (B_0, l(a) || a, then per payload block the
 * counter block A_i encrypted into the key stream and one more CBC-MAC
 * block; S_0 last), with the state in a 48-byte frame (34 with
 * CONFIG_CCM_CTR_REBUILD, below) and every pointer
 * and length in a call-saved register across the AES calls: the C
 * compiler kept half of them in the frame and called memcpy and memset.
 * One restriction the C has not: aad_len must be below 0xff00 (the
 * 6-octet form of l(a) is not built; no AVR this runs on has the RAM
 * for 65,280 octets of AAD): such a call fails like bad parameters.
 *
 * Constant time: the branches depend on the lengths and the direction
 * (public) only; the tag is compared over all M octets before the one
 * branch on the result.
 *
 * Register use (avr-gcc ABI: r2-r17 and r28-r29 call-saved, all 18
 * saved by __prologue_saves__; r1 = 0; the 10th argument, decrypt, is
 * on the stack above the return address):
 *   r2:r3 ctx        r4 L (15 - nonce_len)   r5 pos (AAD), n (payload)
 *   r6:r7 aad        r8 M (tag_len)          r9 decrypt
 *   r10:r11 tag      r12:r13 octets left     r14:r15 buf (advances)
 *   r16:r17 aad_len, then the payload length (for the wipe)
 *   Y the frame: x (CBC-MAC) at Y+1, ks (key stream, S_0) at Y+17,
 *     a (counter block A_i) at Y+33; with CONFIG_CCM_CTR_REBUILD no a:
 *     each A_i is built in ks from the nonce (its address at Y+33) and
 *     encrypted there, so the nonce is read again for every block
 */
#include "../config.h"

#if defined(__AVR__) && CONFIG_CCM_ASM

#if !CONFIG_AES_ASM
#error "CONFIG_CCM_ASM needs CONFIG_AES_ASM (aes128_encrypt_copy)"
#endif
#ifdef __AVR_3_BYTE_PC__
#error "ccm_avr.S: the stack argument's offset assumes a 2-byte return address"
#endif

#define X_OFF 1
#define KS_OFF 17
#if CONFIG_CCM_CTR_REBUILD
/* A_i is built in ks from the nonce (kept by its address) and i, then
 * encrypted in place: no counter block in the frame */
#define NONCE_OFF 33
#define FRAME 34
#else
#define A_OFF 33
#define FRAME 48
#endif
#define SAVED 18 /* r2-r17, r28, r29 */

/* One payload octet (X: buf, Z: x, ks at Z+16; p, k scratch). seal: x ^=
 * p, buf = p ^ ks; open: p = buf ^ ks, buf = p, x ^= p. */
.macro SEAL1
	ld	r0, X
	ldd	r19, Z+16
	eor	r19, r0
	st	X+, r19
	ld	r19, Z
	eor	r19, r0
	st	Z+, r19
.endm
.macro OPEN1
	ld	r0, X
	ldd	r19, Z+16
	eor	r0, r19
	st	X+, r0
	ld	r19, Z
	eor	r19, r0
	st	Z+, r19
.endm

	.section .text.aes128_ccm_crypt, "ax", @progbits
	.global	aes128_ccm_crypt
	.type	aes128_ccm_crypt, @function
aes128_ccm_crypt:
	ldi	r26, lo8(FRAME)
	ldi	r27, hi8(FRAME)
	ldi	r30, lo8(gs(.Lbody))
	ldi	r31, hi8(gs(.Lbody))
	jmp	__prologue_saves__
.Lbody:
	movw	r2, r24			/* ctx */
	movw	r6, r18			/* aad */
	mov	r18, r9			/* tag_len's high byte, checked below */
	movw	r30, r28		/* decrypt: above the frame, the saved */
	subi	r30, lo8(-(FRAME + SAVED + 3))	/* registers and the return */
	sbci	r31, hi8(-(FRAME + SAVED + 3))	/* address */
	ld	r9, Z

	/* nonce_len 7..13, tag_len 4..16 and even, aad_len < 0xff00 */
	or	r18, r21
	brne	.Lparam_t
	mov	r18, r20
	subi	r18, 7
	cpi	r18, 7
	brsh	.Lparam_t
	mov	r18, r8
	subi	r18, 4
	cpi	r18, 13
	brsh	.Lparam_t
	sbrc	r8, 0
	rjmp	.Lparam_t
	cpi	r17, 0xff
	brne	.Lchecked
.Lparam_t:
	rjmp	.Lparam
.Lchecked:
	ldi	r18, 15
	sub	r18, r20
	mov	r4, r18			/* L, 2..8 */

	/* x[1..15] (and a[1..15]): the nonce, then zeros */
	movw	r26, r22
#if CONFIG_CCM_CTR_REBUILD
	std	Y + NONCE_OFF, r22
	std	Y + NONCE_OFF + 1, r23
#endif
	movw	r30, r28
	adiw	r30, X_OFF + 1
	ldi	r19, 1
1:	clr	r0
	cp	r20, r19
	brlo	2f
	ld	r0, X+
2:
#if !CONFIG_CCM_CTR_REBUILD
	std	Z + (A_OFF - X_OFF), r0
#endif
	st	Z+, r0
	inc	r19
	cpi	r19, 16
	brne	1b
	std	Y + X_OFF + 14, r13	/* l(m): L >= 2 octets hold a 16-bit len */
	std	Y + X_OFF + 15, r12

	/* flags: A_0's L - 1; B_0's Adata | (M - 2) / 2 << 3 | L - 1 */
	mov	r18, r4
	dec	r18
#if !CONFIG_CCM_CTR_REBUILD
	std	Y + A_OFF, r18
#endif
	mov	r19, r8
	subi	r19, 2
	lsl	r19
	lsl	r19
	or	r18, r19
	cp	r16, r1
	cpc	r17, r1
	breq	3f
	ori	r18, 0x40
3:	std	Y + X_OFF, r18
	rcall	.Lenc_x

	/* l(a) || a, zero padded (l(a): 2 octets, aad_len < 0xff00) */
	clr	r5
	cp	r16, r1
	cpc	r17, r1
	breq	.Lpayload
	ldd	r0, Y + X_OFF
	eor	r0, r17
	std	Y + X_OFF, r0
	ldd	r0, Y + X_OFF + 1
	eor	r0, r16
	std	Y + X_OFF + 1, r0
	inc	r5
	inc	r5
4:	movw	r26, r6
	ld	r18, X+
	movw	r6, r26
	movw	r30, r28
	add	r30, r5
	adc	r31, r1
	ldd	r0, Z + X_OFF
	eor	r0, r18
	std	Z + X_OFF, r0
	inc	r5
	sbrs	r5, 4			/* pos 16: a full block */
	rjmp	5f
	clr	r5
	rcall	.Lenc_x
5:	subi	r16, 1
	sbci	r17, 0
	brne	4b
	tst	r5
	breq	.Lpayload
	rcall	.Lenc_x

	/* the payload, 16 octets a block (the last: 1..16) */
.Lpayload:
	movw	r16, r12
.Lnext:
	cp	r12, r1
	cpc	r13, r1
	brne	9f
	rjmp	.Ltag
9:	ldi	r18, 16
	cp	r12, r18
	cpc	r13, r1
	brsh	6f
	mov	r18, r12
6:	mov	r5, r18
#if CONFIG_CCM_CTR_REBUILD
	movw	r24, r16		/* i = octets done / 16 + 1 */
	sub	r24, r12
	sbc	r25, r13
	ldi	r19, 4
7:	lsr	r25
	ror	r24
	dec	r19
	brne	7b
	adiw	r24, 1
	rcall	.Lenc_ctr
#else
	movw	r30, r28		/* A_i = A_(i-1) + 1 over the last L octets */
	adiw	r30, A_OFF + 16
	mov	r19, r4
7:	ld	r0, -Z
	inc	r0
	st	Z, r0
	brne	8f
	dec	r19
	brne	7b
8:	rcall	.Lenc_a
#endif
	sub	r12, r5
	sbc	r13, r1
	movw	r26, r14
	movw	r30, r28
	adiw	r30, X_OFF
	mov	r18, r5
	tst	r9
	brne	.Lopen
	/* two octets a turn; an odd n enters at the second */
	inc	r18
	lsr	r18
	brcc	2f
1:	SEAL1
2:	SEAL1
	dec	r18
	brne	1b
	rjmp	.Lblock_done
.Lopen:
	inc	r18
	lsr	r18
	brcc	2f
1:	OPEN1
2:	OPEN1
	dec	r18
	brne	1b
.Lblock_done:
	movw	r14, r26
	rcall	.Lenc_x
	rjmp	.Lnext

	/* S_0 = E(A_0); U = T ^ S_0: the first M octets out, or compared */
.Ltag:
#if CONFIG_CCM_CTR_REBUILD
	ldi	r24, 0
	ldi	r25, 0
	rcall	.Lenc_ctr
#else
	movw	r30, r28
	adiw	r30, A_OFF + 16
	mov	r19, r4
1:	st	-Z, r1
	dec	r19
	brne	1b
	rcall	.Lenc_a
#endif
	movw	r30, r28
	adiw	r30, X_OFF
	movw	r26, r10
	clr	r18
	mov	r19, r8
2:	ld	r0, Z+
	ldd	r20, Z + (KS_OFF - X_OFF - 1)
	eor	r0, r20
	tst	r9
	brne	3f
	st	X+, r0
	rjmp	4f
3:	ld	r20, X+
	eor	r0, r20
	or	r18, r0
4:	dec	r19
	brne	2b
	tst	r18
	breq	.Lok
	movw	r26, r14		/* a bad tag: the plaintext is wiped */
	sub	r26, r16
	sbc	r27, r17
	rjmp	.Lwipe_buf
.Lparam:
	movw	r16, r12		/* bad parameters: open wipes buf too */
	movw	r26, r14
.Lwipe_buf:
	tst	r9
	breq	.Lfail
5:	cp	r16, r1
	cpc	r17, r1
	breq	.Lfail
	st	X+, r1
	subi	r16, 1
	sbci	r17, 0
	rjmp	5b
.Lfail:
	ldi	r24, 0xff
	ldi	r25, 0xff
	rjmp	.Lexit
.Lok:
	ldi	r24, 0
	ldi	r25, 0
.Lexit:
	movw	r30, r28		/* the state is wiped */
	adiw	r30, 1
	ldi	r19, FRAME
6:	st	Z+, r1
	dec	r19
	brne	6b
	adiw	r28, FRAME
	ldi	r30, SAVED
	jmp	__epilogue_restores__

/* x = E(x) */
.Lenc_x:
	movw	r22, r28
	subi	r22, lo8(-X_OFF)
	sbci	r23, hi8(-X_OFF)
	movw	r24, r2
	jmp	aes128_encrypt

#if CONFIG_CCM_CTR_REBUILD
/* ks = E(A_i), i in r25:r24: A_i = L - 1 || nonce || i in L octets
 * (big-endian; L >= 2 and i <= 4,096: zeros above its two octets) */
.Lenc_ctr:
	movw	r30, r28
	adiw	r30, KS_OFF
	mov	r18, r4
	dec	r18
	st	Z+, r18
	ldd	r26, Y + NONCE_OFF
	ldd	r27, Y + NONCE_OFF + 1
	ldi	r19, 15
	sub	r19, r4			/* the nonce's length, 7..13 */
1:	ld	r0, X+
	st	Z+, r0
	dec	r19
	brne	1b
	mov	r19, r4
	rjmp	3f
2:	st	Z+, r1
3:	dec	r19
	cpi	r19, 1
	brne	2b
	st	Z+, r25
	st	Z+, r24
	movw	r22, r28
	subi	r22, lo8(-KS_OFF)
	sbci	r23, hi8(-KS_OFF)
	movw	r24, r2
	jmp	aes128_encrypt
#else
/* ks = E(a) */
.Lenc_a:
	movw	r20, r28
	subi	r20, lo8(-KS_OFF)
	sbci	r21, hi8(-KS_OFF)
	movw	r22, r28
	subi	r22, lo8(-A_OFF)
	sbci	r23, hi8(-A_OFF)
	movw	r24, r2
	jmp	aes128_encrypt_copy
#endif

	.size	aes128_ccm_crypt, . - aes128_ccm_crypt

#endif /* __AVR__ && CONFIG_CCM_ASM */
