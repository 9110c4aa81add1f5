/*
 * ct.h - constant-time comparison and wiping.
 *
 * ct_equal() takes time that depends only on n, never on the contents of
 * a or b: use it for every MAC/tag comparison. wipe() overwrites memory
 * with zeros through a volatile pointer followed by a compiler barrier, so
 * the compiler cannot remove it as a dead store: use it for keys, key
 * schedules, hash states and temporaries that held secrets.
 */
#ifndef MS_CT_H
#define MS_CT_H

#include <stddef.h>
#include <stdint.h>

/*
 * ct_equal - compare n bytes in constant time.
 * Returns 0 if a[0..n) == b[0..n), -1 otherwise. n == 0 returns 0.
 * The running time depends on n only.
 */
int ct_equal(const uint8_t *a, const uint8_t *b, size_t n);

/*
 * wipe - set n bytes at p to zero; cannot be elided by the compiler.
 * p may be NULL only if n == 0.
 */
void wipe(void *p, size_t n);

#endif /* MS_CT_H */
