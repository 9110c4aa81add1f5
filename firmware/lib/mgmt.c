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
#include "crypto/pgm.h"
#include "crypto/sha256.h"
#include "esp.h"
#include "mgmt.h"
#include "mgmt_rsa.h" /* ENGINEER RSA */
#include "prov.h"
#include "bootstrap.h"
#include "ms_base.h"
#include "store.h"
#include "tasks.h"
#include "timer.h"
#include "ms_app.h"


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
#define OPT_ENGINEERING 0x0040 /* BENCH, COMPUTE and RSA built (CONFIG_MGMT_CRYPTO) */
#define OPT_MSSL 0x0080        /* MSSL built (CONFIG_MSSL) */

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
	size_t l = net_be16(c->p);
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
	net_put16(d, (uint16_t)n);
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
#if CONFIG_MGMT_CRYPTO
	o |= OPT_ENGINEERING;
#endif
#if CONFIG_MSSL
	o |= OPT_MSSL;
#endif
	if (store_provisioned())
		o |= OPT_PROVISIONED;
	return o;
}

#define BE16(v) (uint8_t)((v) >> 8), (uint8_t)(v)
#define BE32(v) BE16((uint32_t)(v) >> 16), BE16((uint32_t)(v) & 0xFFFF)

/* The IDENTIFY reply but its options (offset 11): all known at build
 * time (docs/management.md). */
static const struct {
	uint8_t head[28];
	char name[sizeof MCU_NAME]; /* the NUL is not sent */
} ident PGM = {
	{ MGMT_PROTO_VERSION, FW_VERSION_MAJOR, FW_VERSION_MINOR, FW_VERSION_PATCH,
	  BE32(F_CPU), SIGNATURE_0, SIGNATURE_1, SIGNATURE_2, 0, 0,
	  BE16(CONFIG_FRAME_MAX), BE16(CONFIG_FRAME_MAX - MGMT_OVERHEAD),
	  BE16(CONFIG_UART_RX_SIZE), BE16(CONFIG_UART_TX_SIZE),
	  BE16(RAMEND - RAMSTART + 1), BE16((FLASHEND + 1UL) / 1024), /* flash, KiB */
	  BE16(E2END + 1), sizeof MCU_NAME - 1 },
	MCU_NAME
};

static size_t identify(uint8_t *p)
{
	memcpy_P(p, &ident, sizeof ident - 1);
	net_put16(p + 11, options());
	return sizeof ident - 1;
}

static size_t stats(uint8_t *p)
{
	/* struct mgmt_stats: eight u32 counters in reply order */
	_Static_assert(sizeof mgmt_stats == 32, "struct mgmt_stats");
	net_put32s(p, &mgmt_stats.frames_ok, 8);
	uint32_t (*overruns)(void) = MS_APP(link_overruns);
	net_put32(p + 32, overruns ? overruns() : 0);
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
	net_put32(p + 4, c->device_id);
	memcpy(p + 8, c->addr, 4);
	memcpy(p + 12, c->peer, 4);
	for (uint8_t i = 0; i < 2; i++) {
		net_put32(p + 16 + 6 * i, c->sa[i].spi);
		p[20 + 6 * i] = c->sa[i].suite;
		p[21 + 6 * i] = c->sa[i].flags;
	}
	net_put32(p + 28, store_st.generation);
	net_put32(p + 32, store_st.esp_out_reserved);
	net_put32(p + 36, store_provisioned() ? esp_out_next : 0);
	net_put32(p + 40, store_st.esp_in_floor);
	net_put32(p + 44, store_provisioned() ? esp_in_top : 0);
	net_put16(p + 48, store_st.boot_count);
	net_put32(p + 50, mgmt_last.cycles);
	net_put16(p + 54, mgmt_last.len);
	p[56] = mgmt_last.dropped;
	p[57] = NET_NCOUNTERS;
	if (n > 58) /* the counters that fit */
		net_put32s(p + 58, net_counters, (uint8_t)((n - 58) / 4));
	return n;
}

/* ---- primitives, shared by COMPUTE and BENCH ------------------------- */
#if CONFIG_MGMT_CRYPTO

/* Primitives a build option left out (MGMT_E_UNSUPP). */
static uint8_t left_out(uint8_t prim)
{
#if !CONFIG_AES_DECRYPT
	if (prim == PRIM_AES_DEC || prim == PRIM_CBC_DEC)
		return 1;
#endif
#if !CONFIG_MD5
	if (prim == PRIM_MD5 || prim == PRIM_HMAC_MD5)
		return 1;
#endif
#if !CONFIG_SHA256
	if (prim == PRIM_SHA256 || prim == PRIM_HMAC_SHA256)
		return 1;
#endif
	(void)prim;
	return 0;
}

/*
 * The block cipher primitives (PRIM_AES_ENC .. PRIM_CTR) over n bytes at
 * d, in place, with the key schedule in work.aes; iv is the CBC IV or the
 * CTR counter block (updated). ECB and CBC take whole blocks.
 */
static void cipher(uint8_t prim, uint8_t *iv, uint8_t *d, size_t n)
{
	switch (prim) {
	case PRIM_AES_ENC:
	case PRIM_AES_DEC:
		for (size_t i = 0; i < n; i += 16) {
#if CONFIG_AES_DECRYPT
			if (prim == PRIM_AES_DEC)
				aes128_decrypt(&work.aes, d + i);
			else
#endif
				aes128_encrypt(&work.aes, d + i);
		}
		break;
	case PRIM_CBC_ENC:
		aes128_cbc_encrypt(&work.aes, iv, d, n / 16);
		break;
#if CONFIG_AES_DECRYPT
	case PRIM_CBC_DEC:
		aes128_cbc_decrypt(&work.aes, iv, d, n / 16);
		break;
#endif
	default: /* PRIM_CTR */
		aes128_ctr(&work.aes, iv, d, n);
		break;
	}
}

/*
 * The hashes and HMACs (PRIM_MD5 .. PRIM_HMAC_SHA256) behind one
 * interface, their context in the work area: init (key for the HMACs),
 * update, final (returns the digest size). The MD5 family has the odd
 * ids, the HMACs the two highest.
 */
#define IS_MD5(prim) ((prim) & 1)
#define IS_HMAC(prim) ((prim) >= PRIM_HMAC_MD5)
_Static_assert((PRIM_MD5 & 1) && (PRIM_HMAC_MD5 & 1) && !(PRIM_SHA256 & 1) &&
               !(PRIM_HMAC_SHA256 & 1) && PRIM_HMAC_MD5 == PRIM_MAX - 1 &&
               PRIM_MD5 > PRIM_CCM_OPEN, "primitive ids (mgmt.h)");

static void h_init(uint8_t prim, const uint8_t *key, size_t klen)
{
	switch (prim) {
#if CONFIG_MD5
	case PRIM_MD5:
		md5_init(&work.md5);
		break;
	case PRIM_HMAC_MD5:
		/* the static work area, not a one-shot's stack context: a
		 * long key (hashed first) runs deep on the stack */
		hmac_md5_init(&work.hmd5, key, klen);
		break;
#endif
#if CONFIG_SHA256
	case PRIM_SHA256:
		sha256_init(&work.sha);
		break;
	case PRIM_HMAC_SHA256:
		hmac_sha256_init(&work.hsha, key, klen);
		break;
#endif
	}
}

static void h_update(uint8_t prim, const uint8_t *p, size_t n)
{
	switch (prim) {
#if CONFIG_MD5
	case PRIM_MD5:
		md5_update(&work.md5, p, n);
		break;
	case PRIM_HMAC_MD5:
		hmac_md5_update(&work.hmd5, p, n);
		break;
#endif
#if CONFIG_SHA256
	case PRIM_SHA256:
		sha256_update(&work.sha, p, n);
		break;
	case PRIM_HMAC_SHA256:
		hmac_sha256_update(&work.hsha, p, n);
		break;
#endif
	}
}

static uint8_t h_final(uint8_t prim, uint8_t out[32])
{
	switch (prim) {
#if CONFIG_MD5
	case PRIM_MD5:
		md5_final(&work.md5, out);
		break;
	case PRIM_HMAC_MD5:
		hmac_md5_final(&work.hmd5, out);
		break;
#endif
#if CONFIG_SHA256
	case PRIM_SHA256:
		sha256_final(&work.sha, out);
		break;
	case PRIM_HMAC_SHA256:
		hmac_sha256_final(&work.hsha, out);
		break;
#endif
	}
	return IS_MD5(prim) ? MD5_DIGEST_SIZE : SHA256_DIGEST_SIZE;
}

/* ---- COMPUTE -------------------------------------------------------- */

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
	uint8_t *key, *a = NULL, *b, *d;
	size_t klen = 0, alen, blen, dlen;

	if (prim == 0 || prim > PRIM_MAX)
		return MGMT_E_PRIM;
	if (left_out(prim))
		return MGMT_E_UNSUPP;
	if (prim >= PRIM_MD5) {
		/* hashes: msg, repeat(4); HMACs: key, msg */
		uint16_t rep = 1, per = 1;
		key = IS_HMAC(prim) ? field(&c, &klen) : NULL;
		d = field(&c, &dlen);
		if (!IS_HMAC(prim))
			a = field_n(&c, 4, &bad);
		if (!c.ok || c.n || bad)
			goto done;
		if (a) {
			/* msg^rep, at most MGMT_HASH_MAX bytes (FIPS 180-4's
			 * million 'a' is over it): msg is replicated across the
			 * frame buffer so the hash is fed in long updates, not
			 * one per repetition. */
			uint32_t want = net_be32(a);
			if (dlen && want > MGMT_HASH_MAX / dlen)
				return MGMT_E_LIMIT;
			rep = dlen ? (uint16_t)want : 0;
			per = dlen ? (uint16_t)((cap - (size_t)(d - buf)) / dlen) : 1;
			if (per > rep)
				per = rep;
			if (per == 0)
				per = 1;
			for (size_t i = 1; i < per; i++)
				memcpy(d + i * dlen, d, dlen);
		}
		h_init(prim, key, klen);
		for (uint16_t i = rep / per; i; i--)
			h_update(prim, d, per * dlen);
		h_update(prim, d, (rep % per) * dlen);
		put_field(&r, out, h_final(prim, out));
		goto done;
	}
	key = field_n(&c, 16, &bad);
	switch (prim) {
	case PRIM_AES_KEYEXP:
		if (!c.ok || c.n || bad)
			break;
		aes128_init(&work.aes, key);
		if (put_field(&r, work.aes.rk, sizeof work.aes.rk))
			return MGMT_E_TOOBIG;
		break;
	case PRIM_CCM_SEAL:
	case PRIM_CCM_OPEN:
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
	default: /* ECB (key, data), CBC and CTR (key, iv or counter block, data) */
		if (prim >= PRIM_CBC_ENC)
			a = field_n(&c, 16, &bad);
		d = field(&c, &dlen);
		if (!c.ok || c.n)
			break;
		if (bad || (prim != PRIM_CTR && dlen % 16) || (prim < PRIM_CBC_ENC && dlen == 0))
			return MGMT_E_PARAM;
		if (a)
			memcpy(out, a, 16);
		aes128_init(&work.aes, key);
		cipher(prim, out, d, dlen);
		put_field(&r, d, dlen);
		break;
	}
done:
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
 * One run of prim over n bytes of the buffer, timed from the call into
 * the primitive's code to its return (Timer1 cycles): CCM in the RFC 4309
 * shape (11-byte nonce, 8-byte AAD, 16-byte ICV); the hashes and HMACs
 * fed in updates of at most cap bytes.
 */
static uint32_t run(uint8_t prim, uint8_t *buf, uint16_t n, size_t cap, uint8_t *iv, uint8_t tag[32])
{
	switch (prim) {
	case PRIM_AES_KEYEXP:
		timer_start();
		aes128_init(&work.aes, bench_key);
		break;
	case PRIM_CCM_SEAL:
		timer_start();
		aes128_ccm_seal(&work.aes, iv, 11, bench_key, 8, buf, n, tag, 16);
		break;
	case PRIM_CCM_OPEN:
		timer_start();
		aes128_ccm_open(&work.aes, iv, 11, bench_key, 8, buf, n, tag, 16);
		break;
	case PRIM_AES_ENC: /* the block loop here, so that ECB's figure is */
	case PRIM_AES_DEC: /* the block's, with no dispatch in it */
		timer_start();
		for (uint16_t i = 0; i < n; i += 16) {
#if CONFIG_AES_DECRYPT
			if (prim == PRIM_AES_DEC)
				aes128_decrypt(&work.aes, buf + i);
			else
#endif
				aes128_encrypt(&work.aes, buf + i);
		}
		break;
	default:
		if (prim < PRIM_MD5) {
			timer_start();
			cipher(prim, iv, buf, n);
			break;
		}
		timer_start();
		h_init(prim, bench_key, 16);
		for (uint16_t left = n; left;) {
			uint16_t k = left < cap ? left : (uint16_t)cap;
			h_update(prim, buf, k);
			left -= k;
		}
		h_final(prim, tag);
		break;
	}
	return timer_stop();
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
	uint16_t n = net_be16(pl + 1), reps = net_be16(pl + 3);
	uint8_t iv[16], tag[32];
	uint32_t total = 0, lo = 0xFFFFFFFFUL, hi = 0;

	if (prim == 0 || prim > PRIM_MAX)
		return MGMT_E_PRIM;
	if (reps == 0)
		return MGMT_E_PARAM;
	if (prim == PRIM_AES_KEYEXP) {
		n = 16;
	} else if (prim >= PRIM_MD5) { /* fed from the buffer in chunks of cap */
		if (n > MGMT_HASH_MAX)
			return MGMT_E_LIMIT;
	} else if (n > cap || (prim < PRIM_CTR && (n == 0 || n % 16))) {
		return MGMT_E_PARAM; /* ECB and CBC: whole blocks */
	}
	if (left_out(prim))
		return MGMT_E_UNSUPP;
	for (size_t i = 0; i < cap; i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	aes128_init(&work.aes, bench_key);
	void (*flush)(void) = MS_APP(link_flush);
	if (flush) /* no transmit interrupts inside a measurement */
		flush();
	uint16_t ovh = timer_overhead();

	uint16_t r;
	for (r = 0; r < reps && total < MGMT_BENCH_BUDGET; r++) {
		uint32_t t;
		memset(iv, 0xA5, sizeof iv);
		if (prim == PRIM_CCM_OPEN) /* a message to open (not counted) */
			run(PRIM_CCM_SEAL, buf, n, cap, iv, tag);
		t = run(prim, buf, n, cap, iv, tag);
		t = t > ovh ? t - ovh : 0;
		total += t;
		if (t < lo)
			lo = t;
		if (t > hi)
			hi = t;
	}
	wipe(&work, sizeof work);
	pl[0] = prim;
	net_put16(pl + 1, n);
	net_put16(pl + 3, r); /* the runs made */
	net_put32(pl + 5, total);
	net_put32(pl + 9, lo);
	net_put32(pl + 13, hi);
	net_put16(pl + 17, ovh);
	net_put16(pl + 19, ctx_size(prim));
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
	net_put16(buf + 3, (uint16_t)plen);
	net_put16(buf + MGMT_HDR_LEN + plen, crc16_ccitt(buf, MGMT_HDR_LEN + plen));
	return MGMT_HDR_LEN + plen + MGMT_CRC_LEN;
}

size_t mgmt_handle(uint8_t *buf, size_t len, size_t cap)
{
	size_t plen = len - MGMT_OVERHEAD;
	if (len < MGMT_OVERHEAD || buf[0] != MGMT_MAGIC || net_be16(buf + 3) != plen) {
		ms_inc32(&mgmt_stats.drop_len);
		return 0;
	}
	if (crc16_ccitt(buf, len - MGMT_CRC_LEN) != net_be16(buf + len - MGMT_CRC_LEN)) {
		ms_inc32(&mgmt_stats.drop_crc);
		return 0;
	}
	uint8_t type = buf[1], seq = buf[2];
	if (type & MGMT_REPLY) { /* a reply (another device's?): never answer it */
		ms_inc32(&mgmt_stats.drop_other);
		return 0;
	}
	ms_inc32(&mgmt_stats.frames_ok);

	uint8_t err = 0;
	size_t rlen = 0;
	switch (type) {
	case MGMT_IDENTIFY: /* empty requests */
	case MGMT_STATS:
	case MGMT_STATUS:
		if (plen)
			err = MGMT_E_FORMAT;
		else if (type == MGMT_IDENTIFY)
			rlen = identify(buf + MGMT_HDR_LEN);
		else if (type == MGMT_STATS)
			rlen = stats(buf + MGMT_HDR_LEN);
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
#if CONFIG_PROV_SERIAL
	case MGMT_PROV: /* prov.c: serial provisioning */
		err = prov_handle(buf, plen, cap, &rlen);
		break;
#endif
#if CONFIG_BOOTSTRAP
	case MGMT_BOOTSTRAP: /* bootstrap.c: flight 4 in, flight 5 or a NAK out */
		rlen = bootstrap_handle(buf + MGMT_HDR_LEN, plen);
		if (!rlen)
			err = MGMT_E_FORMAT;
		break;
#endif
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
		ms_inc32(&mgmt_stats.errors);
		buf[MGMT_HDR_LEN] = err;
		buf[MGMT_HDR_LEN + 1] = type;
		return finish(buf, MGMT_ERROR, seq, 2);
	}
	return finish(buf, (uint8_t)(type | MGMT_REPLY), seq, rlen);
}
