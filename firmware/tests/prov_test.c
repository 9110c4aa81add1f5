/*
 * prov_test.c - host tests of serial provisioning (prov.c, the journal of
 * store.c; docs/provisioning.md): AES-CMAC against RFC 4493, factory
 * provisioning and its refusal afterwards and on a corrupt EEPROM,
 * authenticated re-provisioning (wrong key, stale and replayed
 * challenges, every single-bit flip of a transfer, a power cut at every
 * EEPROM write of one commit and of two consecutive commits and their
 * recovery), the counter rules, read-back, and random
 * requests in every state. Built with ASan/UBSan by `make prov-test`
 * (part of `make net-test`), once with a 1 KB EEPROM (ATmega328P) and once
 * with 512 bytes (ATmega168: no room to stage, re-provisioning refused).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "entropy.h"
#include "crypto/aes.h"
#include "crypto/cmac.h"
#include "crypto/ctr.h"
#include "esp.h"
#include "mgmt.h"
#include "net/net.h"
#include "prov.h"
#include "store.h"
#include "host_app.h"

#include "check.h"


/* ---- requests --------------------------------------------------------- */

static uint8_t frame[CONFIG_FRAME_MAX];
static size_t rlen;
#define REPLY (frame + MGMT_HDR_LEN)

static uint8_t req(uint8_t op, const uint8_t *p, size_t n)
{
	frame[MGMT_HDR_LEN] = op;
	if (n)
		memcpy(frame + MGMT_HDR_LEN + 1, p, n);
	rlen = 0;
	return prov_handle(frame, n + 1, sizeof frame, &rlen);
}

/* ---- configs ------------------------------------------------------------ */

#define CFG_MAX 448
struct cfg {
	uint8_t b[CFG_MAX];
	uint16_t len;
};

/* A valid config: both SAs CCM-8 with key bytes k, k+1; optional issuer
 * modulus of modlen bytes filled with m. */
static void make_cfg(struct cfg *c, uint8_t k, uint16_t modlen, uint8_t m, uint8_t addr)
{
	memset(c, 0, sizeof *c);
	c->len = (uint16_t)(EE_CONFIG_FIXED + modlen);
	c->b[0] = 'M';
	c->b[1] = 'E';
	c->b[2] = 1;
	c->b[3] = modlen ? CFG_ISSUER : 0;
	net_put16(c->b + EE_LENGTH, c->len);
	net_put32(c->b + EE_DEVICE_ID, 0x2a);
	c->b[EE_ADDR] = 10;
	c->b[EE_ADDR + 3] = addr;
	memset(c->b + EE_MASTER_KEY, 0x40 + k, 16);
	net_put16(c->b + EE_MODULUS_LEN, modlen);
	c->b[EE_SA_COUNT] = 2;
	for (uint8_t i = 0; i < 2; i++) {
		uint8_t *sa = c->b + EE_SA0 + i * EE_SA_SIZE;
		net_put32(sa, 0x100u * k + i + 1);
		sa[EE_SA_SUITE] = SUITE_CCM8;
		memset(sa + EE_SA_ENC_KEY, (uint8_t)(2 * k + i), 19);
	}
	memset(c->b + EE_MODULUS, m, modlen);
	uint16_t crc = 0xFFFF;
	for (uint16_t i = 0; i < c->len; i++)
		if (i != EE_CRC && i != EE_CRC + 1)
			crc = crc16_byte(crc, c->b[i]);
	net_put16(c->b + EE_CRC, crc);
}

static int config_is(const struct cfg *c)
{
	return memcmp(store_ee, c->b, c->len) == 0;
}

/* ---- the host's side of the protocol --------------------------------- */

static void host_cmac(uint8_t tag[16], const uint8_t key[16], const uint8_t *p, uint16_t n)
{
	/* aes128_cmac is checked against RFC 4493 first (test_cmac). */
	aes128_ctx ctx;
	aes128_init(&ctx, key);
	aes128_cmac(&ctx, p, n, tag);
}

/* The challenge the host saw: the counter and the epoch of the boot it
 * asked (the current one unless a test says otherwise). */
static uint8_t host_epoch[ENTROPY_EPOCH_LEN];

static void kdf(uint8_t out[16], const uint8_t mk[16], const char *label, const uint8_t *ctx)
{
	uint8_t m[32];
	memset(m, 0, sizeof m);
	m[0] = 1;
	memcpy(m + 1, label, 8);
	net_put32(m + 10, 0x2a);
	if (ctx)
		memcpy(m + 14, ctx, 16);
	m[31] = 0x80;
	host_cmac(out, mk, m, sizeof m);
}

/* The time floor the host asks for (transcripts and FACTORY). */
static uint32_t time_floor;

static void hdr(uint8_t h[48], uint8_t phase, uint16_t len, uint16_t s, uint32_t floor, const uint8_t chal[16])
{
	memset(h, 0, 48);
	memcpy(h, "MSPV", 4);
	h[4] = 2;
	h[5] = phase;
	net_put16(h + 6, len);
	net_put16(h + 8, s);
	net_put32(h + 10, floor);
	net_put32(h + 14, time_floor);
	net_put32(h + 18, 0x2a);
	memcpy(h + 22, chal, 16);
}

/* INFO: the challenge's counter (its epoch goes to host_epoch). */
static uint32_t challenge(void)
{
	CHECK(req(PROV_INFO, NULL, 0) == 0 && rlen == 29);
	memcpy(host_epoch, REPLY + 11, ENTROPY_EPOCH_LEN);
	return net_be32(REPLY + 7);
}

/* A full transcript, recorded so that it can be replayed or altered. */
struct transcript {
	uint8_t begin[44];
	uint8_t data[CFG_MAX];
	uint16_t s;
	uint8_t tag[16];
};

static void make_transcript(struct transcript *t, const uint8_t mk[16], const struct cfg *n,
                            uint16_t s, uint32_t floor, uint32_t chal)
{
	uint8_t k[16], h[48], msg[48 + CFG_MAX], ctr[16], c[16];
	aes128_ctx ctx;
	memset(t, 0, sizeof *t);
	t->s = s;
	net_put32(c, chal);
	memcpy(c + 4, host_epoch, ENTROPY_EPOCH_LEN);
	kdf(k, mk, "prov-mac", c);
	hdr(h, 1, n->len, s, floor, c);
	memcpy(t->begin, c, 16);
	net_put16(t->begin + 16, n->len);
	net_put16(t->begin + 18, s);
	net_put32(t->begin + 20, floor);
	net_put32(t->begin + 24, time_floor);
	host_cmac(t->begin + 28, k, h, 48);
	hdr(msg, 2, n->len, s, floor, c);
	memcpy(msg + 48, n->b, n->len);
	host_cmac(t->tag, k, msg, (uint16_t)(48 + n->len));
	kdf(k, mk, "prov-enc", c);
	aes128_init(&ctx, k);
	memset(ctr, 0, sizeof ctr);
	memcpy(t->data, n->b, s);
	aes128_ctr(&ctx, ctr, t->data, s);
}

#define CHUNK 128

/* Run a transcript; returns the first error (0: committed). */
static uint8_t run(const struct transcript *t)
{
	uint8_t e, p[2 + CHUNK];
	if ((e = req(PROV_BEGIN, t->begin, sizeof t->begin)) != 0)
		return e;
	for (uint16_t off = 0; off < t->s; off += CHUNK) {
		uint16_t k = (uint16_t)(t->s - off < CHUNK ? t->s - off : CHUNK);
		net_put16(p, off);
		memcpy(p + 2, t->data + off, k);
		if ((e = req(PROV_DATA, p, (size_t)k + 2)) != 0)
			return e;
	}
	return req(PROV_END, t->tag, 16);
}

static uint8_t factory(const struct cfg *c, uint32_t floor)
{
	uint8_t e, p[2 + CHUNK];
	net_put16(p, c->len);
	net_put32(p + 2, floor);
	net_put32(p + 6, time_floor);
	if ((e = req(PROV_FACTORY, p, 10)) != 0)
		return e;
	for (uint16_t off = 0; off < c->len; off += CHUNK) {
		uint16_t k = (uint16_t)(c->len - off < CHUNK ? c->len - off : CHUNK);
		net_put16(p, off);
		memcpy(p + 2, c->b + off, k);
		if ((e = req(PROV_DATA, p, (size_t)k + 2)) != 0)
			return e;
	}
	return req(PROV_END, NULL, 0);
}

/* A reset: RAM is lost and the device draws a new boot epoch (on AVR
 * from watchdog jitter; here a counter is as good: epochs only have to
 * differ). */
static void boot(void)
{
	static uint32_t boots;
	net_put32(entropy_epoch, ++boots);
	store_power_off = 0;
	store_cut_writes = 0;
	prov_reset();
	store_init();
	esp_init();
}

static void blank(void)
{
	memset(store_ee, 0xFF, sizeof store_ee);
	boot();
	/* end any session of an earlier test (a reset would) */
	req(PROV_END, NULL, 0);
}

/* ---- tests ----------------------------------------------------------- */

static int unhex(uint8_t *out, const char *hex)
{
	int n = 0;
	unsigned b;
	while (hex[0] && hex[1] && sscanf(hex, "%2x", &b) == 1) {
		out[n++] = (uint8_t)b;
		hex += 2;
	}
	return n;
}

static void test_cmac(void)
{
	/* RFC 4493 section 4, examples 1-4 */
	static const char *key = "2b7e151628aed2a6abf7158809cf4f3c";
	static const char *msg =
		"6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
		"30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
	static const struct { int len; const char *tag; } ex[] = {
		{ 0, "bb1d6929e95937287fa37d129b756746" },
		{ 16, "070a16b46b4d4144f79bdd9dd04a287c" },
		{ 40, "dfa66747de9ae63030ca32611497c827" },
		{ 64, "51f0bebf7e3b9d92fc49741779363cfe" },
	};
	uint8_t k[16], m[64], want[16], got[16];
	unhex(k, key);
	unhex(m, msg);
	for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
		unhex(want, ex[i].tag);
		host_cmac(got, k, m, (uint16_t)ex[i].len);
		CHECK(memcmp(got, want, 16) == 0);
		/* streamed in pieces of every size, as prov.c feeds it */
		for (size_t piece = 1; piece <= 17; piece++) {
			aes128_ctx ctx;
			struct aes128_cmac c;
			memset(&c, 0, sizeof c);
			aes128_init(&ctx, k);
			for (size_t off = 0; off < (size_t)ex[i].len; off += piece) {
				size_t l = (size_t)ex[i].len - off < piece ? (size_t)ex[i].len - off : piece;
				aes128_cmac_update(&ctx, &c, m + off, l);
			}
			aes128_cmac_final(&ctx, &c, got);
			CHECK(memcmp(got, want, 16) == 0);
		}
	}
}

static uint8_t mk_of(const struct cfg *c, uint8_t mk[16])
{
	memcpy(mk, c->b + EE_MASTER_KEY, 16);
	return 0;
}

static void test_factory(void)
{
	struct cfg a, b;
	make_cfg(&a, 1, 0, 0, 2);
	make_cfg(&b, 2, 0, 0, 3);
	blank();
	CHECK(challenge() == 0);
	CHECK(REPLY[1] == PROV_ST_FACTORY && REPLY[2] == STORE_BLANK);
	/* nothing but INFO and FACTORY works on a blank device */
	uint8_t z[16] = { 0 };
	CHECK(req(PROV_READ, z, 3) == MGMT_E_STATE);
	CHECK(req(PROV_DIGEST, z, 16) == MGMT_E_STATE);
	CHECK(req(PROV_END, z, 16) == MGMT_E_STATE);

	CHECK(factory(&a, 7) == 0);
	CHECK(rlen == 2 && REPLY[1] == STORE_OK);
	CHECK(store_provisioned() && config_is(&a));
	CHECK(store_st.generation == 2 && store_st.serial_floor == 7 && store_st.esp_out_reserved == 0);
	boot();
	CHECK(store_provisioned() && store_cfg.device_id == 0x2a);

	/* a second, unauthenticated provisioning is refused, and changes nothing */
	CHECK(factory(&b, 0) == MGMT_E_STATE);
	CHECK(config_is(&a));
	CHECK(challenge() == store_nonce_next && REPLY[1] == PROV_ST_PROVISIONED);

	/* an interrupted factory session can be restarted (same boot) */
	blank();
	uint8_t p[2 + 64];
	net_put16(p, a.len);
	net_put32(p + 2, 0);
	net_put32(p + 6, 0);
	CHECK(req(PROV_FACTORY, p, 10) == 0);
	net_put16(p, 0);
	memcpy(p + 2, a.b, 64);
	CHECK(req(PROV_DATA, p, 66) == 0);
	CHECK(req(PROV_END, NULL, 0) == MGMT_E_PARAM); /* not all sent */
	CHECK(!store_blank() && store_ee[0] == 0xFF);  /* magic held back */
	CHECK(factory(&b, 0) == 0 && config_is(&b));

	/* a config the firmware rejects is undone: factory state again */
	struct cfg bad = a;
	bad.b[EE_DEVICE_ID + 3] ^= 1; /* CRC mismatch */
	blank();
	CHECK(factory(&bad, 0) == MGMT_E_CONFIG);
	CHECK(store_blank() && !store_provisioned());
	CHECK(factory(&a, 0) == 0 && store_provisioned());
	/* after a power cut in a factory session the EEPROM is not blank:
	 * refused until it is erased (ISP) */
	blank();
	net_put16(p, a.len);
	CHECK(req(PROV_FACTORY, p, 10) == 0);
	net_put16(p, 64);
	memcpy(p + 2, a.b + 64, 64);
	CHECK(req(PROV_DATA, p, 66) == 0);
	boot(); /* reset: the RAM session is gone */
	CHECK(factory(&a, 0) == MGMT_E_STATE);
	CHECK(challenge() == 0 && REPLY[1] == PROV_ST_LOCKED);
}

static void test_locked(void)
{
	struct cfg a, b;
	make_cfg(&a, 1, 0, 0, 2);
	make_cfg(&b, 2, 0, 0, 3);
	/* every single-bit corruption of the config leaves a device that
	 * refuses unauthenticated provisioning */
	for (uint16_t i = 0; i < a.len; i++) {
		for (uint8_t bit = 0; bit < 8; bit += 3) {
			blank();
			CHECK(factory(&a, 0) == 0);
			store_ee[i] ^= (uint8_t)(1u << bit);
			boot();
			if (store_provisioned())
				continue; /* cannot happen: CRC */
			CHECK(factory(&b, 0) == MGMT_E_STATE);
			CHECK(req(PROV_INFO, NULL, 0) == 0 && REPLY[1] == PROV_ST_LOCKED);
			uint8_t z[44] = { 0 };
			CHECK(req(PROV_BEGIN, z, 44) == MGMT_E_STATE);
		}
	}
}

static void test_reprovision(void)
{
	struct cfg a, b, c;
	struct transcript t, t2;
	uint8_t mka[16], mkb[16];
	make_cfg(&a, 1, 0, 0, 2);
	make_cfg(&b, 2, 0, 0, 3);
	mk_of(&a, mka);
	mk_of(&b, mkb);
	blank();
	CHECK(factory(&a, 5) == 0);
	/* use some sequence numbers under a's keys */
	CHECK(store_out_seq(1) == 0 && store_in_floor(3) == 0);
	uint32_t out_a = store_st.esp_out_reserved, nonce0 = store_st.nonce_reserved;

	uint32_t chal = challenge();
	if (!STORE_CAN_STAGE) {
		make_transcript(&t, mka, &b, b.len, 0, chal);
		CHECK(run(&t) == MGMT_E_ROOM);
		CHECK(config_is(&a));
		/* the same public answer for a wrong key (docs/provisioning.md) */
		make_transcript(&t, mkb, &b, b.len, 0, challenge());
		CHECK(run(&t) == MGMT_E_ROOM);
		CHECK(config_is(&a));
		return;
	}
	/* wrong current key: refused, the challenge is not used up */
	make_transcript(&t, mkb, &b, b.len, 0, chal);
	CHECK(run(&t) == MGMT_E_AUTH);
	CHECK(challenge() == chal);
	/* a stale challenge */
	make_transcript(&t, mka, &b, b.len, 0, chal + 1);
	CHECK(run(&t) == MGMT_E_STALE);

	/* The EEPROM as an image of it would put it back (ISP re-flash,
	 * simulator reload): before the transcript below is run. */
	static uint8_t image[sizeof store_ee];
	memcpy(image, store_ee, sizeof image);

	make_transcript(&t, mka, &b, b.len, 9, chal);
	CHECK(run(&t) == 0);
	CHECK(config_is(&b) && store_provisioned() && store_cfg.addr[3] == 3);
	/* fresh keys: counters restart; the nonce counter never goes back */
	CHECK(store_st.esp_out_reserved == 0 && store_st.esp_in_floor == 0);
	CHECK(store_st.nonce_reserved >= nonce0 && store_nonce_next == store_st.nonce_reserved);
	CHECK(store_st.serial_floor == 9);
	CHECK(challenge() > chal);
	/* END again (a retry after a lost reply) says committed */
	CHECK(req(PROV_END, t.tag, 16) == 0);
	/* the same transcript replayed: refused at BEGIN */
	CHECK(run(&t) == MGMT_E_STALE);
	CHECK(config_is(&b));
	/* so is it after a reset */
	boot();
	CHECK(run(&t) == MGMT_E_STALE && config_is(&b));
	/* ... and after the old image is flashed back: the counter is the
	 * recorded one again, the boot epoch is not (issue 10, finding 1) */
	memcpy(store_ee, image, sizeof image);
	boot();
	CHECK(config_is(&a) && store_nonce_next == chal);
	CHECK(run(&t) == MGMT_E_STALE && config_is(&a));
	/* a challenge of this boot with another epoch is stale too */
	challenge();
	host_epoch[0] ^= 1;
	make_transcript(&t, mka, &b, b.len, 9, store_nonce_next);
	CHECK(run(&t) == MGMT_E_STALE && config_is(&a));
	/* back to b, with a challenge of this boot */
	make_transcript(&t, mka, &b, b.len, 9, challenge());
	CHECK(run(&t) == 0 && config_is(&b));
	(void)out_a;

	/* same SA keys, another address: counters kept (never backwards) */
	CHECK(store_out_seq(2000) == 0);
	uint32_t hi = store_st.esp_out_reserved;
	make_cfg(&c, 2, 0, 0, 4);
	make_transcript(&t2, mkb, &c, c.len, 3, challenge());
	CHECK(run(&t2) == 0 && config_is(&c));
	CHECK(store_st.esp_out_reserved == hi && store_st.esp_in_floor == hi);
	CHECK(store_st.serial_floor == 9); /* same issuer: max(old, new) */

	/* the old outbound key as the new inbound key: not fresh either */
	CHECK(store_out_seq(5000) == 0);
	hi = store_st.esp_out_reserved;
	make_cfg(&a, 7, 0, 0, 4);
	memcpy(a.b + EE_SA0 + EE_SA_ENC_KEY, c.b + EE_SA1 + EE_SA_ENC_KEY, 52);
	{
		uint16_t crc = 0xFFFF;
		for (uint16_t i = 0; i < a.len; i++)
			if (i != EE_CRC && i != EE_CRC + 1)
				crc = crc16_byte(crc, a.b[i]);
		net_put16(a.b + EE_CRC, crc);
	}
	make_transcript(&t2, mkb, &a, a.len, 0, challenge());
	CHECK(run(&t2) == 0 && config_is(&a));
	CHECK(store_st.esp_in_floor == hi && store_st.esp_out_reserved == 0);
}
/* Both floors travel with every provisioning (FACTORY, BEGIN): the same
 * issuer's only rise, a new issuer's are taken as given (with RSA). */
static void test_floors(void)
{
	struct cfg a, b, c;
	struct transcript t;
	uint8_t mka[16], mkb[16];
	make_cfg(&a, 1, 0, 0, 2);
	make_cfg(&b, 2, 0, 0, 3);
	make_cfg(&c, 3, 128, 0x5a, 4);
	mk_of(&a, mka);
	mk_of(&b, mkb);
	blank();
	time_floor = 700;
	CHECK(factory(&a, 5) == 0);
	CHECK(store_st.serial_floor == 5 && store_st.time_floor == 700);
	if (STORE_CAN_STAGE) {
		time_floor = 600; /* lower: nothing goes back */
		make_transcript(&t, mka, &b, b.len, 4, challenge());
		CHECK(run(&t) == 0 && config_is(&b));
		CHECK(store_st.serial_floor == 5 && store_st.time_floor == 700);
		time_floor = 800;
		make_transcript(&t, mkb, &a, a.len, 6, challenge());
		CHECK(run(&t) == 0 && config_is(&a));
		CHECK(store_st.serial_floor == 6 && store_st.time_floor == 800);
		/* A new issuer: its own floors; without RSA the floors only
		 * rise (the device checks no issuer key id: the old issuer's
		 * revoked grants would be taken again under lower floors). */
		time_floor = 50;
		make_transcript(&t, mka, &c, c.len, 2, challenge());
		CHECK(run(&t) == 0 && config_is(&c));
		if (CONFIG_MSSL_RSA)
			CHECK(store_st.serial_floor == 2 && store_st.time_floor == 50);
		else
			CHECK(store_st.serial_floor == 6 && store_st.time_floor == 800);
	}
	time_floor = 0;
}


/* Every single-bit flip of a transfer is refused; the old config stays. */
static void test_tamper(void)
{
	if (!STORE_CAN_STAGE)
		return;
	struct cfg a, b;
	struct transcript t, x;
	uint8_t mka[16];
	make_cfg(&a, 1, 0, 0, 2);
	make_cfg(&b, 2, 0, 0, 3);
	mk_of(&a, mka);
	blank();
	CHECK(factory(&a, 0) == 0);
	uint8_t before[STORE_EE_SIZE - EE_STATE_SIZE];
	for (unsigned i = 0; i < 8 * (sizeof t.begin + b.len + 16); i += 5) {
		make_transcript(&t, mka, &b, b.len, 0, challenge());
		x = t;
		unsigned byte = i / 8;
		uint8_t mask = (uint8_t)(1u << (i % 8));
		if (byte < sizeof t.begin)
			x.begin[byte] ^= mask;
		else if (byte < sizeof t.begin + b.len)
			x.data[byte - sizeof t.begin] ^= mask;
		else
			x.tag[byte - sizeof t.begin - b.len] ^= mask;
		memcpy(before, store_ee, b.len);
		uint8_t e = run(&x);
		CHECK(e != 0);
		CHECK(memcmp(store_ee, before, a.len) == 0 && config_is(&a));
		CHECK(store_provisioned());
		boot();
		CHECK(config_is(&a) && store_provisioned());
	}
	/* and the untampered one still works afterwards */
	make_transcript(&t, mka, &b, b.len, 0, challenge());
	CHECK(run(&t) == 0 && config_is(&b));
}

/* A power cut at every EEPROM write of a re-provisioning: after the
 * reboot the device runs the old config or the new one, never anything
 * else, and it still refuses unauthenticated provisioning. */
static void test_power(void)
{
	if (!STORE_CAN_STAGE)
		return;
	struct cfg a, b;
	struct transcript t;
	uint8_t mka[16];
	make_cfg(&a, 1, 128, 0x5a, 2);
	make_cfg(&b, 2, 128, 0xa5, 3); /* a new issuer: the whole config staged */
	mk_of(&a, mka);
	int olds = 0, news = 0;
	for (uint16_t cut = 1; cut < 2000; cut++) {
		blank();
		CHECK(factory(&a, 0) == 0);
		make_transcript(&t, mka, &b, b.len, 0, challenge());
		store_cut_writes = cut;
		uint8_t e = run(&t);
		int was_cut = store_power_off;
		boot();
		CHECK(store_provisioned());
		CHECK(config_is(&a) || config_is(&b));
		olds += config_is(&a);
		news += config_is(&b);
		if (!was_cut) {
			CHECK(e == 0 && config_is(&b));
			break;
		}
		CHECK(factory(&b, 0) == MGMT_E_STATE);
	}
	CHECK(olds > 0 && news > 0);
	/* unchanged issuer: only the fixed part is staged */
	make_cfg(&b, 2, 128, 0x5a, 3);
	blank();
	CHECK(factory(&a, 0) == 0);
	make_transcript(&t, mka, &b, EE_CONFIG_FIXED, 0, challenge());
	CHECK(run(&t) == 0 && config_is(&b));
}

/* ---- power cuts across two consecutive commits ------------------------
 *
 * A factory config, ESP traffic, a re-provisioning, more state writes (ESP
 * traffic or floor statements), and a second re-provisioning; the power
 * is cut at every EEPROM write from the first BEGIN to the second END, and
 * again at every write of the boot that recovers; the torn write leaves
 * its first half, its last half (the device writes a block from its last
 * byte down) or nothing. After each reboot the config is the old or the
 * new one, no counter or floor is below what the EEPROM held at the cut
 * (nor below what the commit makes, when the new config runs), and a
 * second boot changes nothing but the boot count. */

/* The current state slot as the EEPROM holds it, parsed here (highest
 * generation with a good CRC); also checks that no two good slots share
 * a generation. 0 if there is one. */
static int slot_now(struct store_state *s)
{
	uint32_t gens[EE_SLOTS];
	int found = 0;
	for (int i = 0; i < EE_SLOTS; i++) {
		const uint8_t *r = store_ee + STORE_EE_SIZE - EE_STATE_SIZE + i * EE_SLOT_SIZE;
		uint16_t crc = 0xFFFF;
		for (int k = 0; k < 30; k++)
			crc = crc16_byte(crc, r[k]);
		uint32_t gen = net_be32(r);
		if (gen == 0xFFFFFFFFu || crc != net_be16(r + 30))
			continue;
		for (int k = 0; k < found; k++)
			CHECK(gens[k] != gen);
		gens[found] = gen;
		if (found++ == 0 || gen > s->generation) {
			memset(s, 0, sizeof *s);
			s->generation = gen;
			s->esp_out_reserved = net_be32(r + 4);
			s->esp_in_floor = net_be32(r + 8);
			s->nonce_reserved = net_be32(r + 12);
			s->serial_floor = net_be32(r + 16);
			s->time_floor = net_be32(r + 20);
		}
	}
	return found ? 0 : -1;
}

#define MAXF(a, b) ((a) > (b) ? (a) : (b))

static void raise_to(struct store_state *lo, const struct store_state *p)
{
	lo->esp_out_reserved = MAXF(lo->esp_out_reserved, p->esp_out_reserved);
	lo->esp_in_floor = MAXF(lo->esp_in_floor, p->esp_in_floor);
	lo->nonce_reserved = MAXF(lo->nonce_reserved, p->nonce_reserved);
	lo->serial_floor = MAXF(lo->serial_floor, p->serial_floor);
	lo->time_floor = MAXF(lo->time_floor, p->time_floor);
}

static int at_least(const struct store_state *r, const struct store_state *lo)
{
	return r->esp_out_reserved >= lo->esp_out_reserved &&
	       r->esp_in_floor >= lo->esp_in_floor &&
	       r->nonce_reserved >= lo->nonce_reserved &&
	       r->serial_floor >= lo->serial_floor &&
	       r->time_floor >= lo->time_floor &&
	       store_nonce_next >= lo->nonce_reserved;
}

static int same_counters(const struct store_state *a, const struct store_state *b)
{
	return a->esp_out_reserved == b->esp_out_reserved &&
	       a->esp_in_floor == b->esp_in_floor &&
	       a->nonce_reserved == b->nonce_reserved &&
	       a->serial_floor == b->serial_floor &&
	       a->time_floor == b->time_floor &&
	       a->settings[0] == b->settings[0] && a->settings[1] == b->settings[1];
}

static void show(const char *what, const struct store_state *s)
{
	fprintf(stderr, "  %-9s gen %lu out %lu in %lu nonce %lu serial %lu time %lu\n", what,
	        (unsigned long)s->generation, (unsigned long)s->esp_out_reserved,
	        (unsigned long)s->esp_in_floor, (unsigned long)s->nonce_reserved,
	        (unsigned long)s->serial_floor, (unsigned long)s->time_floor);
}

/* Boot after a cut. p: the slot the EEPROM held at the cut; n: the state
 * the interrupted commit makes (when old != nw). 0 if all is well. */
static const char *after_cut(const struct cfg *old, const struct cfg *nw,
                             const struct store_state *p, const struct store_state *n)
{
	boot();
	int is_old = config_is(old), is_new = config_is(nw);
	struct store_state lo = *p, r = store_st;
	if (!store_provisioned() || !(is_old || is_new))
		return "config neither the old one nor the new one";
	if (is_new && !is_old) {
		/* the commit went through: at least its counters, and what the
		 * EEPROM held if the cut came after the commit's slot */
		lo = *n;
		if (p->generation >= n->generation)
			raise_to(&lo, p);
		else if (p->nonce_reserved > lo.nonce_reserved)
			lo.nonce_reserved = p->nonce_reserved;
	}
	if (r.generation <= p->generation)
		return "generation went back";
	if (!at_least(&r, &lo)) {
		show("at cut", p);
		if (is_new && !is_old)
			show("commit", n);
		show("rebooted", &r);
		return "a counter or floor went back";
	}
	boot();
	if (!config_is(is_old ? old : nw) || !same_counters(&store_st, &r) ||
	    store_st.generation <= r.generation)
		return "a second boot changed the config or the counters";
	return NULL;
}

struct two {
	const char *name;
	int floors;          /* between the commits: raise the floors, not ESP */
	struct cfg c[3];     /* the factory config, then each commit's */
	uint16_t s[2];       /* bytes staged by each commit */
	uint32_t floor[2];   /* serial floor each commit asks for */
};

/* Factory config c[0], traffic, commit to c[1], traffic, commit to c[2],
 * with the power cut at write `cut` from the first BEGIN (0xFFFF: never).
 * Returns the phase the cut hit (0 commit 1, 1 traffic, 2 commit 2; 3
 * none); with no cut, fills st[k] (state after commit k) and marks[k]
 * (writes up to the end of phase k). */
static int two_run(const struct two *v, uint16_t cut, struct store_state st[2], uint16_t marks[3])
{
	uint8_t mk[16];
	struct transcript t;
	blank();
	CHECK(factory(&v->c[0], 5) == 0);
	CHECK(store_out_seq(100) == 0 && store_in_floor(300) == 0);
	store_cut_writes = cut;
	for (int k = 0; k < 2; k++) {
		mk_of(&v->c[k], mk);
		make_transcript(&t, mk, &v->c[k + 1], v->s[k], v->floor[k], challenge());
		uint8_t e = run(&t);
		if (store_power_off)
			return 2 * k;
		CHECK(e == 0 && config_is(&v->c[k + 1]));
		st[k] = store_st;
		marks[2 * k] = (uint16_t)(cut - store_cut_writes);
		if (k == 1)
			break;
		if (v->floors) { /* floor statements (MSSL) raise both floors */
			store_st.serial_floor += 5;
			store_st.time_floor += 1000;
			(void)store_commit();
		} else { /* ESP traffic under c[1] */
			(void)store_out_seq(store_st.esp_out_reserved);
			(void)store_in_floor(store_st.esp_in_floor + 3000);
		}
		if (store_power_off)
			return 1;
		marks[1] = (uint16_t)(cut - store_cut_writes);
	}
	return 3;
}

static void two_commits(const struct two *v)
{
	static uint8_t snap[STORE_EE_SIZE];
	struct store_state ref[2], st[2], p;
	uint16_t marks[3], m[3];
	CHECK(two_run(v, 0xFFFF, ref, marks) == 3);
	CHECK(store_st.serial_floor >= v->floor[1]);
	int cuts = 0;
	for (uint16_t cut = 1; cut <= marks[2]; cut++) {
		int ph = two_run(v, cut, st, m);
		CHECK(ph < 3);
		const struct cfg *old = &v->c[ph == 0 ? 0 : 1];
		const struct cfg *nw = &v->c[ph == 1 ? 1 : ph / 2 + 1];
		const struct store_state *n = &ref[ph == 2 ? 1 : 0];
		unsigned at = (unsigned)(ph == 0 ? cut : cut - marks[ph - 1]);
		memcpy(snap, store_ee, sizeof snap);
		CHECK(slot_now(&p) == 0);
		/* j = 0: a clean reboot; j > 0: cut again at the j-th write of it */
		for (uint16_t j = 0;; j++) {
			struct store_state pj = p;
			memcpy(store_ee, snap, sizeof snap);
			if (j) {
				store_power_off = 0;
				store_cut_writes = j;
				prov_reset();
				store_init();
				if (!store_power_off)
					break; /* the recovery has fewer writes */
				CHECK(slot_now(&pj) == 0);
			}
			const char *why = after_cut(old, nw, &pj, n);
			if (!CHECK(why == NULL))
				fprintf(stderr, "  %s, torn write leaves %s: power cut at write %u of %s, "
				        "then at write %u of the reboot (0: none): %s\n", v->name,
				        store_cut_mode == 2 ? "nothing" : store_cut_mode ? "last half" : "first half",
				        at, ph == 1 ? "the writes between" : ph == 0 ? "commit 1" : "commit 2",
				        (unsigned)j, why);
			cuts++;
		}
	}
	CHECK(cuts > (int)marks[2]);
}

static void test_power_two(void)
{
	if (!STORE_CAN_STAGE)
		return;
	static struct two v[5];
	/* identical configs (only the serial floor rises): the revocation path */
	v[0].name = "identical configs, fixed part staged";
	make_cfg(&v[0].c[0], 1, 128, 0x5a, 2);
	v[0].c[1] = v[0].c[2] = v[0].c[0];
	v[0].s[0] = v[0].s[1] = EE_CONFIG_FIXED;
	v[0].floor[0] = 7, v[0].floor[1] = 9;
	v[1] = v[0];
	v[1].name = "identical configs, all staged";
	v[1].s[0] = v[1].s[1] = v[1].c[0].len;
	v[2] = v[0];
	v[2].name = "identical configs, floors raised between";
	v[2].floors = 1;
	/* other addresses, same keys and issuer: every counter carries */
	v[3].name = "other addresses, same keys";
	make_cfg(&v[3].c[0], 1, 128, 0x5a, 2);
	make_cfg(&v[3].c[1], 1, 128, 0x5a, 3);
	make_cfg(&v[3].c[2], 1, 128, 0x5a, 4);
	v[3].s[0] = v[3].s[1] = EE_CONFIG_FIXED;
	v[3].floor[0] = 7, v[3].floor[1] = 9;
	/* fresh keys and a new issuer each time: ESP counters and floors restart */
	v[4].name = "fresh keys and issuers";
	make_cfg(&v[4].c[0], 1, 128, 0x5a, 2);
	make_cfg(&v[4].c[1], 2, 128, 0xa5, 3);
	make_cfg(&v[4].c[2], 3, 128, 0x3c, 4);
	v[4].s[0] = v[4].s[1] = v[4].c[0].len;
	v[4].floor[0] = 7, v[4].floor[1] = 4;
	for (store_cut_mode = 0; store_cut_mode < 3; store_cut_mode++)
		for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
			two_commits(&v[i]);
	store_cut_mode = 0;
}

/* An interrupted commit that the EEPROM does not take at boot (its writes
 * fail their read-back; not a power cut): the device stays unprovisioned
 * rather than run with the old slot's counters (here: a revoked serial
 * floor), and the next boot finishes the commit. */
static void test_commit_fail(void)
{
	if (!STORE_CAN_STAGE)
		return;
	struct cfg a;
	struct transcript t;
	struct store_state p;
	uint8_t mka[16];
	make_cfg(&a, 1, 0, 0, 2);
	mk_of(&a, mka);
	blank();
	CHECK(factory(&a, 5) == 0);
	make_transcript(&t, mka, &a, EE_CONFIG_FIXED, 9, challenge());
	/* BEGIN (1 write: the nonce reservation), DATA (12), the record (2):
	 * the power goes just before the first write of the config */
	store_cut_mode = 2;
	store_cut_writes = 1 + EE_CONFIG_FIXED / 16 + 2 + 1;
	CHECK(run(&t) != 0 && store_power_off);
	store_cut_mode = 0;
	CHECK(slot_now(&p) == 0 && p.serial_floor == 5);
	CHECK(store_ee[STORE_JOURNAL] == 'M' && store_ee[STORE_JOURNAL + 1] == 'J');
	store_fail_writes = 0xFFFF;
	boot();
	store_fail_writes = 0;
	CHECK(!store_provisioned() && store_reason == STORE_NO_STATE);
	boot();
	CHECK(store_provisioned() && config_is(&a) && store_st.serial_floor == 9);
	CHECK(store_st.generation == p.generation + 2); /* the commit, the boot */
}

/* An RSA-2048 issuer config cannot be staged next to another one. */
static void test_room(void)
{
	struct cfg a, b;
	struct transcript t;
	uint8_t mka[16];
	if (STORE_EE_SIZE - EE_STATE_SIZE < EE_CONFIG_FIXED + 256)
		return;
	make_cfg(&a, 1, 256, 0x11, 2);
	make_cfg(&b, 2, 256, 0x22, 3);
	mk_of(&a, mka);
	blank();
	CHECK(factory(&a, 0) == 0 && config_is(&a));
	make_transcript(&t, mka, &b, b.len, 0, challenge());
	CHECK(run(&t) == MGMT_E_ROOM && config_is(&a));
	/* the same issuer: the fixed part fits */
	make_cfg(&b, 2, 256, 0x11, 3);
	make_transcript(&t, mka, &b, EE_CONFIG_FIXED, 0, challenge());
	CHECK(run(&t) == (STORE_CAN_STAGE ? 0 : MGMT_E_ROOM));
	CHECK(config_is(STORE_CAN_STAGE ? &b : &a));
}

static void test_readback(void)
{
	struct cfg a;
	uint8_t mka[16], p[3], got[CFG_MAX], nonce[16], k[16], msg[18 + CFG_MAX], want[16];
	make_cfg(&a, 1, 128, 0x77, 2);
	mk_of(&a, mka);
	blank();
	CHECK(factory(&a, 0) == 0);
	for (uint16_t off = 0; off < a.len; off += 100) {
		uint8_t n = (uint8_t)(a.len - off < 100 ? a.len - off : 100);
		net_put16(p, off);
		p[2] = n;
		CHECK(req(PROV_READ, p, 3) == 0 && rlen == 5u + n);
		CHECK(net_be16(REPLY + 1) == a.len && net_be16(REPLY + 3) == off);
		memcpy(got + off, REPLY + 5, n);
	}
	/* secrets zeroed, everything else as written */
	for (uint16_t i = 0; i < a.len; i++) {
		int sec = (i >= 20 && i < 36) || (i >= 40 && i < 56) ||
		          (i >= 64 && i < 192 && (i - 64) % 64 >= 8 && (i - 64) % 64 < 60);
		CHECK(got[i] == (sec ? 0 : a.b[i]));
	}
	net_put16(p, (uint16_t)(a.len - 1));
	p[2] = 2;
	CHECK(req(PROV_READ, p, 3) == MGMT_E_PARAM);
	p[2] = 255;
	net_put16(p, 0);
	CHECK(req(PROV_READ, p, 3) == 0);
	for (int i = 0; i < 16; i++)
		nonce[i] = (uint8_t)(i * 13);
	CHECK(req(PROV_DIGEST, nonce, 16) == 0 && rlen == 19);
	kdf(k, mka, "readback", NULL);
	memcpy(msg, nonce, 16);
	net_put16(msg + 16, a.len);
	memcpy(msg + 18, a.b, a.len);
	host_cmac(want, k, msg, (uint16_t)(18 + a.len));
	CHECK(memcmp(REPLY + 3, want, 16) == 0);
}

/* Random requests in every state: never a crash (ASan/UBSan), never a
 * change of a provisioned config. */
static void test_random(void)
{
	struct cfg a;
	uint8_t p[CONFIG_FRAME_MAX];
	uint32_t x = 12345;
	make_cfg(&a, 1, 0, 0, 2);
	for (int round = 0; round < 3; round++) {
		blank();
		if (round > 0)
			CHECK(factory(&a, 0) == 0);
		if (round == 2)
			store_ee[30] ^= 1; /* locked */
		boot();
		for (int i = 0; i < 20000; i++) {
			x = x * 1103515245u + 12345u;
			size_t n = (x >> 8) % (CONFIG_FRAME_MAX - MGMT_OVERHEAD);
			for (size_t j = 0; j < n; j++) {
				x = x * 1103515245u + 12345u;
				p[j] = (uint8_t)(x >> 16);
			}
			if (n >= 2 && (x & 1)) /* plausible offsets */
				p[0] = 0, p[1] = (uint8_t)(p[1] & 0xF0);
			uint8_t op = (uint8_t)(1 + (x >> 24) % 8);
			memcpy(frame + MGMT_HDR_LEN + 1, p, n);
			frame[MGMT_HDR_LEN] = op;
			size_t r = 0;
			uint8_t e = prov_handle(frame, n + 1, sizeof frame, &r);
			CHECK(e != 0 || r + MGMT_OVERHEAD <= sizeof frame);
		}
		if (round == 1)
			CHECK(config_is(&a) && store_provisioned());
		if (round == 2)
			CHECK(!store_provisioned() && !store_blank());
	}
}

/* The config's CRC again after a test changed its bytes. */
static void recrc(struct cfg *c)
{
	uint16_t crc = 0xFFFF;
	for (uint16_t i = 0; i < c->len; i++)
		if (i != EE_CRC && i != EE_CRC + 1)
			crc = crc16_byte(crc, c->b[i]);
	net_put16(c->b + EE_CRC, crc);
}

#if CONFIG_BOOTSTRAP
/* make_cfg's config enrolled for bootstrapping: SAs derived from the
 * master key, zero slot keys (as pkg/provision writes it). */
static void make_boot_cfg(struct cfg *c, uint8_t k)
{
	make_cfg(c, k, 0, 0, 2);
	c->b[EE_FLAGS] |= CFG_BOOTSTRAP;
	memset(c->b + EE_SA0 + EE_SA_ENC_KEY, 0, 52);
	memset(c->b + EE_SA1 + EE_SA_ENC_KEY, 0, 52);
	recrc(c);
}

/*
 * Re-provisioning from or to a bootstrapped config (docs/provisioning.md
 * "Counters"): the keys in use are derived from the master key, not in
 * the slots. The attack: the owner moves a device out of bootstrapping
 * with its derived SAs as explicit ones; the slot bytes change (zeros to
 * the keys), the keys do not, and counters reset to 0 would send seq 1
 * under the same key again (a repeated CCM nonce) and take old packets.
 */
static uint8_t boot_reprov(const struct cfg *from, const struct cfg *to, uint32_t *hi)
{
	struct transcript t;
	uint8_t mk[16];
	blank();
	CHECK(factory(from, 0) == 0 && store_provisioned());
	CHECK(store_out_seq(5) == 0 && store_in_floor(7) == 0);
	*hi = store_st.esp_out_reserved > store_st.esp_in_floor ? store_st.esp_out_reserved :
	                                                          store_st.esp_in_floor;
	mk_of(from, mk);
	make_transcript(&t, mk, to, to->len, 0, challenge());
	uint8_t e = run(&t);
	CHECK(e == 0 && config_is(to) && store_provisioned());
	return e;
}

static void test_bootstrap_counters(void)
{
	struct cfg a, b;
	uint32_t hi;
	if (!STORE_CAN_STAGE)
		return;
	/* leaving bootstrapping with the derived SAs as explicit SAs */
	make_boot_cfg(&a, 1);
	blank();
	CHECK(factory(&a, 0) == 0);
	b = a;
	b.b[EE_FLAGS] &= (uint8_t)~CFG_BOOTSTRAP;
	for (uint8_t i = 0; i < 2; i++) {
		uint8_t *sa = b.b + EE_SA0 + i * EE_SA_SIZE;
		net_put32(sa, store_cfg.sa[i].spi);
		memcpy(sa + EE_SA_ENC_KEY, esp_sa_key(i), 19);
	}
	recrc(&b);
	boot_reprov(&a, &b, &hi);
	CHECK(store_st.esp_out_reserved >= hi && store_st.esp_in_floor >= hi);
	CHECK(esp_out_next >= hi); /* seq 1 .. hi are never sent again */
	/* bootstrapped to bootstrapped, the same master key, other slot bytes */
	b = a;
	memset(b.b + EE_SA1 + EE_SA_ENC_KEY, 0x5a, 19);
	recrc(&b);
	boot_reprov(&a, &b, &hi);
	CHECK(store_st.esp_out_reserved >= hi && store_st.esp_in_floor >= hi);
	/* into bootstrapping: kept */
	make_cfg(&a, 1, 0, 0, 2);
	make_boot_cfg(&b, 1);
	boot_reprov(&a, &b, &hi);
	CHECK(store_st.esp_out_reserved >= hi && store_st.esp_in_floor >= hi);
	/* a new master key: the counters go on all the same (a join re-keys
	 * a bootstrapped device; docs/provisioning.md "Counters") */
	make_boot_cfg(&a, 1);
	make_boot_cfg(&b, 2);
	boot_reprov(&a, &b, &hi);
	CHECK(store_st.esp_out_reserved >= hi && store_st.esp_in_floor >= hi);
}
#endif

/* A config whose length field claims more than BEGIN's L (which the tag
 * covers): its tail would be committed unauthenticated. Refused. */
static void test_length_mismatch(void)
{
	struct cfg a, b;
	struct transcript t;
	uint8_t mk[16];
	if (!STORE_CAN_STAGE)
		return;
	make_cfg(&a, 1, 128, 0x33, 2);
	blank();
	CHECK(factory(&a, 0) == 0 && store_provisioned());
	b = a; /* L field 320, the current modulus as its tail */
	b.b[EE_ADDR + 3] = 9;
	recrc(&b);
	b.len = EE_CONFIG_FIXED; /* BEGIN's L and the tag: 192 bytes */
	mk_of(&a, mk);
	make_transcript(&t, mk, &b, b.len, 0, challenge());
	CHECK(run(&t) == MGMT_E_CONFIG);
	CHECK(config_is(&a) && store_provisioned());
}

/*
 * DATA is not authenticated until END. A party on the line that keeps the
 * owner's END back (or finds a session a crashed host left open) sends
 * DATA frames of garbage, alternating so that every frame changes the
 * staging cells: the session writes at most 2 S bytes (each chunk resent
 * once), then answers 13 (limit); a BEGIN replayed with the session's
 * challenge does not renew the budget. The owner's retries fit it, and a
 * new session (a new challenge) re-provisions.
 */
static void test_data_budget(void)
{
	struct cfg a, b;
	struct transcript t;
	uint8_t mk[16], p[2 + CHUNK];
	static uint8_t before[sizeof store_ee];
	unsigned long cells = 0;
	unsigned accepted = 0;
	if (!STORE_CAN_STAGE)
		return;
	make_cfg(&a, 1, 0, 0, 2);
	make_cfg(&b, 2, 0, 0, 3);
	mk_of(&a, mk);
	blank();
	CHECK(factory(&a, 0) == 0 && config_is(&a));
	make_transcript(&t, mk, &b, b.len, 0, challenge());
	CHECK(req(PROV_BEGIN, t.begin, sizeof t.begin) == 0);
	for (unsigned i = 0; i < 200; i++) {
		if (i == 100) /* the owner's BEGIN, replayed */
			CHECK(req(PROV_BEGIN, t.begin, sizeof t.begin) == 0);
		memcpy(before, store_ee, sizeof store_ee);
		net_put16(p, 0);
		memset(p + 2, (i & 1) ? 0x55 : 0xAA, CHUNK);
		uint8_t e = req(PROV_DATA, p, 2 + CHUNK);
		CHECK(e == 0 || e == MGMT_E_LIMIT);
		accepted += e == 0;
		for (size_t j = 0; j < sizeof store_ee; j++)
			cells += before[j] != store_ee[j];
	}
	CHECK(accepted == 2 * b.len / CHUNK);
	CHECK(cells <= 2UL * b.len);
	CHECK(req(PROV_END, t.tag, 16) == MGMT_E_AUTH && config_is(&a));

	/* the owner, every chunk sent twice (lost replies): committed */
	make_transcript(&t, mk, &b, b.len, 0, challenge());
	CHECK(req(PROV_BEGIN, t.begin, sizeof t.begin) == 0);
	for (uint16_t off = 0; off < t.s; off += CHUNK) {
		uint16_t k = (uint16_t)(t.s - off < CHUNK ? t.s - off : CHUNK);
		net_put16(p, off);
		memcpy(p + 2, t.data + off, k);
		CHECK(req(PROV_DATA, p, (size_t)k + 2) == 0);
		net_put16(p, off);
		memcpy(p + 2, t.data + off, k);
		CHECK(req(PROV_DATA, p, (size_t)k + 2) == 0);
	}
	CHECK(req(PROV_END, t.tag, 16) == 0 && config_is(&b));
}

/* 1 if the 16 bytes k are anywhere in the EEPROM's [from, to). */
static int ee_has(const uint8_t *k, uint16_t from, uint16_t to)
{
	for (uint16_t i = from; i + 16 <= to; i++)
		if (memcmp(store_ee + i, k, 16) == 0)
			return 1;
	return 0;
}

/*
 * A re-provisioning stages the new config's first S bytes in clear. Once
 * committed, or refused at END, their keys are wiped from the staging
 * area: a rotation with a new issuer (S = 320) then one with a new master
 * key (S = 192, which overwrites only the top of the staging area) left
 * the retired master key, group key and SA keys in the EEPROM, outside
 * any config; a refused END left keys that never became active.
 */
static void test_staging_wiped(void)
{
	struct cfg a, b, c, d;
	struct transcript t;
	uint8_t mka[16], mkb[16], mkc[16], mkd[16];
	const uint16_t state = (uint16_t)(STORE_EE_SIZE - EE_STATE_SIZE);
	if (!STORE_CAN_STAGE)
		return;
	make_cfg(&a, 1, 128, 0x11, 2); /* RSA-1024 issuer */
	make_cfg(&b, 2, 128, 0x22, 3); /* a new issuer: S = 320 */
	make_cfg(&c, 3, 128, 0x22, 4); /* the same issuer, a new master key: S = 192 */
	make_cfg(&d, 4, 128, 0x22, 5);
	mk_of(&a, mka);
	mk_of(&b, mkb);
	mk_of(&c, mkc);
	mk_of(&d, mkd);
	blank();
	CHECK(factory(&a, 0) == 0 && config_is(&a));
	make_transcript(&t, mka, &b, b.len, 0, challenge());
	CHECK(run(&t) == 0 && config_is(&b));
	CHECK(!ee_has(mkb, b.len, state) && !ee_has(mka, 0, state));
	make_transcript(&t, mkb, &c, EE_CONFIG_FIXED, 0, challenge());
	CHECK(run(&t) == 0 && config_is(&c));
	CHECK(!ee_has(mkb, 0, state) && !ee_has(mkc, c.len, state));
	/* d staged, END with a wrong tag: refused, and d's key gone */
	make_transcript(&t, mkc, &d, EE_CONFIG_FIXED, 0, challenge());
	t.tag[0] ^= 1;
	CHECK(run(&t) == MGMT_E_AUTH && config_is(&c));
	CHECK(!ee_has(mkd, 0, state));
	/* and the retired configs' SA keys (the active config's are in its
	 * own area only) */
	for (uint8_t i = 0; i < 2; i++) {
		CHECK(!ee_has(a.b + EE_SA0 + i * EE_SA_SIZE + EE_SA_ENC_KEY, 0, state));
		CHECK(!ee_has(b.b + EE_SA0 + i * EE_SA_SIZE + EE_SA_ENC_KEY, 0, state));
		CHECK(!ee_has(c.b + EE_SA0 + i * EE_SA_SIZE + EE_SA_ENC_KEY, c.len, state));
		CHECK(!ee_has(d.b + EE_SA0 + i * EE_SA_SIZE + EE_SA_ENC_KEY, 0, state));
	}
}

int main(void)
{
	host_app_init();
	test_cmac();
	test_factory();
	test_locked();
	test_reprovision();
	test_floors();
	test_tamper();
	test_power();
	test_power_two();
	test_commit_fail();
	test_room();
#if CONFIG_BOOTSTRAP
	test_bootstrap_counters();
#endif
	test_length_mismatch();
	test_data_budget();
	test_staging_wiped();
	test_readback();
	test_random();
	printf("prov-test (EEPROM %u bytes, staging %s): %d passed, %d failed\n",
	       (unsigned)STORE_EE_SIZE, STORE_CAN_STAGE ? "yes" : "no", passed, failed);
	return failed ? 1 : 0;
}
