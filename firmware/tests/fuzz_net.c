/*
 * fuzz_net.c - fuzz target for the device's packet input path: net_input()
 * (IPv4, ESP for every compiled suite with and without UDP encapsulation,
 * ICMP, UDP, tasks) on a provisioned device, in a heap buffer of exactly
 * CONFIG_FRAME_MAX bytes so ASan sees any access past it.
 *
 * Input: byte 0 picks the configuration (suite, ESN, UDP encapsulation,
 * clear ICMP); the rest is the frame. Invariants checked: the reply fits
 * the buffer and carries a correct IPv4 header checksum.
 *
 * clang: -fsanitize=fuzzer,address,undefined (libFuzzer). Without clang,
 * -DFUZZ_STANDALONE adds a main() that runs N iterations of random frames
 * and mutations (bit flips, truncations, splices) of authentic packets
 * sealed with the device's own outbound code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "esp.h"
#include "net/net.h"
#include "store.h"
#include "host_app.h"
#include "tasks.h"


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
#define NSUITES (sizeof suites)

static void setup(uint8_t sel)
{
	uint8_t suite = suites[sel % NSUITES], f = (uint8_t)((sel / NSUITES) & 3);
	uint16_t crc = 0xFFFF, i;
	memset(store_ee, 0xFF, sizeof store_ee);
	memset(store_ee, 0, EE_CONFIG_FIXED);
	memcpy(store_ee, "ME\x01", 3);
	store_ee[EE_FLAGS] = (sel & 0x80) ? CFG_CLEAR_ICMP : 0;
	store_ee[EE_LENGTH + 1] = EE_CONFIG_FIXED;
	store_ee[EE_DEVICE_ID + 3] = 1;
	store_ee[EE_ADDR] = 10;
	store_ee[EE_ADDR + 3] = 2;
	store_ee[EE_SA_COUNT] = 2;
	for (i = 0; i < 2; i++) {
		uint8_t *sa = store_ee + EE_SA0 + i * EE_SA_SIZE;
		sa[3] = (uint8_t)(1 + i);
		sa[EE_SA_SUITE] = suite;
		sa[EE_SA_FLAGS] = f;
		memset(sa + EE_SA_ENC_KEY, 0x11, suite == SUITE_CCM8 ? 19 : 20);
		if (suite != SUITE_CCM8)
			memset(sa + EE_SA_AUTH_KEY, 0x22, suite == SUITE_CBC_MD5 ? 16 : 32);
		if (suite == SUITE_CBC_MD5)
			memset(sa + EE_SA_ENC_KEY + 16, 0, 4);
	}
	for (i = 0; i < EE_CONFIG_FIXED; i++)
		if (i != EE_CRC && i != EE_CRC + 1)
			crc = crc16_byte(crc, store_ee[i]);
	net_put16(store_ee + EE_CRC, crc);
	uint8_t *slot = store_ee + STORE_EE_SIZE - EE_STATE_SIZE;
	memset(slot, 0, EE_SLOT_SIZE);
	slot[3] = 1;
	crc = 0xFFFF;
	for (i = 0; i < 30; i++)
		crc = crc16_byte(crc, slot[i]);
	net_put16(slot + 30, crc);
	if (store_init() != STORE_OK)
		abort();
	esp_init();
}

static uint8_t current = 0xFF;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	host_app_init();
	if (size < 1 || size - 1 > CONFIG_FRAME_MAX)
		return 0;
	if (data[0] != current) {
		current = data[0];
		setup(current);
	}
	uint8_t *buf = malloc(CONFIG_FRAME_MAX);
	if (!buf)
		abort();
	memcpy(buf, data + 1, size - 1);
	uint16_t r = net_input(buf, (uint16_t)(size - 1), CONFIG_FRAME_MAX);
	if (r > CONFIG_FRAME_MAX || (r && (net_sum(0, buf, 20) != 0xFFFF || net_be16(buf + 2) != r)))
		abort();
	free(buf);
	return 0;
}

#ifdef FUZZ_STANDALONE
static uint32_t rng = 2463534242u;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

/* An authentic ESP-protected ICMP echo or task request for config sel,
 * sealed with the device's own outbound code under the inbound SPI. */
static size_t authentic(uint8_t sel, uint8_t *out)
{
	uint8_t p[CONFIG_FRAME_MAX];
	uint8_t encap = (store_cfg.sa[0].flags & SA_UDP_ENCAP) != 0;
	uint16_t eoff = (uint16_t)(20 + (encap ? 8 : 0));
	uint16_t pt = (uint16_t)(eoff + 8 + esp_iv_len(store_cfg.sa[0].suite));
	uint16_t n = (uint16_t)(rnd() % 120), nh;
	memset(p, 0, sizeof p);
	if (rnd() & 1) {
		nh = IP_PROTO_ICMP;
		p[pt] = 8;
		for (uint16_t i = 8; i < n + 8; i++)
			p[pt + i] = (uint8_t)rnd();
		n = (uint16_t)(n + 8);
		net_put16(p + pt + 2, (uint16_t)~net_sum(0, p + pt, n));
	} else {
		nh = IP_PROTO_UDP;
		n = (uint16_t)(8 + 4 + rnd() % 4);
		net_put16(p + pt + 2, CONFIG_TASK_PORT);
		net_put16(p + pt + 4, n);
		p[pt + 8] = 1;
		p[pt + 9] = (uint8_t)(rnd() % 8);
		p[pt + 12] = (uint8_t)(rnd() % 3);
	}
	uint32_t spi = store_cfg.sa[1].spi;
	store_cfg.sa[1].spi = store_cfg.sa[0].spi;
	uint16_t elen = esp_seal(p, eoff, n, (uint8_t)nh);
	store_cfg.sa[1].spi = spi;
	if (!elen)
		return 0;
	if (encap) {
		net_put16(p + 20, 4500);
		net_put16(p + 22, 4500);
		net_put16(p + 24, (uint16_t)(8 + elen));
	}
	uint16_t len = (uint16_t)(eoff + elen);
	p[0] = 0x45;
	net_put16(p + 2, len);
	p[8] = 64;
	p[9] = encap ? IP_PROTO_UDP : IP_PROTO_ESP;
	p[12] = 10;
	p[15] = 1;
	p[16] = 10;
	p[19] = 2;
	net_put16(p + 10, (uint16_t)~net_sum(0, p, 20));
	out[0] = sel;
	memcpy(out + 1, p, len);
	(void)sel;
	return (size_t)len + 1;
}

int main(int argc, char **argv)
{
	host_app_init();
	unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
	uint8_t in[CONFIG_FRAME_MAX + 1];
	unsigned long answered = 0;
	for (unsigned long it = 0; it < iters; it++) {
		uint8_t sel = (uint8_t)(rnd() % (NSUITES * 4)) | (uint8_t)(rnd() & 0x80);
		if (sel != current) {
			current = sel;
			setup(sel);
		}
		size_t n = authentic(sel, in);
		if (n == 0)
			continue;
		switch (rnd() % 5) {
		case 0: /* as is (sometimes replayed later by the splice) */
			break;
		case 1: /* bit flips */
			for (uint32_t k = rnd() % 4 + 1; k--;)
				in[1 + rnd() % (n - 1)] ^= (uint8_t)(1u << (rnd() % 8));
			break;
		case 2: /* truncation or extension with garbage */
			n = 1 + rnd() % CONFIG_FRAME_MAX;
			break;
		case 3: /* random bytes after a valid-looking IP header */
			for (size_t k = 21; k < n; k++)
				in[k] = (uint8_t)rnd();
			break;
		default: /* pure noise */
			n = 1 + rnd() % (CONFIG_FRAME_MAX + 1);
			for (size_t k = 1; k < n; k++)
				in[k] = (uint8_t)rnd();
			in[1] = (uint8_t)(0x45 + rnd() % 11);
			break;
		}
		uint32_t sent = net_counters[C_SENT];
		LLVMFuzzerTestOneInput(in, n);
		answered += net_counters[C_SENT] - sent;
	}
	printf("%lu iterations, %lu answered, counters:", iters, answered);
	for (int i = 0; i < NET_NCOUNTERS; i++)
		printf(" %lu", (unsigned long)net_counters[i]);
	printf("\n");
	return 0;
}
#endif
