/*
 * ct.c - constant-time comparison and wiping (see ct.h).
 */
#include "ct.h"

int ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint8_t d = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		d |= (uint8_t)(a[i] ^ b[i]);
	}
	/* d == 0 -> 0, d in 1..255 -> -1, without a branch. */
	return (int)((1u & (((unsigned)d - 1u) >> 8))) - 1;
}

void wipe(void *p, size_t n)
{
	volatile uint8_t *v = (volatile uint8_t *)p;

	while (n > 0) {
		*v++ = 0;
		n--;
	}
#if defined(__GNUC__)
	/* The compiler must assume the asm reads *p: the stores stay. */
	__asm__ __volatile__("" : : "r"(p) : "memory");
#endif
}
