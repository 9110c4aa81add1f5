/*
 * prov.c - serial provisioning (see prov.h, docs/provisioning.md).
 *
 * Shaped for flash: the request lengths and the state each operation
 * needs are one table, checked in prov_handle before any operation runs;
 * BEGIN's tag is computed over the request itself, so a BEGIN that fails
 * leaves a running session untouched without a copy of it; the transfer's
 * AES-CTR is the few lines it takes with a zero IV and 16-byte aligned
 * chunks. A device that cannot stage (STORE_CAN_STAGE 0, the ATmega168)
 * never opens an authenticated session: BEGIN checks the challenge and
 * the lengths, then answers "no room" (public: INFO's stage_end is 0), so
 * the tag, the decryption, the END tag and the commit are not built there.
 */
#include <string.h>

#define MS_PROV_C /* esp.h: fw_work's members for provisioning */

#include "config.h"
#include "entropy.h"
#include "crypto/aes.h"
#include "crypto/cmac.h"
#include "crypto/ct.h"
#include "crypto/pgm.h"
#include "coap.h"
#include "esp.h"
#include "mgmt_proto.h"
#include "mssl.h"
#include "ms_base.h"
#include "prov.h"
#include "reload.h"
#include "store.h"

#define work fw_work

/* Session modes (RAM; a reset ends any session). */
#define M_NONE 0
#define M_FACTORY 1 /* factory provisioning in progress (EEPROM was blank) */
#define M_AUTH 2    /* authenticated re-provisioning in progress */
#define M_DONE 3    /* the last session committed (END retries answered) */

static struct {
	uint8_t mode;
	uint8_t magic[2]; /* factory: the magic bytes, written last */
	uint16_t hi;      /* factory: end of the bytes written so far */
#if STORE_CAN_STAGE
	uint32_t chal;    /* the challenge the session is bound to */
	uint16_t left;    /* DATA bytes the session may still write (2 S) */
#endif
	/* L(2) S(2) serial floor(4) time floor(4), big-endian: BEGIN's
	 * fields and the header's, as on the wire (factory: S = L) */
	uint8_t f[12];
} ses;

void prov_reset(void) { memset(&ses, 0, sizeof ses); }

#define get16 net_be16
#define get32 net_be32
#define put16 net_put16
#define put32 net_put32

#define ses_len() get16(ses.f)
#define ses_s() get16(ses.f + 2)

/*
 * Constants in flash: the KDF's fixed input around each label (01 label
 * 00) and after the context (L = 128 bits: 00 80), the header's magic
 * and version, the bounds of a config's secret fields for READ (a byte is
 * secret when an odd number of them is <= its address: the master key
 * [20,36), the group key [40,56), each SA's keys [8,60) at 64 and 128)
 * and, per operation, the request length (REQ_MIN: at least), whether
 * it needs a provisioned device (REQ_PROV) and the reply length.
 */
#define REQ_MIN 0x80
#define REQ_PROV 0x40
static const uint8_t text[] PGM_FIRST(text) = {
	1, 'p', 'r', 'o', 'v', '-', 'm', 'a', 'c', 0,
	1, 'p', 'r', 'o', 'v', '-', 'e', 'n', 'c', 0,
	1, 'r', 'e', 'a', 'd', 'b', 'a', 'c', 'k', 0,
	0, 0x80,
	'M', 'S', 'P', 'V', 2,
};
/* (the rest not in the few bytes before the AES S-box: PGM_FIRST) */
static const uint8_t tab[] PGM = {
	20, 36, 40, 56, 72, 124, 136, 188,
	/* INFO FACTORY BEGIN DATA END READ DIGEST (END: checked by mode) */
	0, 10, 44 | REQ_PROV, 3 | REQ_MIN, 0 | REQ_MIN, 3 | REQ_PROV, 16 | REQ_PROV,
	29, 1, 1, 3, 2, 5, 19,
};
#define T_MAC 0
#define T_ENC 10
#define T_READBACK 20
#define T_KDF_END 30
#define T_MAGIC 32
#define T_SECRET 0 /* in tab */
#define T_REQ 8
#define T_RLEN 15

/* ---- keys: AES-CMAC (crypto/cmac.c) under work.aes ------------------- */
/* The CMAC state and the key schedule live in fw_work (work.prov), not on
 * the stack: the ATmega168 has no room for them under these frames. The
 * state is zero between two uses (key starts it, the final wipes it). */

MS_NOINLINE static void cmac_bytes(const uint8_t *p, uint8_t n)
{
	aes128_cmac_update(&work.aes, &work.prov.c, p, n);
}

/* One byte in RAM for the calls that take a pointer (b on the stack
 * would cost each caller a frame). */
static uint8_t one;

MS_NOINLINE static void cmac_byte(uint8_t b)
{
	one = b;
	cmac_bytes(&one, 1);
}

static void cmac_final(uint8_t tag[16])
{
	aes128_cmac_final(&work.aes, &work.prov.c, tag);
}

/* n bytes of text from at; n zero bytes (at ZERO). */
#define ZERO 0xFF
static void cmac_text(uint8_t at, uint8_t n)
{
	while (n--)
		cmac_byte(at == ZERO ? 0 : PGM_BYTE(&text[at++]));
}

/* Config byte i as it will be once the first s bytes, staged, are
 * committed (s 0: the config area as it is). */
MS_NOINLINE static uint8_t cfg_rd(uint16_t i, uint16_t s)
{
	return store_rd(i < s ? (uint16_t)(STORE_STAGE_END - s + i) : i);
}

/* Config bytes [i, end), as cfg_rd. */
static void cmac_cfg(uint16_t i, uint16_t end, uint16_t s)
{
	for (; i < end; i++)
		cmac_byte(cfg_rd(i, s));
}

/* device id(4) || c(16) (c NULL: 16 zero bytes): the end of the KDF's
 * fixed input and of the header's fields (the device id as the config
 * holds it: these run only on a provisioned device). */
static void id_ctx(const uint8_t *c)
{
	cmac_cfg(EE_DEVICE_ID, EE_DEVICE_ID + 4, 0);
	if (c)
		cmac_bytes(c, 16);
	else
		cmac_text(ZERO, 16);
}

MS_NOINLINE static void set_key(const uint8_t k[16])
{
	aes128_init(&work.aes, k);
}

/*
 * The key of label under the master key (SP 800-108 counter mode, PRF =
 * AES-CMAC): CMAC(MK, 01 || label(8) || 00 || device id(4) || ctx(16) ||
 * 0080) becomes the key of work.aes, its CMAC state started. ctx: the
 * challenge, or NULL for 16 zero bytes. (esp.c derives a CFG_BOOTSTRAP
 * config's SAs the same way, with a zero context.)
 */
MS_NOINLINE static void key(uint8_t label, const uint8_t *ctx)
{
	uint8_t k[16];
	memset(&work.prov.c, 0, sizeof work.prov.c);
	store_master_key(k);
	set_key(k);
	cmac_text(label, 10);
	id_ctx(ctx);
	cmac_text(T_KDF_END, 2);
	cmac_final(k);
	set_key(k);
	wipe(k, sizeof k);
}

#if STORE_CAN_STAGE /* (the authenticated session) */
/* The MAC key of challenge c, and the header block absorbed: "MSPV" ver
 * phase L S floors(8) device-id c 0(10) (48 bytes; f: L S floors as on
 * the wire). */
MS_NOINLINE static void mac_header(uint8_t phase, const uint8_t f[12], const uint8_t c[16])
{
	key(T_MAC, c);
	cmac_text(T_MAGIC, 5);
	cmac_byte(phase);
	cmac_bytes(f, 12);
	id_ctx(c);
	cmac_text(ZERO, 10);
}

/* 1 if the 16-byte tag equals the CMAC absorbed (constant time); want:
 * 16 bytes of scratch for it. */
static uint8_t tag_ok(uint8_t *want, const uint8_t *tag)
{
	cmac_final(want);
	uint8_t ok = ct_equal(want, tag, 16) == 0;
	wipe(want, 16); /* the tag of a header the requester chose */
	return ok;
}
#endif

/* 1 if len is a config length the layout allows on this EEPROM: 192,
 * 320 or 448 (= 64 mod 128). */
MS_NOINLINE static uint8_t valid_len(uint16_t len)
{
	len = (uint16_t)(len - EE_CONFIG_FIXED); /* (below it: wraps, too large) */
	return !((uint8_t)len & 127) && len <= STORE_CONFIG_MAX_RAW - EE_CONFIG_FIXED;
}

/* Undo an unfinished factory session: back to the blank EEPROM. The
 * session began on a blank EEPROM and nothing else writes it while the
 * device is unprovisioned, so erasing all of it (eeprom_update_block:
 * bytes already 0xFF are not written again) erases exactly what the
 * session wrote. 0, or -1 if the EEPROM did not take it. */
static int factory_undo(void)
{
	ses.mode = M_NONE;
	for (uint16_t a = 0; a < STORE_EE_SIZE; a++) {
		one = 0xFF;
		if (store_write(a, &one, 1))
			return -1;
	}
	return ms_reload() == STORE_BLANK ? 0 : -1;
}

#if STORE_CAN_STAGE
/* The session's challenge into c (16 bytes). */
MS_NOINLINE static void ses_challenge(uint8_t c[16])
{
	entropy_nonce(c, ses.chal);
}

/* Byte i of the config as it will be after the commit. */
static uint8_t new_byte(uint16_t i)
{
	return cfg_rd(i, ses_s());
}

/* 0 if the n bytes of the new config at offset nw equal the current
 * config's at offset cur (public bytes or a yes/no on key equality:
 * the loop does not stop early anyway). */
MS_NOINLINE static uint8_t differ(uint16_t nw, uint16_t cur, uint16_t n)
{
	uint8_t acc = 0;
	while (n--)
		acc |= (uint8_t)(new_byte(nw++) ^ store_rd(cur++));
	return acc;
}

/*
 * 1 if SA a of the new config may use a key that either SA of the
 * current one used: the counters must then go on, never back (a CCM/CTR
 * nonce must not repeat). Explicit SAs: the 52 key bytes of the slots.
 * A CFG_BOOTSTRAP config's keys are not in its slots but derived from
 * the master key (esp.c), not at hand here (the other config's slots may
 * even hold them): from, to or between such configs the counters go on.
 * (Re-keying a bootstrapped device is a join, which starts them anew;
 * comparing two bootstrapped configs' master keys here would cost 14 B
 * the bootstrap budget does not have.)
 */
static uint8_t old_keys(uint8_t a)
{
#if CONFIG_BOOTSTRAP
	if ((new_byte(EE_FLAGS) | store_cfg.flags) & CFG_BOOTSTRAP)
		return 1;
#endif
	uint16_t k = store_sa_addr(a, EE_SA_ENC_KEY);
	return !differ(k, store_sa_addr(0, EE_SA_ENC_KEY), 52) ||
	       !differ(k, store_sa_addr(1, EE_SA_ENC_KEY), 52);
}

/*
 * Zero the staged copy's fixed part, [0, 192) (BEGIN's S >= 192): every
 * key is in it. Once nothing needs them: after the commit (the config
 * area has them) or when END refused them. Staged in clear, they would
 * outlive the config: a later rotation with a smaller S overwrites only
 * the top of the staging area, and a refused END leaves keys that never
 * became active. (Not after a failed commit: the journal redoes it from
 * the staged bytes at the next boot.) 192 bytes: 0.65 s of EEPROM writes.
 */
MS_NOINLINE static void wipe_staged(uint16_t s)
{
	uint16_t a = (uint16_t)(STORE_STAGE_END - s);
	one = 0;
	for (uint8_t i = EE_CONFIG_FIXED; i--; a++)
		(void)store_write(a, &one, 1);
}

/* END of a re-provisioning: the tag over what is staged, the checks,
 * the new counters (docs/provisioning.md "Counters"), the commit. */
static uint8_t end_auth(const uint8_t *tag)
{
	uint16_t len = ses_len(), s = ses_s();
	uint8_t c[16];
	ses_challenge(c);
	mac_header(2, ses.f, c);
	cmac_cfg(0, len, s);
	ses.mode = M_NONE; /* one END per challenge */
	uint8_t e = MGMT_E_AUTH;
	if (!tag_ok(c, tag))
		goto wipe;
	/* the config checked and committed is the one the tag covers: its
	 * length field is BEGIN's L (bytes past L would be unauthenticated) */
	e = MGMT_E_CONFIG;
	if (store_check_staged(s) != STORE_OK ||
	    (uint16_t)(new_byte(EE_LENGTH) << 8 | new_byte(EE_LENGTH + 1)) != len)
		goto wipe;

	/* in fw_work: the MAC is done with it */
	struct store_state *ns = &work.prov_ns;
	*ns = store_st;
	uint32_t hi = ns->esp_out_reserved > ns->esp_in_floor ? ns->esp_out_reserved : ns->esp_in_floor;
	ns->esp_in_floor = old_keys(0) ? hi : 0;
	ns->esp_out_reserved = old_keys(1) ? hi : 0;
	/* floors: the same issuer's only rise, a new issuer's start anew.
	 * Without RSA they only rise: such a device checks no issuer key id
	 * (a grant is taken on its seal), so the grants an old issuer had
	 * revoked would be taken again under the new one's floors. */
	if (CONFIG_MSSL_RSA && !(len == store_cfg.len &&
	                         !differ(EE_MODULUS, EE_MODULUS, (uint16_t)(len - EE_MODULUS))))
		ns->serial_floor = ns->time_floor = 0;
	ms_raise32(&ns->serial_floor, ses.f + 4);
	ms_raise32(&ns->time_floor, ses.f + 8);
	int bad = store_journal_commit(s, ns);
	ms_reload();
	if (bad)
		return MGMT_E_EEPROM; /* (the journal redoes it from the staged bytes) */
	ses.mode = M_DONE;
	e = 0;
wipe:
	wipe_staged(s);
	return e;
}
#endif

/* ---- operations (lengths and state checked by prov_handle) ------------ */

/* The challenge INFO hands out now into c (16 bytes). */
MS_NOINLINE static void next_challenge(uint8_t c[16])
{
	entropy_nonce(c, store_nonce_next);
}

/* 1 in factory state: the whole EEPROM blank, or a factory session on. */
MS_NOINLINE static uint8_t factory_state(void)
{
	return store_blank() || ses.mode == M_FACTORY;
}

/* INFO: the reply after op at r. */
static void op_info(uint8_t *r)
{
	uint8_t st = PROV_ST_LOCKED;
	memset(r + 6, 0, 18);
	if (factory_state()) {
		st = PROV_ST_FACTORY;
	} else if (store_provisioned()) {
		st = PROV_ST_PROVISIONED;
		next_challenge(r + 6);
		put16(r + 22, store_cfg.len);
	}
	r[0] = st;
	r[1] = store_reason;
	put32(r + 2, store_cfg.device_id);
	put16(r + 24, STORE_CAN_STAGE ? STORE_STAGE_END : 0);
	put16(r + 26, STORE_EE_SIZE);
}

/* p: L(2) serial floor(4) time floor(4) */
static uint8_t op_factory(const uint8_t *p)
{
	if (!factory_state())
		return MGMT_E_STATE; /* provisioned, or corrupt: never unauthenticated */
	if (!valid_len(get16(p)))
		return MGMT_E_PARAM;
	if (ses.mode == M_FACTORY && factory_undo())
		return MGMT_E_EEPROM;
	ses.mode = M_FACTORY;
	ses.hi = 0;
	ses.magic[0] = ses.magic[1] = 0xFF;
	memcpy(ses.f, p, 2);      /* L */
	memcpy(ses.f + 2, p, 10); /* S = L, the floors */
	return 0;
}

/* p: challenge(16) L(2) S(2) floors(8) tag(16) */
static uint8_t op_begin(uint8_t *p)
{
	uint16_t len = get16(p + 16), s = get16(p + 18);
	uint8_t *c = work.prov.c.x; /* (idle until mac_header) */
	/* the counter and the epoch of this boot; or, answered again, the
	 * session's (a lost reply) */
	next_challenge(c);
	uint8_t retry = 0;
	if (memcmp(p, c, 16)) {
#if STORE_CAN_STAGE
		ses_challenge(c);
		retry = ses.mode == M_AUTH && !memcmp(p, c, 16);
#endif
		if (!retry)
			return MGMT_E_STALE;
	}
	if (!valid_len(len) || s < EE_CONFIG_FIXED || s > len)
		return MGMT_E_PARAM;
#if STORE_CAN_STAGE
	/* p's challenge is the session's now: the tag is computed from the
	 * request, the session changes only once it verifies */
	uint32_t chal = get32(p);
	mac_header(1, p + 16, p);
	if (!tag_ok(p, p + 28)) /* (the challenge is absorbed) */
		return MGMT_E_AUTH;
	uint16_t top = len > store_cfg.len ? len : store_cfg.len;
	if (STORE_STAGE_END - s < top)
		return MGMT_E_ROOM;
	if (!retry && store_nonce_take(chal))
		return MGMT_E_EEPROM;
	if (!retry)
		ses.left = (uint16_t)(2 * s);
	ses.mode = M_AUTH;
	ses.chal = chal;
	memcpy(ses.f, p + 16, 12);
	return 0;
#else
	/* Nothing can ever be staged here (INFO says so: stage_end 0): no
	 * session to authenticate, and the answer is public, the same for
	 * every key. */
	return MGMT_E_ROOM;
#endif
}

/* p: offset(2) bytes, n >= 3 */
static uint8_t op_data(uint8_t *p, size_t n)
{
	uint16_t off = get16(p), k = (uint16_t)(n - 2), s = ses_s();
	uint8_t *d = p + 2;
	if (off % 16 || off > s || k > s - off || (off == 0 && k < 2))
		return MGMT_E_PARAM;
	put16(p, (uint16_t)(off + k)); /* the reply */
	uint16_t at = off;
#if STORE_CAN_STAGE
	if (ses.mode == M_AUTH) {
		/* DATA is not authenticated until END: the session writes at
		 * most its S bytes twice (every chunk resent once), or a party
		 * on the line that keeps the owner's END back could wear the
		 * staging area's cells out */
		if (k > ses.left)
			return MGMT_E_LIMIT;
		ses.left = (uint16_t)(ses.left - k);
		/* AES-CTR under K_enc, counter block i = block i of the config
		 * (16 zero bytes + i; off is a multiple of 16), keystream in
		 * the idle CMAC state */
		uint8_t c[16], *ks = work.prov.c.x;
		ses_challenge(c);
		key(T_ENC, c);
		for (uint16_t i = 0; i < k; i++) {
			if (!(i & 15)) {
				memset(ks, 0, 16);
				put16(ks + 14, (uint16_t)((off + i) >> 4));
				aes128_encrypt(&work.aes, ks);
			}
			d[i] ^= ks[i & 15];
		}
		/* staging is inert until END authenticates it */
		at = (uint16_t)(STORE_STAGE_END - s + off);
	} else
#endif
	{
		if (off == 0) { /* factory: the magic goes in last, at END */
			ses.magic[0] = d[0];
			ses.magic[1] = d[1];
			d += 2;
			k -= 2;
			at = 2;
		}
		if (at + k > ses.hi)
			ses.hi = (uint16_t)(at + k);
	}
	uint8_t bad = store_write(at, d, k) != 0;
#if STORE_CAN_STAGE
	wipe(p + 2, n - 2); /* the plaintext of a re-provisioning */
#endif
	return bad ? MGMT_E_EEPROM : 0;
}

static uint8_t op_end(const uint8_t *p, size_t n)
{
	if (ses.mode == M_FACTORY) {
		if (n != 0)
			return MGMT_E_FORMAT;
		if (ses.hi < ses_len())
			return MGMT_E_PARAM; /* not everything sent yet */
		if (store_fresh_state(get32(ses.f + 4), get32(ses.f + 8)) ||
		    store_write(EE_MAGIC, ses.magic, 2)) {
			factory_undo();
			return MGMT_E_EEPROM;
		}
		if (ms_reload() != STORE_OK) /* not a config this firmware accepts */
			return factory_undo() ? MGMT_E_EEPROM : MGMT_E_CONFIG;
		ses.mode = M_DONE;
		return 0;
	}
#if STORE_CAN_STAGE
	if (ses.mode == M_AUTH) {
		if (n != 16)
			return MGMT_E_FORMAT;
		return end_auth(p);
	}
#else
	(void)p;
#endif
	return ses.mode == M_DONE ? 0 : MGMT_E_STATE; /* a retry after a lost reply */
}

/* p: offset(2) n(1); the reply after op at p: L(2) offset(2) bytes */
static uint8_t op_read(uint8_t *p, size_t room, size_t *rlen)
{
	uint16_t len = store_cfg.len, off = get16(p), k = p[2];
	if (off > len || k > len - off)
		return MGMT_E_PARAM;
	if (5 + (size_t)k > room)
		return MGMT_E_TOOBIG;
	put16(p + 2, off);
	put16(p, len);
	for (uint8_t i = 0; i < k; i++, off++) {
		uint8_t secret = 0;
		for (uint8_t j = 0; j < 8; j++)
			secret ^= off >= PGM_BYTE(&tab[T_SECRET + j]);
		p[4 + i] = secret ? 0 : store_rd(off);
	}
	*rlen = 5 + (size_t)k;
	return 0;
}

/* p: nonce(16); the reply after op at p: L(2) cmac(16) */
static void op_digest(uint8_t *p)
{
	uint16_t len = store_cfg.len;
	key(T_READBACK, NULL);
	cmac_bytes(p, 16);
	put16(p, len);
	cmac_bytes(p, 2);
	cmac_cfg(0, len, 0);
	cmac_final(p + 2);
}

uint8_t prov_handle(uint8_t *buf, size_t plen, size_t cap, size_t *rlen)
{
	uint8_t *r = buf + MGMT_HDR_LEN, *p = r + 1;
	uint8_t op = r[0], err = MGMT_E_FORMAT;
	size_t n = plen - 1;
	if (plen < 1)
		return err;
	if ((uint8_t)(op - 1) >= 7)
		return MGMT_E_PARAM;
	const uint8_t *e = &tab[T_REQ - 1 + op];
	uint8_t t = PGM_BYTE(e), want = t & 0x3F;
	*rlen = PGM_BYTE(e + (T_RLEN - T_REQ));
	if (t & REQ_MIN ? n < want : n != want)
		goto out;
	err = MGMT_E_STATE;
	if ((t & REQ_PROV) && !store_provisioned())
		goto out;
	err = 0;
	switch (op) {
	case PROV_INFO:
		op_info(p);
		break;
	case PROV_FACTORY:
		err = op_factory(p);
		break;
	case PROV_BEGIN:
		err = op_begin(p);
		break;
	case PROV_DATA:
		err = MGMT_E_STATE;
		if (ses.mode == M_FACTORY || ses.mode == M_AUTH)
			err = op_data(p, n);
		break;
	case PROV_END:
		err = op_end(p, n);
		*p = store_reason;
		break;
	case PROV_READ:
		err = op_read(p, cap - MGMT_OVERHEAD, rlen);
		break;
	default: /* PROV_DIGEST */
		op_digest(p);
		break;
	}
out:
	/* (mgmt_handle wipes fw_work, keys included, after every request) */
	r[0] = op;
	return err;
}
