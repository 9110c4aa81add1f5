/*
 * check.h - the host tests' one assertion: CHECK(cond) counts a pass or
 * prints the failed condition with its place and counts a failure; the
 * test's main prints `passed` and `failed` and exits non-zero on any
 * failure. Each test program includes it once.
 */
#ifndef MS_TEST_CHECK_H
#define MS_TEST_CHECK_H

#include <stdio.h>

static int passed, failed;

#define CHECK(cond) check((cond), #cond, __FILE__, __LINE__)
static int check(int ok, const char *what, const char *file, int line)
{
	if (ok) {
		passed++;
	} else {
		failed++;
		fprintf(stderr, "FAIL %s:%d: %s\n", file, line, what);
	}
	return ok;
}

#endif /* MS_TEST_CHECK_H */
