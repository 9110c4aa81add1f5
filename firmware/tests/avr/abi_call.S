/*
 * abi_call.S - call an assembly routine with every register it may be
 * given set by the test, and hand back the registers it returned with
 * (tests/avr/asm_diff.c, check_abi): the avr-gcc ABI says r2-r17 and
 * r28-r29 come back unchanged and r1 comes back 0, which a C caller
 * cannot see, and a routine that breaks it corrupts its caller only
 * where the caller happens to keep something in that register.
 *
 *   void abi_call(void (*fn)(void), uint8_t regs[ABI_REGS]);
 *
 * regs[0]: r1 on return; regs[1..28]: r2..r29 on entry to fn and on
 * return from it; regs[29]: 1 to push regs[30] as a stack argument (the
 * tenth argument of aes128_ccm_crypt), 0 for none.
 */
#include <avr/io.h>

	.section .bss.abi_call, "aw", @nobits
abi_fn:
	.skip	2
abi_regs:
	.skip	2

	.section .text.abi_call, "ax", @progbits
	.global	abi_call
	.type	abi_call, @function
abi_call:
	.irp	r, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 28, 29
	push	r\r
	.endr
	sts	abi_fn, r24
	sts	abi_fn + 1, r25
	sts	abi_regs, r22
	sts	abi_regs + 1, r23
	movw	r30, r22
	ldd	r0, Z + 29
	tst	r0
	breq	1f
	ldd	r0, Z + 30
	push	r0
1:	adiw	r30, 1
	.irp	r, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29
	ld	r\r, Z+
	.endr
	lds	r30, abi_fn
	lds	r31, abi_fn + 1
	icall
	lds	r30, abi_regs
	lds	r31, abi_regs + 1
	st	Z+, r1
	.irp	r, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29
	st	Z+, r\r
	.endr
	clr	r1
	lds	r30, abi_regs
	lds	r31, abi_regs + 1
	ldd	r0, Z + 29
	tst	r0
	breq	1f
	pop	r0
1:
	.irp	r, 29, 28, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2
	pop	r\r
	.endr
	ret
	.size	abi_call, . - abi_call
