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

struct mgmt_last mgmt_last;
uint8_t mgmt_reset_cause;

/* The work area is shared with ESP (esp.h): never in use by both at once. */
#define work fw_work

#if CONFIG_MGMT_CRYPTO
/* Digests, tags and chaining values on their way to the reply. */
static uint8_t scratch[32];
#endif

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
} ident PGM_FIRST(ident) = {
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
	/* the C_MGMT_* counters, in reply order */
	_Static_assert(MS_NCOUNTERS - C_MGMT_FRAMES_OK == 8, "STATS counters");
	net_put_counters(p, C_MGMT_FRAMES_OK, 8);
	uint32_t (*overruns)(void) = MS_APP(link_overruns);
	net_put32(p + 32, overruns ? overruns() : 0);
	p[36] = mgmt_reset_cause;
	return 37;
}

/* ---- STATUS (docs/firmware-net.md) ------------------------------------ */

/*
 * STATUS's fields from offset 1 to 56, copied from RAM in reply order,
 * one descriptor each in flash: the size (ST_RAW: bytes as they are,
 * else a number written big-endian: the AVR stores it little-endian) and
 * the variable.
 */
#define ST_RAW 0x80
#define ST_BE(v) { sizeof(v), &(v) }
#define ST_BYTES(n, v) { ST_RAW | (n), &(v) }
static const struct {
	uint8_t size;
	const void *src;
} status_fields[] PGM = {
	ST_BE(store_reason), ST_BE(store_reason) /* 2: the suites, below */,
	ST_BE(store_cfg.flags), ST_BE(store_cfg.device_id),
	ST_BYTES(8, store_cfg.addr) /* and peer */,
	ST_BE(store_cfg.sa[0].spi), ST_BYTES(2, store_cfg.sa[0].suite) /* and flags */,
	ST_BE(store_cfg.sa[1].spi), ST_BYTES(2, store_cfg.sa[1].suite),
	ST_BE(store_st.generation), ST_BE(store_st.esp_out_reserved),
	ST_BE(esp_out_next), ST_BE(store_st.esp_in_floor), ST_BE(esp_in_top),
	ST_BE(store_st.boot_count), ST_BE(mgmt_last.cycles),
	ST_BE(mgmt_last.len), ST_BE(mgmt_last.dropped),
};
_Static_assert(offsetof(struct store_config, peer) == offsetof(struct store_config, addr) + 4 &&
               offsetof(struct store_sa, flags) == offsetof(struct store_sa, suite) + 1,
               "STATUS: fields copied together");

static size_t status(uint8_t *p, size_t cap)
{
	size_t n = 58 + 4 * NET_NCOUNTERS;
	if (n > cap)
		n = cap; /* cannot happen with CONFIG_FRAME_MAX >= 137 */
	uint8_t *d = p + 1;
	for (uint8_t i = 0; i < sizeof status_fields / sizeof status_fields[0]; i++) {
		uint8_t size = pgm_read_byte(&status_fields[i].size);
		const uint8_t *src = (const uint8_t *)pgm_read_word(&status_fields[i].src);
		if (size & ST_RAW) {
			for (size &= ~ST_RAW; size--;)
				*d++ = *src++;
		} else {
			d += size;
			for (uint8_t *e = d; size--;)
				*--e = *src++;
		}
	}
	p[0] = store_provisioned();
	p[2] = store_suites();
	if (!p[0]) { /* the sequence numbers of a session: none */
		memset(p + 36, 0, 4);
		memset(p + 44, 0, 4);
	}
	p[57] = NET_NCOUNTERS;
	if (n > 58) /* the counters that fit */
		net_put_counters(p + 58, 0, (uint8_t)((n - 58) / 4));
	return n;
}

/* ---- primitives, shared by COMPUTE and BENCH ------------------------- */
#if CONFIG_MGMT_CRYPTO

/*
 * One descriptor per primitive, in flash, indexed by prim - 1: the
 * COMPUTE request's fields (their exact lengths, F_ANY for any, F_END
 * after the last), the context RAM BENCH reports and whether a build
 * option left the primitive out (MGMT_E_UNSUPP).
 */
#define F_ANY 0
#define F_END 0xFF
struct prim_desc {
	uint8_t field[5];
	uint8_t ctx; /* bytes of caller-owned state */
	uint8_t built;
};

#if CONFIG_MD5
#define MD5_CTX sizeof(md5_ctx), 1
#define HMD5_CTX sizeof(hmac_md5_ctx), 1
#else
#define MD5_CTX 0, 0
#define HMD5_CTX 0, 0
#endif
#if CONFIG_SHA256
#define SHA_CTX sizeof(sha256_ctx), 1
#define HSHA_CTX sizeof(hmac_sha256_ctx), 1
#else
#define SHA_CTX 0, 0
#define HSHA_CTX 0, 0
#endif
#define AES_CTX sizeof(aes128_ctx), 1
#define AESD_CTX sizeof(aes128_ctx), CONFIG_AES_DECRYPT
_Static_assert(sizeof(aes128_ctx) < 256, "prim_desc.ctx");
#if CONFIG_SHA256
_Static_assert(sizeof(hmac_sha256_ctx) < 256, "prim_desc.ctx");
#endif
#if CONFIG_MD5
_Static_assert(sizeof(hmac_md5_ctx) < 256, "prim_desc.ctx");
#endif

static const struct prim_desc prims[PRIM_MAX] PGM = {
	/* key; ECB: key, data; CBC and CTR: key, iv or counter block, data */
	[PRIM_AES_KEYEXP - 1] = { { 16, F_END }, AES_CTX },
	[PRIM_AES_ENC - 1] = { { 16, F_ANY, F_END }, AES_CTX },
	[PRIM_AES_DEC - 1] = { { 16, F_ANY, F_END }, AESD_CTX },
	[PRIM_CBC_ENC - 1] = { { 16, 16, F_ANY, F_END }, AES_CTX },
	[PRIM_CBC_DEC - 1] = { { 16, 16, F_ANY, F_END }, AESD_CTX },
	[PRIM_CTR - 1] = { { 16, 16, F_ANY, F_END }, AES_CTX },
	/* key, nonce, aad, data, then M (seal) or the tag (open) */
	[PRIM_CCM_SEAL - 1] = { { 16, F_ANY, F_ANY, F_ANY, 1 }, AES_CTX },
	[PRIM_CCM_OPEN - 1] = { { 16, F_ANY, F_ANY, F_ANY, F_ANY }, AES_CTX },
	/* hashes: msg, repeat(4); HMACs: key, msg */
	[PRIM_MD5 - 1] = { { F_ANY, 4, F_END }, MD5_CTX },
	[PRIM_SHA256 - 1] = { { F_ANY, 4, F_END }, SHA_CTX },
	[PRIM_HMAC_MD5 - 1] = { { F_ANY, F_ANY, F_END }, HMD5_CTX },
	[PRIM_HMAC_SHA256 - 1] = { { F_ANY, F_ANY, F_END }, HSHA_CTX },
};

/* The descriptor of a primitive id, NULL if there is no such id. */
MS_NOINLINE static const struct prim_desc *prim_desc(uint8_t prim)
{
	if (prim == 0 || prim > PRIM_MAX)
		return NULL;
	return &prims[prim - 1];
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
               PRIM_MD5 > PRIM_CCM_OPEN && PRIM_CTR + 1 == PRIM_CCM_SEAL &&
               PRIM_CCM_SEAL + 1 == PRIM_CCM_OPEN, "primitive ids (mgmt.h)");

#if CONFIG_MD5 || CONFIG_SHA256
#define IS_SHA(prim) (!IS_MD5(prim))

static void h_init(uint8_t prim, const uint8_t *key, size_t klen)
{
	/* the static work area, not a one-shot's stack context: a long
	 * HMAC key (hashed first) runs deep on the stack */
	if (IS_HMAC(prim))
		hmac_any_init(IS_SHA(prim), &work, key, klen);
	else
		hash_any_init(IS_SHA(prim), &work);
}

/* (an HMAC's inner context is at the start of its context: hmac.h) */
#define h_update(prim, p, n) hash_any_update(IS_SHA(prim), &work, (p), (n))

static uint8_t h_final(uint8_t prim, uint8_t out[32])
{
	if (IS_HMAC(prim))
		hmac_any_final(IS_SHA(prim), &work, out);
	else
		hash_any_final(IS_SHA(prim), &work, out);
	return IS_MD5(prim) ? MD5_DIGEST_SIZE : SHA256_DIGEST_SIZE;
}
#else /* no hash built: COMPUTE and BENCH refuse them (prim_desc.built) */
#define h_init(prim, key, klen) ((void)(key), (void)(klen))
#define h_update(prim, p, n) ((void)(p), (void)(n))
#define h_final(prim, out) ((void)(out), (uint8_t)0)
#endif

/*
 * prim's hash (or HMAC under key) of total bytes read from d again and
 * again, fed in updates of at most chunk bytes (d holds a whole number
 * of the message's repetitions, or the bench's pattern); the digest to
 * out, its size returned.
 */
static uint8_t h_run(uint8_t prim, const uint8_t *key, size_t klen, const uint8_t *d,
                     size_t chunk, uint16_t total, uint8_t *out)
{
	h_init(prim, key, klen);
	while (total) {
		uint16_t k = total < chunk ? total : (uint16_t)chunk;
		h_update(prim, d, k);
		total -= k;
	}
	return h_final(prim, out);
}

/*
 * CCM over d[0..n) in place with the key schedule in work.aes: seal
 * (tag written) or open (tag verified); 0, or -1 (bad sizes; open: not
 * authentic, d wiped).
 */
static int ccm(uint8_t prim, const uint8_t *nonce, size_t nlen, const uint8_t *aad,
               size_t alen, uint8_t *d, size_t n, uint8_t *tag, size_t tlen)
{
	return aes128_ccm_crypt(&work.aes, nonce, nlen, aad, alen, d, n, tag, tlen,
	                        prim == PRIM_CCM_OPEN);
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
	const struct prim_desc *pd = prim_desc(prim);
	if (!pd)
		return MGMT_E_PRIM;
	if (!PGM_BYTE(&pd->built))
		return MGMT_E_UNSUPP;

	/* the fields, their lengths checked against the descriptor */
	struct cursor c = { pl + 1, plen - 1, 1 };
	uint8_t *f[5];
	size_t fl[5];
	uint8_t bad = 0;
	for (uint8_t i = 0; i < 5; i++) {
		uint8_t want = PGM_BYTE(&pd->field[i]);
		if (want == F_END)
			break;
		f[i] = field(&c, &fl[i]);
		if (f[i] && want && fl[i] != want)
			bad = 1;
	}
	if (!c.ok || c.n)
		return MGMT_E_FORMAT;
	if (bad)
		return MGMT_E_PARAM;

	struct reply r = { buf, cap, 2 };
	uint8_t status = 0;
	uint8_t *out = scratch;
	if (prim >= PRIM_MD5) {
		uint8_t *d = f[0];
		size_t dlen = fl[0], chunk;
		uint16_t total;
		if (IS_HMAC(prim)) {
			d = f[1];
			chunk = total = (uint16_t)fl[1];
		} else {
			/* msg^rep, at most MGMT_HASH_MAX bytes (FIPS 180-4's
			 * million 'a' is over it): msg is replicated across the
			 * frame buffer (whole copies, at most rep) so the hash
			 * is fed in long updates, not one per repetition. */
			uint32_t want = net_be32(f[1]);
			if (dlen && want > MGMT_HASH_MAX / dlen)
				return MGMT_E_LIMIT;
			total = (uint16_t)((uint16_t)want * dlen); /* <= MGMT_HASH_MAX */
			size_t room = cap - (size_t)(d - buf);
			for (chunk = dlen; chunk < total && chunk + dlen <= room; chunk += dlen)
				memcpy(d + chunk, d, dlen);
		}
		put_field(&r, out, h_run(prim, f[0], fl[0], d, chunk, total, out));
	} else {
		aes128_init(&work.aes, f[0]);
		if (prim == PRIM_AES_KEYEXP) {
			if (put_field(&r, work.aes.rk, sizeof work.aes.rk))
				return MGMT_E_TOOBIG;
		} else if (prim >= PRIM_CCM_SEAL) {
			uint8_t *d = f[3], *t = f[4];
			size_t dlen = fl[3], tlen = fl[4];
			if (prim == PRIM_CCM_SEAL) {
				tlen = t[0];
				t = out;
			}
			if (tlen > 16)
				return MGMT_E_PARAM;
			if (ccm(prim, f[1], fl[1], f[2], fl[2], d, dlen, t, tlen)) {
				if (prim == PRIM_CCM_SEAL)
					return MGMT_E_PARAM;
				status = 1; /* no output: unverified plaintext never leaves */
			} else if (put_field(&r, d, dlen) ||
			           (prim == PRIM_CCM_SEAL && put_field(&r, out, tlen))) {
				return MGMT_E_TOOBIG;
			}
		} else {
			/* ECB (key, data), CBC and CTR (key, iv or counter block, data) */
			uint8_t *d = f[1];
			size_t dlen = fl[1];
			if (prim >= PRIM_CBC_ENC) {
				memcpy(out, f[1], 16);
				d = f[2];
				dlen = fl[2];
			}
			if ((prim != PRIM_CTR && dlen % 16) || (prim < PRIM_CBC_ENC && dlen == 0))
				return MGMT_E_PARAM;
			cipher(prim, out, d, dlen);
			put_field(&r, d, dlen);
		}
	}
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

/*
 * One run of prim over n bytes of the buffer, timed from the call into
 * the primitive's code to its return (Timer1 cycles): CCM in the RFC 4309
 * shape (11-byte nonce, 8-byte AAD, 16-byte ICV); the hashes and HMACs
 * fed in updates of at most cap bytes. (Out of line: inlined at both of
 * BENCH's calls it took 36 bytes more; outside the timed part.)
 */
MS_NOINLINE static uint32_t run(uint8_t prim, uint8_t *buf, uint16_t n, size_t cap, uint8_t *iv, uint8_t tag[32])
{
	if (prim == PRIM_AES_KEYEXP) {
		timer_start();
		aes128_init(&work.aes, bench_key);
	} else if (prim >= PRIM_MD5) {
		timer_start();
		h_run(prim, bench_key, 16, buf, cap, n, tag);
	} else if (prim >= PRIM_CCM_SEAL) {
		timer_start();
		ccm(prim, iv, 11, bench_key, 8, buf, n, tag, 16);
	} else if (prim <= PRIM_AES_DEC) {
		/* ECB block by block: the cipher's dispatch outside the timed
		 * part, which is the block calls (n: whole blocks, not 0) */
		uint8_t *end = buf + n;
		timer_start();
		do {
#if CONFIG_AES_DECRYPT
			if (prim == PRIM_AES_DEC)
				aes128_decrypt(&work.aes, buf);
			else
#endif
				aes128_encrypt(&work.aes, buf);
			buf += 16;
		} while (buf != end);
	} else {
		timer_start();
		cipher(prim, iv, buf, n);
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
	/* the tag (a hash's 32-byte digest, CCM's 16-byte tag) and the IV,
	 * nonce or counter block (16 bytes, not used by the hashes) */
	uint8_t *tag = scratch, *iv = scratch + 16;
	uint32_t v[3] = { 0, 0xFFFFFFFFUL, 0 }; /* total, min, max */

	const struct prim_desc *pd = prim_desc(prim);
	if (!pd)
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
	if (!PGM_BYTE(&pd->built))
		return MGMT_E_UNSUPP;
	for (size_t i = 0; i < cap; i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	aes128_init(&work.aes, bench_key);
	uint16_t ovh = timer_quiet();

	uint16_t r;
	for (r = 0; r < reps && v[0] < MGMT_BENCH_BUDGET; r++) {
		uint32_t t;
		memset(iv, 0xA5, 16);
		if (prim == PRIM_CCM_OPEN) /* a message to open (not counted) */
			run(PRIM_CCM_SEAL, buf, n, cap, iv, tag);
		t = run(prim, buf, n, cap, iv, tag);
		t = timer_net(t, ovh);
		v[0] += t;
		if (t < v[1])
			v[1] = t;
		if (t > v[2])
			v[2] = t;
	}
	wipe(&work, sizeof work);
	pl[0] = prim;
	net_put16(pl + 1, n);
	net_put16(pl + 3, r); /* the runs made */
	net_put32s(pl + 5, v, 3);
	net_put16(pl + 17, ovh);
	net_put16(pl + 19, PGM_BYTE(&pd->ctx));
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
	/* (buf[0] is MGMT_MAGIC: ms_frame dispatched on it) */
	if (len < MGMT_OVERHEAD || net_be16(buf + 3) != plen)
		return net_count(C_MGMT_DROP_LEN);
	if (crc16_ccitt(buf, len - MGMT_CRC_LEN) != net_be16(buf + len - MGMT_CRC_LEN))
		return net_count(C_MGMT_DROP_CRC);
	uint8_t type = buf[1], seq = buf[2];
	if (type & MGMT_REPLY) /* a reply (another device's?): never answer it */
		return net_count(C_MGMT_DROP_OTHER);
	NET_COUNT(C_MGMT_FRAMES_OK);

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
#if CONFIG_MGMT_CRYPTO || CONFIG_PROV_SERIAL || CONFIG_BOOTSTRAP
	/* the handlers that use the work area (IDENTIFY, STATS and STATUS
	 * do not): nothing of theirs outlives the request */
	wipe(&work, sizeof work);
#endif
#if CONFIG_MGMT_CRYPTO
	wipe(scratch, sizeof scratch);
#endif
	if (err) {
		NET_COUNT(C_MGMT_ERRORS);
		buf[MGMT_HDR_LEN] = err;
		buf[MGMT_HDR_LEN + 1] = type;
		type = MGMT_ERROR;
		rlen = 2;
	} else {
		type |= MGMT_REPLY;
	}
	return finish(buf, type, seq, rlen);
}
