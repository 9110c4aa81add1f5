/*
 * test_main.c - host tests of the crypto core.
 *
 * Runs every record of the vector files of the primitives implemented in
 * firmware/crypto (vectors/README.md), plus negative tests (bit flips in
 * CCM inputs and HMAC tags), parameter checks and multi-call consistency.
 * Built with ASan/UBSan by `make host-test`.
 *
 * usage: crypto-test VECTORS_DIR
 * Prints one line per failure and a closing "N passed, M failed"; exits 1
 * on any failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "crypto/aes.h"
#include "crypto/cbc.h"
#include "crypto/ccm.h"
#include "crypto/ct.h"
#include "crypto/ctr.h"
#include "crypto/hmac.h"
#include "crypto/md5.h"
#include "crypto/sha256.h"
#include "vectors.h"

static int passed, failed;

/* Per-record failure reporting. */
static const vrecord *cur;

static int failf(const char *what)
{
	if (cur != NULL) {
		fprintf(stderr, "FAIL %s:%d (%s): %s\n", cur->file, cur->line,
		        vrec_text(cur, "source") ? vrec_text(cur, "source") : "?",
		        what);
	} else {
		fprintf(stderr, "FAIL %s\n", what);
	}
	return -1;
}

static void hexdump(const char *label, const uint8_t *p, size_t n)
{
	size_t i;

	fprintf(stderr, "  %s: ", label);
	for (i = 0; i < n; i++) {
		fprintf(stderr, "%02x", p[i]);
	}
	fprintf(stderr, "\n");
}

static int same(const char *what, const uint8_t *got, const uint8_t *want,
                size_t n)
{
	if (n > 0 && memcmp(got, want, n) != 0) {
		failf(what);
		hexdump("got ", got, n);
		hexdump("want", want, n);
		return -1;
	}
	return 0;
}

static int all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] != 0) {
			return 0;
		}
	}
	return 1;
}

/* Up to 8 decoded fields per record, freed by the caller through fields_free. */
typedef struct {
	uint8_t *p[8];
	size_t n[8];
	int k;
} fields;

static int get(fields *fs, const vrecord *r, const char *name, uint8_t **p,
               size_t *n)
{
	if (fs->k == 8 || vrec_hex(r, name, p, n) != 0) {
		return failf("bad or missing field");
	}
	fs->p[fs->k] = *p;
	fs->n[fs->k] = *n;
	fs->k++;
	return 0;
}

static void fields_free(fields *fs)
{
	int i;

	for (i = 0; i < fs->k; i++) {
		free(fs->p[i]);
	}
	fs->k = 0;
}

static int want_fail(const vrecord *r)
{
	const char *v = vrec_text(r, "result");

	return v != NULL && strcmp(v, "fail") == 0;
}

static int need_len(size_t n, size_t want, const char *what)
{
	if (n != want) {
		return failf(what);
	}
	return 0;
}

/* ---------------------------------------------------------------- AES */

static int run_aes(const vrecord *r)
{
	fields fs = {0};
	uint8_t *key, *pt, *ct, b[16];
	size_t kn, pn, cn;
	aes128_ctx ctx;
	int rc = -1;

	if (get(&fs, r, "key", &key, &kn) || get(&fs, r, "pt", &pt, &pn) ||
	    get(&fs, r, "ct", &ct, &cn) || need_len(kn, 16, "key length") ||
	    need_len(pn, 16, "pt length") || need_len(cn, 16, "ct length")) {
		goto out;
	}
	aes128_init(&ctx, key);
	memcpy(b, pt, 16);
	aes128_encrypt(&ctx, b);
	if (same("aes128_encrypt", b, ct, 16)) {
		goto out;
	}
#if CONFIG_AES_DECRYPT
	aes128_decrypt(&ctx, b);
	if (same("aes128_decrypt", b, pt, 16)) {
		goto out;
	}
#endif
	aes128_wipe(&ctx);
	if (!all_zero((const uint8_t *)&ctx, sizeof ctx)) {
		failf("aes128_wipe left key material");
		goto out;
	}
	rc = 0;
out:
	fields_free(&fs);
	return rc;
}

static int run_cbc(const vrecord *r)
{
	fields fs = {0};
	uint8_t *key, *iv, *pt, *ct, *b = NULL, v[16];
	size_t kn, ivn, pn, cn, split;
	aes128_ctx ctx;
	int rc = -1;

	if (get(&fs, r, "key", &key, &kn) || get(&fs, r, "iv", &iv, &ivn) ||
	    get(&fs, r, "pt", &pt, &pn) || get(&fs, r, "ct", &ct, &cn) ||
	    need_len(kn, 16, "key length") || need_len(ivn, 16, "iv length") ||
	    need_len(cn, pn, "ct length") ||
	    need_len(pn % 16, 0, "pt not whole blocks")) {
		goto out;
	}
	b = malloc(pn + 1);
	aes128_init(&ctx, key);
	/* One call, then split after every block boundary. */
	for (split = 0; split <= pn; split += 16) {
		memcpy(b, pt, pn);
		memcpy(v, iv, 16);
		aes128_cbc_encrypt(&ctx, v, b, split / 16);
		aes128_cbc_encrypt(&ctx, v, b + split, (pn - split) / 16);
		if (same("aes128_cbc_encrypt", b, ct, pn)) {
			goto out;
		}
#if CONFIG_AES_DECRYPT
		memcpy(v, iv, 16);
		aes128_cbc_decrypt(&ctx, v, b, split / 16);
		aes128_cbc_decrypt(&ctx, v, b + split, (pn - split) / 16);
		if (same("aes128_cbc_decrypt", b, pt, pn)) {
			goto out;
		}
#endif
	}
	rc = 0;
out:
	free(b);
	fields_free(&fs);
	return rc;
}

static int run_ctr(const vrecord *r)
{
	fields fs = {0};
	uint8_t *key, *nonce, *iv, *cb, *pt, *ct, *b = NULL, c[16];
	size_t kn, nn, ivn, cbn, pn, cn, split;
	aes128_ctx ctx;
	int rc = -1;

	if (get(&fs, r, "key", &key, &kn) || get(&fs, r, "nonce", &nonce, &nn) ||
	    get(&fs, r, "iv", &iv, &ivn) || get(&fs, r, "ctr_block", &cb, &cbn) ||
	    get(&fs, r, "pt", &pt, &pn) || get(&fs, r, "ct", &ct, &cn) ||
	    need_len(kn, 16, "key length") || need_len(nn, 4, "nonce length") ||
	    need_len(ivn, 8, "iv length") || need_len(cbn, 16, "ctr_block") ||
	    need_len(cn, pn, "ct length")) {
		goto out;
	}
	/* RFC 3686 section 4: counter block = nonce || iv || 00000001. */
	memcpy(c, nonce, 4);
	memcpy(c + 4, iv, 8);
	memset(c + 12, 0, 3);
	c[15] = 1;
	if (same("ctr_block = nonce||iv||1", c, cb, 16)) {
		goto out;
	}
	b = malloc(pn + 1);
	aes128_init(&ctx, key);
	for (split = 0; split <= pn; split += 16) {
		memcpy(b, pt, pn);
		memcpy(c, cb, 16);
		aes128_ctr(&ctx, c, b, split);
		aes128_ctr(&ctx, c, b + split, pn - split);
		if (same("aes128_ctr encrypt", b, ct, pn)) {
			goto out;
		}
	}
	memcpy(c, cb, 16);
	aes128_ctr(&ctx, c, b, pn);
	if (same("aes128_ctr decrypt", b, pt, pn)) {
		goto out;
	}
	rc = 0;
out:
	free(b);
	fields_free(&fs);
	return rc;
}

/* Flip each bit position class in one input and expect open to fail. */
static int ccm_expect_reject(const aes128_ctx *ctx, const uint8_t *nonce,
                             size_t nn, const uint8_t *aad, size_t an,
                             const uint8_t *ct, size_t cn, const uint8_t *tag,
                             size_t tn, const char *what)
{
	uint8_t *b = malloc(cn + 1);
	int rc = 0;

	memcpy(b, ct, cn);
	if (aes128_ccm_open(ctx, nonce, nn, aad, an, b, cn, tag, tn) != -1) {
		rc = failf(what);
	} else if (!all_zero(b, cn)) {
		rc = failf("ccm open failure left plaintext in the buffer");
	}
	free(b);
	return rc;
}

static int run_ccm(const vrecord *r)
{
	fields fs = {0};
	uint8_t *key, *nonce, *aad, *pt, *ct, *tag, *b = NULL, *m = NULL;
	uint8_t t[16];
	size_t kn, nn, an, pn, cn, tn, i;
	aes128_ctx ctx;
	int rc = -1;

	if (get(&fs, r, "key", &key, &kn) || get(&fs, r, "nonce", &nonce, &nn) ||
	    get(&fs, r, "aad", &aad, &an) || get(&fs, r, "pt", &pt, &pn) ||
	    get(&fs, r, "ct", &ct, &cn) || get(&fs, r, "tag", &tag, &tn) ||
	    need_len(kn, 16, "key length")) {
		goto out;
	}
	aes128_init(&ctx, key);
	b = malloc(pn + cn + 1);
	m = malloc(an + nn + tn + 1);
	if (want_fail(r)) {
		if (ccm_expect_reject(&ctx, nonce, nn, aad, an, ct, cn, tag, tn,
		                      "ccm open accepted a result=fail vector")) {
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (need_len(cn, pn, "ct length")) {
		goto out;
	}
	memcpy(b, pt, pn);
	if (aes128_ccm_seal(&ctx, nonce, nn, aad, an, b, pn, t, tn) != 0) {
		failf("aes128_ccm_seal rejected parameters");
		goto out;
	}
	if (same("ccm seal ct", b, ct, cn) || same("ccm seal tag", t, tag, tn)) {
		goto out;
	}
	if (aes128_ccm_open(&ctx, nonce, nn, aad, an, b, cn, tag, tn) != 0) {
		failf("aes128_ccm_open rejected a valid message");
		goto out;
	}
	if (same("ccm open pt", b, pt, pn)) {
		goto out;
	}
	/* Negative: flip one bit in each octet of tag, ct, aad and nonce. */
	for (i = 0; i < tn; i++) {
		memcpy(m, tag, tn);
		m[i] ^= (uint8_t)(1u << (i & 7));
		if (ccm_expect_reject(&ctx, nonce, nn, aad, an, ct, cn, m, tn,
		                      "ccm open accepted a flipped tag bit")) {
			goto out;
		}
	}
	for (i = 0; i < cn; i++) {
		memcpy(b, ct, cn);
		b[i] ^= (uint8_t)(0x80u >> (i & 7));
		if (ccm_expect_reject(&ctx, nonce, nn, aad, an, b, cn, tag, tn,
		                      "ccm open accepted a flipped ct bit")) {
			goto out;
		}
	}
	for (i = 0; i < an; i++) {
		memcpy(m, aad, an);
		m[i] ^= (uint8_t)(1u << (i & 7));
		if (ccm_expect_reject(&ctx, nonce, nn, m, an, ct, cn, tag, tn,
		                      "ccm open accepted a flipped aad bit")) {
			goto out;
		}
	}
	for (i = 0; i < nn; i++) {
		memcpy(m, nonce, nn);
		m[i] ^= 1;
		if (ccm_expect_reject(&ctx, m, nn, aad, an, ct, cn, tag, tn,
		                      "ccm open accepted a flipped nonce bit")) {
			goto out;
		}
	}
	/* Truncated tag and dropped last ct octet must fail too. */
	if (tn > 4 && ccm_expect_reject(&ctx, nonce, nn, aad, an, ct, cn, tag,
	                                tn - 2, "ccm open accepted a short tag")) {
		goto out;
	}
	if (cn > 0 && ccm_expect_reject(&ctx, nonce, nn, aad, an, ct, cn - 1, tag,
	                                tn, "ccm open accepted a truncated ct")) {
		goto out;
	}
	rc = 0;
out:
	free(b);
	free(m);
	fields_free(&fs);
	return rc;
}

/* -------------------------------------------------------------- hashes */

typedef struct {
	size_t size;
	void (*oneshot)(uint8_t *, const uint8_t *, size_t);
	void (*stream)(const uint8_t *msg, size_t len, unsigned long repeat,
	               size_t chunk, uint8_t *out);
} hash_alg;

static void md5_stream(const uint8_t *msg, size_t len, unsigned long repeat,
                       size_t chunk, uint8_t *out)
{
	md5_ctx ctx;
	unsigned long k;
	size_t i;

	md5_init(&ctx);
	for (k = 0; k < repeat; k++) {
		for (i = 0; i < len; i += chunk) {
			md5_update(&ctx, msg + i, len - i < chunk ? len - i : chunk);
		}
	}
	md5_final(&ctx, out);
}

static void sha256_stream(const uint8_t *msg, size_t len, unsigned long repeat,
                          size_t chunk, uint8_t *out)
{
	sha256_ctx ctx;
	unsigned long k;
	size_t i;

	sha256_init(&ctx);
	for (k = 0; k < repeat; k++) {
		for (i = 0; i < len; i += chunk) {
			sha256_update(&ctx, msg + i,
			              len - i < chunk ? len - i : chunk);
		}
	}
	sha256_final(&ctx, out);
}

static void md5_oneshot(uint8_t *d, const uint8_t *m, size_t n)
{
	md5(d, m, n);
}

static void sha256_oneshot(uint8_t *d, const uint8_t *m, size_t n)
{
	sha256(d, m, n);
}

static const hash_alg alg_md5 = {16, md5_oneshot, md5_stream};
static const hash_alg alg_sha256 = {32, sha256_oneshot, sha256_stream};

static int run_hash(const vrecord *r, const hash_alg *h)
{
	fields fs = {0};
	uint8_t *msg, *digest, out[32];
	size_t mn, dn;
	unsigned long repeat = 1;
	static const size_t chunks[] = {1, 3, 63, 64, 65};
	size_t c;
	int rc = -1;

	if (get(&fs, r, "msg", &msg, &mn) ||
	    get(&fs, r, "digest", &digest, &dn) ||
	    need_len(dn, h->size, "digest length")) {
		goto out;
	}
	if (vrec_text(r, "repeat") != NULL && vrec_int(r, "repeat", &repeat)) {
		failf("bad repeat");
		goto out;
	}
	if (repeat == 1) {
		h->oneshot(out, msg, mn);
		if (same("one-shot digest", out, digest, dn)) {
			goto out;
		}
		for (c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
			h->stream(msg, mn, 1, chunks[c], out);
			if (same("chunked digest", out, digest, dn)) {
				goto out;
			}
		}
	} else {
		h->stream(msg, mn, repeat, mn == 0 ? 1 : mn, out);
		if (same("repeated digest", out, digest, dn)) {
			goto out;
		}
	}
	rc = 0;
out:
	fields_free(&fs);
	return rc;
}

/* ---------------------------------------------------------------- HMAC */

typedef struct {
	size_t size;
	void (*oneshot)(uint8_t *, const uint8_t *, size_t, const uint8_t *,
	                size_t);
	void (*bytewise)(uint8_t *, const uint8_t *, size_t, const uint8_t *,
	                 size_t);
} hmac_alg;

static void hmac_md5_bytewise(uint8_t *mac, const uint8_t *k, size_t kn,
                              const uint8_t *m, size_t mn)
{
	hmac_md5_ctx keyed, c;
	size_t i;

	hmac_md5_init(&keyed, k, kn);
	c = keyed; /* reuse of a keyed context by copy, as a device does */
	for (i = 0; i < mn; i++) {
		hmac_md5_update(&c, m + i, 1);
	}
	hmac_md5_final(&c, mac);
	wipe(&keyed, sizeof keyed);
}

static void hmac_sha256_bytewise(uint8_t *mac, const uint8_t *k, size_t kn,
                                 const uint8_t *m, size_t mn)
{
	hmac_sha256_ctx keyed, c;
	size_t i;

	hmac_sha256_init(&keyed, k, kn);
	c = keyed;
	for (i = 0; i < mn; i++) {
		hmac_sha256_update(&c, m + i, 1);
	}
	hmac_sha256_final(&c, mac);
	wipe(&keyed, sizeof keyed);
}

static const hmac_alg alg_hmac_md5 = {16, hmac_md5, hmac_md5_bytewise};
static const hmac_alg alg_hmac_sha256 = {32, hmac_sha256,
                                         hmac_sha256_bytewise};

static int run_hmac(const vrecord *r, const hmac_alg *h)
{
	fields fs = {0};
	uint8_t *key, *msg, *mac, out[32], bad[32];
	size_t kn, mn, tn, i;
	int rc = -1;

	if (get(&fs, r, "key", &key, &kn) || get(&fs, r, "msg", &msg, &mn) ||
	    get(&fs, r, "mac", &mac, &tn)) {
		goto out;
	}
	if (tn == 0 || tn > h->size) {
		failf("mac length");
		goto out;
	}
	h->oneshot(out, key, kn, msg, mn);
	if (want_fail(r)) {
		if (ct_equal(out, mac, tn) != -1) {
			failf("hmac accepted a result=fail vector");
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (ct_equal(out, mac, tn) != 0) {
		failf("hmac mismatch");
		hexdump("got ", out, tn);
		hexdump("want", mac, tn);
		goto out;
	}
	h->bytewise(out, key, kn, msg, mn);
	if (ct_equal(out, mac, tn) != 0) {
		failf("hmac (byte-wise updates, copied keyed context) mismatch");
		goto out;
	}
	/* Negative: every single-bit flip of the expected tag is rejected. */
	for (i = 0; i < 8 * tn; i++) {
		memcpy(bad, mac, tn);
		bad[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (ct_equal(out, bad, tn) != -1) {
			failf("ct_equal accepted a flipped mac bit");
			goto out;
		}
	}
	rc = 0;
out:
	fields_free(&fs);
	return rc;
}

/* ------------------------------------------------------- vector files */

typedef struct {
	const char *alg;
	int (*run)(const vrecord *r);
} handler;

static int run_md5(const vrecord *r)
{
	return run_hash(r, &alg_md5);
}
static int run_sha256(const vrecord *r)
{
	return run_hash(r, &alg_sha256);
}
static int run_hmac_md5(const vrecord *r)
{
	return run_hmac(r, &alg_hmac_md5);
}
static int run_hmac_sha256(const vrecord *r)
{
	return run_hmac(r, &alg_hmac_sha256);
}

static const handler handlers[] = {
	{"aes-128", run_aes},
	{"aes-128-cbc", run_cbc},
	{"aes-128-ctr", run_ctr},
	{"aes-128-ccm", run_ccm},
	{"md5", run_md5},
	{"sha-256", run_sha256},
	{"hmac-md5", run_hmac_md5},
	{"hmac-sha-256", run_hmac_sha256},
};

/* Algorithms in the files below that belong to other components. */
static const char *const foreign[] = {
	"esp-aes-128-cbc", /* ESP packet vectors: pkg/esp and firmware ESP */
	"grant",           /* MSSL grants: pkg/grant */
};

static const char *const files[] = {
	"aes.txt", "md5.txt", "sha256.txt", "hmac-md5.txt", "hmac-sha256.txt",
	"aes-cbc.txt", "aes-ctr.txt", "aes-ccm.txt",
};

static int is_foreign(const char *alg)
{
	size_t i;

	for (i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
		if (strcmp(alg, foreign[i]) == 0) {
			return 1;
		}
	}
	return 0;
}

static void count(int rc)
{
	if (rc == 0) {
		passed++;
	} else {
		failed++;
	}
}

static void run_file(const char *dir, const char *name)
{
	char path[4096];
	vfile vf;
	vrecord r;
	int rc, n = 0;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (vfile_open(&vf, path) != 0) {
		fprintf(stderr, "FAIL %s: cannot read\n", path);
		failed++;
		return;
	}
	while ((rc = vfile_next(&vf, &r)) == 1) {
		const char *alg = vrec_text(&r, "alg");
		size_t i;
		int done = 0;

		cur = &r;
		if (alg == NULL || vrec_text(&r, "source") == NULL) {
			count(failf("record without alg or source"));
			continue;
		}
		for (i = 0; i < sizeof handlers / sizeof handlers[0]; i++) {
			if (strcmp(alg, handlers[i].alg) == 0) {
				count(handlers[i].run(&r));
				n++;
				done = 1;
				break;
			}
		}
		if (!done && !is_foreign(alg)) {
			count(failf("unknown alg"));
		}
	}
	cur = NULL;
	if (rc < 0) {
		fprintf(stderr, "FAIL %s: syntax error\n", path);
		failed++;
	} else if (n == 0) {
		fprintf(stderr, "FAIL %s: no records for this component\n", path);
		failed++;
	} else {
		printf("%-16s %d records\n", name, n);
	}
	vfile_close(&vf);
}

/* ------------------------------------------------------- unit checks */

static int unit_ct(void)
{
	uint8_t a[32], b[32];
	size_t i;

	memset(a, 0xa5, sizeof a);
	memcpy(b, a, sizeof b);
	if (ct_equal(a, b, sizeof a) != 0 || ct_equal(a, b, 0) != 0) {
		return failf("ct_equal: equal buffers");
	}
	for (i = 0; i < 8 * sizeof a; i++) {
		b[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (ct_equal(a, b, sizeof a) != -1) {
			return failf("ct_equal: single bit difference");
		}
		b[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	wipe(a, sizeof a);
	if (!all_zero(a, sizeof a)) {
		return failf("wipe");
	}
	wipe(NULL, 0);
	return 0;
}

/* Parameter ranges and round trips over every nonce and tag length. */
static int unit_ccm_params(void)
{
	static const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8,
	                                9, 10, 11, 12, 13, 14, 15, 16};
	uint8_t nonce[16], aad[40], msg[100], b[100], tag[16];
	aes128_ctx ctx;
	size_t nn, tn, len;

	memset(nonce, 0x5a, sizeof nonce);
	memset(aad, 0x33, sizeof aad);
	for (len = 0; len < sizeof msg; len++) {
		msg[len] = (uint8_t)len;
	}
	aes128_init(&ctx, key);
	for (nn = 0; nn <= 16; nn++) {
		for (tn = 0; tn <= 17; tn++) {
			int ok = nn >= 7 && nn <= 13 && tn >= 4 && tn <= 16 &&
			         tn % 2 == 0;
			int rs;

			memcpy(b, msg, sizeof msg);
			rs = aes128_ccm_seal(&ctx, nonce, nn, aad, 13, b, 37, tag,
			                     tn);
			if (rs != (ok ? 0 : -1)) {
				return failf("ccm seal parameter check");
			}
			if (!ok) {
				if (memcmp(b, msg, sizeof msg) != 0) {
					return failf("ccm seal wrote on bad parameters");
				}
				continue;
			}
			if (aes128_ccm_open(&ctx, nonce, nn, aad, 13, b, 37, tag,
			                    tn) != 0 ||
			    memcmp(b, msg, 37) != 0) {
				return failf("ccm round trip");
			}
		}
	}
	/* Lengths 0..99 with and without AAD, nonce 11 (RFC 4309), tag 16. */
	for (len = 0; len < sizeof msg; len++) {
		size_t an;

		for (an = 0; an < sizeof aad; an += 13) {
			memcpy(b, msg, sizeof msg);
			if (aes128_ccm_seal(&ctx, nonce, 11, aad, an, b, len, tag,
			                    16) != 0 ||
			    aes128_ccm_open(&ctx, nonce, 11, aad, an, b, len, tag,
			                    16) != 0 ||
			    memcmp(b, msg, len) != 0) {
				return failf("ccm round trip over lengths");
			}
		}
	}
	/* L = 2 (13-octet nonce) cannot encode 65536 octets. */
	{
		static uint8_t big[65536];
		if (aes128_ccm_seal(&ctx, nonce, 13, NULL, 0, big, sizeof big,
		                    tag, 8) != -1) {
			return failf("ccm accepted a message too long for L");
		}
		if (aes128_ccm_seal(&ctx, nonce, 12, NULL, 0, big, sizeof big,
		                    tag, 8) != 0) {
			return failf("ccm rejected 65536 octets with L = 3");
		}
		/* AAD of 0xff00 octets or more uses the 6-octet encoding. */
		if (aes128_ccm_seal(&ctx, nonce, 13, big, 0xff00u, b, 16, tag,
		                    8) != 0 ||
		    aes128_ccm_open(&ctx, nonce, 13, big, 0xff00u, b, 16, tag,
		                    8) != 0) {
			return failf("ccm round trip with long aad");
		}
	}
	aes128_wipe(&ctx);
	return 0;
}

/*
 * Random garbage into aes128_ccm_open (a deterministic stand-in for a
 * fuzzer: clang/libFuzzer is not available here): random lengths,
 * parameters and contents must never be accepted, must never touch memory
 * outside the buffers (ASan), and must leave the buffer wiped.
 */
static uint32_t rng_state = 0x9e3779b9u;

static uint8_t rnd8(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return (uint8_t)rng_state;
}

static int unit_ccm_garbage(void)
{
	aes128_ctx ctx;
	uint8_t key[16];
	int n;

	for (n = 0; n < 16; n++) {
		key[n] = rnd8();
	}
	aes128_init(&ctx, key);
	for (n = 0; n < 20000; n++) {
		size_t nn = rnd8() % 17, an = rnd8() % 40, len = rnd8(),
		       tn = rnd8() % 18, i;
		uint8_t *nonce = malloc(nn + 1), *aad = malloc(an + 1),
		        *buf = malloc(len + 1), *tag = malloc(tn + 1);
		int r;

		for (i = 0; i < nn; i++) {
			nonce[i] = rnd8();
		}
		for (i = 0; i < an; i++) {
			aad[i] = rnd8();
		}
		for (i = 0; i < len; i++) {
			buf[i] = rnd8();
		}
		for (i = 0; i < tn; i++) {
			tag[i] = rnd8();
		}
		/* exact-size allocations: ASan catches any overrun */
		r = aes128_ccm_open(&ctx, nonce, nn, an ? aad : NULL, an, buf,
		                    len, tag, tn);
		if (r != -1 || !all_zero(buf, len)) {
			r = -2;
		}
		free(nonce);
		free(aad);
		free(buf);
		free(tag);
		if (r == -2) {
			return failf("ccm open accepted or leaked random input");
		}
	}
	aes128_wipe(&ctx);
	return 0;
}

/* Long HMAC keys are hashed first (RFC 2104 section 2). */
static int unit_hmac_long_key(void)
{
	uint8_t key[100], k2[32], m1[32], m2[32];
	size_t i;

	for (i = 0; i < sizeof key; i++) {
		key[i] = (uint8_t)(i * 7);
	}
	sha256(k2, key, sizeof key);
	hmac_sha256(m1, key, sizeof key, (const uint8_t *)"x", 1);
	hmac_sha256(m2, k2, sizeof k2, (const uint8_t *)"x", 1);
	if (memcmp(m1, m2, 32) != 0) {
		return failf("hmac-sha-256 long key");
	}
	md5(k2, key, sizeof key);
	hmac_md5(m1, key, sizeof key, (const uint8_t *)"x", 1);
	hmac_md5(m2, k2, 16, (const uint8_t *)"x", 1);
	if (memcmp(m1, m2, 16) != 0) {
		return failf("hmac-md5 long key");
	}
	return 0;
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: %s VECTORS_DIR\n", argv[0]);
		return 2;
	}
	for (i = 0; i < sizeof files / sizeof files[0]; i++) {
		run_file(argv[1], files[i]);
	}
	count(unit_ct());
	count(unit_ccm_params());
	count(unit_hmac_long_key());
	count(unit_ccm_garbage());
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
