/*
 * fuzz_esp.c - fuzz target for what the device does AFTER ESP
 * authentication (issue 10, finding 8): the ESP trailer (padding bytes,
 * pad length, next header), the anti-replay window and the stored inbound
 * floor, UDP, the task service, ICMP, MSSL inside ESP, and the sealing of
 * every reply.
 *
 * fuzz_net.c hands net_input raw frames: hardly any passes the IPv4
 * header checksum and none the ICV, so its coverage stops there. Here the
 * input DESCRIBES packets and the harness builds them: it seals the
 * plaintext, padding, pad length and next header the fuzzer chose under
 * the inbound SA's real keys (read from the EEPROM image, with the
 * firmware's own crypto/ code), fixes the checksums, and only then calls
 * net_input, in a heap buffer of exactly CONFIG_FRAME_MAX bytes (ASan sees
 * any access past it).
 *
 * The device: the golden EEPROM image of pkg/provision, the one net-test
 * loads ($GOLDEN, default ../pkg/provision/testdata/golden-atmega328p.hex),
 * reloaded before every input (store_init, esp_init, mssl_reset: each
 * input starts from the same boot).
 *
 * Input: sel, then up to MAX_PKTS packets, fed in order (state: replay
 * window, floors, MSSL handshake, settings carry from one to the next).
 *
 *   sel  bits 0-1 inbound SA suite: 0 the image's, else the n-th suite
 *        this build has (keys then set to fixed patterns); bits 2-3 the
 *        same for the outbound SA; bit 4 inbound ESN; bit 5 inbound UDP
 *        encapsulation (RFC 3948); bit 6 outbound UDP encapsulation and
 *        ESN; bit 7 the config's clear-ICMP flag. 0: the image as is.
 *   per packet: ctl nh seq len [t] [q] [L] pt[len] [Q[q]] [off x]
 *   ctl  F_FIX     fix the inner checksum (ICMP, UDP with its length) and
 *                  an MSSL ClientHello's grant (key id and seal, when its
 *                  key id is all zero), as a legitimate host would
 *        F_CLEAR   send the payload in clear (IPv4 protocol nh), no ESP
 *        F_PADN    q (number of padding bytes) from the input; else the
 *                  fewest that align the trailer
 *        F_PADLEN  the pad length byte L from the input; else q
 *        F_PADB    the padding bytes Q from the input; else 1, 2, 3, ...
 *        F_PATCH   after sealing, byte off ^= x, in the unauthenticated
 *                  headers (IPv4; UDP when encapsulated: off mod 20 or 28)
 *        F_RAWSUM  leave the IPv4 header checksum as F_PATCH left it
 *        F_RAWNH   nh as is; else (nh & 127) % 3 picks ICMP, UDP or 59
 *                  (dummy), and nh bit 7 adds t, EEPROM trouble during the
 *                  packet: bits 7-6 of t 0 the next (t & 63) + 1 writes
 *                  fail (torn), 1 the power is cut during write (t & 63)
 *                  + 1, then a reset; 2, 3 a reset after the packet
 *   seq  the sequence number: the highest sent so far + 1 + (int8)seq
 *   len  payload bytes (cut to what the frame and the input hold)
 * CBC needs whole blocks: padding is extended (1, 2, 3, ... onwards) to
 * the next block.
 *
 * Invariants (abort):
 *  - a packet the device must take as ESP (a model of net.h's IPv4 rules
 *    decides: F_PATCH may break them) authenticates, and is dropped as a
 *    replay, dropped as malformed or accepted exactly as an independent
 *    model of RFC 4303's window and trailer rules says (one counter, no
 *    reply when dropped); a packet it must not take as ESP changes no ESP
 *    counter but the SPI's;
 *  - a reply fits the buffer, has a right IPv4 header and goes back to the
 *    sender; a packet accepted as ESP is answered in ESP, any other in
 *    clear, and in clear only ICMP echo and MSSL answer;
 *  - an ESP reply opens under the outbound SA's keys with this harness's
 *    own code (SPI, ICV, padding 1, 2, 3..., next header), its sequence
 *    numbers strictly increase, and it carries an ICMP echo reply or a
 *    UDP datagram with right lengths and checksums;
 *  - C_SENT counts exactly the replies;
 *  - with the EEPROM failing, an acceptable packet is accepted or dropped
 *    as "no send" (its floor not stored), never anything else;
 *  - after a reset the device is provisioned, its stored inbound floor is
 *    at or above every sequence number it accepted, its next outbound
 *    sequence number above every one it sent, its nonce counter at or
 *    above its last value, and every settings value it acknowledged is
 *    there (the reservation rule, docs/eeprom.md).
 *
 * clang: -fsanitize=fuzzer,address,undefined (libFuzzer). Without clang,
 * -DFUZZ_STANDALONE adds a main() that replays the seed files given and
 * runs N random mutations of them (FUZZ_ESP_VERBOSE=1: each seed's
 * counters, to check what a seed reaches).
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
#include "crypto/sha256.h"
#include "esp.h"
#include "mssl.h"
#include "net/net.h"
#include "store.h"
#include "app.h"
#include "host_app.h"
#include "tasks.h"


#define MAX_PKTS 16

#define F_FIX 0x01
#define F_CLEAR 0x02
#define F_PADN 0x04
#define F_PADLEN 0x08
#define F_PADB 0x10
#define F_PATCH 0x20
#define F_RAWSUM 0x40
#define F_RAWNH 0x80

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

static uint8_t golden[CONFIG_HOST_EEPROM_SIZE];

#define FAIL(...)                                     \
	do {                                          \
		fprintf(stderr, "fuzz-esp: " __VA_ARGS__); \
		fputc('\n', stderr);                  \
		abort();                              \
	} while (0)

/* ---- the device ------------------------------------------------------- */

static int load_ihex(const char *path, uint8_t *img, size_t size)
{
	FILE *f = fopen(path, "r");
	char line[600];
	if (!f)
		return -1;
	memset(img, 0xFF, size);
	while (fgets(line, sizeof line, f)) {
		unsigned n, addr, type, b;
		if (line[0] != ':' || sscanf(line + 1, "%2x%4x%2x", &n, &addr, &type) != 3 || type != 0)
			continue;
		for (unsigned i = 0; i < n; i++) {
			if (sscanf(line + 9 + 2 * i, "%2x", &b) != 1)
				break;
			if (addr + i < size)
				img[addr + i] = (uint8_t)b;
		}
	}
	fclose(f);
	return 0;
}

static uint8_t *sa_rec(uint8_t slot) { return store_ee + EE_SA0 + slot * EE_SA_SIZE; }

/* Slot's suite := the n-th built suite (n >= 1), keys fixed patterns. */
static void set_suite(uint8_t slot, uint8_t n)
{
	uint8_t *sa = sa_rec(slot);
	sa[EE_SA_SUITE] = suites[(n - 1) % NSUITES];
	for (uint8_t k = 0; k < 20; k++)
		sa[EE_SA_ENC_KEY + k] = (uint8_t)(0x40 + 16 * slot + k);
	for (uint8_t k = 0; k < 32; k++)
		sa[EE_SA_AUTH_KEY + k] = (uint8_t)(0x80 + 32 * slot + k);
}

static void boot(uint8_t sel)
{
	memcpy(store_ee, golden, sizeof store_ee);
	if (sel) {
		if (sel & 3)
			set_suite(0, sel & 3);
		if ((sel >> 2) & 3)
			set_suite(1, (sel >> 2) & 3);
		sa_rec(0)[EE_SA_FLAGS] = (uint8_t)(((sel & 0x10) ? SA_ESN : 0) | ((sel & 0x20) ? SA_UDP_ENCAP : 0));
		sa_rec(1)[EE_SA_FLAGS] = (uint8_t)((sel & 0x40) ? SA_ESN | SA_UDP_ENCAP : 0);
		if (sel & 0x80)
			store_ee[EE_FLAGS] |= CFG_CLEAR_ICMP;
		uint16_t len = net_be16(store_ee + EE_LENGTH), crc = 0xFFFF;
		for (uint16_t i = 0; i < len; i++)
			if (i != EE_CRC && i != EE_CRC + 1)
				crc = crc16_byte(crc, store_ee[i]);
		net_put16(store_ee + EE_CRC, crc);
	}
	if (store_init() != STORE_OK || store_cfg.sa_count != 2)
		FAIL("the image (selector %02x) does not provision", sel);
	esp_init();
#if CONFIG_MSSL
	mssl_reset();
#endif
	memset(net_counters, 0, sizeof net_counters);
	hw_led(0);
}

/* ---- ESP with an SA's keys, this harness's own code ------------------- */

static uint8_t iv_len(uint8_t suite) { return suite == SUITE_CBC_MD5 ? 16 : 8; }
static uint8_t icv_len(uint8_t suite)
{
	return suite == SUITE_CCM8 ? 8 : suite == SUITE_CBC_MD5 ? 12 : 16;
}

static const uint8_t zero4[4];

/* The HMAC ICV (full MAC in mac) over e[0..n) (+ ESN high half 0). */
static void hmac_icv(uint8_t slot, uint8_t suite, const uint8_t *e, uint16_t n, uint8_t mac[32])
{
	const uint8_t *ak = sa_rec(slot) + EE_SA_AUTH_KEY;
	uint8_t esn = sa_rec(slot)[EE_SA_FLAGS] & SA_ESN;
	(void)ak;
	(void)esn;
	(void)e;
	(void)n;
	memset(mac, 0, 32);
	if (suite == SUITE_CBC_MD5) {
#if CONFIG_ESP_CBC_MD5
		hmac_md5_ctx h;
		hmac_md5_init(&h, ak, 16);
		hmac_md5_update(&h, e, n);
		if (esn)
			hmac_md5_update(&h, zero4, 4);
		hmac_md5_final(&h, mac);
#endif
	} else {
#if CONFIG_ESP_CTR_SHA256
		hmac_sha256_ctx h;
		hmac_sha256_init(&h, ak, 32);
		hmac_sha256_update(&h, e, n);
		if (esn)
			hmac_sha256_update(&h, zero4, 4);
		hmac_sha256_final(&h, mac);
#endif
	}
}

/*
 * Seal (enc) or open the ESP packet e: header and IV in place, ct bytes of
 * plaintext or ciphertext after them, then the ICV, with the keys of SA
 * slot. Returns 0, or -1 when an opened ICV does not verify.
 */
static int crypt(uint8_t slot, int enc, uint8_t *e, uint16_t ct)
{
	const uint8_t *sa = sa_rec(slot), *k = sa + EE_SA_ENC_KEY;
	uint8_t suite = sa[EE_SA_SUITE], ivl = iv_len(suite);
	uint8_t *iv = e + ESP_HDR_LEN, *p = iv + ivl, *icv = p + ct, blk[16], mac[32];
	uint16_t n = (uint16_t)(ESP_HDR_LEN + ivl + ct);
	aes128_ctx aes;

	aes128_init(&aes, k);
	if (suite == SUITE_CCM8) {
		uint8_t nonce[11], aad[12], alen = 8;
		memcpy(nonce, k + 16, 3);
		memcpy(nonce + 3, iv, 8);
		memcpy(aad, e, 8);
		if (sa[EE_SA_FLAGS] & SA_ESN) {
			memset(aad + 4, 0, 4);
			memcpy(aad + 8, e + 4, 4);
			alen = 12;
		}
		if (enc)
			return aes128_ccm_seal(&aes, nonce, 11, aad, alen, p, ct, icv, 8);
		return aes128_ccm_open(&aes, nonce, 11, aad, alen, p, ct, icv, 8);
	}
	if (!enc) {
		hmac_icv(slot, suite, e, n, mac);
		if (ct_equal(mac, icv, icv_len(suite)))
			return -1;
	}
	if (suite == SUITE_CBC_MD5) {
#if CONFIG_ESP_CBC_MD5
		memcpy(blk, iv, 16);
		if (enc)
			aes128_cbc_encrypt(&aes, blk, p, ct / 16);
		else
			aes128_cbc_decrypt(&aes, blk, p, ct / 16);
#endif
	} else { /* CTR: nonce(4) || iv(8) || 00000001 */
		memcpy(blk, k + 16, 4);
		memcpy(blk + 4, iv, 8);
		memset(blk + 12, 0, 3);
		blk[15] = 1;
		aes128_ctr(&aes, blk, p, ct);
	}
	if (enc) {
		hmac_icv(slot, suite, e, n, mac);
		memcpy(icv, mac, icv_len(suite));
	}
	return 0;
}

/* ---- building a packet ------------------------------------------------- */

struct cursor {
	const uint8_t *p;
	size_t n;
};

static uint8_t take(struct cursor *c)
{
	if (!c->n)
		return 0;
	c->n--;
	return *c->p++;
}

static void fix_inner(uint8_t *ip, uint8_t *p, uint16_t len, uint8_t nh)
{
	if (nh == IP_PROTO_ICMP && len >= 4) {
		net_put16(p + 2, 0);
		net_put16(p + 2, (uint16_t)~net_sum(0, p, len));
	} else if (nh == IP_PROTO_UDP && len >= UDP_HDR_LEN) {
#if CONFIG_MSSL
		/* A ClientHello whose grant names no issuer key gets the
		 * device's key id and a grant sealed under its master (or
		 * group) key around the Kh the fuzzer chose (docs/mssl.md). */
		uint8_t *b = p + UDP_HDR_LEN + 18, t[32];
		static const uint8_t nokey[8];
		uint16_t ml = net_be16(store_ee + EE_MODULUS_LEN);
		if (net_be16(p + 2) == CONFIG_MSSL_PORT && len == UDP_HDR_LEN + MSSL_CLIENT_HELLO_LEN &&
		    p[UDP_HDR_LEN] == MSSL_CLIENT_HELLO && memcmp(b + 4, nokey, 8) == 0 && ml) {
			aes128_ctx aes;
			sha256(t, store_ee + EE_MODULUS, ml);
			memcpy(b + 4, t, 8);
			aes128_init(&aes, store_ee + ((b[3] & 1) ? EE_GROUP_KEY : EE_MASTER_KEY));
			memcpy(t, "MSSL-grant-seal1", 16);
			aes128_encrypt(&aes, t);
			aes128_init(&aes, t);
			aes128_ccm_seal(&aes, b + 42, 13, b, 42, b + 55, 16, b + 71, 8);
		}
#endif
		net_put16(p + 4, len);
		net_put16(p + 6, 0);
		uint16_t s = (uint16_t)~net_udp_sum(ip, p, len);
		net_put16(p + 6, s ? s : 0xFFFF);
	}
}

static uint8_t ip_ok(const uint8_t *b, uint16_t n)
{
	return n >= IP_HDR_LEN && b[0] == 0x45 && net_be16(b + 2) == n && net_sum(0, b, IP_HDR_LEN) == 0xFFFF;
}

/* ---- checking a reply -------------------------------------------------- */

static uint32_t reply_seq;
static uint8_t last_udp[UDP_HDR_LEN + 16]; /* the last UDP reply's start */
static uint16_t last_udp_len;

static void check_inner(uint8_t *b, uint8_t *p, uint16_t n, uint8_t nh, uint8_t clear)
{
	if (nh == IP_PROTO_ICMP) {
		if (n < 8 || p[0] != 0 || p[1] != 0 || net_sum(0, p, n) != 0xFFFF)
			FAIL("bad ICMP reply (%u bytes)", n);
	} else if (nh == IP_PROTO_UDP) {
		if (n < UDP_HDR_LEN || net_be16(p + 4) != n || net_be16(p + 6) == 0 ||
		    net_udp_sum(b, p, n) != 0xFFFF)
			FAIL("bad UDP reply (%u bytes)", n);
		if (clear && net_be16(p) != CONFIG_MSSL_PORT)
			FAIL("a UDP reply in clear from port %u", net_be16(p));
		last_udp_len = n < sizeof last_udp ? n : (uint16_t)sizeof last_udp;
		memcpy(last_udp, p, last_udp_len);
	} else {
		FAIL("reply with next header %u", nh);
	}
}

/* sent_esp: the request was accepted as ESP */
static void check_reply(uint8_t *b, uint16_t r, uint8_t sent_esp, const uint8_t src[4])
{
	if (r > CONFIG_FRAME_MAX || !ip_ok(b, r))
		FAIL("bad IPv4 reply (%u bytes)", r);
	if (memcmp(b + 12, store_cfg.addr, 4) != 0 || memcmp(b + 16, src, 4) != 0)
		FAIL("reply not from the device to the sender");
	const uint8_t *out = sa_rec(1);
	uint8_t encap = (out[EE_SA_FLAGS] & SA_UDP_ENCAP) != 0;
	uint8_t is_esp = b[9] == IP_PROTO_ESP ||
	                 (encap && b[9] == IP_PROTO_UDP && r >= 28 && net_be16(b + 20) == UDP_PORT_ESP);
	if (is_esp != sent_esp)
		FAIL("sent %s, answered %s", sent_esp ? "in ESP" : "in clear", is_esp ? "in ESP" : "in clear");
	if (!is_esp) {
		check_inner(b, b + IP_HDR_LEN, (uint16_t)(r - IP_HDR_LEN), b[9], 1);
		return;
	}
	if (encap != (b[9] == IP_PROTO_UDP))
		FAIL("outbound UDP encapsulation not followed");
	uint16_t eoff = encap ? IP_HDR_LEN + UDP_HDR_LEN : IP_HDR_LEN;
	if (encap && (net_be16(b + 24) != r - IP_HDR_LEN || net_be16(b + 26) != 0))
		FAIL("bad ESP-in-UDP header");
	uint8_t suite = out[EE_SA_SUITE], ivl = iv_len(suite), il = icv_len(suite);
	uint8_t *e = b + eoff;
	if (r < eoff + ESP_HDR_LEN + ivl + il + 2)
		FAIL("short ESP reply");
	uint16_t ct = (uint16_t)(r - eoff - ESP_HDR_LEN - ivl - il);
	if (net_be32(e) != net_be32(out + EE_SA_SPI))
		FAIL("reply under SPI %08x", net_be32(e));
	uint32_t seq = net_be32(e + 4);
	if (seq <= reply_seq)
		FAIL("reply sequence number %u after %u", seq, reply_seq);
	reply_seq = seq;
	if ((suite == SUITE_CBC_MD5 && (ct & 15)) || (suite != SUITE_CBC_MD5 && (ct & 3)))
		FAIL("reply payload not aligned (%u)", ct);
	if (crypt(1, 0, e, ct))
		FAIL("reply ICV does not verify");
	uint8_t *p = e + ESP_HDR_LEN + ivl, padlen = p[ct - 2], nh = p[ct - 1];
	if (padlen > ct - 2)
		FAIL("reply pad length %u", padlen);
	uint16_t n = (uint16_t)(ct - 2 - padlen);
	for (uint8_t i = 0; i < padlen; i++)
		if (p[n + i] != i + 1)
			FAIL("reply padding");
	check_inner(b, p, n, nh, 0);
}

/* ---- one packet -------------------------------------------------------- */

static uint32_t next_seq;

/*
 * What must survive a reboot (docs/eeprom.md, the reservation rule):
 * the highest inbound sequence number accepted (the stored floor at or
 * above it, else a replay after the reboot is accepted), the highest
 * outbound one sent (reply_seq), the nonce counter's high-water mark,
 * and every settings value the device acknowledged (setting_known 0: a
 * write whose outcome the host cannot know).
 */
static uint32_t max_acc, nonce_hi;
static uint16_t setting_value[2];
static uint8_t setting_known[2];

static void remember_boot(void)
{
	max_acc = store_st.esp_in_floor;
	nonce_hi = store_nonce_next;
	for (uint8_t i = 0; i < 2; i++) {
		setting_value[i] = store_st.settings[i];
		setting_known[i] = 1;
	}
}

static void win_reset(void);

/* A reset (power back after a cut, or a watchdog): RAM lost, the EEPROM
 * as the device left it. */
static void reboot(void)
{
	store_power_off = 0;
	if (store_init() != STORE_OK)
		FAIL("unprovisioned after a reboot (reason %u)", store_reason);
	esp_init();
#if CONFIG_MSSL
	mssl_reset();
#endif
	memset(net_counters, 0, sizeof net_counters);
	hw_led(0);
	if (store_st.esp_in_floor < max_acc)
		FAIL("inbound floor %u below the accepted %u after a reboot", store_st.esp_in_floor, max_acc);
	if (esp_out_next <= reply_seq)
		FAIL("outbound sequence number %u again after a reboot (sent %u)", esp_out_next, reply_seq);
	if (store_nonce_next < nonce_hi)
		FAIL("nonce counter %u after a reboot, was %u", store_nonce_next, nonce_hi);
	for (uint8_t i = 0; i < 2; i++)
		if (setting_known[i] && store_st.settings[i] != setting_value[i])
			FAIL("setting %u is %u after a reboot, acknowledged %u", i, store_st.settings[i],
			     setting_value[i]);
	win_reset();
	remember_boot();
	/* as mstool does after a reset: a block above the highest used
	 * (docs/eeprom.md), past the stored floor */
	next_seq += CONFIG_RESERVE_BLOCK;
}

/*
 * What the device must make of an ESP packet this harness built, from
 * RFC 4303 alone: a model of the anti-replay window (3.4.3) and the
 * trailer checks (2.4-2.6) written independently of esp.c. win_seen bit
 * k: top - k was accepted, or is at or below the stored floor.
 */
enum { V_NOT_ESP, V_ESP_DROP, V_REPLAY, V_MALFORMED, V_ACCEPT };
static uint32_t win_top, win_seen;

/* After a boot: everything at or below the stored floor was seen. */
static void win_reset(void)
{
	win_top = store_st.esp_in_floor;
	win_seen = 0xFFFFFFFFu;
}

static int win_fresh(uint32_t seq)
{
	if (seq == 0)
		return 0;
	if (seq > win_top)
		return 1;
	return win_top - seq < 32 && !((win_seen >> (win_top - seq)) & 1);
}

static void win_accept(uint32_t seq)
{
	if (seq > win_top) {
		uint32_t d = seq - win_top;
		win_seen = d >= 32 ? 0 : win_seen << d;
		win_top = seq;
	}
	win_seen |= 1u << (win_top - seq);
}

/*
 * Where the device must look for ESP in the packet b[0..n), or 0 (net.h:
 * IPv4, IHL 5, total length n, header checksum, no fragment, to the
 * device's address; protocol 50 at 20, or, when the inbound SA has UDP
 * encapsulation, UDP to port 4500 with the right length and a non-zero
 * SPI at 28; from the peer when one is configured).
 */
static uint16_t esp_offset(const uint8_t *b, uint16_t n)
{
	const uint8_t *peer = store_cfg.peer;
	uint32_t sum = 0;
	uint16_t off;
	if (n < IP_HDR_LEN)
		return 0;
	for (uint8_t i = 0; i < IP_HDR_LEN; i = (uint8_t)(i + 2))
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	if (b[0] != 0x45 || net_be16(b + 2) != n || sum != 0xFFFF || (net_be16(b + 6) & 0x3FFF) ||
	    memcmp(b + 16, store_cfg.addr, 4) != 0)
		return 0;
	if (b[9] == IP_PROTO_ESP)
		off = IP_HDR_LEN;
	else if (b[9] == IP_PROTO_UDP && (sa_rec(0)[EE_SA_FLAGS] & SA_UDP_ENCAP) &&
	         n >= IP_HDR_LEN + UDP_HDR_LEN + ESP_HDR_LEN && net_be16(b + 22) == UDP_PORT_ESP &&
	         net_be16(b + 24) == n - IP_HDR_LEN && net_be32(b + 28) != 0)
		off = IP_HDR_LEN + UDP_HDR_LEN;
	else
		return 0;
	if ((peer[0] | peer[1] | peer[2] | peer[3]) && memcmp(b + 12, peer, 4) != 0)
		return 0;
	return off;
}

/* The trailer of plaintext p[0..ct) (pad length, padding 1, 2, 3...,
 * next header) as a receiver must check it. */
static int trailer_ok(const uint8_t *p, uint16_t ct)
{
	uint8_t padlen = p[ct - 2], nh = p[ct - 1];
	if (padlen > ct - 2)
		return 0;
	for (uint8_t i = 0; i < padlen; i++)
		if (p[ct - 2 - padlen + i] != i + 1)
			return 0;
	return nh == IP_PROTO_ICMP || nh == IP_PROTO_UDP || nh == ESP_NH_DUMMY;
}

static void packet(uint8_t *b, struct cursor *c)
{
	uint8_t ctl = take(c), nh = take(c);
	int8_t dseq = (int8_t)take(c);
	uint16_t len = take(c), q = 0, L;
	uint8_t clear = (ctl & F_CLEAR) != 0;
	const uint8_t *in = sa_rec(0);
	uint8_t suite = in[EE_SA_SUITE], ivl = iv_len(suite), il = icv_len(suite);
	uint8_t encap = !clear && (in[EE_SA_FLAGS] & SA_UDP_ENCAP);
	uint16_t eoff = encap ? IP_HDR_LEN + UDP_HDR_LEN : IP_HDR_LEN;
	uint16_t pt = clear ? IP_HDR_LEN : (uint16_t)(eoff + ESP_HDR_LEN + ivl);
	uint16_t blk = suite == SUITE_CBC_MD5 ? 16 : 4;
	uint8_t verdict = V_NOT_ESP;
	uint32_t vseq = 0;

	uint8_t trouble = 0, mode = 0;
	if (!(ctl & F_RAWNH)) {
		static const uint8_t nhs[3] = { IP_PROTO_ICMP, IP_PROTO_UDP, ESP_NH_DUMMY };
		trouble = nh & 0x80;
		nh = nhs[(nh & 0x7F) % 3];
	}
	if (trouble)
		mode = take(c);
	if (ctl & F_PADN)
		q = take(c);
	L = (ctl & F_PADLEN) ? take(c) : 0xFFFF;
	/* room for payload and padding: the frame after the payload's
	 * offset, less the ICV (CBC: whole blocks) and the trailer */
	uint16_t room = (uint16_t)(CONFIG_FRAME_MAX - pt);
	if (!clear) {
		room = (uint16_t)(room - il);
		if (suite == SUITE_CBC_MD5)
			room = (uint16_t)(room & ~15u);
		room = (uint16_t)(room - 2);
	}
	if (len > c->n)
		len = (uint16_t)c->n;
	if (len > room)
		len = room;
	if (clear)
		q = 0;
	else if (!(ctl & F_PADN))
		q = (uint16_t)((blk - (len + 2) % blk) % blk);
	if (len + q > room)
		q = (uint16_t)(room - len);

	memset(b, 0, CONFIG_FRAME_MAX);
	uint8_t *p = b + pt;
	memcpy(p, c->p, len);
	c->p += len;
	c->n -= len;
	for (uint16_t i = 0; i < q; i++)
		p[len + i] = (ctl & F_PADB) ? take(c) : (uint8_t)(i + 1);
	uint16_t ct = (uint16_t)(len + q + 2);
	if (!clear && suite == SUITE_CBC_MD5)
		for (; ct & 15; ct++, q++) /* whole blocks (room allows it) */
			p[len + q] = (uint8_t)(q + 1);
	if (L == 0xFFFF)
		L = q;

	/* IPv4 header: from the peer (or 10.0.0.1) to the device */
	const uint8_t *peer = store_cfg.peer;
	static const uint8_t dflt[4] = { 10, 0, 0, 1 };
	if (!(peer[0] | peer[1] | peer[2] | peer[3]))
		peer = dflt;
	uint16_t total = clear ? (uint16_t)(pt + len) : (uint16_t)(pt + ct + il);
	b[0] = 0x45;
	net_put16(b + 2, total);
	net_put16(b + 4, (uint16_t)next_seq);
	b[8] = 64;
	b[9] = clear ? nh : encap ? IP_PROTO_UDP : IP_PROTO_ESP;
	memcpy(b + 12, peer, 4);
	memcpy(b + 16, store_cfg.addr, 4);
	if (ctl & F_FIX)
		fix_inner(b, p, len, nh);
	/* a settings-write request (docs/tasks.md): index a[0] */
	int setting = -1;
	if (nh == IP_PROTO_UDP && len == UDP_HDR_LEN + 7 && net_be16(p + 2) == CONFIG_TASK_PORT &&
	    p[UDP_HDR_LEN] == TASK_VERSION && p[UDP_HDR_LEN + 1] == TASK_SETTINGS_WRITE && p[UDP_HDR_LEN + 4] <= 1)
		setting = p[UDP_HDR_LEN + 4];

	if (!clear) {
		int64_t s = (int64_t)next_seq + dseq;
		uint32_t seq = s < 0 ? 0 : s > 0xFFFFFFFFLL ? 0xFFFFFFFFu : (uint32_t)s;
		uint8_t *e = b + eoff;
		if (seq >= next_seq)
			next_seq = seq == 0xFFFFFFFFu ? seq : seq + 1;
		p[len + q] = (uint8_t)L;
		p[len + q + 1] = nh;
		net_put32(e, net_be32(in + EE_SA_SPI));
		net_put32(e + 4, seq);
		for (uint8_t i = 0; i < ivl; i++) /* any IV will do; vary it */
			e[ESP_HDR_LEN + i] = (uint8_t)(seq * 7 + i);
		verdict = !win_fresh(seq) ? V_REPLAY : trailer_ok(p, ct) ? V_ACCEPT : V_MALFORMED;
		vseq = seq;
		if (crypt(0, 1, e, ct))
			FAIL("sealing failed");
		if (encap) {
			net_put16(b + 20, UDP_PORT_ESP);
			net_put16(b + 22, UDP_PORT_ESP);
			net_put16(b + 24, (uint16_t)(total - IP_HDR_LEN));
		}
	}
	if (ctl & F_PATCH) { /* the unauthenticated headers only */
		uint8_t off = take(c), x = take(c);
		b[off % (encap ? IP_HDR_LEN + UDP_HDR_LEN : IP_HDR_LEN)] ^= x;
	}
	if (!(ctl & F_RAWSUM) || !(ctl & F_PATCH)) {
		net_put16(b + 10, 0);
		net_put16(b + 10, (uint16_t)~net_sum(0, b, IP_HDR_LEN));
	}
	/* The sealed ESP packet is where the device will look for one, or
	 * it must not be processed as ESP, or (somewhere else) dropped. */
	uint16_t at = esp_offset(b, total);
	if (clear || at != eoff)
		verdict = at ? V_ESP_DROP : V_NOT_ESP;

	uint8_t src[4];
	memcpy(src, b + 12, 4);
	/* EEPROM trouble during this packet: mode bits 7-6 0 the next
	 * (mode & 63) + 1 writes fail (torn), 1 the power is cut during
	 * write (mode & 63) + 1, then a reboot; 2, 3 a reboot after it */
	uint8_t failing = trouble && (mode >> 6) <= 1;
	if (trouble && (mode >> 6) == 0)
		store_fail_writes = (uint16_t)((mode & 63) + 1);
	else if (trouble && (mode >> 6) == 1)
		store_cut_writes = (uint16_t)((mode & 63) + 1);
	ms_counter before[NET_NCOUNTERS];
	uint32_t top0 = esp_in_top, bits0 = esp_in_bits;
	memcpy(before, net_counters, sizeof before);
	uint16_t r = net_input(b, total, CONFIG_FRAME_MAX);
	uint8_t died = store_power_off;
	store_fail_writes = 0;
	store_cut_writes = 0;
	if (died) {
		/* Nothing after the cut happened: no reply left, the packet
		 * counts as not accepted; the settings write may or may not
		 * have reached the EEPROM. */
		if (setting >= 0)
			setting_known[setting] = 0;
		reboot();
		return;
	}
#define DELTA(k) (net_counters[k] - before[k])
	if (DELTA(C_SENT) != (r ? 1u : 0u))
		FAIL("C_SENT does not count the reply");
	uint32_t rep = DELTA(C_ESP_REPLAY), mal = DELTA(C_ESP_MALFORMED), auth = DELTA(C_ESP_AUTH);
	switch (verdict) {
	case V_NOT_ESP:
		if (rep || mal || auth)
			FAIL("not ESP for the device, yet counted replay %u malformed %u auth %u", rep, mal, auth);
		break;
	case V_ESP_DROP:
		if (rep + mal + auth + DELTA(C_ESP_SPI) != 1 || r)
			FAIL("ESP at the wrong offset not dropped once");
		break;
	default:
		if (DELTA(C_IP_RX) != 1 || auth || DELTA(C_ESP_SPI))
			FAIL("seq %u: a packet sealed under the inbound SA not taken as authentic", vseq);
		if (rep != (verdict == V_REPLAY) || mal != (verdict == V_MALFORMED))
			FAIL("seq %u: expected %s, counted replay %u malformed %u", vseq,
			     verdict == V_REPLAY ? "replay" : verdict == V_MALFORMED ? "malformed" : "accept",
			     rep, mal);
		if (verdict != V_ACCEPT && r)
			FAIL("seq %u: a dropped packet was answered", vseq);
		if (verdict == V_ACCEPT && failing && top0 == esp_in_top && bits0 == esp_in_bits) {
			/* the stored floor could not be kept ahead: dropped */
			if (DELTA(C_NO_SEND) != 1 || r)
				FAIL("seq %u: not accepted, not counted as no-send", vseq);
		} else if (verdict == V_ACCEPT) {
			win_accept(vseq);
			if (vseq > max_acc)
				max_acc = vseq;
		}
	}
#undef DELTA
	if (store_nonce_next > nonce_hi)
		nonce_hi = store_nonce_next;
	last_udp_len = 0;
	if (r)
		check_reply(b, r, verdict == V_ACCEPT, src);
	if (setting >= 0) {
		/* acknowledged: the value must survive a reboot; else unknown */
		const uint8_t *u = last_udp;
		if (last_udp_len == UDP_HDR_LEN + 7 && net_be16(u) == CONFIG_TASK_PORT &&
		    u[UDP_HDR_LEN + 1] == TASK_SETTINGS_WRITE && u[UDP_HDR_LEN + 4] == TASK_OK) {
			setting_value[setting] = net_be16(u + UDP_HDR_LEN + 5);
			setting_known[setting] = 1;
		} else {
			setting_known[setting] = 0;
		}
	}
	if (trouble && (mode >> 6) >= 1)
		reboot();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *path = getenv("GOLDEN");
	(void)argc;
	(void)argv;
	if (!path)
		path = "../pkg/provision/testdata/golden-atmega328p.hex";
	if (load_ihex(path, golden, sizeof golden)) {
		perror(path);
		exit(2);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	host_app_init();
	struct cursor c = { data, size };
	if (size < 1)
		return 0;
	boot(take(&c));
	reply_seq = 0;
	next_seq = store_st.esp_in_floor + 1;
	win_reset();
	remember_boot();
	uint8_t *b = malloc(CONFIG_FRAME_MAX);
	if (!b)
		abort();
	for (int k = 0; k < MAX_PKTS && c.n >= 4; k++)
		packet(b, &c);
	free(b);
	return 0;
}

#ifdef FUZZ_STANDALONE
#include <dirent.h>

static uint32_t rng = 2463534242u;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

#define MAX_SEEDS 4096
#define MAX_IN 4096
static uint8_t *seeds[MAX_SEEDS];
static size_t seed_len[MAX_SEEDS], nseeds;

static void load_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f || nseeds == MAX_SEEDS) {
		if (f)
			fclose(f);
		return;
	}
	uint8_t *p = malloc(MAX_IN);
	size_t n = p ? fread(p, 1, MAX_IN, f) : 0;
	fclose(f);
	if (!n) {
		free(p);
		return;
	}
	seeds[nseeds] = p;
	seed_len[nseeds++] = n;
}

/* A seed file, or a directory of them. */
static void load(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char file[1024];
	if (!d) {
		load_file(path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(file, sizeof file, "%s/%s", path, de->d_name);
		load_file(file);
	}
	closedir(d);
}

/* Without libFuzzer: every seed as is, then N random mutations of them
 * (byte changes, insertions, deletions, splices). */
int main(int argc, char **argv)
{
	host_app_init();
	unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
	static uint8_t in[MAX_IN];
	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 2; i < argc; i++)
		load(argv[i]);
	for (size_t i = 0; i < nseeds; i++) {
		LLVMFuzzerTestOneInput(seeds[i], seed_len[i]);
		if (getenv("FUZZ_ESP_VERBOSE")) {
			printf("seed %zu (%zu bytes):", i, seed_len[i]);
			for (int c = 0; c < NET_NCOUNTERS; c++)
				printf(" %lu", (unsigned long)net_counters[c]);
			printf("\n");
		}
	}
	for (unsigned long it = 0; nseeds && it < iters; it++) {
		size_t k = rnd() % nseeds, n = seed_len[k];
		memcpy(in, seeds[k], n);
		for (uint32_t m = rnd() % 4 + 1; m--;) {
			size_t at = rnd() % n;
			switch (rnd() % 4) {
			case 0:
				in[at] ^= (uint8_t)(1u << (rnd() % 8));
				break;
			case 1:
				in[at] = (uint8_t)rnd();
				break;
			case 2: /* delete a byte */
				if (n > 1) {
					memmove(in + at, in + at + 1, n - at - 1);
					n--;
				}
				break;
			default: { /* splice another seed's tail */
				size_t o = rnd() % nseeds, from = rnd() % seed_len[o];
				size_t c = seed_len[o] - from;
				if (at + c > MAX_IN)
					c = MAX_IN - at;
				memcpy(in + at, seeds[o] + from, c);
				n = at + c;
				break;
			}
			}
		}
		LLVMFuzzerTestOneInput(in, n);
	}
	printf("%zu seeds, %lu mutations, counters:", nseeds, iters);
	for (int i = 0; i < NET_NCOUNTERS; i++)
		printf(" %lu", (unsigned long)net_counters[i]);
	printf("\n");
	return 0;
}
#endif
