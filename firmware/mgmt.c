/*
 * mgmt.c - the management channel: identify, stats, bench, compute
 * (see mgmt.h and docs/management.md).
 *
 * Everything works in place on the frame buffer owned by main.c: requests
 * are parsed with a cursor that checks every length, results are written
 * over the request, the reply is sent from the same buffer. No malloc;
 * one static work area holds whichever context the primitive needs and
 * is wiped after every request.
 */
#include <string.h>

#include <avr/interrupt.h>
#include <avr/io.h>

#include "config.h"
#include "crypto/aes.h"
#include "crypto/cbc.h"
#include "crypto/ccm.h"
#include "crypto/ct.h"
#include "crypto/ctr.h"
#include "crypto/hmac.h"
#include "crypto/md5.h"
#include "crypto/sha256.h"
#include "esp.h"
#include "mgmt.h"
#include "mgmt_rsa.h" /* ENGINEER RSA */
#include "prov.h"
#include "net/net.h"
#include "store.h"
#include "tasks.h"
#include "timer.h"
#include "uart.h"


#if defined(__AVR_ATmega328P__)
#define MCU_NAME "atmega328p"
#elif defined(__AVR_ATmega168__)
#define MCU_NAME "atmega168"
#elif defined(__AVR_ATmega328__)
#define MCU_NAME "atmega328"
#else
#define MCU_NAME "avr"
#endif

/* IDENTIFY option bits. */
#define OPT_AES_DECRYPT 0x0001
#define OPT_AES_ASM 0x0002
#define OPT_MD5 0x0004
#define OPT_SHA256 0x0008
#define OPT_NET 0x0010         /* IPv4 stack and ESP built */
#define OPT_PROVISIONED 0x0020 /* EEPROM config valid (STATUS says why not) */

struct mgmt_stats mgmt_stats;
struct mgmt_last mgmt_last;
uint8_t mgmt_reset_cause;

/* The work area is shared with ESP (esp.h): never in use by both at once. */
#define work fw_work

#if CONFIG_MGMT_CRYPTO
/* Digests, tags and chaining values on their way to the reply. */
static uint8_t scratch[32];
#endif

uint16_t crc16_ccitt(const uint8_t *p, size_t n)
{
	uint16_t crc = 0xFFFF;
	while (n--)
		crc = crc16_byte(crc, *p++);
	return crc;
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)((uint16_t)p[0] << 8 | p[1]); }
#if CONFIG_MGMT_CRYPTO
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
#endif
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

#if CONFIG_MGMT_CRYPTO
/* ---- request cursor: u16 length-prefixed fields ---------------------- */

struct cursor {
	uint8_t *p;
	size_t n;
	uint8_t ok;
};

static uint8_t *field(struct cursor *c, size_t *len)
{
	if (!c->ok || c->n < 2) {
		c->ok = 0;
		return NULL;
	}
	size_t l = get16(c->p);
	if (c->n - 2 < l) {
		c->ok = 0;
		return NULL;
	}
	uint8_t *f = c->p + 2;
	c->p += 2 + l;
	c->n -= 2 + l;
	*len = l;
	return f;
}

/* A field that must have exactly want bytes. */
static uint8_t *field_n(struct cursor *c, size_t want, uint8_t *bad_param)
{
	size_t l;
	uint8_t *f = field(c, &l);
	if (f && l != want)
		*bad_param = 1;
	return f;
}

/* ---- reply builder: fields appended after prim and status ---------- */

struct reply {
	uint8_t *buf; /* frame buffer */
	size_t cap;
	size_t len; /* payload bytes so far (from buf + MGMT_HDR_LEN) */
};

/* Append a u16-prefixed field; src may overlap the destination. */
static int put_field(struct reply *r, const uint8_t *src, size_t n)
{
	if (MGMT_HDR_LEN + r->len + 2 + n + MGMT_CRC_LEN > r->cap)
		return -1;
	uint8_t *d = r->buf + MGMT_HDR_LEN + r->len;
	memmove(d + 2, src, n);
	put16(d, (uint16_t)n);
	r->len += 2 + n;
	return 0;
}

#endif /* CONFIG_MGMT_CRYPTO */

/* ---- IDENTIFY and STATS -------------------------------------------- */

static uint16_t options(void)
{
	uint16_t o = 0;
#if CONFIG_AES_DECRYPT
	o |= OPT_AES_DECRYPT;
#endif
#if CONFIG_AES_ASM
	o |= OPT_AES_ASM;
#endif
#if CONFIG_MD5
	o |= OPT_MD5;
#endif
#if CONFIG_SHA256
	o |= OPT_SHA256;
#endif
	o |= OPT_NET;
	if (store_provisioned())
		o |= OPT_PROVISIONED;
	return o;
}

static size_t identify(uint8_t *p)
{
	static const char name[] = MCU_NAME;
	p[0] = MGMT_PROTO_VERSION;
	p[1] = FW_VERSION_MAJOR;
	p[2] = FW_VERSION_MINOR;
	p[3] = FW_VERSION_PATCH;
	put32(p + 4, F_CPU);
	p[8] = SIGNATURE_0;
	p[9] = SIGNATURE_1;
	p[10] = SIGNATURE_2;
	put16(p + 11, options());
	put16(p + 13, CONFIG_FRAME_MAX);
	put16(p + 15, CONFIG_FRAME_MAX - MGMT_OVERHEAD);
	put16(p + 17, CONFIG_UART_RX_SIZE);
	put16(p + 19, CONFIG_UART_TX_SIZE);
	put16(p + 21, (uint16_t)(RAMEND - RAMSTART + 1));
	put16(p + 23, (uint16_t)((FLASHEND + 1UL) / 1024)); /* flash, KiB */
	put16(p + 25, (uint16_t)(E2END + 1));
	p[27] = (uint8_t)(sizeof name - 1);
	memcpy(p + 28, name, sizeof name - 1);
	return 28 + sizeof name - 1;
}

static size_t stats(uint8_t *p)
{
	put32(p + 0, mgmt_stats.frames_ok);
	put32(p + 4, mgmt_stats.drop_crc);
	put32(p + 8, mgmt_stats.drop_len);
	put32(p + 12, mgmt_stats.drop_oversize);
	put32(p + 16, mgmt_stats.drop_escape);
	put32(p + 20, mgmt_stats.drop_other);
	put32(p + 24, mgmt_stats.ipv4);
	put32(p + 28, mgmt_stats.errors);
	put32(p + 32, uart_rx_overruns());
	p[36] = mgmt_reset_cause;
	return 37;
}

/* ---- STATUS (docs/firmware-net.md) ------------------------------------ */

static size_t status(uint8_t *p, size_t cap)
{
	const struct store_config *c = &store_cfg;
	size_t n = 58 + 4 * NET_NCOUNTERS;
	if (n > cap)
		n = cap; /* cannot happen with CONFIG_FRAME_MAX >= 137 */
	memset(p, 0, 58);
	p[0] = store_provisioned();
	p[1] = store_reason;
	p[2] = store_suites();
	p[3] = c->flags;
	put32(p + 4, c->device_id);
	memcpy(p + 8, c->addr, 4);
	memcpy(p + 12, c->peer, 4);
	for (uint8_t i = 0; i < 2; i++) {
		put32(p + 16 + 6 * i, c->sa[i].spi);
		p[20 + 6 * i] = c->sa[i].suite;
		p[21 + 6 * i] = c->sa[i].flags;
	}
	put32(p + 28, store_st.generation);
	put32(p + 32, store_st.esp_out_reserved);
	put32(p + 36, store_provisioned() ? esp_out_next : 0);
	put32(p + 40, store_st.esp_in_floor);
	put32(p + 44, store_provisioned() ? esp_in_top : 0);
	put16(p + 48, store_st.boot_count);
	put32(p + 50, mgmt_last.cycles);
	put16(p + 54, mgmt_last.len);
	p[56] = mgmt_last.dropped;
	p[57] = NET_NCOUNTERS;
	for (uint8_t i = 0; i < NET_NCOUNTERS && 58 + 4 * (size_t)i + 4 <= n; i++)
		put32(p + 58 + 4 * i, net_counters[i]);
	return n;
}

/* ---- COMPUTE -------------------------------------------------------- */
#if CONFIG_MGMT_CRYPTO

/*
 * Request payload: prim(1) then the primitive's fields, each a u16 length
 * and bytes. Reply payload: prim(1), status(1: 0 ok, 1 authentication
 * failed), then output fields. Returns 0 or an MGMT_E_* code.
 */
static uint8_t compute(uint8_t *buf, size_t plen, size_t cap, size_t *rlen)
{
	uint8_t *pl = buf + MGMT_HDR_LEN;
	if (plen < 1)
		return MGMT_E_FORMAT;
	uint8_t prim = pl[0];
	struct cursor c = { pl + 1, plen - 1, 1 };
	struct reply r = { buf, cap, 2 };
	uint8_t bad = 0, status = 0;
	uint8_t *out = scratch;
	uint8_t *key, *a, *b, *d;
	size_t klen, alen, blen, dlen;

	switch (prim) {
	case PRIM_AES_KEYEXP:
		key = field_n(&c, 16, &bad);
		if (!c.ok || c.n || bad)
			break;
		aes128_init(&work.aes, key);
		if (put_field(&r, work.aes.rk, sizeof work.aes.rk))
			return MGMT_E_TOOBIG;
		break;
	case PRIM_AES_ENC:
	case PRIM_AES_DEC:
		key = field_n(&c, 16, &bad);
		d = field(&c, &dlen);
		if (!c.ok || c.n)
			break;
		if (bad || dlen == 0 || dlen % 16)
			return MGMT_E_PARAM;
#if !CONFIG_AES_DECRYPT
		if (prim == PRIM_AES_DEC)
			return MGMT_E_UNSUPP;
#endif
		aes128_init(&work.aes, key);
		for (size_t i = 0; i < dlen; i += 16) {
#if CONFIG_AES_DECRYPT
			if (prim == PRIM_AES_DEC)
				aes128_decrypt(&work.aes, d + i);
			else
#endif
				aes128_encrypt(&work.aes, d + i);
		}
		put_field(&r, d, dlen);
		break;
	case PRIM_CBC_ENC:
	case PRIM_CBC_DEC:
	case PRIM_CTR:
		key = field_n(&c, 16, &bad);
		a = field_n(&c, 16, &bad); /* iv or counter block */
		d = field(&c, &dlen);
		if (!c.ok || c.n)
			break;
		if (bad || (prim != PRIM_CTR && dlen % 16))
			return MGMT_E_PARAM;
		memcpy(out, a, 16);
		aes128_init(&work.aes, key);
		if (prim == PRIM_CTR)
			aes128_ctr(&work.aes, out, d, dlen);
		else if (prim == PRIM_CBC_ENC)
			aes128_cbc_encrypt(&work.aes, out, d, dlen / 16);
		else
#if CONFIG_AES_DECRYPT
			aes128_cbc_decrypt(&work.aes, out, d, dlen / 16);
#else
			return MGMT_E_UNSUPP;
#endif
		put_field(&r, d, dlen);
		break;
	case PRIM_CCM_SEAL:
	case PRIM_CCM_OPEN:
		key = field_n(&c, 16, &bad);
		a = field(&c, &alen); /* nonce */
		b = field(&c, &blen); /* aad */
		d = field(&c, &dlen); /* plaintext / ciphertext */
		{
			size_t tlen;
			uint8_t *t = field(&c, &tlen); /* seal: 1 byte M; open: tag */
			if (!c.ok || c.n)
				break;
			if (bad)
				return MGMT_E_PARAM;
			if (prim == PRIM_CCM_SEAL) {
				if (tlen != 1)
					return MGMT_E_PARAM;
				tlen = t[0];
			}
			if (tlen > 16)
				return MGMT_E_PARAM;
			aes128_init(&work.aes, key);
			if (prim == PRIM_CCM_SEAL) {
				if (aes128_ccm_seal(&work.aes, a, alen, b, blen, d, dlen, out, tlen))
					return MGMT_E_PARAM;
				if (put_field(&r, d, dlen) || put_field(&r, out, tlen))
					return MGMT_E_TOOBIG;
			} else if (aes128_ccm_open(&work.aes, a, alen, b, blen, d, dlen, t, tlen)) {
				status = 1; /* no output: unverified plaintext never leaves */
			} else {
				put_field(&r, d, dlen);
			}
		}
		break;
	case PRIM_MD5:
	case PRIM_SHA256:
		d = field(&c, &dlen);
		a = field_n(&c, 4, &bad); /* repeat count, u32 BE */
		if (!c.ok || c.n)
			break;
		if (bad)
			return MGMT_E_PARAM;
		{
			uint32_t rep = get32(a);
			if (dlen == 0)
				rep = 0;
			else if (rep > MGMT_HASH_MAX / dlen)
				return MGMT_E_LIMIT;
			/* Messages of the form msg^rep (FIPS 180-4's million 'a'):
			 * replicate msg across the frame buffer so the hash is fed
			 * in long updates, not one per repetition. */
			size_t per = dlen ? (cap - (size_t)(d - buf)) / dlen : 0;
			if (per > rep)
				per = rep;
			if (per == 0)
				per = 1;
			for (size_t i = 1; i < per; i++)
				memcpy(d + i * dlen, d, dlen);
			uint32_t chunks = rep / per, rest = rep % per;
#if CONFIG_MD5
			if (prim == PRIM_MD5) {
				md5_init(&work.md5);
				for (uint32_t i = 0; i < chunks; i++)
					md5_update(&work.md5, d, per * dlen);
				md5_update(&work.md5, d, rest * dlen);
				md5_final(&work.md5, out);
				put_field(&r, out, MD5_DIGEST_SIZE);
				break;
			}
#endif
#if CONFIG_SHA256
			if (prim == PRIM_SHA256) {
				sha256_init(&work.sha);
				for (uint32_t i = 0; i < chunks; i++)
					sha256_update(&work.sha, d, per * dlen);
				sha256_update(&work.sha, d, rest * dlen);
				sha256_final(&work.sha, out);
				put_field(&r, out, SHA256_DIGEST_SIZE);
				break;
			}
#endif
			return MGMT_E_UNSUPP;
		}
	case PRIM_HMAC_MD5:
	case PRIM_HMAC_SHA256:
		key = field(&c, &klen);
		d = field(&c, &dlen);
		if (!c.ok || c.n)
			break;
#if CONFIG_MD5
		if (prim == PRIM_HMAC_MD5) {
			/* the static work area, not the one-shot's stack context:
			 * a long key (hashed first) runs deep on the stack */
			hmac_md5_init(&work.hmd5, key, klen);
			hmac_md5_update(&work.hmd5, d, dlen);
			hmac_md5_final(&work.hmd5, out);
			put_field(&r, out, MD5_DIGEST_SIZE);
			break;
		}
#endif
#if CONFIG_SHA256
		if (prim == PRIM_HMAC_SHA256) {
			hmac_sha256_init(&work.hsha, key, klen);
			hmac_sha256_update(&work.hsha, d, dlen);
			hmac_sha256_final(&work.hsha, out);
			put_field(&r, out, SHA256_DIGEST_SIZE);
			break;
		}
#endif
		return MGMT_E_UNSUPP;
	default:
		return MGMT_E_PRIM;
	}
	if (!c.ok || c.n)
		return MGMT_E_FORMAT;
	if (bad)
		return MGMT_E_PARAM;
	buf[MGMT_HDR_LEN] = prim;
	buf[MGMT_HDR_LEN + 1] = status;
	*rlen = r.len;
	return 0;
}

/* ---- BENCH ---------------------------------------------------------- */

static const uint8_t bench_key[16] = {
	0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
	0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c,
};

/* Context RAM of each primitive (caller-owned state, bytes). */
static uint16_t ctx_size(uint8_t prim)
{
	switch (prim) {
#if CONFIG_MD5
	case PRIM_MD5: return sizeof(md5_ctx);
	case PRIM_HMAC_MD5: return sizeof(hmac_md5_ctx);
#endif
#if CONFIG_SHA256
	case PRIM_SHA256: return sizeof(sha256_ctx);
	case PRIM_HMAC_SHA256: return sizeof(hmac_sha256_ctx);
#endif
	default: return sizeof(aes128_ctx);
	}
}

/*
 * Request payload: prim(1) n(2) reps(2). Times up to reps runs of the
 * primitive over n bytes of a buffer of pattern bytes; each run is timed
 * alone and the timer's own overhead subtracted. No run starts once the
 * runs have taken MGMT_BENCH_BUDGET cycles. Reply payload: prim(1) n(2)
 * runs(2) total(4) min(4) max(4) overhead(2) ctx(2).
 */
static uint8_t bench(uint8_t *buf, size_t plen, size_t cap, size_t *rlen)
{
	uint8_t *pl = buf + MGMT_HDR_LEN;
	if (plen != 5)
		return MGMT_E_FORMAT;
	uint8_t prim = pl[0];
	uint16_t n = get16(pl + 1), reps = get16(pl + 3);
	uint8_t iv[16], tag[16];
	uint32_t total = 0, lo = 0xFFFFFFFFUL, hi = 0;

	if (prim == 0 || prim > PRIM_MAX)
		return MGMT_E_PRIM;
	if (reps == 0)
		return MGMT_E_PARAM;
	switch (prim) {
	case PRIM_AES_KEYEXP:
		n = 16;
		break;
	case PRIM_AES_ENC: case PRIM_AES_DEC: case PRIM_CBC_ENC: case PRIM_CBC_DEC:
		if (n == 0 || n % 16 || n > cap)
			return MGMT_E_PARAM;
		break;
	case PRIM_CTR: case PRIM_CCM_SEAL: case PRIM_CCM_OPEN:
		if (n > cap)
			return MGMT_E_PARAM;
		break;
	default: /* hashes: fed from the buffer in chunks of cap */
		if (n > MGMT_HASH_MAX)
			return MGMT_E_LIMIT;
		break;
	}
#if !CONFIG_AES_DECRYPT
	if (prim == PRIM_AES_DEC || prim == PRIM_CBC_DEC)
		return MGMT_E_UNSUPP;
#endif
#if !CONFIG_MD5
	if (prim == PRIM_MD5 || prim == PRIM_HMAC_MD5)
		return MGMT_E_UNSUPP;
#endif
#if !CONFIG_SHA256
	if (prim == PRIM_SHA256 || prim == PRIM_HMAC_SHA256)
		return MGMT_E_UNSUPP;
#endif
	for (size_t i = 0; i < cap; i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	aes128_init(&work.aes, bench_key);
	uart_flush(); /* no transmit interrupts inside a measurement */
	uint16_t ovh = timer_overhead();

	uint16_t r;
	for (r = 0; r < reps && total < MGMT_BENCH_BUDGET; r++) {
		uint32_t t;
		memset(iv, 0xA5, sizeof iv);
		if (prim == PRIM_CCM_OPEN)
			aes128_ccm_seal(&work.aes, iv, 11, bench_key, 8, buf, n, tag, 16);
		timer_start();
		switch (prim) {
		case PRIM_AES_KEYEXP:
			aes128_init(&work.aes, bench_key);
			break;
		case PRIM_AES_ENC:
			for (uint16_t i = 0; i < n; i += 16)
				aes128_encrypt(&work.aes, buf + i);
			break;
#if CONFIG_AES_DECRYPT
		case PRIM_AES_DEC:
			for (uint16_t i = 0; i < n; i += 16)
				aes128_decrypt(&work.aes, buf + i);
			break;
		case PRIM_CBC_DEC:
			aes128_cbc_decrypt(&work.aes, iv, buf, n / 16);
			break;
#endif
		case PRIM_CBC_ENC:
			aes128_cbc_encrypt(&work.aes, iv, buf, n / 16);
			break;
		case PRIM_CTR:
			aes128_ctr(&work.aes, iv, buf, n);
			break;
		case PRIM_CCM_SEAL: /* RFC 4309 shape: 11-byte nonce, 8-byte AAD, 16-byte ICV */
			aes128_ccm_seal(&work.aes, iv, 11, bench_key, 8, buf, n, tag, 16);
			break;
		case PRIM_CCM_OPEN:
			aes128_ccm_open(&work.aes, iv, 11, bench_key, 8, buf, n, tag, 16);
			break;
#if CONFIG_MD5
		case PRIM_MD5: {
			md5_ctx *h = &work.md5;
			md5_init(h);
			for (uint16_t left = n; left;) {
				uint16_t k = left < cap ? left : (uint16_t)cap;
				md5_update(h, buf, k);
				left -= k;
			}
			md5_final(h, tag);
			break;
		}
		case PRIM_HMAC_MD5: {
			hmac_md5_ctx *h = &work.hmd5;
			hmac_md5_init(h, bench_key, 16);
			for (uint16_t left = n; left;) {
				uint16_t k = left < cap ? left : (uint16_t)cap;
				hmac_md5_update(h, buf, k);
				left -= k;
			}
			hmac_md5_final(h, tag);
			break;
		}
#endif
#if CONFIG_SHA256
		case PRIM_SHA256: {
			sha256_ctx *h = &work.sha;
			sha256_init(h);
			for (uint16_t left = n; left;) {
				uint16_t k = left < cap ? left : (uint16_t)cap;
				sha256_update(h, buf, k);
				left -= k;
			}
			sha256_final(h, tag);
			break;
		}
		case PRIM_HMAC_SHA256: {
			hmac_sha256_ctx *h = &work.hsha;
			uint8_t mac[32];
			hmac_sha256_init(h, bench_key, 16);
			for (uint16_t left = n; left;) {
				uint16_t k = left < cap ? left : (uint16_t)cap;
				hmac_sha256_update(h, buf, k);
				left -= k;
			}
			hmac_sha256_final(h, mac);
			break;
		}
#endif
		default:
			break;
		}
		t = timer_stop();
		t = t > ovh ? t - ovh : 0;
		total += t;
		if (t < lo)
			lo = t;
		if (t > hi)
			hi = t;
	}
	wipe(&work, sizeof work);
	pl[0] = prim;
	put16(pl + 1, n);
	put16(pl + 3, r); /* the runs made */
	put32(pl + 5, total);
	put32(pl + 9, lo);
	put32(pl + 13, hi);
	put16(pl + 17, ovh);
	put16(pl + 19, ctx_size(prim));
	*rlen = 21;
	return 0;
}

#endif /* CONFIG_MGMT_CRYPTO */

/* ---- frame handling -------------------------------------------------- */

static size_t finish(uint8_t *buf, uint8_t type, uint8_t seq, size_t plen)
{
	buf[0] = MGMT_MAGIC;
	buf[1] = type;
	buf[2] = seq;
	put16(buf + 3, (uint16_t)plen);
	put16(buf + MGMT_HDR_LEN + plen, crc16_ccitt(buf, MGMT_HDR_LEN + plen));
	return MGMT_HDR_LEN + plen + MGMT_CRC_LEN;
}

size_t mgmt_handle(uint8_t *buf, size_t len, size_t cap)
{
	if (len < MGMT_OVERHEAD || buf[0] != MGMT_MAGIC) {
		mgmt_stats.drop_len++;
		return 0;
	}
	size_t plen = get16(buf + 3);
	if (plen != len - MGMT_OVERHEAD) {
		mgmt_stats.drop_len++;
		return 0;
	}
	if (crc16_ccitt(buf, len - MGMT_CRC_LEN) != get16(buf + len - MGMT_CRC_LEN)) {
		mgmt_stats.drop_crc++;
		return 0;
	}
	uint8_t type = buf[1], seq = buf[2];
	if (type & MGMT_REPLY) { /* a reply (another device's?): never answer it */
		mgmt_stats.drop_other++;
		return 0;
	}
	mgmt_stats.frames_ok++;

	uint8_t err = 0;
	size_t rlen = 0;
	switch (type) {
	case MGMT_IDENTIFY:
		if (plen)
			err = MGMT_E_FORMAT;
		else
			rlen = identify(buf + MGMT_HDR_LEN);
		break;
	case MGMT_STATS:
		if (plen)
			err = MGMT_E_FORMAT;
		else
			rlen = stats(buf + MGMT_HDR_LEN);
		break;
	case MGMT_STATUS:
		if (plen)
			err = MGMT_E_FORMAT;
		else
			rlen = status(buf + MGMT_HDR_LEN, cap - MGMT_OVERHEAD);
		break;
#if CONFIG_MGMT_CRYPTO
	case MGMT_BENCH:
		err = bench(buf, plen, cap, &rlen);
		break;
	case MGMT_COMPUTE:
		err = compute(buf, plen, cap, &rlen);
		break;
#endif
	case MGMT_PROV: /* prov.c: serial provisioning */
		err = prov_handle(buf, plen, cap, &rlen);
		break;
#if CONFIG_RSA && CONFIG_MGMT_CRYPTO
	case MGMT_RSA: /* mgmt_rsa.c (ENGINEER RSA) */
		err = mgmt_rsa(buf, plen, cap, &rlen);
		break;
#endif
#if CONFIG_TEST_FAULT
	case MGMT_FAULT: /* test images only: hang until the watchdog bites */
		if (plen && buf[MGMT_HDR_LEN])
			cli();
		for (;;) {
		}
#endif
	default:
		err = MGMT_E_COMMAND;
		break;
	}
	wipe(&work, sizeof work);
#if CONFIG_MGMT_CRYPTO
	wipe(scratch, sizeof scratch);
#endif
	if (err) {
		mgmt_stats.errors++;
		buf[MGMT_HDR_LEN] = err;
		buf[MGMT_HDR_LEN + 1] = type;
		return finish(buf, MGMT_ERROR, seq, 2);
	}
	return finish(buf, (uint8_t)(type | MGMT_REPLY), seq, rlen);
}
