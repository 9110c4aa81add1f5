/*
 * test_rsa.c - host tests of crypto/rsa.c (ENGINEER RSA).
 *
 * Runs every record of vectors/rsa.txt (alg rsa-pkcs1-sha256): valid
 * signatures must verify (with R^2 computed and with R^2 given), negative
 * records must be rejected. For each valid record it also flips bits of
 * the signature and of the hash (every bit of the hash, every 13th bit of
 * the signature) and expects rejection, checks s^e mod n against the
 * expected encoding built here independently, and checks rsa_r2 and
 * rsa_public on random inputs against a slow bit-serial reference.
 * Built with ASan/UBSan by `make host-test` (target rsa-test).
 *
 * usage: rsa-test VECTORS_DIR
 * Prints failures and a closing "N passed, M failed"; exits 1 on failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "crypto/rsa.h"
#include "crypto/sha256.h"
#include "vectors.h"

/* tests/vectors.c leaks continued values by design ("tests are short");
 * our records are long hex continued over lines: suppress only that. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:append\n";
}

const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}

static int passed, failed;
static const vrecord *cur;

static void check(int ok, const char *what)
{
	if (ok) {
		passed++;
		return;
	}
	failed++;
	if (cur != NULL)
		fprintf(stderr, "FAIL %s:%d (%s): %s\n", cur->file, cur->line,
		        vrec_text(cur, "name") ? vrec_text(cur, "name") : "?", what);
	else
		fprintf(stderr, "FAIL %s\n", what);
}

/* ---- slow reference: big-endian k-byte numbers, bit-serial mod n ---- */

/* a = 2a mod n (a < n). */
static void ref_double(uint8_t *a, const uint8_t *n, size_t k)
{
	unsigned c = 0, br = 0;
	size_t j;
	int ge = 0;

	for (j = k; j--;) {
		unsigned v = (unsigned)a[j] << 1 | c;
		a[j] = (uint8_t)v;
		c = v >> 8;
	}
	if (!c) {
		ge = 1;
		for (j = 0; j < k; j++) {
			if (a[j] != n[j]) {
				ge = a[j] > n[j];
				break;
			}
		}
	}
	if (c || ge) {
		for (j = k; j--;) {
			unsigned d = (unsigned)a[j] - n[j] - br;
			a[j] = (uint8_t)d;
			br = (d >> 8) & 1;
		}
	}
}

/* a = a + b mod n (a, b < n). */
static void ref_add(uint8_t *a, const uint8_t *b, const uint8_t *n, size_t k)
{
	unsigned c = 0, br = 0;
	size_t j;
	int ge = 0;

	for (j = k; j--;) {
		unsigned v = (unsigned)a[j] + b[j] + c;
		a[j] = (uint8_t)v;
		c = v >> 8;
	}
	if (!c) {
		ge = 1;
		for (j = 0; j < k; j++) {
			if (a[j] != n[j]) {
				ge = a[j] > n[j];
				break;
			}
		}
	}
	if (c || ge) {
		for (j = k; j--;) {
			unsigned d = (unsigned)a[j] - n[j] - br;
			a[j] = (uint8_t)d;
			br = (d >> 8) & 1;
		}
	}
}

/* out = a * b mod n, double-and-add from the top bit of b. */
static void ref_mul(uint8_t *out, const uint8_t *a, const uint8_t *b,
                    const uint8_t *n, size_t k)
{
	size_t i;

	memset(out, 0, k);
	for (i = 0; i < 8 * k; i++) {
		ref_double(out, n, k);
		if (b[i / 8] & (0x80 >> (i % 8)))
			ref_add(out, a, n, k);
	}
}

/* out = s^65537 mod n. */
static void ref_public(uint8_t *out, const uint8_t *s, const uint8_t *n, size_t k)
{
	uint8_t *x = malloc(k), *y = malloc(k);
	int i;

	memcpy(x, s, k);
	for (i = 0; i < 16; i++) {
		ref_mul(y, x, x, n, k);
		memcpy(x, y, k);
	}
	ref_mul(out, x, s, n, k);
	free(x);
	free(y);
}

/* out = 2^(16k) mod n. */
static void ref_r2(uint8_t *out, const uint8_t *n, size_t k)
{
	size_t i;

	memset(out, 0, k);
	out[k - 1] = 1;
	for (i = 0; i < 16 * k; i++)
		ref_double(out, n, k);
}

static uint32_t rng = 0x12345678;
static uint8_t rnd8(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return (uint8_t)(rng >> 11);
}

/* ---- the expected encoding, built independently of rsa.c ---- */

static void build_em(uint8_t *em, size_t k, const uint8_t hash[32])
{
	static const uint8_t di[19] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
	                               0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
	                               0x01, 0x05, 0x00, 0x04, 0x20};
	memset(em, 0xff, k);
	em[0] = 0;
	em[1] = 1;
	em[k - 52] = 0;
	memcpy(em + k - 51, di, 19);
	memcpy(em + k - 32, hash, 32);
}

static int is_fail(const vrecord *r)
{
	const char *v = vrec_text(r, "result");
	return v != NULL && strcmp(v, "fail") == 0;
}

static void run_record(const vrecord *r, int *deep_done)
{
	uint8_t *n = NULL, *sig = NULL, *msg = NULL, *h = NULL;
	size_t nk, sk, mk, hk;
	uint8_t hash[32];
	uint8_t *work, *r2, *em;
	int rc;

	if (vrec_hex(r, "n", &n, &nk) || vrec_hex(r, "sig", &sig, &sk)) {
		check(0, "missing n or sig");
		goto out;
	}
	if (vrec_text(r, "hash") != NULL) {
		if (vrec_hex(r, "hash", &h, &hk) || hk != 32) {
			check(0, "bad hash");
			goto out;
		}
		memcpy(hash, h, 32);
	} else if (vrec_hex(r, "msg", &msg, &mk) == 0) {
		sha256(hash, msg, mk);
	} else {
		check(0, "neither msg nor hash");
		goto out;
	}
	check(sk == nk, "sig as long as n");
	if (sk != nk)
		goto out;
	work = malloc(RSA_WORK_SIZE(nk));
	r2 = malloc(nk);
	em = malloc(nk);
	rc = rsa_verify_pkcs1_sha256(n, nk, NULL, sig, hash, work);
	if (is_fail(r)) {
		check(rc == -1, "negative record accepted (R^2 computed)");
		rsa_r2(n, nk, work);
		memcpy(r2, work, nk);
		check(rsa_verify_pkcs1_sha256(n, nk, r2, sig, hash, work) == -1,
		      "negative record accepted (R^2 given)");
	} else {
		size_t bit;
		check(rc == 0, "valid signature rejected (R^2 computed)");
		check(rsa_check_modulus(n, nk) == 0, "modulus refused");
		rsa_r2(n, nk, work);
		memcpy(r2, work, nk);
		check(rsa_verify_pkcs1_sha256(n, nk, r2, sig, hash, work) == 0,
		      "valid signature rejected (R^2 given)");
		/* r2 == work: the documented in-place form. */
		rsa_r2(n, nk, work);
		check(rsa_verify_pkcs1_sha256(n, nk, work, sig, hash, work) == 0,
		      "valid signature rejected (R^2 left in work)");
		build_em(em, nk, hash);
		check(rsa_public(n, nk, r2, sig, work) == 0 &&
		          memcmp(work + RSA_RESULT_OFFSET, em, nk) == 0,
		      "s^e mod n is not the expected encoding");
		/* Every 13th bit of the signature, every bit of the hash. */
		for (bit = 0; bit < 8 * nk; bit += 13) {
			sig[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
			check(rsa_verify_pkcs1_sha256(n, nk, r2, sig, hash, work) == -1,
			      "signature with a flipped bit accepted");
			sig[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
		}
		for (bit = 0; bit < 256; bit++) {
			hash[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
			check(rsa_verify_pkcs1_sha256(n, nk, r2, sig, hash, work) == -1,
			      "hash with a flipped bit accepted");
			hash[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
		}
		/* Wrong lengths and a bad modulus are refused. */
		check(rsa_verify_pkcs1_sha256(n, nk - 4, NULL, sig, hash, work) == -1,
		      "k - 4 accepted");
		n[nk - 1] ^= 1; /* even modulus */
		check(rsa_check_modulus(n, nk) == -1, "even modulus accepted");
		check(rsa_verify_pkcs1_sha256(n, nk, NULL, sig, hash, work) == -1,
		      "even modulus verified");
		n[nk - 1] ^= 1;
		if (!deep_done[nk == RSA2048_BYTES]) {
			/* Once per key size: the arithmetic against the reference
			 * on random s < n, and R^2. */
			uint8_t *s = malloc(nk), *want = malloc(nk);
			int t;
			deep_done[nk == RSA2048_BYTES] = 1;
			ref_r2(want, n, nk);
			rsa_r2(n, nk, work);
			check(memcmp(work, want, nk) == 0, "rsa_r2 differs from 2^(16k) mod n");
			for (t = 0; t < 3; t++) {
				size_t j;
				for (j = 0; j < nk; j++)
					s[j] = rnd8();
				if (t == 0)
					memset(s, 0, nk - 1); /* small s */
				if (t == 1) {             /* s = n - 1: (-1)^e = n - 1 */
					memcpy(s, n, nk);
					s[nk - 1] ^= 1;
				}
				s[0] = (uint8_t)(s[0] & 0x7f); /* s < n */
				if (t == 1)
					s[0] = n[0];
				ref_public(want, s, n, nk);
				check(rsa_public(n, nk, NULL, s, work) == 0 &&
				          memcmp(work + RSA_RESULT_OFFSET, want, nk) == 0,
				      "rsa_public differs from the reference");
			}
			free(s);
			free(want);
		}
	}
	free(work);
	free(r2);
	free(em);
out:
	free(n);
	free(sig);
	free(msg);
	free(h);
}

/* r (la + lb bytes) = a (la bytes) * b (lb bytes), big-endian, schoolbook. */
static void ref_mulx(uint8_t *r, const uint8_t *a, size_t la, const uint8_t *b, size_t lb)
{
	size_t i, j;

	memset(r, 0, la + lb);
	for (i = la; i-- > 0;) {
		unsigned c = 0;
		for (j = lb; j-- > 0;) {
			c += (unsigned)a[i] * b[j] + r[i + j + 1];
			r[i + j + 1] = (uint8_t)c;
			c >>= 8;
		}
		r[i] = (uint8_t)c;
	}
}

/*
 * The row kernel and the in-place squaring (the C references of the AVR
 * assembly, which the device tests run) on extreme and random operands:
 * all-ones operands make every carry chain as long as it gets.
 */
static void test_kernels(void)
{
	static const size_t ks[2] = {RSA1024_BYTES, RSA2048_BYTES};
	uint8_t w[RSA_WORK_SIZE(RSA2048_BYTES)], want[2 * RSA2048_BYTES + 8];
	uint8_t a[RSA2048_BYTES], b[8], t[RSA2048_BYTES + 8];
	size_t ki, j;
	int v;

	for (ki = 0; ki < 2; ki++) {
		size_t k = ks[ki], W = RSA_WORK_SIZE(k);
		for (v = 0; v < 4; v++) {
			/* x: all ones, random, ones with random holes, one byte */
			for (j = 0; j < k; j++) {
				uint8_t r = rnd8();
				w[5 + j] = v == 0 ? 0xff : v == 1 ? r : v == 2 ? (r & 7 ? 0xff : r) : 0;
			}
			if (v == 3)
				w[5 + k - 1] = 0xff;
			memset(w, 0xa5, 5);
			memset(w + 5 + k, 0, k);
			ref_mulx(want, w + 5, k, w + 5, k);
			bn_sqr(w + W, (uint16_t)k);
			check(memcmp(w + 5, want, 2 * k) == 0, "bn_sqr differs from the reference");
			check(w[0] == 0xa5 && w[4] == 0xa5, "bn_sqr wrote above position 2k-1");
		}
		/* T += B * A with T, A, B all ones: the carry out is 1. */
		for (v = 0; v < 2; v++) {
			uint8_t c;
			size_t len = v ? k : 8;
			memset(a, 0xff, len);
			memset(b, 0xff, 8);
			memset(t, 0xff, len + 8);
			ref_mulx(want, a, len, b, 8); /* then + T = B*A + 2^(8(len+8)) - 1 */
			c = bn_mac64(t + len + 8, a + len, (uint16_t)len, b + 8);
			{
				/* want + (2^(8(len+8)) - 1) = want - 1 + 2^(8(len+8)): carry 1 (want > 0) */
				size_t q = len + 8;
				while (q-- > 0 && want[q]-- == 0)
					;
			}
			check(c == 1 && memcmp(t, want, len + 8) == 0, "bn_mac64 differs on all-ones operands");
		}
	}
}

int main(int argc, char **argv)
{
	char path[4096];
	vfile vf;
	vrecord r;
	int rc, records = 0;
	int deep_done[2] = {0, 0};
	uint8_t n[RSA2048_BYTES], s[RSA2048_BYTES], hash[32], work[RSA_WORK_SIZE(RSA2048_BYTES)];

	if (argc != 2) {
		fprintf(stderr, "usage: rsa-test VECTORS_DIR\n");
		return 2;
	}
	snprintf(path, sizeof path, "%s/rsa.txt", argv[1]);
	if (vfile_open(&vf, path) != 0) {
		perror(path);
		return 1;
	}
	while ((rc = vfile_next(&vf, &r)) == 1) {
		const char *alg = vrec_text(&r, "alg");
		cur = &r;
		records++;
		if (alg == NULL || strcmp(alg, "rsa-pkcs1-sha256") != 0) {
			check(0, "unknown alg");
			continue;
		}
		run_record(&r, deep_done);
	}
	cur = NULL;
	check(rc == 0, "syntax error in rsa.txt");
	check(records > 0, "rsa.txt has no records");
	check(deep_done[0] && deep_done[1], "no valid record of each size");
	vfile_close(&vf);

	test_kernels();

	/* Parameter checks without vectors. */
	memset(n, 0xff, sizeof n);
	memset(s, 0, sizeof s);
	memset(hash, 0, sizeof hash);
	check(rsa_check_modulus(n, 256) == 0, "2048-bit all-ones modulus refused");
	check(rsa_check_modulus(n, 192) == -1, "1536-bit modulus accepted");
	check(rsa_check_modulus(n, 64) == -1, "512-bit modulus accepted");
	n[0] = 0x7f;
	check(rsa_check_modulus(n, 256) == -1, "2047-bit modulus accepted");
	check(rsa_verify_pkcs1_sha256(n, 256, NULL, s, hash, work) == -1,
	      "2047-bit modulus verified");

	printf("rsa: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
