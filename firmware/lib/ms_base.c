/*
 * ms_base.c - the counters and the out-of-line byte helpers (ms_base.h).
 */
#include "ms_base.h"

uint32_t net_counters[MS_NCOUNTERS];

void ms_inc32(uint32_t *p)
{
	++*p;
}

uint16_t net_count(uint8_t c)
{
	ms_inc32(&net_counters[c]);
	return 0;
}

uint32_t net_be32(const uint8_t *p)
{
	uint32_t v = 0;
	for (uint8_t i = 0; i < 4; i++)
		v = v << 8 | p[i];
	return v;
}

void net_put32(uint8_t *p, uint32_t v)
{
	for (uint8_t i = 4; i--; v >>= 8)
		p[i] = (uint8_t)v;
}

void net_put32s(uint8_t *p, const uint32_t *v, uint8_t n)
{
	for (; n--; p += 4)
		net_put32(p, *v++);
}

uint8_t ms_raise32(uint32_t *f, const uint8_t *p)
{
	uint32_t v = net_be32(p);
	if (v <= *f)
		return 0;
	*f = v;
	return 1;
}
