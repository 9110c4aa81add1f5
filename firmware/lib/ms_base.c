/*
 * ms_base.c - the counters and the out-of-line byte helpers (ms_base.h).
 */
#include "ms_base.h"

ms_counter net_counters[MS_NCOUNTERS];

void ms_inc32(uint32_t *p)
{
	++*p;
}

uint16_t net_count(uint8_t c)
{
#if CONFIG_COUNTER16
	ms_counter *p = &net_counters[c], v = (ms_counter)(*p + 1);
	if (v) /* stops at 65,535: a wrapped count would read low */
		*p = v;
#else
	ms_inc32(&net_counters[c]);
#endif
	return 0;
}

#if CONFIG_COUNTER16
void net_put_counters(uint8_t *p, uint8_t first, uint8_t n)
{
	for (const ms_counter *v = &net_counters[first]; n--; p += 4) {
		p[0] = p[1] = 0;
		net_put16(p + 2, *v++);
	}
}
#endif

uint32_t net_be32(const uint8_t *p)
{
	return (uint32_t)net_be16(p) << 16 | net_be16(p + 2);
}

void net_put32(uint8_t *p, uint32_t v)
{
	net_put16(p, (uint16_t)(v >> 16));
	net_put16(p + 2, (uint16_t)v);
}

/* Byte by byte, each value's bytes in reverse: the AVR (and the host
 * the tests run on) store a uint32_t little-endian. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "net_put32s: little-endian targets only"
#endif
void net_put32s(uint8_t *p, const uint32_t *v, uint8_t n)
{
	const uint8_t *s = (const uint8_t *)v;
	for (; n--; s += 4)
		for (uint8_t i = 4; i--;)
			*p++ = s[i];
}

uint8_t ms_raise32(uint32_t *f, const uint8_t *p)
{
	uint32_t v = net_be32(p);
	if (v <= *f)
		return 0;
	*f = v;
	return 1;
}
