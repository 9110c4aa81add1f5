/*
 * net_test.c - host tests of the device's network side: store.c (EEPROM
 * layout v1, the golden image of pkg/provision, every unprovisioned
 * reason, slots, torn writes, the reservation rule), net/ (IPv4 checks,
 * ICMP, UDP), esp.c (every compiled suite: round trips through the whole
 * stack, every byte flipped, every truncation, replay, wrong SPI,
 * cleartext; a dropped packet must change nothing but one counter) and
 * tasks.c. Built with ASan/UBSan by `make net-test`.
 *
 * usage: net-test GOLDEN.hex
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "esp.h"
#include "net/net.h"
#include "store.h"
#include "host_app.h"
#include "mstool.h"
#include "tasks.h"

#include "check.h"


/* ---- images ------------------------------------------------------------ */

static int load_ihex(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[600];
	if (!f)
		return -1;
	memset(store_ee, 0xFF, sizeof store_ee);
	while (fgets(line, sizeof line, f)) {
		unsigned n, addr, type, b;
		if (line[0] != ':' || sscanf(line + 1, "%2x%4x%2x", &n, &addr, &type) != 3)
			continue;
		if (type != 0)
			continue;
		for (unsigned i = 0; i < n; i++) {
			if (sscanf(line + 9 + 2 * i, "%2x", &b) != 1)
				break;
			if (addr + i < sizeof store_ee)
				store_ee[addr + i] = (uint8_t)b;
		}
	}
	fclose(f);
	return 0;
}

static const uint8_t dev_addr[4] = { 10, 0, 0, 2 }, host_addr[4] = { 10, 0, 0, 1 };

static void fix_crc(void)
{
	uint16_t len = (uint16_t)(store_ee[EE_LENGTH] << 8 | store_ee[EE_LENGTH + 1]);
	uint16_t crc = 0xFFFF;
	for (uint16_t i = 0; i < len; i++)
		if (i != EE_CRC && i != EE_CRC + 1)
			crc = crc16_byte(crc, store_ee[i]);
	net_put16(store_ee + EE_CRC, crc);
}

static void put_slot(uint8_t s, uint32_t gen, uint32_t out, uint32_t in)
{
	uint8_t *p = store_ee + STORE_EE_SIZE - EE_STATE_SIZE + s * EE_SLOT_SIZE;
	uint16_t crc = 0xFFFF;
	memset(p, 0, EE_SLOT_SIZE);
	net_put32(p, gen);
	net_put32(p + 4, out);
	net_put32(p + 8, in);
	for (int i = 0; i < 30; i++)
		crc = crc16_byte(crc, p[i]);
	net_put16(p + 30, crc);
}

/* An image with both SAs of one suite and the same keys (so the test can
 * play the host with the device's own code); SPIs differ as required. */
static void build_image(uint8_t suite, uint8_t cfg_flags, uint8_t sa_flags)
{
	memset(store_ee, 0xFF, sizeof store_ee);
	memset(store_ee, 0, EE_CONFIG_FIXED);
	store_ee[0] = 'M';
	store_ee[1] = 'E';
	store_ee[2] = 1;
	store_ee[3] = cfg_flags;
	net_put16(store_ee + EE_LENGTH, EE_CONFIG_FIXED);
	net_put32(store_ee + EE_DEVICE_ID, 0x2a);
	memcpy(store_ee + EE_ADDR, dev_addr, 4);
	memcpy(store_ee + EE_PEER, host_addr, 4);
	memset(store_ee + EE_MASTER_KEY, 0xA5, 16);
	store_ee[EE_SA_COUNT] = 2;
	for (uint8_t i = 0; i < 2; i++) {
		uint8_t *sa = store_ee + EE_SA0 + i * EE_SA_SIZE;
		net_put32(sa, 0x1000u + i);
		sa[EE_SA_SUITE] = suite;
		sa[EE_SA_FLAGS] = sa_flags;
		uint8_t ek = suite == SUITE_CCM8 ? 19 : suite == SUITE_CTR_SHA256 ? 20 : 16;
		uint8_t ak = suite == SUITE_CCM8 ? 0 : suite == SUITE_CTR_SHA256 ? 32 : 16;
		for (uint8_t k = 0; k < ek; k++)
			sa[EE_SA_ENC_KEY + k] = (uint8_t)(0x30 + k);
		for (uint8_t k = 0; k < ak; k++)
			sa[EE_SA_AUTH_KEY + k] = (uint8_t)(0x70 + k);
	}
	fix_crc();
	put_slot(0, 1, 0, 0);
}

/* ---- store ----------------------------------------------------------- */

static void test_golden(const char *path)
{
	if (!CHECK(load_ihex(path) == 0))
		return;
	CHECK(store_init() == STORE_OK);
	CHECK(store_cfg.device_id == 0x2a);
	CHECK(memcmp(store_cfg.addr, dev_addr, 4) == 0);
	CHECK(memcmp(store_cfg.peer, host_addr, 4) == 0);
	CHECK(store_cfg.sa_count == 2);
	CHECK(store_cfg.sa[0].spi == 0x1000 && store_cfg.sa[0].suite == SUITE_CCM8);
	CHECK(store_cfg.sa[1].spi == 0x2000 && store_cfg.sa[1].suite == SUITE_CBC_MD5);
	CHECK(store_cfg.flags == CFG_ISSUER);
	CHECK(store_st.serial_floor == 7);
	CHECK(store_st.generation == 2 && store_st.boot_count == 1); /* boot counted */

	/* every single-bit flip of the config area is caught */
	uint8_t save[CONFIG_HOST_EEPROM_SIZE];
	memcpy(save, store_ee, sizeof save);
	uint16_t len = (uint16_t)(save[4] << 8 | save[5]);
	int all = 1;
	for (uint16_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(store_ee, save, sizeof save);
			store_ee[i] ^= (uint8_t)(1 << bit);
			uint8_t r = store_init();
			if (r == STORE_OK)
				all = 0;
		}
	}
	CHECK(all);
	memcpy(store_ee, save, sizeof save);
}

static void test_unprovisioned(void)
{
	memset(store_ee, 0xFF, sizeof store_ee);
	CHECK(store_init() == STORE_BLANK && !store_provisioned());
	CHECK(store_cfg.device_id == 0 && store_cfg.sa_count == 0);

	build_image(SUITE_CCM8, 0, 0);
	store_ee[1] = 'X';
	CHECK(store_init() == STORE_MAGIC);

	build_image(SUITE_CCM8, 0, 0);
	store_ee[2] = 2;
	CHECK(store_init() == STORE_VERSION);

	build_image(SUITE_CCM8, 0, 0);
	net_put16(store_ee + EE_LENGTH, 191);
	CHECK(store_init() == STORE_LENGTH);
	net_put16(store_ee + EE_LENGTH, (uint16_t)(STORE_EE_SIZE - EE_STATE_SIZE + 1));
	CHECK(store_init() == STORE_LENGTH);
	net_put16(store_ee + EE_LENGTH, 0xFFFF);
	CHECK(store_init() == STORE_LENGTH);

	build_image(SUITE_CCM8, 0, 0);
	store_ee[100] ^= 1;
	CHECK(store_init() == STORE_CRC);

	/* a truncated image: the tail erased */
	build_image(SUITE_CCM8, 0, 0);
	memset(store_ee + 100, 0xFF, sizeof store_ee - 100);
	CHECK(store_init() == STORE_CRC);

	build_image(SUITE_CCM8, 0x20, 0); /* unknown config flag (0x08: CFG_SEAL_OK, 0x10: CFG_BOOTSTRAP) */
	CHECK(store_init() == STORE_FIELD);
	build_image(SUITE_CCM8, 0, 0);
	net_put32(store_ee + EE_DEVICE_ID, 0);
	fix_crc();
	CHECK(store_init() == STORE_FIELD);
	build_image(SUITE_CCM8, 0, 0);
	store_ee[EE_SA_COUNT] = 1;
	fix_crc();
	CHECK(store_init() == STORE_FIELD);
	build_image(SUITE_CCM8, CFG_ISSUER, 0); /* flag without a modulus */
	CHECK(store_init() == STORE_FIELD);

	build_image(3, 0, 0); /* aes128-gcm16: not on the device */
	CHECK(store_init() == STORE_SA_IN);
	build_image(SUITE_CCM8, 0, 0);
	store_ee[EE_SA1 + EE_SA_SUITE] = 9;
	fix_crc();
	CHECK(store_init() == STORE_SA_OUT);
	build_image(SUITE_CCM8, 0, 0x04); /* unknown SA flag */
	CHECK(store_init() == STORE_SA_IN);
	build_image(SUITE_CCM8, 0, 0);
	net_put32(store_ee + EE_SA0, 0);
	fix_crc();
	CHECK(store_init() == STORE_SA_IN);
	build_image(SUITE_CCM8, 0, 0);
	net_put32(store_ee + EE_SA1, 0x1000); /* same SPI both ways */
	fix_crc();
	CHECK(store_init() == STORE_FIELD);

	build_image(SUITE_CCM8, 0, 0);
	store_ee[STORE_EE_SIZE - EE_STATE_SIZE + 5] ^= 1; /* slot CRC */
	CHECK(store_init() == STORE_NO_STATE);

	/* the unprovisioned device drops IPv4 and counts it */
	memset(store_ee, 0xFF, sizeof store_ee);
	store_init();
	uint8_t pkt[40] = { 0x45 };
	net_put16(pkt + 2, 28);
	pkt[8] = 64;
	pkt[9] = 1;
	memcpy(pkt + 12, host_addr, 4);
	memcpy(pkt + 16, dev_addr, 4);
	net_put16(pkt + 10, (uint16_t)~net_sum(0, pkt, 20));
	pkt[20] = 8;
	net_put16(pkt + 22, (uint16_t)~net_sum(0, pkt + 20, 8));
	uint32_t c = net_counters[C_NOT_ESP];
	CHECK(net_input(pkt, 28, sizeof pkt) == 0 && net_counters[C_NOT_ESP] == c + 1);
}

static void test_slots(void)
{
	build_image(SUITE_CCM8, 0, 0);
	put_slot(3, 9, 5000, 7000);  /* newest */
	put_slot(4, 12, 1, 1);       /* newer but torn: CRC wrong */
	store_ee[STORE_EE_SIZE - EE_STATE_SIZE + 4 * EE_SLOT_SIZE + 7] ^= 0x40;
	CHECK(store_init() == STORE_OK);
	CHECK(store_st.generation == 10 && store_st.esp_out_reserved == 5000 &&
	      store_st.esp_in_floor == 7000);
	/* the boot wrote slot 4 (after slot 3); six more writes wrap around */
	for (int i = 0; i < 7; i++)
		CHECK(store_commit() == 0);
	CHECK(store_init() == STORE_OK && store_st.generation == 18);

	/* a torn write fails, the caller keeps the old value, the old slot
	 * stays current after a reset */
	uint32_t gen = store_st.generation, res = store_st.esp_out_reserved;
	store_fail_writes = 1;
	CHECK(store_out_seq(res) == -1);
	CHECK(store_st.esp_out_reserved == res && store_st.generation == gen);
	CHECK(store_init() == STORE_OK && store_st.esp_out_reserved == res);

	/* reservation rule */
	build_image(SUITE_CCM8, 0, 0);
	store_init();
	esp_init();
	CHECK(esp_out_next == 1 && store_st.esp_out_reserved == 0);
	CHECK(store_out_seq(1) == 0 && store_st.esp_out_reserved == 1 + CONFIG_RESERVE_BLOCK);
	gen = store_st.generation;
	CHECK(store_out_seq(CONFIG_RESERVE_BLOCK) == 0 && store_st.generation == gen);
	CHECK(store_out_seq(CONFIG_RESERVE_BLOCK + 1) == 0 && store_st.generation == gen + 1);
	store_init();
	esp_init();
	CHECK(esp_out_next == 1 + 2 * CONFIG_RESERVE_BLOCK);
	store_st.esp_out_reserved = 0xFFFFFFF0UL;
	CHECK(store_out_seq(0xFFFFFFF0UL) == 0 && store_st.esp_out_reserved == 0xFFFFFFFFUL);
	CHECK(store_out_seq(0xFFFFFFFEUL) == 0 && store_out_seq(0xFFFFFFFFUL) == -1);
	/* inbound floor kept ahead */
	CHECK(store_in_floor(5) == 0 && store_st.esp_in_floor == 5 + CONFIG_RESERVE_BLOCK);
	gen = store_st.generation;
	CHECK(store_in_floor(1000) == 0 && store_st.generation == gen);
	CHECK(store_in_floor(0xFFFFFFF0UL) == 0 && store_st.esp_in_floor == 0xFFFFFFFFUL);
}

/* ---- packets --------------------------------------------------------- */

static uint8_t buf[CONFIG_FRAME_MAX];

static void ip_header(uint8_t *p, uint16_t len, uint8_t proto)
{
	memset(p, 0, 20);
	p[0] = 0x45;
	net_put16(p + 2, len);
	p[8] = 64;
	p[9] = proto;
	memcpy(p + 12, host_addr, 4);
	memcpy(p + 16, dev_addr, 4);
	net_put16(p + 10, (uint16_t)~net_sum(0, p, 20));
}

/* An ICMP echo request of dlen data bytes at p; returns its length. */
static uint16_t icmp_echo(uint8_t *p, uint16_t dlen)
{
	p[0] = 8;
	p[1] = 0;
	net_put16(p + 2, 0);
	net_put32(p + 4, 0x00070001);
	for (uint16_t i = 0; i < dlen; i++)
		p[8 + i] = (uint8_t)i;
	net_put16(p + 2, (uint16_t)~net_sum(0, p, (uint16_t)(8 + dlen)));
	return (uint16_t)(8 + dlen);
}

/* Seal inner (nh) as the host would: with the device's outbound code and
 * keys, under the inbound SA's SPI (same keys in both slots). */
static uint16_t host_seal(uint8_t *p, uint16_t (*inner)(uint8_t *, uint16_t), uint16_t dlen, uint8_t nh)
{
	uint8_t encap = (store_cfg.sa[0].flags & SA_UDP_ENCAP) != 0;
	uint16_t eoff = (uint16_t)(20 + (encap ? 8 : 0));
	uint16_t pt = (uint16_t)(eoff + 8 + esp_iv_len(store_cfg.sa[0].suite));
	uint16_t n = inner(p + pt, dlen);
	uint32_t spi = store_cfg.sa[1].spi;
	store_cfg.sa[1].spi = store_cfg.sa[0].spi;
	uint16_t elen = esp_seal(p, eoff, n, nh);
	store_cfg.sa[1].spi = spi;
	if (encap) {
		net_put16(p + 20, 4500);
		net_put16(p + 22, 4500);
		net_put16(p + 24, (uint16_t)(8 + elen));
		net_put16(p + 26, 0);
	}
	ip_header(p, (uint16_t)(eoff + elen), encap ? IP_PROTO_UDP : IP_PROTO_ESP);
	return (uint16_t)(eoff + elen);
}

/* Open the device's reply as the host would (slot 1 keys == slot 0). */
static int host_open(uint8_t *p, uint16_t len, uint16_t *pt, uint16_t *ptl, uint8_t *nh)
{
	uint16_t eoff = (uint16_t)(p[9] == IP_PROTO_UDP ? 28 : 20);
	uint32_t spi = store_cfg.sa[0].spi;
	store_cfg.sa[0].spi = store_cfg.sa[1].spi;
	/* the host's own window: do not disturb the device's */
	uint32_t top = esp_in_top, bits = esp_in_bits;
	int r = esp_open(p, eoff, len, pt, ptl, nh);
	esp_in_top = top;
	esp_in_bits = bits;
	store_cfg.sa[0].spi = spi;
	return r;
}

/* The sum of the drop counters (not the "received" ones). */
static uint32_t sum_counters(void)
{
	uint32_t s = 0;
	for (int i = 0; i < NET_NCOUNTERS; i++)
		if (i != C_SLIP_RX && i != C_IP_RX)
			s += net_counters[i];
	return s;
}

struct snap {
	uint32_t top, bits, next;
	struct store_state st;
	uint8_t ee[CONFIG_HOST_EEPROM_SIZE];
};

static void take(struct snap *s)
{
	s->top = esp_in_top;
	s->bits = esp_in_bits;
	s->next = esp_out_next;
	s->st = store_st;
	memcpy(s->ee, store_ee, sizeof s->ee);
}

static int unchanged(const struct snap *s)
{
	return s->top == esp_in_top && s->bits == esp_in_bits && s->next == esp_out_next &&
	       memcmp(&s->st, &store_st, sizeof s->st) == 0 &&
	       memcmp(s->ee, store_ee, sizeof s->ee) == 0;
}

static void test_suite(uint8_t suite, uint8_t sa_flags)
{
	uint8_t pkt[CONFIG_FRAME_MAX];
	uint16_t pt, ptl, n, r;
	uint8_t nh;

	build_image(suite, 0, sa_flags);
	CHECK(store_init() == STORE_OK);
	esp_init();

	/* a 64-byte ping through the whole stack */
	n = host_seal(buf, icmp_echo, 64, IP_PROTO_ICMP);
	memcpy(pkt, buf, n);
	uint32_t echo = net_counters[C_ICMP_ECHO];
	r = net_input(buf, n, sizeof buf);
	CHECK(r > 0 && net_counters[C_ICMP_ECHO] == echo + 1);
	CHECK(memcmp(buf + 12, dev_addr, 4) == 0 && memcmp(buf + 16, host_addr, 4) == 0);
	CHECK(net_sum(0, buf, 20) == 0xFFFF && net_be16(buf + 2) == r);
	CHECK(host_open(buf, r, &pt, &ptl, &nh) == 0 && nh == IP_PROTO_ICMP && ptl == 72);
	CHECK(buf[pt] == 0 && net_sum(0, buf + pt, ptl) == 0xFFFF);
	CHECK(buf[pt + 8] == 0 && buf[pt + 71] == 63);

	/* the replay of that packet */
	struct snap s;
	take(&s);
	uint32_t rep = net_counters[C_ESP_REPLAY];
	memcpy(buf, pkt, n);
	CHECK(net_input(buf, n, sizeof buf) == 0 && net_counters[C_ESP_REPLAY] == rep + 1);
	CHECK(unchanged(&s));

	/* every byte flipped (three masks) and every truncation of a fresh
	 * packet: dropped, exactly one counter, nothing else changed */
	n = host_seal(pkt, icmp_echo, 64, IP_PROTO_ICMP);
	take(&s);
	int ok = 1;
	for (uint16_t i = 0; i < n; i++) {
		static const uint8_t masks[3] = { 0x01, 0x80, 0xFF };
		for (int m = 0; m < 3; m++) {
			/* RFC 3948: the encapsulating UDP ports and checksum
			 * are not authenticated (NAT rewrites them) */
			if (pkt[9] == IP_PROTO_UDP && (i == 20 || i == 21 || i == 26 || i == 27))
				continue;
			memcpy(buf, pkt, n);
			buf[i] ^= masks[m];
			uint32_t before = sum_counters();
			uint16_t got = net_input(buf, n, sizeof buf);
			/* flips in the IP header's TTL/ID/TOS with a wrong
			 * checksum are bad headers; nothing may be answered */
			if (got != 0 || sum_counters() != before + 1 || !unchanged(&s)) {
				if (ok)
					fprintf(stderr, "  suite %u flags %u flip byte %u mask %02x: answered %u, counters +%u, unchanged %d\n",
					        suite, sa_flags, i, masks[m], got, sum_counters() - before, unchanged(&s));
				ok = 0;
			}
		}
	}
	CHECK(ok);
	ok = 1;
	for (uint16_t l = 0; l < n; l++) {
		memcpy(buf, pkt, n);
		if (l >= 20) { /* keep the IP header consistent: a real truncation */
			net_put16(buf + 2, l);
			net_put16(buf + 10, 0);
			net_put16(buf + 10, (uint16_t)~net_sum(0, buf, 20));
			if (buf[9] == IP_PROTO_UDP && l >= 28)
				net_put16(buf + 24, (uint16_t)(l - 20));
		}
		uint32_t before = sum_counters();
		if (net_input(buf, l, sizeof buf) != 0 || sum_counters() != before + 1 || !unchanged(&s))
			ok = 0;
	}
	CHECK(ok);
	/* the untouched packet is still accepted afterwards */
	memcpy(buf, pkt, n);
	CHECK(net_input(buf, n, sizeof buf) > 0);

	/* wrong SPI */
	n = host_seal(pkt, icmp_echo, 8, IP_PROTO_ICMP);
	uint16_t eoff = (uint16_t)(pkt[9] == IP_PROTO_UDP ? 28 : 20);
	pkt[eoff + 3] ^= 0x55;
	uint32_t spi = net_counters[C_ESP_SPI];
	take(&s);
	CHECK(net_input(pkt, n, sizeof pkt) == 0 && net_counters[C_ESP_SPI] == spi + 1 && unchanged(&s));
}

/* UDP task request builder for host_seal (dlen unused: fixed request). */
static uint8_t task_req[16];
static uint16_t task_len, task_port = CONFIG_TASK_PORT;
/* task_tfc bytes of TFC padding after the datagram (RFC 4303 §2.4);
 * task_ulen, when not 0, the UDP length field instead of the true one;
 * task_sum: with a checksum over the datagram (its UDP length). */
static uint16_t task_tfc, task_ulen;
static uint8_t task_sum;
static uint16_t udp_task(uint8_t *p, uint16_t unused)
{
	(void)unused;
	net_put16(p, 5555);
	net_put16(p + 2, task_port);
	net_put16(p + 4, task_ulen ? task_ulen : (uint16_t)(8 + task_len));
	net_put16(p + 6, 0); /* no checksum: allowed over IPv4 */
	memcpy(p + 8, task_req, task_len);
	memset(p + 8 + task_len, 0xA5, task_tfc);
	if (task_sum) {
		uint8_t ip[20];
		memcpy(ip + 12, host_addr, 4);
		memcpy(ip + 16, dev_addr, 4);
		uint16_t sum = (uint16_t)~net_udp_sum(ip, p, net_be16(p + 4));
		net_put16(p + 6, sum ? sum : 0xFFFF);
	}
	return (uint16_t)(8 + task_len + task_tfc);
}

static void test_tasks(uint8_t suite)
{
	uint16_t pt, ptl, n, r;
	uint8_t nh;

	build_image(suite, 0, 0);
	store_init();
	esp_init();
	static const struct {
		uint8_t req[8], len, status, rlen;
	} cases[] = {
		{ { 1, 0, 0, 1 }, 4, 0, 8 },           /* id */
		{ { 1, 1, 0, 2 }, 4, 0, 6 },           /* uptime */
		{ { 1, 2, 0, 3 }, 4, 0, 4 * NET_NCOUNTERS },
		{ { 1, 3, 0, 4, 1 }, 5, 0, 1 },        /* led on */
		{ { 1, 3, 0, 5, 4 }, 5, 2, 0 },        /* bad state */
		{ { 1, 4, 0, 6, 3 }, 5, 0, 2 },        /* adc 3 */
		{ { 1, 4, 0, 7, 8 }, 5, 2, 0 },        /* no channel 8 */
		{ { 1, 6, 0, 8, 1, 0xBE, 0xEF }, 7, 0, 2 },
		{ { 1, 5, 0, 9, 1 }, 5, 0, 2 },
		{ { 1, 5, 0, 10, 2 }, 5, 2, 0 },
		{ { 1, 0, 0, 11, 0 }, 5, 2, 0 },       /* id takes no argument */
		{ { 1, 99, 0, 12 }, 4, 1, 0 },         /* unknown task */
		{ { 2, 0, 0, 13 }, 4, 5, 0 },          /* unknown version */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memcpy(task_req, cases[i].req, sizeof cases[i].req);
		task_len = cases[i].len;
		n = host_seal(buf, udp_task, 0, IP_PROTO_UDP);
		r = net_input(buf, n, sizeof buf);
		if (!CHECK(r > 0 && host_open(buf, r, &pt, &ptl, &nh) == 0 && nh == IP_PROTO_UDP))
			continue;
		uint8_t *u = buf + pt;
		CHECK(net_be16(u) == CONFIG_TASK_PORT && net_be16(u + 2) == 5555);
		CHECK(net_be16(u + 4) == ptl && net_udp_sum(buf, u, ptl) == 0xFFFF);
		CHECK(ptl == 8 + 5 + cases[i].rlen);
		CHECK(u[8] == 1 && u[9] == cases[i].req[1] && u[11] == cases[i].req[3]);
		CHECK(u[12] == cases[i].status);
		if (cases[i].req[1] == 0 && cases[i].status == 0)
			CHECK(net_be32(u + 13) == 0x2a && u[19] == 1 && u[20] == store_suites());
		if (cases[i].req[1] == 5 && cases[i].status == 0)
			CHECK(net_be16(u + 13) == 0xBEEF);
	}
	/* settings survive a reset */
	store_init();
	CHECK(store_st.settings[1] == 0xBEEF);
	/* after the reset, everything at or below the stored floor is a
	 * replay; a host resumes one block above (docs/eeprom.md) */
	esp_init();
	CHECK(esp_in_top == store_st.esp_in_floor && esp_in_top > 0);
	task_len = 4;
	n = host_seal(buf, udp_task, 0, IP_PROTO_UDP);
	uint32_t rp = net_counters[C_ESP_REPLAY];
	CHECK(net_input(buf, n, sizeof buf) == 0 && net_counters[C_ESP_REPLAY] == rp + 1);
	esp_out_next = store_st.esp_in_floor + 1;
	/* shorter than 4 bytes: no reply, counted */
	task_len = 3;
	n = host_seal(buf, udp_task, 0, IP_PROTO_UDP);
	uint32_t bad = net_counters[C_UDP_BAD];
	r = net_input(buf, n, sizeof buf);
	CHECK(r == 0);
	CHECK(net_counters[C_UDP_BAD] == bad + 1);

	/* TFC padding after the datagram (RFC 4303 §2.4: the UDP length
	 * says where it ends) is not part of the request, with or without
	 * a checksum over the datagram */
	static const uint8_t uptime[4] = { 1, 1, 0x12, 0x34 };
	memcpy(task_req, uptime, sizeof uptime);
	task_len = 4;
	for (task_sum = 0; task_sum < 2; task_sum++) {
		task_tfc = 12;
		n = host_seal(buf, udp_task, 0, IP_PROTO_UDP);
		r = net_input(buf, n, sizeof buf);
		if (CHECK(r > 0 && host_open(buf, r, &pt, &ptl, &nh) == 0 && nh == IP_PROTO_UDP))
			CHECK(ptl == 8 + 5 + 6 && buf[pt + 12] == 0 && buf[pt + 11] == 0x34);
	}
	/* a UDP length past the payload, or under the header, is bad */
	static const uint16_t bad_len[] = { 8 + 4 + 12 + 1, 7, 0 };
	task_tfc = 12;
	task_sum = 0;
	for (size_t i = 0; i < sizeof bad_len / sizeof bad_len[0]; i++) {
		task_ulen = bad_len[i] ? bad_len[i] : 0xFFFF;
		bad = net_counters[C_UDP_BAD];
		n = host_seal(buf, udp_task, 0, IP_PROTO_UDP);
		CHECK(net_input(buf, n, sizeof buf) == 0 && net_counters[C_UDP_BAD] == bad + 1);
	}
	task_tfc = task_ulen = task_sum = 0;
}

/* ---- the room a service gets inside ESP ------------------------------ */

/* A task that fills the whole capacity it is given (ms_app.h: *rlen on
 * entry), as an application task that returns "as much as fits" does. */
static uint8_t fill_room;
static uint8_t task_fill(const uint8_t *a, uint16_t alen, uint8_t *r, uint8_t *rlen)
{
	(void)a;
	(void)alen;
	fill_room = *rlen;
	memset(r, 0x5A, *rlen);
	return MS_TASK_OK;
}

/*
 * A service inside ESP gets only the room its reply has once sealed (the
 * outbound suite's padding, trailer and ICV after it): a task that fills
 * its capacity is answered, for every suite and with and without UDP
 * encapsulation, and the reply fills the frame. (Before,
 * the room left out the ESP trailer: such a reply was computed, then
 * dropped as C_NO_SEND, and the host retried the task.)
 */
static void test_service_room(uint8_t suite)
{
	static const struct ms_task fill_tasks[] MS_PGM = { { 16, task_fill } };
	static const struct ms_port fill_ports[] MS_PGM = { MS_PORT_TASKS };
	const struct ms_app *saved = ms_app;
	struct ms_app a = *saved;
	a.tasks = fill_tasks;
	a.ntasks = 1;
	a.ports = fill_ports;
	a.nports = 1;
	ms_app = &a;
	for (uint8_t f = 0; f < 2; f++) {
		uint16_t pt, ptl;
		uint8_t nh;
		build_image(suite, 0, f ? SA_UDP_ENCAP : 0);
		store_init();
		esp_init();
		memcpy(task_req, (const uint8_t[]){ 1, 16, 0, 1 }, 4);
		task_len = 4;
		uint16_t n = host_seal(buf, udp_task, 0, IP_PROTO_UDP);
		uint32_t nosend = net_counters[C_NO_SEND];
		fill_room = 0;
		uint16_t r = net_input(buf, n, sizeof buf);
		CHECK(fill_room > 0 && net_counters[C_NO_SEND] == nosend);
		if (!CHECK(r > 0 && host_open(buf, r, &pt, &ptl, &nh) == 0 && nh == IP_PROTO_UDP))
			continue;
		CHECK(ptl == 8 + 5 + fill_room && buf[pt + 8 + 5 + fill_room - 1] == 0x5A);
		/* and the room is all the frame allows: the sealed reply
		 * leaves less than a padding block of it unused */
		CHECK(sizeof buf - r < 16u);
	}
	ms_app = saved;
	build_image(suite, 0, 0);
	store_init();
	esp_init();
}

#if CONFIG_COAP
/* CoAP inside ESP (coap.h): GET /4?3 sealed to CONFIG_COAP_PORT gets the
 * piggy-backed response sealed back; the same datagram in clear is never
 * served. */
static void test_coap(uint8_t suite)
{
	static const uint8_t get[] = { 0x42, 0x01, 0xC0, 0xAB, 0x0A, 0x0B, 0xB1, '4', 0x41, '3' };
	static const uint8_t want[] = { 0x62, 0x45, 0xC0, 0xAB, 0x0A, 0x0B, 0xC1, 42, 0xFF, 0x02, 0x03 };
	uint16_t pt, ptl, n, r;
	uint8_t nh;

	build_image(suite, 0, 0);
	store_init();
	esp_init();
	memcpy(task_req, get, sizeof get);
	task_len = sizeof get;
	task_port = CONFIG_COAP_PORT;
	n = host_seal(buf, udp_task, 0, IP_PROTO_UDP);
	r = net_input(buf, n, sizeof buf);
	if (CHECK(r > 0 && host_open(buf, r, &pt, &ptl, &nh) == 0 && nh == IP_PROTO_UDP)) {
		uint8_t *u = buf + pt;
		CHECK(net_be16(u) == CONFIG_COAP_PORT && net_be16(u + 2) == 5555);
		CHECK(net_be16(u + 4) == ptl && net_udp_sum(buf, u, ptl) == 0xFFFF);
		CHECK(ptl == 8 + sizeof want && memcmp(u + 8, want, sizeof want) == 0);
	}
	/* in clear: dropped before UDP, counted */
	uint8_t p[64];
	n = (uint16_t)(20 + 8 + sizeof get);
	net_put16(p + 20, 5555);
	net_put16(p + 22, CONFIG_COAP_PORT);
	net_put16(p + 24, (uint16_t)(8 + sizeof get));
	net_put16(p + 26, 0);
	memcpy(p + 28, get, sizeof get);
	ip_header(p, n, IP_PROTO_UDP);
	uint32_t c = net_counters[C_NOT_ESP], t = net_counters[C_TASKS];
	CHECK(net_input(p, n, sizeof p) == 0 && net_counters[C_NOT_ESP] == c + 1);
	CHECK(net_counters[C_TASKS] == t);
	task_port = CONFIG_TASK_PORT;
}
#endif

#if CONFIG_MSSL
/* An application service that must never be reached in clear. */
static int service_ran;
static uint16_t service(uint8_t *p, uint16_t n, uint16_t room,
                        const uint8_t *src_ip, uint16_t src_port)
{
	(void)p;
	(void)room;
	(void)src_ip;
	(void)src_port;
	service_ran++;
	return n;
}

/* Clear UDP to the MSSL port: only a service marked clear (MSSL) gets
 * it; an application's service listed on that port without the mark is
 * never reached without ESP, and neither is any other port. */
static void test_clear_services(void)
{
	static const struct ms_port ports[] = {
		{ CONFIG_MSSL_PORT, service, 0 },
		{ CONFIG_TASK_PORT, service, 0 },
	};
	static struct ms_app app;
	const struct ms_app *saved = ms_app;
	uint8_t p[64];
	app = *ms_app;
	app.ports = ports;
	app.nports = 2;
	ms_app = &app;
	build_image(SUITE_CCM8, 0, 0);
	store_init();
	esp_init();
	for (int i = 0; i < 2; i++) {
		uint16_t n = 20 + 8 + 4;
		memset(p + 20, 0, 12);
		net_put16(p + 20, 5555);
		net_put16(p + 22, i ? CONFIG_TASK_PORT : CONFIG_MSSL_PORT);
		net_put16(p + 24, 12);
		ip_header(p, n, IP_PROTO_UDP);
		uint32_t c = net_counters[C_NOT_ESP];
		CHECK(net_input(p, n, sizeof p) == 0 && net_counters[C_NOT_ESP] == c + 1);
	}
	CHECK(service_ran == 0);
	ms_app = saved;
}
#endif

static void test_ipv4(void)
{
	uint8_t p[64];
	build_image(SUITE_CCM8, CFG_CLEAR_ICMP, 0);
	store_init();
	esp_init();

	/* clear ICMP, allowed by the config flag */
	uint16_t n = (uint16_t)(20 + icmp_echo(p + 20, 16));
	ip_header(p, n, IP_PROTO_ICMP);
	uint16_t r = net_input(p, n, sizeof p);
	CHECK(r == n && p[20] == 0 && net_sum(0, p + 20, 24) == 0xFFFF && net_sum(0, p, 20) == 0xFFFF);

	/* each header check, one counter each */
	static const struct {
		uint8_t off, val, counter;
	} bad[] = {
		{ 0, 0x46, C_IP_OPT_FRAG }, /* options */
		{ 0, 0x44, C_IP_BAD },      /* IHL 4 */
		{ 0, 0x55, C_IP_BAD },      /* version 5 (if it got here) */
		{ 6, 0x20, C_IP_OPT_FRAG }, /* MF */
		{ 7, 0x01, C_IP_OPT_FRAG }, /* offset */
		{ 19, 3, C_IP_NOT_MINE },
		{ 9, 6, C_NOT_ESP },        /* TCP */
		{ 9, 17, C_NOT_ESP },       /* clear UDP */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		n = (uint16_t)(20 + icmp_echo(p + 20, 16));
		ip_header(p, n, IP_PROTO_ICMP);
		p[bad[i].off] = bad[i].val;
		net_put16(p + 10, 0);
		net_put16(p + 10, (uint16_t)~net_sum(0, p, 20));
		uint32_t c = net_counters[bad[i].counter];
		CHECK(net_input(p, n, sizeof p) == 0 && net_counters[bad[i].counter] == c + 1);
	}
	n = (uint16_t)(20 + icmp_echo(p + 20, 16));
	ip_header(p, n, IP_PROTO_ICMP);
	p[10] ^= 1;
	uint32_t c = net_counters[C_IP_BAD];
	CHECK(net_input(p, n, sizeof p) == 0 && net_counters[C_IP_BAD] == c + 1);
	ip_header(p, n, IP_PROTO_ICMP);
	c = net_counters[C_IP_BAD];
	CHECK(net_input(p, (uint16_t)(n + 1), sizeof p) == 0 && net_counters[C_IP_BAD] == c + 1);
	p[21] = 1; /* ICMP code 1: bad checksum now */
	c = net_counters[C_ICMP_DROP];
	CHECK(net_input(p, n, sizeof p) == 0 && net_counters[C_ICMP_DROP] == c + 1);

	/* clear ICMP without the flag */
	build_image(SUITE_CCM8, 0, 0);
	store_init();
	n = (uint16_t)(20 + icmp_echo(p + 20, 16));
	ip_header(p, n, IP_PROTO_ICMP);
	c = net_counters[C_NOT_ESP];
	CHECK(net_input(p, n, sizeof p) == 0 && net_counters[C_NOT_ESP] == c + 1);
	/* ESP from a source that is not the peer */
	n = host_seal(p, icmp_echo, 8, IP_PROTO_ICMP);
	p[15] = 9;
	net_put16(p + 10, 0);
	net_put16(p + 10, (uint16_t)~net_sum(0, p, 20));
	c = net_counters[C_ESP_SPI];
	CHECK(net_input(p, n, sizeof p) == 0 && net_counters[C_ESP_SPI] == c + 1);
}

int main(int argc, char **argv)
{
	host_app_init();
	if (argc != 2) {
		fprintf(stderr, "usage: net-test GOLDEN.hex\n");
		return 2;
	}
	test_golden(argv[1]);
	test_unprovisioned();
	test_slots();
	test_ipv4();
#if CONFIG_MSSL
	test_clear_services();
#endif
	static const uint8_t suites[] = {
#if CONFIG_ESP_CCM8
		SUITE_CCM8,
#endif
#if CONFIG_ESP_CTR_SHA256
		SUITE_CTR_SHA256,
#endif
#if CONFIG_ESP_CBC_MD5
		SUITE_CBC_MD5,
#endif
	};
	for (size_t i = 0; i < sizeof suites; i++) {
		for (uint8_t f = 0; f < 4; f++) /* ESN x UDP encapsulation */
			test_suite(suites[i], f);
		test_tasks(suites[i]);
		test_service_room(suites[i]);
#if CONFIG_COAP
		test_coap(suites[i]);
#endif
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
