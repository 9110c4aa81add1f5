/*
 * md5_avr.S - the MD5 compression function (RFC 1321 section 3.4) in AVR
 * assembly, selected by CONFIG_MD5_ASM=1; crypto/md5.c holds the C
 * reference (md5_block) and the rest of MD5. `make avr-test` checks this
 * code against the C on simavr.
 *
 *   void md5_compress_avr(uint32_t h[4], const uint8_t block[64]);
 *
 * One loop of 64 steps driven by a 6-octet-per-step table in flash:
 * T[i] (little-endian), 4 * message word index, rotation code. Branches
 * depend only on the step number and the (public) rotation amounts, so
 * the running time does not depend on the data.
 *
 * Registers: A r2-r5, B r6-r9, C r10-r13, D r14-r17 (little-endian
 * words), F r18-r21, r22-r23 scratch, r24 step, r25 rotation code,
 * Y = block, X = message word, Z = table, r1 = 0 throughout.
 */
#include "../config.h"

#if defined(__AVR__) && CONFIG_MD5_ASM

#define A0 r2
#define A1 r3
#define A2 r4
#define A3 r5
#define B0 r6
#define B1 r7
#define B2 r8
#define B3 r9
#define C0 r10
#define C1 r11
#define C2 r12
#define C3 r13
#define D0 r14
#define D1 r15
#define D2 r16
#define D3 r17
#define F0 r18
#define F1 r19
#define F2 r20
#define F3 r21

/* Per step: T[i] as 4 octets LE, 4*k, rotation code: bit 4 = rotate left
 * 16, bit 3 = rotate left 8, bits 2-0 = 1-bit rotations (left, or right if
 * bit 7), so s = 7 is "left 8, right 1" and no step needs more than four
 * 1-bit rotations. */
	.section .progmem.md5_steps, "a", @progbits
	.type	md5_steps, @object
md5_steps:
	.byte 0x78,0xa4,0x6a,0xd7,  0, 0x89	/*  0: T=d76aa478 k= 0 s= 7 */
	.byte 0x56,0xb7,0xc7,0xe8,  4, 0x0c	/*  1: T=e8c7b756 k= 1 s=12 */
	.byte 0xdb,0x70,0x20,0x24,  8, 0x11	/*  2: T=242070db k= 2 s=17 */
	.byte 0xee,0xce,0xbd,0xc1, 12, 0x9a	/*  3: T=c1bdceee k= 3 s=22 */
	.byte 0xaf,0x0f,0x7c,0xf5, 16, 0x89	/*  4: T=f57c0faf k= 4 s= 7 */
	.byte 0x2a,0xc6,0x87,0x47, 20, 0x0c	/*  5: T=4787c62a k= 5 s=12 */
	.byte 0x13,0x46,0x30,0xa8, 24, 0x11	/*  6: T=a8304613 k= 6 s=17 */
	.byte 0x01,0x95,0x46,0xfd, 28, 0x9a	/*  7: T=fd469501 k= 7 s=22 */
	.byte 0xd8,0x98,0x80,0x69, 32, 0x89	/*  8: T=698098d8 k= 8 s= 7 */
	.byte 0xaf,0xf7,0x44,0x8b, 36, 0x0c	/*  9: T=8b44f7af k= 9 s=12 */
	.byte 0xb1,0x5b,0xff,0xff, 40, 0x11	/* 10: T=ffff5bb1 k=10 s=17 */
	.byte 0xbe,0xd7,0x5c,0x89, 44, 0x9a	/* 11: T=895cd7be k=11 s=22 */
	.byte 0x22,0x11,0x90,0x6b, 48, 0x89	/* 12: T=6b901122 k=12 s= 7 */
	.byte 0x93,0x71,0x98,0xfd, 52, 0x0c	/* 13: T=fd987193 k=13 s=12 */
	.byte 0x8e,0x43,0x79,0xa6, 56, 0x11	/* 14: T=a679438e k=14 s=17 */
	.byte 0x21,0x08,0xb4,0x49, 60, 0x9a	/* 15: T=49b40821 k=15 s=22 */
	.byte 0x62,0x25,0x1e,0xf6,  4, 0x8b	/* 16: T=f61e2562 k= 1 s= 5 */
	.byte 0x40,0xb3,0x40,0xc0, 24, 0x09	/* 17: T=c040b340 k= 6 s= 9 */
	.byte 0x51,0x5a,0x5e,0x26, 44, 0x92	/* 18: T=265e5a51 k=11 s=14 */
	.byte 0xaa,0xc7,0xb6,0xe9,  0, 0x14	/* 19: T=e9b6c7aa k= 0 s=20 */
	.byte 0x5d,0x10,0x2f,0xd6, 20, 0x8b	/* 20: T=d62f105d k= 5 s= 5 */
	.byte 0x53,0x14,0x44,0x02, 40, 0x09	/* 21: T=02441453 k=10 s= 9 */
	.byte 0x81,0xe6,0xa1,0xd8, 60, 0x92	/* 22: T=d8a1e681 k=15 s=14 */
	.byte 0xc8,0xfb,0xd3,0xe7, 16, 0x14	/* 23: T=e7d3fbc8 k= 4 s=20 */
	.byte 0xe6,0xcd,0xe1,0x21, 36, 0x8b	/* 24: T=21e1cde6 k= 9 s= 5 */
	.byte 0xd6,0x07,0x37,0xc3, 56, 0x09	/* 25: T=c33707d6 k=14 s= 9 */
	.byte 0x87,0x0d,0xd5,0xf4, 12, 0x92	/* 26: T=f4d50d87 k= 3 s=14 */
	.byte 0xed,0x14,0x5a,0x45, 32, 0x14	/* 27: T=455a14ed k= 8 s=20 */
	.byte 0x05,0xe9,0xe3,0xa9, 52, 0x8b	/* 28: T=a9e3e905 k=13 s= 5 */
	.byte 0xf8,0xa3,0xef,0xfc,  8, 0x09	/* 29: T=fcefa3f8 k= 2 s= 9 */
	.byte 0xd9,0x02,0x6f,0x67, 28, 0x92	/* 30: T=676f02d9 k= 7 s=14 */
	.byte 0x8a,0x4c,0x2a,0x8d, 48, 0x14	/* 31: T=8d2a4c8a k=12 s=20 */
	.byte 0x42,0x39,0xfa,0xff, 20, 0x04	/* 32: T=fffa3942 k= 5 s= 4 */
	.byte 0x81,0xf6,0x71,0x87, 32, 0x0b	/* 33: T=8771f681 k= 8 s=11 */
	.byte 0x22,0x61,0x9d,0x6d, 44, 0x10	/* 34: T=6d9d6122 k=11 s=16 */
	.byte 0x0c,0x38,0xe5,0xfd, 56, 0x99	/* 35: T=fde5380c k=14 s=23 */
	.byte 0x44,0xea,0xbe,0xa4,  4, 0x04	/* 36: T=a4beea44 k= 1 s= 4 */
	.byte 0xa9,0xcf,0xde,0x4b, 16, 0x0b	/* 37: T=4bdecfa9 k= 4 s=11 */
	.byte 0x60,0x4b,0xbb,0xf6, 28, 0x10	/* 38: T=f6bb4b60 k= 7 s=16 */
	.byte 0x70,0xbc,0xbf,0xbe, 40, 0x99	/* 39: T=bebfbc70 k=10 s=23 */
	.byte 0xc6,0x7e,0x9b,0x28, 52, 0x04	/* 40: T=289b7ec6 k=13 s= 4 */
	.byte 0xfa,0x27,0xa1,0xea,  0, 0x0b	/* 41: T=eaa127fa k= 0 s=11 */
	.byte 0x85,0x30,0xef,0xd4, 12, 0x10	/* 42: T=d4ef3085 k= 3 s=16 */
	.byte 0x05,0x1d,0x88,0x04, 24, 0x99	/* 43: T=04881d05 k= 6 s=23 */
	.byte 0x39,0xd0,0xd4,0xd9, 36, 0x04	/* 44: T=d9d4d039 k= 9 s= 4 */
	.byte 0xe5,0x99,0xdb,0xe6, 48, 0x0b	/* 45: T=e6db99e5 k=12 s=11 */
	.byte 0xf8,0x7c,0xa2,0x1f, 60, 0x10	/* 46: T=1fa27cf8 k=15 s=16 */
	.byte 0x65,0x56,0xac,0xc4,  8, 0x99	/* 47: T=c4ac5665 k= 2 s=23 */
	.byte 0x44,0x22,0x29,0xf4,  0, 0x8a	/* 48: T=f4292244 k= 0 s= 6 */
	.byte 0x97,0xff,0x2a,0x43, 28, 0x0a	/* 49: T=432aff97 k= 7 s=10 */
	.byte 0xa7,0x23,0x94,0xab, 56, 0x91	/* 50: T=ab9423a7 k=14 s=15 */
	.byte 0x39,0xa0,0x93,0xfc, 20, 0x9b	/* 51: T=fc93a039 k= 5 s=21 */
	.byte 0xc3,0x59,0x5b,0x65, 48, 0x8a	/* 52: T=655b59c3 k=12 s= 6 */
	.byte 0x92,0xcc,0x0c,0x8f, 12, 0x0a	/* 53: T=8f0ccc92 k= 3 s=10 */
	.byte 0x7d,0xf4,0xef,0xff, 40, 0x91	/* 54: T=ffeff47d k=10 s=15 */
	.byte 0xd1,0x5d,0x84,0x85,  4, 0x9b	/* 55: T=85845dd1 k= 1 s=21 */
	.byte 0x4f,0x7e,0xa8,0x6f, 32, 0x8a	/* 56: T=6fa87e4f k= 8 s= 6 */
	.byte 0xe0,0xe6,0x2c,0xfe, 60, 0x0a	/* 57: T=fe2ce6e0 k=15 s=10 */
	.byte 0x14,0x43,0x01,0xa3, 24, 0x91	/* 58: T=a3014314 k= 6 s=15 */
	.byte 0xa1,0x11,0x08,0x4e, 52, 0x9b	/* 59: T=4e0811a1 k=13 s=21 */
	.byte 0x82,0x7e,0x53,0xf7, 16, 0x8a	/* 60: T=f7537e82 k= 4 s= 6 */
	.byte 0x35,0xf2,0x3a,0xbd, 44, 0x0a	/* 61: T=bd3af235 k=11 s=10 */
	.byte 0xbb,0xd2,0xd7,0x2a,  8, 0x91	/* 62: T=2ad7d2bb k= 2 s=15 */
	.byte 0x91,0xd3,0x86,0xeb, 36, 0x9b	/* 63: T=eb86d391 k= 9 s=21 */
	.size	md5_steps, . - md5_steps

	.section .text.md5_compress_avr, "ax", @progbits
	.global	md5_compress_avr
	.type	md5_compress_avr, @function
md5_compress_avr:
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
	push	r24			/* h, for the final additions */
	push	r25
	movw	r28, r22		/* Y = block */
	movw	r26, r24		/* X = h */
.irp r, A0, A1, A2, A3, B0, B1, B2, B3, C0, C1, C2, C3, D0, D1, D2, D3
	ld	\r, X+
.endr
	ldi	r30, lo8(md5_steps)
	ldi	r31, hi8(md5_steps)
	clr	r24			/* step i */
.Lstep:
	/* F by round (i is public) */
	cpi	r24, 16
	brlo	.Lf1
	cpi	r24, 32
	brlo	.Lf2
	cpi	r24, 48
	brlo	.Lf3
	/* round 4: I = C ^ (B | ~D) */
	movw	F0, D0
	movw	F2, D2
	com	F0
	com	F1
	com	F2
	com	F3
	or	F0, B0
	or	F1, B1
	or	F2, B2
	or	F3, B3
	eor	F0, C0
	eor	F1, C1
	eor	F2, C2
	eor	F3, C3
	rjmp	.Ladd
.Lf1:	/* round 1: F = D ^ (B & (C ^ D)) */
	movw	F0, C0
	movw	F2, C2
	eor	F0, D0
	eor	F1, D1
	eor	F2, D2
	eor	F3, D3
	and	F0, B0
	and	F1, B1
	and	F2, B2
	and	F3, B3
	eor	F0, D0
	eor	F1, D1
	eor	F2, D2
	eor	F3, D3
	rjmp	.Ladd
.Lf2:	/* round 2: G = C ^ (D & (B ^ C)) */
	movw	F0, B0
	movw	F2, B2
	eor	F0, C0
	eor	F1, C1
	eor	F2, C2
	eor	F3, C3
	and	F0, D0
	and	F1, D1
	and	F2, D2
	and	F3, D3
	eor	F0, C0
	eor	F1, C1
	eor	F2, C2
	eor	F3, C3
	rjmp	.Ladd
.Lf3:	/* round 3: H = B ^ C ^ D */
	movw	F0, B0
	movw	F2, B2
	eor	F0, C0
	eor	F1, C1
	eor	F2, C2
	eor	F3, C3
	eor	F0, D0
	eor	F1, D1
	eor	F2, D2
	eor	F3, D3
.Ladd:
	/* A += F + T[i] + X[k]  (lpm and ld leave the carry alone) */
	add	A0, F0
	adc	A1, F1
	adc	A2, F2
	adc	A3, F3
	lpm	r0, Z+
	add	A0, r0
	lpm	r0, Z+
	adc	A1, r0
	lpm	r0, Z+
	adc	A2, r0
	lpm	r0, Z+
	adc	A3, r0
	lpm	r0, Z+			/* 4k */
	movw	r26, r28
	add	r26, r0
	adc	r27, r1
	ld	r0, X+
	add	A0, r0
	ld	r0, X+
	adc	A1, r0
	ld	r0, X+
	adc	A2, r0
	ld	r0, X+
	adc	A3, r0
	/* A = rotl(A, s) */
	lpm	r25, Z+
	sbrs	r25, 4
	rjmp	1f
	movw	r22, A0			/* rotate 16 */
	movw	A0, A2
	movw	A2, r22
1:	sbrs	r25, 3
	rjmp	2f
	mov	r0, A3			/* rotate left 8 */
	mov	A3, A2
	mov	A2, A1
	mov	A1, A0
	mov	A0, r0
2:	sbrc	r25, 7
	rjmp	4f
	andi	r25, 7
	breq	5f
3:	lsl	A0			/* rotate left 1 */
	rol	A1
	rol	A2
	rol	A3
	adc	A0, r1
	dec	r25
	brne	3b
	rjmp	5f
4:	andi	r25, 7
6:	bst	A0, 0			/* rotate right 1 */
	ror	A3
	ror	A2
	ror	A1
	ror	A0
	bld	A3, 7
	dec	r25
	brne	6b
5:
	/* A += B; (A, B, C, D) = (D, A, B, C) */
	add	A0, B0
	adc	A1, B1
	adc	A2, B2
	adc	A3, B3
	movw	F0, D0
	movw	F2, D2
	movw	D0, C0
	movw	D2, C2
	movw	C0, B0
	movw	C2, B2
	movw	B0, A0
	movw	B2, A2
	movw	A0, F0
	movw	A2, F2
	inc	r24
	cpi	r24, 64
	breq	7f
	rjmp	.Lstep
7:
	/* h += (A, B, C, D) */
	pop	r27
	pop	r26
.irp w, 0, 1, 2, 3
	.if \w == 0
	movw	F0, A0
	movw	F2, A2
	.elseif \w == 1
	movw	F0, B0
	movw	F2, B2
	.elseif \w == 2
	movw	F0, C0
	movw	F2, C2
	.else
	movw	F0, D0
	movw	F2, D2
	.endif
	ld	r0, X
	add	F0, r0
	st	X+, F0
	ld	r0, X
	adc	F1, r0
	st	X+, F1
	ld	r0, X
	adc	F2, r0
	st	X+, F2
	ld	r0, X
	adc	F3, r0
	st	X+, F3
.endr
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
	.size	md5_compress_avr, . - md5_compress_avr

#endif /* __AVR__ && CONFIG_MD5_ASM */
