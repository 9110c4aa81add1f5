/*
 * test_mssl.c - host tests of the device's MSSL (mssl.c; docs/mssl.md),
 * built with ASan/UBSan by `make mssl-test` (net-test runs it):
 *
 *  - AES-CMAC (crypto/cmac.c) against RFC 4493 (vectors/aes-cmac.txt);
 *  - vectors/mssl.txt: the nonce and key schedule records, and the whole
 *    session from a fresh device reproduced byte for byte (ServerHello,
 *    SignatureRequest, the device's Finished, the task reply), then the
 *    persistent state it must leave (nonce reservation, time floor);
 *  - resumption (cached flag, no signature), tasks inside and outside the
 *    grant (status 3, the session stays), close_notify;
 *  - every message type truncated at every length, oversized, garbage
 *    types and versions: the documented alert, and the session still
 *    serves afterwards (nothing else changed);
 *  - attacks: replayed/reordered/tampered/truncated records (every byte),
 *    replayed handshake messages, spoofed host address, every byte of the
 *    grant body and every byte of its signature tampered, wrong device,
 *    revoked, expired, other issuer, EEPROM failure, the nonce counter
 *    across resets;
 *  - the whole IPv4/UDP stack: a ClientHello in a clear UDP datagram to
 *    port 7412 is answered from 7412 with a right checksum.
 *
 * usage: mssl-test VECTORS_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "crypto/aes.h"
#include "crypto/ccm.h"
#include "crypto/cmac.h"
#include "crypto/sha256.h"
#include "mssl.h"
#include "net/net.h"
#include "store.h"
#include "host_app.h"
#include "tasks.h"
#include "vectors.h"

static int passed, failed;

/* tests/vectors.c leaks continued values by design (short tests). */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "detect_leaks=0"; }

#define CHECK(cond) check((cond), #cond, __FILE__, __LINE__)
static int check(int ok, const char *what, const char *file, int line)
{
	if (ok) {
		passed++;
	} else {
		failed++;
		fprintf(stderr, "FAIL %s:%d: %s\n", file, line, what);
#ifdef MSSL_FUZZ
		abort();
#endif
	}
	return ok;
}


/* ---- vectors ----------------------------------------------------------- */

static const char *vdir;

static uint8_t *hex(const vrecord *r, const char *name, size_t *n)
{
	uint8_t *p = NULL;
	size_t len = 0;
	if (vrec_hex(r, name, &p, &len)) {
		fprintf(stderr, "%s:%d: no field %s\n", r->file, r->line, name);
		exit(2);
	}
	if (n)
		*n = len;
	return p;
}

static int open_vectors(vfile *vf, const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", vdir, name);
	if (vfile_open(vf, path)) {
		perror(path);
		exit(2);
	}
	return 0;
}

/* ---- the device's EEPROM ---------------------------------------------- */

static uint8_t modulus1024[128], grant_v[207], hk_v[16];
static const uint8_t host_ip[4] = { 10, 0, 0, 2 }, dev_ip[4] = { 10, 0, 0, 9 };
#define HOST_PORT 50000

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static void state_slot(uint32_t nonce_res, uint32_t serial_floor, uint32_t time_floor)
{
	uint16_t base = (uint16_t)(STORE_EE_SIZE - EE_STATE_SIZE), crc = 0xFFFF;
	uint8_t *s = store_ee + base;
	memset(s, 0xFF, EE_STATE_SIZE);
	memset(s, 0, EE_SLOT_SIZE);
	net_put32(s, 1);
	net_put32(s + 12, nonce_res);
	net_put32(s + 16, serial_floor);
	net_put32(s + 20, time_floor);
	for (int i = 0; i < 30; i++)
		crc = crc16_byte(crc, s[i]);
	put16(s + 30, crc);
}

/* A device: id, master key 00..0f, group 7 with key 10..1f, the given
 * issuer modulus (RSA-1024), fresh state; then boot (store_init, MSSL
 * forgets everything as after a reset). */
static void device(uint32_t id, const uint8_t *mod, uint32_t serial_floor, uint32_t time_floor)
{
	uint8_t *c = store_ee;
	uint16_t crc = 0xFFFF, len = 192 + 128;
	memset(store_ee, 0xFF, sizeof store_ee);
	memset(c, 0, len);
	c[0] = 'M';
	c[1] = 'E';
	c[2] = 1;
	c[3] = CFG_GROUP | CFG_ISSUER;
	put16(c + 4, len);
	net_put32(c + EE_DEVICE_ID, id);
	memcpy(c + EE_ADDR, dev_ip, 4);
	for (int i = 0; i < 16; i++) {
		c[EE_MASTER_KEY + i] = (uint8_t)i;
		c[EE_GROUP_KEY + i] = (uint8_t)(0x10 + i);
	}
	net_put32(c + EE_GROUP_ID, 7);
	put16(c + EE_MODULUS_LEN, 128);
	memcpy(c + EE_MODULUS, mod, 128);
	for (int i = 0; i < len; i++)
		if (i != EE_CRC && i != EE_CRC + 1)
			crc = crc16_byte(crc, c[i]);
	put16(c + EE_CRC, crc);
	state_slot(0, serial_floor, time_floor);
	store_fail_writes = 0;
	if (!CHECK(store_init() == STORE_OK))
		exit(1);
	mssl_reset();
}

/* ---- one message to the device ------------------------------------------ */

static uint8_t out[MSSL_MAX_MESSAGE];
static uint16_t outn;

/* The message goes into a heap buffer of exactly MSSL_MAX_MESSAGE bytes
 * (the room the stack gives): ASan sees any write past it. */
static uint16_t xchg_from(const uint8_t *msg, uint16_t n, const uint8_t ip[4], uint16_t port)
{
	uint8_t *b = malloc(MSSL_MAX_MESSAGE);
	memset(b, 0xEE, MSSL_MAX_MESSAGE);
	memcpy(b, msg, n < MSSL_MAX_MESSAGE ? n : MSSL_MAX_MESSAGE);
	outn = mssl_input(b, n, MSSL_MAX_MESSAGE, ip, port);
	memcpy(out, b, outn);
	free(b);
	return outn;
}

static uint16_t xchg(const uint8_t *msg, uint16_t n)
{
	return xchg_from(msg, n, host_ip, HOST_PORT);
}

static int is_alert(uint8_t code) { return outn == 2 && out[0] == MSSL_ALERT && out[1] == code; }

/* ---- a host, built from the crypto core (the vectors pin the bytes) ---- */

struct host {
	uint8_t ck[16], cs[8], sk[16], ss[8];
	uint32_t next_out, last_in;
	uint8_t flags, tag[8];
	uint8_t nd[16];
};

static void derive(struct host *h, const uint8_t kh[16], const uint8_t nh[16], const uint8_t nd[16])
{
	aes128_ctx a;
	uint8_t in[32], prk[16], s[16];
	memcpy(in, nh, 16);
	memcpy(in + 16, nd, 16);
	aes128_init(&a, kh);
	aes128_cmac(&a, in, 32, prk);
	aes128_init(&a, prk);
	memcpy(h->ck, "MSSL1 client key", 16);
	aes128_encrypt(&a, h->ck);
	memcpy(h->sk, "MSSL1 server key", 16);
	aes128_encrypt(&a, h->sk);
	memcpy(s, "MSSL1 nonce salt", 16);
	aes128_encrypt(&a, s);
	memcpy(h->cs, s, 8);
	memcpy(h->ss, s + 8, 8);
}

static uint16_t seal_rec(uint8_t *o, const uint8_t key[16], const uint8_t salt[8], uint8_t dir,
                         uint8_t type, uint32_t seq, const uint8_t *pt, uint16_t n, const uint8_t *ext9)
{
	aes128_ctx a;
	uint8_t nonce[13], aad[14];
	o[0] = type;
	net_put32(o + 1, seq);
	memcpy(nonce, salt, 8);
	nonce[8] = dir;
	memcpy(nonce + 9, o + 1, 4);
	memcpy(aad, o, 5);
	if (ext9)
		memcpy(aad + 5, ext9, 9);
	if (n)
		memcpy(o + 5, pt, n);
	aes128_init(&a, key);
	aes128_ccm_seal(&a, nonce, 13, aad, ext9 ? 14 : 5, o + 5, n, o + 5 + n, 8);
	return (uint16_t)(n + 13);
}

/* Open a device record in out[] (copy): plaintext into pt, length or -1. */
static int open_out(struct host *h, uint8_t type, const uint8_t *ext9, uint8_t *pt)
{
	aes128_ctx a;
	uint8_t nonce[13], aad[14], b[MSSL_MAX_MESSAGE];
	uint16_t n;
	if (outn < 13 || out[0] != type)
		return -1;
	n = (uint16_t)(outn - 13);
	memcpy(b, out, outn);
	memcpy(nonce, h->ss, 8);
	nonce[8] = 2;
	memcpy(nonce + 9, b + 1, 4);
	memcpy(aad, b, 5);
	if (ext9)
		memcpy(aad + 5, ext9, 9);
	aes128_init(&a, h->sk);
	if (aes128_ccm_open(&a, nonce, 13, aad, ext9 ? 14 : 5, b + 5, n, b + 5 + n, 8))
		return -1;
	memcpy(pt, b + 5, n);
	return n;
}

/*
 * A handshake with grant g (body || signature, glen bytes) and host key
 * kh. Returns 0 when established (cached says how), else the alert the
 * device sent (or 100 + step for a wrong answer).
 */
static int handshake_from(struct host *h, const uint8_t *g, uint16_t glen, const uint8_t kh[16],
                          uint8_t nhb, const uint8_t ip[4], uint16_t port, int *cached)
{
	uint8_t m[300], ext[9], pt[8];
	memset(h, 0, sizeof *h);
	m[0] = 1;
	m[1] = 1;
	memset(m + 2, nhb, 16);
	memcpy(m + 18, g, 79);
	xchg_from(m, 97, ip, port);
	if (outn == 2 && out[0] == MSSL_ALERT)
		return out[1];
	if (outn != 19 || out[0] != 2 || out[1] != 1 || out[2] > 1)
		return 101;
	h->flags = out[2];
	memcpy(h->nd, out + 3, 16);
	derive(h, kh, m + 2, h->nd);
	ext[0] = h->flags;
	memcpy(ext + 1, g + 71, 8);
	xchg_from(m, seal_rec(m, h->ck, h->cs, 1, 0x14, 0, NULL, 0, ext), ip, port);
	if (outn == 2 && out[0] == MSSL_ALERT)
		return out[1];
	if (!h->flags) {
		if (outn != 1 || out[0] != 4)
			return 102;
		m[0] = 3;
		memcpy(m + 1, g + 79, (size_t)(glen - 79));
		xchg_from(m, (uint16_t)(glen - 79 + 1), ip, port);
		if (outn == 2 && out[0] == MSSL_ALERT)
			return out[1];
	}
	if (outn != 13 || out[1] | out[2] | out[3] | out[4] || open_out(h, 0x14, ext, pt) != 0)
		return 103;
	h->next_out = 1;
	if (cached)
		*cached = h->flags;
	return 0;
}

static int handshake(struct host *h, const uint8_t *g, uint16_t glen, const uint8_t kh[16], uint8_t nhb, int *cached)
{
	return handshake_from(h, g, glen, kh, nhb, host_ip, HOST_PORT, cached);
}

/* A task through the session: returns the status, or -1 - alert, or -100. */
static int run_task(struct host *h, uint8_t t, const uint8_t *args, uint16_t an, uint8_t *res, int *rn)
{
	uint8_t m[300], req[64], pt[300];
	int n;
	req[0] = 1;
	req[1] = t;
	req[2] = 0x12;
	req[3] = 0x34;
	if (an)
		memcpy(req + 4, args, an);
	xchg(m, seal_rec(m, h->ck, h->cs, 1, 0x17, h->next_out++, req, (uint16_t)(4 + an), NULL));
	if (outn == 2 && out[0] == MSSL_ALERT)
		return -1 - out[1];
	n = open_out(h, 0x17, NULL, pt);
	if (n < 5 || net_be32(out + 1) <= h->last_in || pt[0] != 1 || pt[1] != t || pt[2] != 0x12 || pt[3] != 0x34)
		return -100;
	h->last_in = net_be32(out + 1);
	if (res)
		memcpy(res, pt + 5, (size_t)(n - 5));
	if (rn)
		*rn = n - 5;
	return pt[4];
}

static int adc_ok(struct host *h)
{
	uint8_t r[8], ch = 5;
	int n = 0;
	return run_task(h, TASK_ADC, &ch, 1, r, &n) == 0 && n == 2 && r[0] == 2 && r[1] == 5;
}

/*
 * A task may fill all the room it is given (ms_app.h). With a frame larger
 * than the default (CONFIG_FRAME_MAX > 296: mssl-test-400), udp_input
 * gives MSSL more room than one record carries (255 bytes of plaintext):
 * the task is offered 250 bytes, never more, so its reply is sealed whole
 * (it was sealed truncated to its length modulo 256).
 */
static uint8_t fill_task(const uint8_t *a, uint16_t alen, uint8_t *r, uint8_t *rlen)
{
	(void)a;
	(void)alen;
	memset(r, 0x5A, *rlen);
	return TASK_OK;
}

static void test_task_reply_length(void)
{
	static const struct ms_task fill_tasks[] = { { TASK_ADC, fill_task } };
	static struct ms_app app;
	const struct ms_app *saved = ms_app;
	struct host h;
	int cached, n;
	uint8_t m[CONFIG_FRAME_MAX], pt[CONFIG_FRAME_MAX], req[4] = { 1, TASK_ADC, 0x12, 0x34 };
	uint16_t room = (uint16_t)(CONFIG_FRAME_MAX - 28); /* as udp_input gives it */
	app = *ms_app;
	app.tasks = fill_tasks;
	app.ntasks = 1;
	ms_app = &app;
	device(0x2a, modulus1024, 0, 0);
	CHECK(handshake(&h, grant_v, 207, hk_v, 0x11, &cached) == 0);
	outn = mssl_input(m, seal_rec(m, h.ck, h.cs, 1, 0x17, h.next_out++, req, 4, NULL), room,
	                  host_ip, HOST_PORT);
	memcpy(out, m, outn);
	n = open_out(&h, 0x17, NULL, pt);
	uint16_t want = (uint16_t)((room - MSSL_REC_OVERHEAD > 255 ? 255 : room - MSSL_REC_OVERHEAD) - 5);
	CHECK(n == 5 + want && pt[4] == TASK_OK);
	for (uint16_t i = 0; n == 5 + want && i < want; i++)
		CHECK(pt[5 + i] == 0x5A);
	ms_app = saved;
}

/* ---- tests -------------------------------------------------------------- */

static void test_cmac(void)
{
	vfile vf;
	vrecord r;
	int n = 0;
	open_vectors(&vf, "aes-cmac.txt");
	while (vfile_next(&vf, &r) == 1) {
		size_t kl, ml, tl;
		uint8_t *k = hex(&r, "key", &kl), *m = hex(&r, "msg", &ml), *t = hex(&r, "mac", &tl), got[16];
		aes128_ctx a;
		aes128_init(&a, k);
		aes128_cmac(&a, m, ml, got);
		CHECK(kl == 16 && tl == 16 && memcmp(got, t, 16) == 0);
		free(k);
		free(m);
		free(t);
		n++;
	}
	vfile_close(&vf);
	CHECK(n >= 4);
}

/* The issuer modulus of the vector grant: the RSA-1024 n of grant.txt
 * whose key id the grant names. */
static void find_modulus(void)
{
	vfile vf;
	vrecord r;
	int found = 0;
	open_vectors(&vf, "grant.txt");
	while (!found && vfile_next(&vf, &r) == 1) {
		size_t nl;
		uint8_t *n = hex(&r, "n", &nl), d[32];
		if (nl == 128) {
			sha256(d, n, 128);
			if (memcmp(d, grant_v + 4, 8) == 0) {
				memcpy(modulus1024, n, 128);
				found = 1;
			}
		}
		free(n);
	}
	vfile_close(&vf);
	if (!CHECK(found))
		exit(1);
}

static void test_vectors(void)
{
	vfile vf;
	vrecord r;
	int nonce = 0, kdf = 0, rec = 0, hs = 0;
	open_vectors(&vf, "mssl.txt");
	while (vfile_next(&vf, &r) == 1) {
		const char *name = vrec_text(&r, "name");
		if (!strcmp(name, "nonce")) {
			uint8_t *mk = hex(&r, "master", NULL), *kn = hex(&r, "knonce", NULL),
			        *c = hex(&r, "counter", NULL), *nd = hex(&r, "nd", NULL), k[16], b[16] = { 0 };
			aes128_ctx a;
			aes128_init(&a, mk);
			memcpy(k, "MSSL-nonce-key-1", 16);
			aes128_encrypt(&a, k);
			CHECK(memcmp(k, kn, 16) == 0);
			aes128_init(&a, k);
			memcpy(b, c, 4);
			aes128_encrypt(&a, b);
			CHECK(memcmp(b, nd, 16) == 0);
			free(mk), free(kn), free(c), free(nd);
			nonce++;
		} else if (!strcmp(name, "kdf")) {
			uint8_t *hk = hex(&r, "hk", NULL), *nh = hex(&r, "nh", NULL), *nd = hex(&r, "nd", NULL),
			        *ck = hex(&r, "client_key", NULL), *cs = hex(&r, "client_salt", NULL),
			        *sk = hex(&r, "server_key", NULL), *ss = hex(&r, "server_salt", NULL);
			struct host h;
			derive(&h, hk, nh, nd);
			CHECK(!memcmp(h.ck, ck, 16) && !memcmp(h.cs, cs, 8) && !memcmp(h.sk, sk, 16) && !memcmp(h.ss, ss, 8));
			memcpy(hk_v, hk, 16);
			free(hk), free(nh), free(nd), free(ck), free(cs), free(sk), free(ss);
			kdf++;
		} else if (!strcmp(name, "record")) {
			size_t ptl, rl, el;
			uint8_t *k = hex(&r, "key", NULL), *s = hex(&r, "salt", NULL), *d = hex(&r, "dir", NULL),
			        *t = hex(&r, "type", NULL), *q = hex(&r, "seq", NULL), *e = hex(&r, "extra_aad", &el),
			        *pt = hex(&r, "pt", &ptl), *want = hex(&r, "record", &rl), o[300];
			uint16_t n = seal_rec(o, k, s, d[0], t[0], net_be32(q), pt, (uint16_t)ptl, el ? e : NULL);
			CHECK(n == rl && memcmp(o, want, rl) == 0);
			free(k), free(s), free(d), free(t), free(q), free(e), free(pt), free(want);
			rec++;
		} else if (!strcmp(name, "handshake")) {
			size_t gl, chl, shl, cfl, sgl, sfl, dql, drl;
			uint8_t *g = hex(&r, "grant", &gl), *ch = hex(&r, "client_hello", &chl),
			        *sh = hex(&r, "server_hello", &shl), *cf = hex(&r, "client_finished", &cfl),
			        *sg = hex(&r, "grant_signature_message", &sgl),
			        *sf = hex(&r, "server_finished", &sfl), *dq = hex(&r, "data_request", &dql),
			        *dr = hex(&r, "data_reply", &drl), *ctr = hex(&r, "counter", NULL);
			if (!CHECK(gl == sizeof grant_v))
				exit(1);
			memcpy(grant_v, g, gl);
			find_modulus();
			/* a fresh device: counter 0, empty cache, floors 0 */
			device(0x2a, modulus1024, 0, 0);
			CHECK(net_be32(ctr) == 0 && store_nonce_next == 0);
			xchg(ch, (uint16_t)chl);
			CHECK(outn == shl && memcmp(out, sh, shl) == 0);
			xchg(cf, (uint16_t)cfl);
			CHECK(outn == 1 && out[0] == MSSL_SIG_REQUEST);
			xchg(sg, (uint16_t)sgl);
			CHECK(outn == sfl && memcmp(out, sf, sfl) == 0);
			xchg(dq, (uint16_t)dql);
			CHECK(outn == drl && memcmp(out, dr, drl) == 0);
			/* what it leaves: one block of nonces reserved, time floor =
			 * issued_at, both in the EEPROM (a reboot reads them) */
			CHECK(store_st.nonce_reserved == CONFIG_RESERVE_BLOCK);
			CHECK(store_st.time_floor == net_be32(g + 34));
			CHECK(store_init() == STORE_OK && store_st.nonce_reserved == CONFIG_RESERVE_BLOCK &&
			      store_st.time_floor == net_be32(g + 34) && store_nonce_next == CONFIG_RESERVE_BLOCK);
			free(g), free(ch), free(sh), free(cf), free(sg), free(sf), free(dq), free(dr), free(ctr);
			hs++;
		}
	}
	vfile_close(&vf);
	CHECK(nonce == 2 && kdf == 1 && rec == 3 && hs == 1);
}

static void test_session(void)
{
	struct host h, h2;
	int cached = -1;
	uint8_t arg, res[100];
	int n;

	device(0x2a, modulus1024, 0, 0);
	CHECK(handshake(&h, grant_v, 207, hk_v, 0x11, &cached) == 0 && cached == 0);
	CHECK(adc_ok(&h));
	arg = 1;
	CHECK(run_task(&h, TASK_LED, &arg, 1, res, &n) == 0 && n == 1 && res[0] == 1);
	/* outside the grant (led+adc): status 3, the session stays */
	CHECK(run_task(&h, TASK_ID, NULL, 0, res, &n) == TASK_E_DENIED && n == 0);
	CHECK(run_task(&h, TASK_SETTINGS_WRITE, (const uint8_t *)"\0\1\2", 3, res, &n) == TASK_E_DENIED);
	CHECK(run_task(&h, 40, NULL, 0, res, &n) == TASK_E_DENIED);
	CHECK(adc_ok(&h));
	/* bad arguments of a permitted task: status 2 */
	CHECK(run_task(&h, TASK_ADC, NULL, 0, res, &n) == TASK_E_ARGS);
	/* resumption: the cached flag, no signature */
	CHECK(handshake(&h2, grant_v, 207, hk_v, 0x22, &cached) == 0 && cached == 1);
	CHECK(adc_ok(&h2));
	/* the new session replaced the old one */
	CHECK(run_task(&h, TASK_ADC, &arg, 1, res, &n) == -1 - MSSL_A_BAD_RECORD_MAC);
	/* a request of another version: status 5; a short one: alert record */
	{
		uint8_t m[64], req[5] = { 2, TASK_ADC, 0, 1, 3 }, pt[64];
		xchg(m, seal_rec(m, h2.ck, h2.cs, 1, 0x17, h2.next_out++, req, 5, NULL));
		n = open_out(&h2, 0x17, NULL, pt);
		CHECK(n == 5 && pt[0] == 1 && pt[1] == TASK_ADC && pt[4] == TASK_E_VERSION);
		xchg(m, seal_rec(m, h2.ck, h2.cs, 1, 0x17, h2.next_out++, req, 3, NULL));
		n = open_out(&h2, 0x15, NULL, pt);
		CHECK(n == 1 && pt[0] == MSSL_A_DECODE);
		CHECK(adc_ok(&h2));
		/* close_notify: answered, the session is gone */
		pt[0] = 0;
		xchg(m, seal_rec(m, h2.ck, h2.cs, 1, 0x15, h2.next_out++, pt, 1, NULL));
		n = open_out(&h2, 0x15, NULL, pt);
		CHECK(n == 1 && pt[0] == MSSL_A_CLOSE_NOTIFY);
		CHECK(run_task(&h2, TASK_ADC, &arg, 1, res, &n) == -1 - MSSL_A_UNEXPECTED);
	}
}

/* The management RSA bench borrows MSSL's state RAM (mssl_lend) only
 * while MSSL holds nothing a host relies on: never with a pending
 * handshake, a session or a cached grant, which then go on; after a
 * reset it gets the RAM, and MSSL takes it back at its next message. */
/* The RSA bench's side of mssl_lend: counts MSSL taking its RAM back. */
static int reclaimed;
static void reclaimed_count(void) { reclaimed++; }

static void test_lend(void)
{
	struct host h;
	int cached = -1;
	uint8_t m[97];

	device(0x2a, modulus1024, 0, 0);
	/* a pending handshake (a ClientHello answered, no Finished yet) */
	m[0] = 1;
	m[1] = 1;
	memset(m + 2, 0x33, 16);
	memcpy(m + 18, grant_v, 79);
	xchg(m, 97);
	CHECK(outn == MSSL_SERVER_HELLO_LEN && out[0] == MSSL_SERVER_HELLO);
	CHECK(mssl_lend(reclaimed_count) == NULL);
	/* a session and a cached grant: refused, the session goes on */
	CHECK(handshake(&h, grant_v, 207, hk_v, 0x44, &cached) == 0 && cached == 0);
	CHECK(mssl_lend(reclaimed_count) == NULL);
	CHECK(adc_ok(&h));
	/* after a reset MSSL holds nothing: lent; MSSL takes it back and
	 * tells the borrower, once */
	mssl_reset();
	reclaimed = 0;
	CHECK(mssl_lend(reclaimed_count) != NULL);
	CHECK(reclaimed == 0);
	CHECK(handshake(&h, grant_v, 207, hk_v, 0x55, &cached) == 0 && cached == 0);
	CHECK(reclaimed == 1);
	CHECK(adc_ok(&h));
	CHECK(mssl_lend(reclaimed_count) == NULL);
	CHECK(reclaimed == 1);
}

/* Every message truncated, extended, oversized, of unknown type: the
 * documented alert, and the session still works. */
static void test_parsers(void)
{
	struct host h;
	uint8_t m[300], fin[13], ext[9];
	uint16_t i;
	int bad = 0;

	device(0x2a, modulus1024, 0, 0);
	CHECK(handshake(&h, grant_v, 207, hk_v, 0x33, NULL) == 0);
	/* empty: no answer */
	CHECK(xchg(m, 0) == 0);
	/* oversized: record_overflow, whatever the type */
	for (i = 0; i < 256; i++) {
		memset(m, (int)i, sizeof m);
		xchg(m, MSSL_MAX_MESSAGE + 1);
		bad += !is_alert(MSSL_A_OVERFLOW);
	}
	CHECK(bad == 0);
	/* unknown types: unexpected_message; clear alerts: dropped */
	bad = 0;
	for (i = 0; i < 256; i++) {
		uint8_t t = (uint8_t)i;
		if ((t >= 1 && t <= 6) || t == 0x14 || t == 0x15 || t == 0x17 || t == 0x18)
			continue;
		memset(m, t, 20);
		xchg(m, 20);
		bad += !is_alert(MSSL_A_UNEXPECTED);
	}
	CHECK(bad == 0);
	for (i = 1; i < 4; i++) {
		m[0] = MSSL_ALERT;
		CHECK(xchg(m, i) == 0);
	}
	/* ClientHello: every length but 97 is decode_error, version 2 is
	 * protocol_version (the pending handshake and session untouched) */
	bad = 0;
	m[0] = 1;
	m[1] = 1;
	memset(m + 2, 0x44, 16);
	memcpy(m + 18, grant_v, 79);
	for (i = 1; i <= MSSL_MAX_MESSAGE; i++) {
		if (i == 97)
			continue;
		xchg(m, i);
		bad += !is_alert(MSSL_A_DECODE);
	}
	CHECK(bad == 0);
	m[1] = 2;
	xchg(m, 97);
	CHECK(is_alert(MSSL_A_VERSION));
	m[1] = 0;
	xchg(m, 97);
	CHECK(is_alert(MSSL_A_VERSION));
	CHECK(adc_ok(&h));
	/* records: shorter than 13 bytes is decode_error, for every type */
	bad = 0;
	{
		static const uint8_t types[4] = { 0x14, 0x15, 0x17, 0x18 };
		for (int t = 0; t < 4; t++)
			for (i = 1; i < 13; i++) {
				memset(m, 0, sizeof m);
				m[0] = types[t];
				xchg(m, i);
				bad += !is_alert(MSSL_A_DECODE);
			}
	}
	CHECK(bad == 0);
	CHECK(adc_ok(&h));
	/* a data record truncated or extended by any number of bytes */
	bad = 0;
	{
		uint8_t req[5] = { 1, TASK_ADC, 0, 9, 1 }, good[40];
		uint16_t gn = seal_rec(good, h.ck, h.cs, 1, 0x17, h.next_out, req, 5, NULL);
		for (i = 13; i < gn + 40 && i <= MSSL_MAX_MESSAGE; i++) {
			if (i == gn)
				continue;
			memset(m, 0xA5, sizeof m);
			memcpy(m, good, i < gn ? i : gn);
			xchg(m, i);
			bad += !is_alert(MSSL_A_BAD_RECORD_MAC);
		}
		CHECK(bad == 0);
		/* and the right one is still accepted (nothing moved) */
		xchg(good, gn);
		CHECK(outn == 20 && out[0] == 0x17);
		h.next_out++;
		h.last_in = net_be32(out + 1);
	}
	CHECK(adc_ok(&h));
	/* signature and floor signature messages without a pending state */
	for (i = 1; i < 260; i += 37) {
		memset(m, 0, sizeof m);
		m[0] = 3;
		xchg(m, i);
		CHECK(is_alert(MSSL_A_UNEXPECTED));
		m[0] = 6;
		xchg(m, i);
		CHECK(is_alert(MSSL_A_UNEXPECTED));
	}
	/* a Finished without a pending handshake */
	ext[0] = 0;
	memcpy(ext + 1, grant_v + 71, 8);
	xchg(fin, seal_rec(fin, h.ck, h.cs, 1, 0x14, 0, NULL, 0, ext));
	CHECK(is_alert(MSSL_A_UNEXPECTED));
	CHECK(adc_ok(&h));
	/* a GrantSignature of the wrong size: decode_error, the handshake
	 * ends (an uncached grant: reset the device first) */
	device(0x2a, modulus1024, 0, 0);
	{
		struct host p;
		m[0] = 1;
		m[1] = 1;
		memset(m + 2, 0x55, 16);
		memcpy(m + 18, grant_v, 79);
		xchg(m, 97);
		CHECK(outn == 19);
		derive(&p, hk_v, m + 2, out + 3);
		ext[0] = 0;
		xchg(fin, seal_rec(fin, p.ck, p.cs, 1, 0x14, 0, NULL, 0, ext));
		CHECK(outn == 1 && out[0] == 4);
		m[0] = 3;
		memcpy(m + 1, grant_v + 79, 128);
		xchg(m, 128);
		CHECK(is_alert(MSSL_A_DECODE));
		xchg(m, 129);
		CHECK(is_alert(MSSL_A_UNEXPECTED)); /* it ended */
	}
}

static void test_record_attacks(void)
{
	struct host h;
	uint8_t m[300], rec[40], req[5] = { 1, TASK_ADC, 0, 7, 2 }, arg = 1;
	uint16_t rn, i;
	int bad = 0;

	device(0x2a, modulus1024, 0, 0);
	CHECK(handshake(&h, grant_v, 207, hk_v, 0x66, NULL) == 0);
	rn = seal_rec(rec, h.ck, h.cs, 1, 0x17, h.next_out++, req, 5, NULL);
	xchg(rec, rn);
	CHECK(outn == 20);
	h.last_in = 1;
	/* replay of the accepted record */
	xchg(rec, rn);
	CHECK(is_alert(MSSL_A_REPLAY));
	/* reorder: record 3 accepted, then 2 arrives */
	{
		uint8_t r2[40], r3[40];
		uint16_t n2 = seal_rec(r2, h.ck, h.cs, 1, 0x17, h.next_out++, req, 5, NULL);
		uint16_t n3 = seal_rec(r3, h.ck, h.cs, 1, 0x17, h.next_out++, req, 5, NULL);
		xchg(r3, n3);
		CHECK(outn == 20);
		xchg(r2, n2);
		CHECK(is_alert(MSSL_A_REPLAY));
	}
	/* every byte of a fresh record flipped two ways */
	rn = seal_rec(rec, h.ck, h.cs, 1, 0x17, h.next_out, req, 5, NULL);
	for (i = 0; i < rn; i++)
		for (int w = 0; w < 2; w++) {
			memcpy(m, rec, rn);
			m[i] ^= w ? 0xFF : 0x01;
			xchg(m, rn);
			if (i == 0) /* another type: still a record (or not) */
				bad += !(is_alert(MSSL_A_BAD_RECORD_MAC) || is_alert(MSSL_A_UNEXPECTED));
			else if (i >= 1 && i <= 4 && net_be32(m + 1) <= h.next_out - 1)
				bad += !is_alert(MSSL_A_REPLAY);
			else
				bad += !is_alert(MSSL_A_BAD_RECORD_MAC);
		}
	CHECK(bad == 0);
	xchg(rec, rn);
	CHECK(outn == 20);
	h.next_out++;
	h.last_in = net_be32(out + 1);
	/* from another address or port: unexpected_message */
	rn = seal_rec(rec, h.ck, h.cs, 1, 0x17, h.next_out, req, 5, NULL);
	{
		uint8_t other[4] = { 10, 0, 0, 3 };
		xchg_from(rec, rn, other, HOST_PORT);
		CHECK(is_alert(MSSL_A_UNEXPECTED));
		xchg_from(rec, rn, host_ip, HOST_PORT + 1);
		CHECK(is_alert(MSSL_A_UNEXPECTED));
	}
	xchg(rec, rn);
	CHECK(outn == 20);
	h.next_out++;
	h.last_in = net_be32(out + 1);
	/* a record sealed with the device's own key (reflection) */
	rn = seal_rec(rec, h.sk, h.ss, 2, 0x17, h.next_out, req, 5, NULL);
	xchg(rec, rn);
	CHECK(is_alert(MSSL_A_BAD_RECORD_MAC));
	CHECK(run_task(&h, TASK_LED, &arg, 1, NULL, NULL) == 0);
}

static void test_handshake_attacks(void)
{
	struct host h, e;
	uint8_t m[300], g[207], ext[9], fin[13], hello[97], kh_bad[16];
	uint16_t i;
	int bad = 0, code;

	device(0x2a, modulus1024, 0, 0);
	CHECK(handshake(&h, grant_v, 207, hk_v, 0x71, NULL) == 0);

	/* a sniffed grant from a spoofed address, with a guessed host key:
	 * bad_record_mac; the honest session goes on */
	memset(kh_bad, 0x5A, 16);
	CHECK(handshake(&e, grant_v, 207, kh_bad, 0x72, NULL) == MSSL_A_BAD_RECORD_MAC);
	CHECK(adc_ok(&h));
	/* the grant is bound to 10.0.0.2: from elsewhere, wrong_host */
	{
		uint8_t other[4] = { 10, 0, 0, 66 };
		CHECK(handshake_from(&e, grant_v, 207, hk_v, 0x73, other, 1, NULL) == MSSL_A_WRONG_HOST);
	}
	CHECK(adc_ok(&h));
	/* replay of a whole captured handshake (hello, Finished, signature):
	 * a new Nd, so the old Finished fails */
	device(0x2a, modulus1024, 0, 0);
	hello[0] = 1;
	hello[1] = 1;
	memset(hello + 2, 0x74, 16);
	memcpy(hello + 18, grant_v, 79);
	xchg(hello, 97);
	derive(&e, hk_v, hello + 2, out + 3);
	ext[0] = 0;
	memcpy(ext + 1, grant_v + 71, 8);
	seal_rec(fin, e.ck, e.cs, 1, 0x14, 0, NULL, 0, ext);
	xchg(fin, 13);
	CHECK(outn == 1 && out[0] == 4);
	m[0] = 3;
	memcpy(m + 1, grant_v + 79, 128);
	xchg(m, 129);
	CHECK(outn == 13); /* established */
	xchg(hello, 97); /* replayed */
	CHECK(outn == 19 && out[2] == 1);
	xchg(fin, 13);
	CHECK(is_alert(MSSL_A_BAD_RECORD_MAC));
	xchg(fin, 13); /* one try per ServerHello */
	CHECK(is_alert(MSSL_A_UNEXPECTED));
	xchg(m, 129);
	CHECK(is_alert(MSSL_A_UNEXPECTED));
	/* a Finished with seq != 0 or a tampered one ends the handshake */
	xchg(hello, 97);
	derive(&e, hk_v, hello + 2, out + 3);
	ext[0] = 1;
	seal_rec(fin, e.ck, e.cs, 1, 0x14, 1, NULL, 0, ext);
	xchg(fin, 13);
	CHECK(is_alert(MSSL_A_BAD_RECORD_MAC));

	/* every byte of the grant body flipped: refused at the hello (no
	 * alert other than the grant ones), never a ServerHello */
	device(0x2a, modulus1024, 0, 0);
	for (i = 0; i < 79; i++)
		for (int w = 0; w < 2; w++) {
			memcpy(g, grant_v, 207);
			g[i] ^= w ? 0xFF : 0x01;
			code = handshake(&e, g, 207, hk_v, 0x75, NULL);
			bad += !(code == MSSL_A_BAD_GRANT || code == MSSL_A_UNKNOWN_ISSUER ||
			         code == MSSL_A_WRONG_DEVICE || code == MSSL_A_REVOKED ||
			         code == MSSL_A_EXPIRED || code == MSSL_A_WRONG_HOST);
		}
	CHECK(bad == 0);
	CHECK(store_nonce_next == 0); /* no nonce spent on a refused hello */
	/* every byte of the signature flipped: bad_signature after the
	 * Finished; nothing cached */
	bad = 0;
	for (i = 79; i < 207; i++) {
		memcpy(g, grant_v, 207);
		g[i] ^= (uint8_t)(1u << (i & 7));
		code = handshake(&e, g, 207, hk_v, 0x76, NULL);
		bad += code != MSSL_A_BAD_SIGNATURE;
	}
	CHECK(bad == 0);
	{
		int cached = -1;
		CHECK(handshake(&h, grant_v, 207, hk_v, 0x77, &cached) == 0 && cached == 0);
	}
	CHECK(adc_ok(&h));

	/* another device; revoked; expired; another issuer; EEPROM failure */
	device(0x2b, modulus1024, 0, 0);
	CHECK(handshake(&e, grant_v, 207, hk_v, 0x78, NULL) == MSSL_A_WRONG_DEVICE);
	device(0x2a, modulus1024, 11, 0);
	CHECK(handshake(&e, grant_v, 207, hk_v, 0x79, NULL) == MSSL_A_REVOKED);
	device(0x2a, modulus1024, 10, net_be32(grant_v + 38) + 1);
	CHECK(handshake(&e, grant_v, 207, hk_v, 0x7a, NULL) == MSSL_A_EXPIRED);
	device(0x2a, modulus1024, 10, net_be32(grant_v + 38));
	CHECK(handshake(&e, grant_v, 207, hk_v, 0x7b, NULL) == 0); /* inclusive */
	{
		uint8_t other[128];
		memcpy(other, modulus1024, 128);
		other[100] ^= 0x10;
		device(0x2a, other, 0, 0);
		CHECK(handshake(&e, grant_v, 207, hk_v, 0x7c, NULL) == MSSL_A_UNKNOWN_ISSUER);
	}
	device(0x2a, modulus1024, 0, 0);
	store_fail_writes = 1; /* the nonce reservation cannot be written */
	CHECK(handshake(&e, grant_v, 207, hk_v, 0x7d, NULL) == MSSL_A_INTERNAL);
	store_fail_writes = 0;
	CHECK(handshake(&e, grant_v, 207, hk_v, 0x7e, NULL) == 0);
}

/* Nd never repeats: across handshakes and resets (reservation rule). */
static void test_nonces(void)
{
	static uint8_t seen[3000][16];
	int n = 0, dup = 0;
	uint8_t hello[97];
	device(0x2a, modulus1024, 0, 0);
	hello[0] = 1;
	hello[1] = 1;
	memset(hello + 2, 0x42, 16);
	memcpy(hello + 18, grant_v, 79);
	for (int boot = 0; boot < 3; boot++) {
		for (int i = 0; i < 900; i++) {
			xchg(hello, 97);
			if (!CHECK(outn == 19))
				return;
			for (int j = 0; j < n; j++)
				dup += !memcmp(seen[j], out + 3, 16);
			memcpy(seen[n++], out + 3, 16);
		}
		CHECK(store_init() == STORE_OK); /* a reset */
		mssl_reset();
	}
	CHECK(dup == 0);
	CHECK(store_nonce_next == 3 * CONFIG_RESERVE_BLOCK);
}

/* Through the whole stack: a clear UDP datagram to 7412. */
static void test_stack(void)
{
	uint8_t b[CONFIG_FRAME_MAX], *u = b + 20;
	uint16_t n = 20 + 8 + 97, r;
	device(0x2a, modulus1024, 0, 0);
	memset(b, 0, sizeof b);
	b[0] = 0x45;
	put16(b + 2, n);
	b[8] = 64;
	b[9] = IP_PROTO_UDP;
	memcpy(b + 12, host_ip, 4);
	memcpy(b + 16, dev_ip, 4);
	put16(b + 10, (uint16_t)~net_sum(0, b, 20));
	put16(u, HOST_PORT);
	put16(u + 2, CONFIG_MSSL_PORT);
	put16(u + 4, 8 + 97);
	u[8] = 1;
	u[9] = 1;
	memset(u + 10, 0x99, 16);
	memcpy(u + 26, grant_v, 79);
	{
		uint16_t s = (uint16_t)~net_udp_sum(b, u, 8 + 97);
		put16(u + 6, s ? s : 0xFFFF);
	}
	r = net_input(b, n, sizeof b);
	CHECK(r == 20 + 8 + 19);
	CHECK(b[9] == IP_PROTO_UDP && !memcmp(b + 12, dev_ip, 4) && !memcmp(b + 16, host_ip, 4));
	CHECK(net_be16(u) == CONFIG_MSSL_PORT && net_be16(u + 2) == HOST_PORT && net_be16(u + 4) == 27);
	CHECK(net_sum(0, b, 20) == 0xFFFF && net_udp_sum(b, u, 27) == 0xFFFF);
	CHECK(u[8] == 2 && u[9] == 1 && u[10] == 0);
	/* the ESP task port stays closed in clear */
	put16(u + 2, CONFIG_TASK_PORT);
	memcpy(b + 12, host_ip, 4);
	memcpy(b + 16, dev_ip, 4);
	put16(b + 2, 20 + 8 + 5);
	b[10] = b[11] = 0;
	b[8] = 64;
	put16(b + 10, (uint16_t)~net_sum(0, b, 20));
	put16(u + 4, 13);
	put16(u + 6, 0);
	CHECK(net_input(b, 33, sizeof b) == 0);
}

#ifdef MSSL_FUZZ
/*
 * Fuzz entry (make mssl-fuzz): any sequence of messages from any of four
 * peers into a device that has an established session (resumed) and a
 * pending handshake, both from 10.0.0.2. Input: [len(1) peer(1) bytes]*.
 * Invariants: the answer fits the room, is an alert, a ServerHello, a
 * SignatureRequest or a record; nothing crashes (ASan/UBSan).
 */
/* (keeps the unit tests compiled, and -Werror quiet, in the fuzz build) */
void mssl_tests(void);
void mssl_tests(void)
{
	test_cmac();
	test_session();
	test_lend();
	test_parsers();
	test_record_attacks();
	test_handshake_attacks();
	test_nonces();
	test_stack();
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	host_app_init();
	static int ready;
	static const uint8_t ips[4][4] = { { 10, 0, 0, 2 }, { 10, 0, 0, 2 }, { 10, 0, 0, 3 }, { 0, 0, 0, 0 } };
	struct host h;
	uint8_t hello[97];
	if (!ready) {
		vdir = getenv("MSSL_VECTORS") ? getenv("MSSL_VECTORS") : "../vectors";
		test_vectors(); /* a device with the vector grant cached */
		ready = 1;
	}
	if (handshake(&h, grant_v, 207, hk_v, 0x11, NULL) != 0)
		abort();
	hello[0] = 1;
	hello[1] = 1;
	memset(hello + 2, 0x21, 16);
	memcpy(hello + 18, grant_v, 79);
	xchg(hello, 97);
	while (n >= 2) {
		uint16_t l = d[0], port = (uint16_t)(HOST_PORT + (d[1] & 1));
		const uint8_t *ip = ips[(d[1] >> 1) & 3];
		uint8_t *b;
		d += 2;
		n -= 2;
		if (l > n)
			l = (uint16_t)n;
		if (l == 255)
			l = (uint16_t)(n < MSSL_MAX_MESSAGE + 1 ? n : MSSL_MAX_MESSAGE + 1);
		b = malloc(MSSL_MAX_MESSAGE + 1);
		memcpy(b, d, l);
		outn = mssl_input(b, l, MSSL_MAX_MESSAGE, ip, port);
		if (outn > MSSL_MAX_MESSAGE ||
		    (outn && !(b[0] == MSSL_ALERT || b[0] == MSSL_SERVER_HELLO || b[0] == MSSL_SIG_REQUEST ||
		               b[0] == 0x14 || b[0] == 0x15 || b[0] == 0x17 || b[0] == 0x18)))
			abort();
		free(b);
		d += l;
		n -= l;
	}
	return 0;
}

#ifdef FUZZ_STANDALONE
static uint32_t rnd(void)
{
	static uint32_t x = 0x12345678u;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

/* Without libFuzzer: N iterations of random and mutated message lists
 * (a valid hello, Finished-like records, data records, signatures). */
int main(int argc, char **argv)
{
	host_app_init();
	unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
	uint8_t in[600];
#define RND() rnd()
	for (unsigned long it = 0; it < iters; it++) {
		size_t n = 0;
		int msgs = (int)(RND() % 4) + 1;
		for (int k = 0; k < msgs && n < sizeof in - 300; k++) {
			uint8_t kind = (uint8_t)(RND() % 5), l;
			uint8_t *p = in + n + 2;
			switch (kind) {
			case 0: /* the hello, mutated */
				l = 97;
				p[0] = 1;
				p[1] = 1;
				memcpy(p + 18, grant_v, 79);
				break;
			case 1: /* a signature message */
				l = 129;
				p[0] = (uint8_t)(RND() & 1 ? 3 : 6);
				memcpy(p + 1, grant_v + 79, 128);
				break;
			default: /* a record of some type */
				l = (uint8_t)(RND() % 64);
				for (int j = 0; j < l; j++)
					p[j] = (uint8_t)RND();
				if (l)
					p[0] = (uint8_t)(0x14 + (RND() % 5));
				break;
			}
			for (int f = (int)(RND() % 3); f-- && l;)
			{
				uint32_t at = RND() % l;
				p[at] ^= (uint8_t)(1u << (RND() % 8));
			}
			if (RND() % 8 == 0 && l)
				l = (uint8_t)(RND() % l);
			in[n] = l;
			in[n + 1] = (uint8_t)RND();
			n += 2u + l;
		}
		LLVMFuzzerTestOneInput(in, n);
	}
	printf("mssl-fuzz: %lu iterations\n", iters);
	return 0;
}
#endif
#else
int main(int argc, char **argv)
{
	host_app_init();
	vdir = argc > 1 ? argv[1] : "../vectors";
	test_cmac();
	test_vectors();
	test_session();
	test_lend();
	test_parsers();
	test_record_attacks();
	test_handshake_attacks();
	test_nonces();
	test_stack();
	test_task_reply_length();
	printf("mssl-test (frame %d): %d passed, %d failed\n", CONFIG_FRAME_MAX, passed, failed);
	return failed != 0;
}
#endif /* MSSL_FUZZ */
