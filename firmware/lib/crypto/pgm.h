/*
 * pgm.h - private: constant tables in flash on AVR, plain const on host,
 * and rotate helpers shaped for avr-gcc.
 *
 *   static const uint8_t table[256] PGM = { ... };
 *   uint8_t v = PGM_BYTE(&table[i]);
 *   uint32_t w = PGM_DWORD(&words[i]);
 *
 * On AVR the table lives in program memory (PROGMEM) and is read with
 * LPM, which takes the same number of cycles for every address (AVR has
 * no data cache), so a table lookup indexed by a secret is constant-time
 * on the device. On the host this header maps to ordinary const arrays;
 * the host build is for correctness tests, not for timing claims.
 */
#ifndef MS_PGM_H
#define MS_PGM_H

#include <stdint.h>
#include <string.h>

#if defined(__AVR__)
#include <avr/pgmspace.h>
#define PGM PROGMEM
/* PGM_FIRST(name): flash data placed with the switch tables right after
 * the vectors (.progmem.gcc*), in the bytes the 256-byte aligned AES
 * S-box (aes_avr.S) leaves before it: 58 on the 328P reference image.
 * The link warns when they outgrow them (firmware/Makefile). */
#define PGM_FIRST(name) __attribute__((section(".progmem.gcc_first." #name)))
#define PGM_BYTE(p) pgm_read_byte(p)
#define PGM_DWORD(p) pgm_read_dword(p)
#define PGM_COPY(dst, src, n) memcpy_P((dst), (src), (n))
#else
#define PGM
#define PGM_FIRST(name)
#define PGM_COPY(dst, src, n) memcpy((dst), (src), (n))
#define PGM_BYTE(p) (*(const uint8_t *)(p))
#define PGM_DWORD(p) (*(const uint32_t *)(p))
#endif

/*
 * MS_INLINE: force inlining of the small rotate helpers (avr-gcc -Os
 * would otherwise call them); plain static on other compilers.
 * MS_NOINLINE: keep a helper out of line to save flash.
 */
#if defined(__GNUC__)
#define MS_INLINE static inline __attribute__((always_inline))
#define MS_NOINLINE __attribute__((noinline))
#else
#define MS_INLINE static
#define MS_NOINLINE
#endif

/*
 * 32-bit rotations that avr-gcc compiles well: by one bit (5-6
 * instructions) and by whole bytes (register moves). Other amounts are
 * built from these; avr-gcc turns a general rotate into shift loops.
 */
MS_INLINE uint32_t rol1(uint32_t x)
{
	return (x << 1) | (x >> 31);
}
MS_INLINE uint32_t ror1(uint32_t x)
{
	return (x >> 1) | (x << 31);
}
MS_INLINE uint32_t rol8(uint32_t x)
{
	return (x << 8) | (x >> 24);
}
MS_INLINE uint32_t ror8(uint32_t x)
{
	return (x >> 8) | (x << 24);
}
MS_INLINE uint32_t rol16(uint32_t x)
{
	return (x << 16) | (x >> 16);
}

#endif /* MS_PGM_H */
