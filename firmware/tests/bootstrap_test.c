/*
 * bootstrap_test.c - host tests of the device side of secure
 * bootstrapping (bootstrap.c, docs/bootstrap.md) under ASan/UBSan
 * (`make bootstrap-test`, part of `make net-test`):
 *
 *   - vectors/bootstrap.txt byte for byte: the exchange's flight 4 gives
 *     its flight 5 and makes the PSK the config's master key; the SAs the
 *     device derives are the "sas" record's, with counters from zero;
 *   - refusals: another device's flight 4 (NAK 1), a wrong IK (NAK 2), a
 *     wrong RN_i (NAK 3), a config not enrolled for bootstrapping (NAK 5);
 *     truncated and oversized flights and every single-bit flip of flight
 *     4 change nothing;
 *   - replay: a copy of the last flight 4 gets the same flight 5 without a
 *     second commit, and so does a forgery with its tag (the reply is
 *     public); after a reset it no longer opens (NAK 2);
 *   - a second join under the PSK, with its own SAs;
 *   - flight 4 through the IPv4 stack in clear on CONFIG_BOOTSTRAP_PORT;
 *   - a power cut at every EEPROM write of a join (three ways to tear the
 *     write): after the reboot the device holds the old key or the new
 *     one, and the controller's next flight 4 (under the key it holds)
 *     completes a join.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "bootstrap.h"
#include "crypto/aes.h"
#include "crypto/ccm.h"
#include "entropy.h"
#include "esp.h"
#include "mgmt.h"
#include "mssl.h"
#include "net/net.h"
#include "store.h"
#include "host_app.h"
#include "vectors.h"

#include "check.h"

/* ---- the exchange of vectors/bootstrap.txt ------------------------------ */

static struct {
	uint32_t device;
	uint8_t tid[8], ik[16], rni[16], rnc[16], psk[16];
	uint8_t flight4[BOOT_FLIGHT4_SIZE], flight5[BOOT_FLIGHT5_SIZE];
	uint8_t spi_h2d[4], enc_h2d[19], spi_d2h[4], enc_d2h[19];
} v;

static int hex_into(const vrecord *r, const char *name, uint8_t *dst, size_t want)
{
	uint8_t *b;
	size_t n;
	if (vrec_hex(r, name, &b, &n))
		return -1;
	int ok = n == want;
	if (ok)
		memcpy(dst, b, n);
	else
		fprintf(stderr, "%s:%d: %s: %zu bytes, want %zu\n", r->file, r->line, name, n, want);
	free(b);
	return ok ? 0 : -1;
}

static void load_vectors(const char *dir)
{
	char path[512];
	vfile vf;
	vrecord r;
	int have = 0;
	snprintf(path, sizeof path, "%s/bootstrap.txt", dir);
	if (vfile_open(&vf, path)) {
		perror(path);
		exit(2);
	}
	while (vfile_next(&vf, &r) == 1) {
		const char *name = vrec_text(&r, "name");
		uint8_t dev[4];
		if (!name)
			continue;
		if (!strcmp(name, "exchange")) {
			int bad = hex_into(&r, "device", dev, 4) || hex_into(&r, "tid", v.tid, 8) ||
			          hex_into(&r, "ik", v.ik, 16) || hex_into(&r, "rni", v.rni, 16) ||
			          hex_into(&r, "rnc", v.rnc, 16) || hex_into(&r, "psk", v.psk, 16) ||
			          hex_into(&r, "flight4", v.flight4, BOOT_FLIGHT4_SIZE) ||
			          hex_into(&r, "flight5", v.flight5, BOOT_FLIGHT5_SIZE);
			if (bad)
				exit(2);
			v.device = net_be32(dev);
			have |= 1;
		} else if (!strcmp(name, "sas")) {
			if (hex_into(&r, "spi_h2d", v.spi_h2d, 4) || hex_into(&r, "enc_h2d", v.enc_h2d, 19) ||
			    hex_into(&r, "spi_d2h", v.spi_d2h, 4) || hex_into(&r, "enc_d2h", v.enc_d2h, 19))
				exit(2);
			have |= 2;
		}
	}
	vfile_close(&vf);
	if (have != 3) {
		fprintf(stderr, "%s: no exchange or sas record\n", path);
		exit(2);
	}
}

/* ---- the device ------------------------------------------------------ */

/* A provisioned device enrolled for bootstrapping (flags: CFG_BOOTSTRAP
 * when boot), device id v.device, master key IK, RN_i v.rni, one state
 * slot with counters from earlier traffic. */
static void reboot(void)
{
	static uint32_t boots;
	net_put32(entropy_epoch, ++boots);
	store_power_off = 0;
	store_cut_writes = 0;
	bootstrap_reset();
	store_init();
	esp_init();
	mssl_reset();
}

static void device_as(uint8_t boot)
{
	uint8_t *c = store_ee;
	memset(store_ee, 0xFF, sizeof store_ee);
	memset(c, 0, EE_CONFIG_FIXED);
	c[0] = 'M';
	c[1] = 'E';
	c[2] = 1;
	c[EE_FLAGS] = boot ? CFG_BOOTSTRAP : 0;
	net_put16(c + EE_LENGTH, EE_CONFIG_FIXED);
	net_put32(c + EE_DEVICE_ID, v.device);
	c[EE_ADDR] = 10;
	c[EE_ADDR + 3] = 9;
	memcpy(c + EE_MASTER_KEY, v.ik, 16);
	c[EE_SA_COUNT] = 2;
	for (uint8_t i = 0; i < 2; i++) {
		uint8_t *sa = c + EE_SA0 + i * EE_SA_SIZE;
		net_put32(sa, 0x1000u + i); /* replaced by the derived SPIs */
		sa[EE_SA_SUITE] = SUITE_CCM8;
		sa[EE_SA_FLAGS] = i ? SA_ESN : 0; /* kept */
	}
	uint16_t crc = 0xFFFF;
	for (uint16_t i = 0; i < EE_CONFIG_FIXED; i++)
		if (i != EE_CRC && i != EE_CRC + 1)
			crc = crc16_byte(crc, c[i]);
	net_put16(c + EE_CRC, crc);
	memcpy(store_ee + EE_BOOT, v.rni, EE_BOOT_SIZE);
	store_init();
	CHECK(store_fresh_state(0, 0) == 0);
	/* some traffic happened under the enrolment key's SAs */
	store_st.esp_out_reserved = 500;
	store_st.esp_in_floor = 700;
	CHECK(store_commit() == 0);
	reboot();
	CHECK(store_provisioned());
}

static void device(void) { device_as(1); }

static uint8_t msg[BOOT_FLIGHT4_SIZE + 8];

static size_t send(const uint8_t *f, size_t n)
{
	memcpy(msg, f, n);
	return bootstrap_handle(msg, n);
}

/* The controller's side: flight 4 under key. */
static void flight4(uint8_t out[BOOT_FLIGHT4_SIZE], const uint8_t key[16], uint32_t dev,
                    const uint8_t tid[8], const uint8_t rni[16], const uint8_t rnc[16])
{
	aes128_ctx a;
	out[0] = 'M';
	out[1] = 'B';
	out[2] = 1;
	out[3] = BOOT_TYPE_REKEY;
	net_put32(out + 4, dev);
	memcpy(out + 8, tid, 8);
	memcpy(out + 16, rni, 16);
	memcpy(out + 32, rnc, 16);
	aes128_init(&a, key);
	aes128_ccm_seal(&a, out + 3, 13, out, 16, out + 16, 32, out + 48, 16);
}

/* PSK = AES(key, rni ⊕ rnc). */
static void derive(uint8_t psk[16], const uint8_t key[16], const uint8_t rni[16], const uint8_t rnc[16])
{
	aes128_ctx a;
	for (int i = 0; i < 16; i++)
		psk[i] = rni[i] ^ rnc[i];
	aes128_init(&a, key);
	aes128_encrypt(&a, psk);
}

/* 1 if r (n bytes) is a flight 5 for tid that opens under psk and carries rnc. */
static int proof_ok(const uint8_t *r, size_t n, const uint8_t psk[16], const uint8_t tid[8],
                    const uint8_t rnc[16])
{
	uint8_t b[BOOT_FLIGHT5_SIZE];
	aes128_ctx a;
	if (n != BOOT_FLIGHT5_SIZE)
		return 0;
	memcpy(b, r, n);
	aes128_init(&a, psk);
	return b[0] == 'M' && b[1] == 'B' && b[2] == 1 && b[3] == BOOT_TYPE_PROOF &&
	       net_be32(b + 4) == v.device && !memcmp(b + 8, tid, 8) &&
	       aes128_ccm_open(&a, b + 3, 13, b, 16, b + 16, 16, b + 32, 16) == 0 &&
	       !memcmp(b + 16, rnc, 16);
}

static int is_nak(size_t n, uint8_t code)
{
	return n == BOOT_NAK_SIZE && msg[3] == BOOT_TYPE_NAK && net_be32(msg + 4) == v.device &&
	       msg[16] == code;
}

/* 1 if the device's master key is key. */
static int key_is(const uint8_t key[16])
{
	uint8_t k[16];
	store_master_key(k);
	return !memcmp(k, key, 16);
}

/* K of SA d under master key mk (the host's KDF, written out):
 * AES(mk, c || d || 0^14) for c = 1, 2; SPI bit 8 set, bit 0 = d. */
static void sa_material(uint8_t k[32], const uint8_t mk[16], uint8_t d)
{
	aes128_ctx a;
	aes128_init(&a, mk);
	memset(k, 0, 32);
	for (uint8_t c = 0; c < 2; c++) {
		k[16 * c] = (uint8_t)(c + 1);
		k[16 * c + 1] = d;
		aes128_encrypt(&a, k + 16 * c);
	}
	k[2] |= 1;
	k[3] = (uint8_t)((k[3] & 0xFE) | d);
}

/* 1 if the device runs the SAs derived from mk: SPIs, suite, flags, keys. */
static int sas_are(const uint8_t mk[16])
{
	uint8_t k[32];
	int ok = store_provisioned() && store_cfg.sa_count == 2;
	for (uint8_t d = 0; d < 2; d++) {
		sa_material(k, mk, d);
		ok = ok && store_cfg.sa[d].spi == net_be32(k) && store_cfg.sa[d].suite == SUITE_CCM8 &&
		     store_cfg.sa[d].flags == (d ? SA_ESN : 0) && !memcmp(esp_sa_key(d), k + 4, 19);
	}
	return ok;
}

/* ---- tests ------------------------------------------------------------ */

static void test_vectors(void)
{
	uint8_t psk[16];
	derive(psk, v.ik, v.rni, v.rnc);
	CHECK(!memcmp(psk, v.psk, 16));

	device();
	CHECK(key_is(v.ik) && sas_are(v.ik)); /* the enrolled IK is the master key */
	size_t n = send(v.flight4, sizeof v.flight4);
	CHECK(n == BOOT_FLIGHT5_SIZE && !memcmp(msg, v.flight5, BOOT_FLIGHT5_SIZE));
	CHECK(key_is(v.psk) && !memcmp(store_ee + EE_BOOT, v.rni, 16));
	/* the SAs of the "sas" record, counters from zero under them */
	CHECK(store_provisioned() && store_cfg.sa_count == 2);
	CHECK(store_cfg.sa[0].spi == net_be32(v.spi_h2d) && !memcmp(esp_sa_key(0), v.enc_h2d, 19));
	CHECK(store_cfg.sa[1].spi == net_be32(v.spi_d2h) && !memcmp(esp_sa_key(1), v.enc_d2h, 19));
	CHECK(sas_are(v.psk));
	CHECK(store_st.esp_out_reserved == 0 && store_st.esp_in_floor == 0);
	/* the config's SA slots hold no key */
	for (uint8_t i = EE_SA_ENC_KEY; i < EE_SA_SIZE; i++)
		CHECK(store_ee[EE_SA0 + i] == 0 && store_ee[EE_SA1 + i] == 0);

	/* a copy (the controller retransmits): the same bytes, no commit */
	uint8_t ee[CONFIG_HOST_EEPROM_SIZE];
	memcpy(ee, store_ee, sizeof ee);
	n = send(v.flight4, sizeof v.flight4);
	CHECK(n == BOOT_FLIGHT5_SIZE && !memcmp(msg, v.flight5, BOOT_FLIGHT5_SIZE));
	CHECK(!memcmp(ee, store_ee, sizeof ee));
	/* a forgery with its tag (any other byte changed) gets the same
	 * public bytes, and nothing else happens */
	uint8_t f[BOOT_FLIGHT4_SIZE];
	memcpy(f, v.flight4, sizeof f);
	f[20] ^= 0x40;
	f[33] ^= 1;
	n = send(f, sizeof f);
	CHECK(n == BOOT_FLIGHT5_SIZE && !memcmp(msg, v.flight5, BOOT_FLIGHT5_SIZE));
	CHECK(!memcmp(ee, store_ee, sizeof ee) && key_is(v.psk));
	/* after a reset the copy is a replay: the old key is gone */
	reboot();
	memcpy(ee, store_ee, sizeof ee);
	n = send(v.flight4, sizeof v.flight4);
	CHECK(is_nak(n, BOOT_NAK_AUTH));
	CHECK(key_is(v.psk) && sas_are(v.psk));
	/* only boot counts changed: the config and the bootstrap area did not */
	CHECK(!memcmp(ee, store_ee, STORE_JOURNAL));
}

static void test_refusals(void)
{
	uint8_t f[BOOT_FLIGHT4_SIZE], other[16], ee[CONFIG_HOST_EEPROM_SIZE];
	size_t n;

	/* another device's flight 4: NAK 1, before any cryptography */
	device();
	flight4(f, v.ik, v.device + 1, v.tid, v.rni, v.rnc);
	memcpy(ee, store_ee, sizeof ee);
	CHECK(is_nak(send(f, sizeof f), BOOT_NAK_NOT_MINE) && !memcmp(msg + 8, v.tid, 8));
	/* a wrong IK */
	memset(other, 0x5a, sizeof other);
	flight4(f, other, v.device, v.tid, v.rni, v.rnc);
	CHECK(is_nak(send(f, sizeof f), BOOT_NAK_AUTH));
	/* the right IK, another RN_i (a forged or another device's label) */
	memcpy(other, v.rni, 16);
	other[15] ^= 1;
	flight4(f, v.ik, v.device, v.tid, other, v.rnc);
	CHECK(is_nak(send(f, sizeof f), BOOT_NAK_LABEL));
	for (size_t i = BOOT_NAK_SIZE; i < BOOT_FLIGHT4_SIZE; i++)
		CHECK(msg[i] == 0); /* RN_c is not left in the buffer */
	CHECK(!memcmp(ee, store_ee, sizeof ee) && key_is(v.ik));

	/* truncated and oversized: nothing at all */
	for (size_t k = 0; k <= BOOT_FLIGHT4_SIZE + 8; k++) {
		if (k == BOOT_FLIGHT4_SIZE)
			continue;
		memset(msg, 0, sizeof msg);
		memcpy(msg, v.flight4, k < BOOT_FLIGHT4_SIZE ? k : BOOT_FLIGHT4_SIZE);
		n = bootstrap_handle(msg, k);
		CHECK(n == 0);
	}
	/* every single-bit flip: refused, nothing written */
	int bad = 0;
	for (size_t i = 0; i < BOOT_FLIGHT4_SIZE; i++)
		for (int b = 0; b < 8; b++) {
			memcpy(f, v.flight4, sizeof f);
			f[i] ^= (uint8_t)(1 << b);
			n = send(f, sizeof f);
			int want = i < 4 ? n == 0
			         : i < 8 ? is_nak(n, BOOT_NAK_NOT_MINE)
			                 : is_nak(n, BOOT_NAK_AUTH);
			if (!want || memcmp(ee, store_ee, sizeof ee))
				bad++;
		}
	CHECK(bad == 0);
	CHECK(key_is(v.ik));

	/* a config not enrolled for bootstrapping: NAK 5, nothing written */
	device_as(0);
	memcpy(ee, store_ee, sizeof ee);
	CHECK(is_nak(send(v.flight4, sizeof v.flight4), BOOT_NAK_NO_KEY));
	CHECK(!memcmp(ee, store_ee, sizeof ee) && key_is(v.ik));
	/* and an unprovisioned device: NAK 5 */
	memset(store_ee, 0xFF, sizeof store_ee);
	reboot();
	CHECK(!store_provisioned() && send(v.flight4, sizeof v.flight4) == BOOT_NAK_SIZE &&
	      msg[3] == BOOT_TYPE_NAK && net_be32(msg + 4) == 0 && msg[16] == BOOT_NAK_NO_KEY);
}

static void test_second_join(void)
{
	uint8_t f[BOOT_FLIGHT4_SIZE], rnc2[16], tid2[8], psk2[16];
	device();
	CHECK(send(v.flight4, sizeof v.flight4) == BOOT_FLIGHT5_SIZE);
	memset(rnc2, 0xc3, sizeof rnc2);
	memset(tid2, 0x44, sizeof tid2);
	/* under IK, the second join is refused: the key moved on */
	flight4(f, v.ik, v.device, tid2, v.rni, rnc2);
	CHECK(is_nak(send(f, sizeof f), BOOT_NAK_AUTH));
	/* under the PSK it works: new key, new SAs, counters from zero */
	flight4(f, v.psk, v.device, tid2, v.rni, rnc2);
	derive(psk2, v.psk, v.rni, rnc2);
	size_t n = send(f, sizeof f);
	CHECK(proof_ok(msg, n, psk2, tid2, rnc2));
	CHECK(key_is(psk2) && sas_are(psk2));
	CHECK(store_st.esp_out_reserved == 0 && store_st.esp_in_floor == 0);
	/* and survives a reset */
	reboot();
	CHECK(key_is(psk2) && sas_are(psk2));
	/* the first PSK no longer opens anything */
	memset(tid2, 0x45, sizeof tid2);
	flight4(f, v.psk, v.device, tid2, v.rni, rnc2);
	CHECK(is_nak(send(f, sizeof f), BOOT_NAK_AUTH));
}

/*
 * A power cut at write `cut` of a join (mode: how the write tears), then a
 * reboot: the device holds IK with its SAs and counters, or the PSK with
 * its SAs and the counters at zero, is provisioned, and the next flight 4
 * under the key it holds completes a join.
 */
static void test_power(void)
{
	int runs = 0, old = 0, nw = 0;
	for (uint8_t mode = 0; mode < 3; mode++) {
		for (uint16_t cut = 1; cut < 400; cut++) {
			device();
			store_cut_mode = mode;
			store_cut_writes = cut;
			size_t n = send(v.flight4, sizeof v.flight4);
			int was_cut = store_power_off;
			store_cut_writes = 0;
			if (!was_cut) {
				CHECK(n == BOOT_FLIGHT5_SIZE && !memcmp(msg, v.flight5, BOOT_FLIGHT5_SIZE));
				break;
			}
			runs++;
			reboot();
			uint8_t f[BOOT_FLIGHT4_SIZE], tid2[8], rnc2[16], psk2[16];
			memset(tid2, 0x50, sizeof tid2);
			memset(rnc2, 0x60 + cut, sizeof rnc2);
			if (key_is(v.ik)) {
				old++;
				CHECK(sas_are(v.ik) && store_st.esp_in_floor >= 700 && store_st.esp_out_reserved >= 500);
				flight4(f, v.ik, v.device, tid2, v.rni, rnc2);
				derive(psk2, v.ik, v.rni, rnc2);
			} else if (CHECK(key_is(v.psk))) {
				nw++;
				CHECK(sas_are(v.psk) && store_st.esp_in_floor == 0 && store_st.esp_out_reserved == 0);
				flight4(f, v.psk, v.device, tid2, v.rni, rnc2);
				derive(psk2, v.psk, v.rni, rnc2);
			} else {
				fprintf(stderr, "  power cut at write %u (mode %u): neither key\n", cut, mode);
				continue;
			}
			CHECK(store_provisioned());
			n = send(f, sizeof f);
			if (!CHECK(proof_ok(msg, n, psk2, tid2, rnc2)))
				fprintf(stderr, "  power cut at write %u (mode %u): no join after it\n", cut, mode);
			CHECK(sas_are(psk2));
		}
	}
	printf("bootstrap-test: %d power cuts (%d kept the old key, %d the new)\n", runs, old, nw);
	CHECK(old > 0 && nw > 0);
}

/* Through the whole stack: flight 4 in a clear UDP datagram to
 * CONFIG_BOOTSTRAP_PORT gets flight 5 back in clear. */
static void test_udp(void)
{
	static const uint8_t host_ip[4] = { 10, 0, 0, 2 }, dev_ip[4] = { 10, 0, 0, 9 };
	uint8_t b[CONFIG_FRAME_MAX], *u = b + 20;
	uint16_t n = 20 + 8 + BOOT_FLIGHT4_SIZE;
	device();
	memset(b, 0, sizeof b);
	b[0] = 0x45;
	net_put16(b + 2, n);
	b[8] = 64;
	b[9] = IP_PROTO_UDP;
	memcpy(b + 12, host_ip, 4);
	memcpy(b + 16, dev_ip, 4);
	net_put16(b + 10, (uint16_t)~net_sum(0, b, 20));
	net_put16(u, 50000);
	net_put16(u + 2, CONFIG_BOOTSTRAP_PORT);
	net_put16(u + 4, 8 + BOOT_FLIGHT4_SIZE);
	memcpy(u + 8, v.flight4, BOOT_FLIGHT4_SIZE);
	uint16_t sum = (uint16_t)~net_udp_sum(b, u, 8 + BOOT_FLIGHT4_SIZE);
	net_put16(u + 6, sum ? sum : 0xFFFF);
	uint16_t r = net_input(b, n, sizeof b);
	CHECK(r == 20 + 8 + BOOT_FLIGHT5_SIZE);
	CHECK(b[9] == IP_PROTO_UDP && !memcmp(b + 16, host_ip, 4) && net_be16(u + 2) == 50000);
	CHECK(net_udp_sum(b, u, 8 + BOOT_FLIGHT5_SIZE) == 0xFFFF);
	CHECK(!memcmp(u + 8, v.flight5, BOOT_FLIGHT5_SIZE));
	CHECK(key_is(v.psk) && sas_are(v.psk));
}

int main(int argc, char **argv)
{
	host_app_init();
	load_vectors(argc > 1 ? argv[1] : "../vectors");
	test_vectors();
	test_refusals();
	test_second_join();
	test_power();
	test_udp();
	printf("bootstrap-test: %d passed, %d failed\n", passed, failed);
	return failed != 0;
}
