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
 * the tag, then answers "no room", so the decryption, the END tag and the
 * commit are not built there.
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
	uint32_t chal;    /* the challenge the session is bound to */
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
 * Constants in flash: the KDF labels (8 bytes each), the header's magic,
 * the secret bytes of a config for READ (one bit per 4 bytes of
 * [0, EE_CONFIG_FIXED): every key field starts and ends on a multiple of
 * 4) and, per operation, the request length (REQ_MIN: at least) and
 * whether it needs a provisioned device (REQ_PROV).
 */
#define REQ_MIN 0x80
#define REQ_PROV 0x40
static const uint8_t text[28 + 6 + 7] PGM_FIRST(text) = {
	'p', 'r', 'o', 'v', '-', 'm', 'a', 'c',
	'p', 'r', 'o', 'v', '-', 'e', 'n', 'c',
	'r', 'e', 'a', 'd', 'b', 'a', 'c', 'k',
	'M', 'S', 'P', 'V',
	/* master key [20,36) and group key [40,56): 4-byte units 5-8, 10-13;
	 * each SA's keys [8,60): units 18-30 and 34-46 */
	0xE0, 0x3D, 0xFC, 0x7F, 0xFC, 0x7F,
	/* INFO FACTORY BEGIN DATA END READ DIGEST (END: checked by mode) */
	0, 10, 44 | REQ_PROV, 3 | REQ_MIN, 0 | REQ_MIN, 3 | REQ_PROV, 16 | REQ_PROV,
};
#define L_MAC 0
#define L_ENC 8
#define L_READBACK 16
#define T_MAGIC 24
#define T_SECRET 28
#define T_REQ 34

#define text_copy(dst, at, n) PGM_COPY(dst, &text[at], n)

/* ---- keys: AES-CMAC (crypto/cmac.c) under work.aes ------------------- */
/* The CMAC state and the key schedule live in fw_work (work.prov), not on
 * the stack: the ATmega168 has no room for them under these frames. The
 * state is zero between two uses (kdf starts it, the final wipes it). */

static void cmac_bytes(const uint8_t *p, uint16_t n)
{
	aes128_cmac_update(&work.aes, &work.prov.c, p, n);
}

static void cmac_byte(uint8_t b)
{
	cmac_bytes(&b, 1);
}

static void cmac_final(uint8_t tag[16])
{
	aes128_cmac_final(&work.aes, &work.prov.c, tag);
}

/* Absorb device id(4) || c(16) (c NULL: 16 zero bytes), through t (16
 * bytes): the end of the KDF's fixed input and of the header's fields. */
static void id_ctx(uint8_t t[16], const uint8_t *c)
{
	put32(t, store_cfg.device_id);
	cmac_bytes(t, 4);
	if (!c) {
		memset(t, 0, 16);
		c = t;
	}
	cmac_bytes(c, 16);
}

/*
 * The key of label under the master key (SP 800-108 counter mode, PRF =
 * AES-CMAC): CMAC(MK, 01 || label(8) || 00 || device id(4) || ctx(16) ||
 * 0080) becomes the key of work.aes, its CMAC state started. ctx: the
 * challenge, or NULL for 16 zero bytes. (esp.c derives a CFG_BOOTSTRAP config's
 * SAs the same way, with a zero context.)
 */
MS_NOINLINE static void key(uint8_t label, const uint8_t *ctx)
{
	uint8_t k[16];
	memset(&work.prov.c, 0, sizeof work.prov.c);
	store_master_key(k);
	aes128_init(&work.aes, k);
	cmac_byte(1);
	text_copy(k, label, 8);
	cmac_bytes(k, 8);
	cmac_byte(0);
	id_ctx(k, ctx);
	cmac_byte(0);
	cmac_byte(0x80);
	cmac_final(k);
	aes128_init(&work.aes, k);
	wipe(k, sizeof k);
}

/* The MAC key of challenge c, and the header block absorbed: "MSPV" ver
 * phase L S floors(8) device-id c 0... (48 bytes; f: L S floors as on
 * the wire), in parts through a 16-byte buffer. */
MS_NOINLINE static void mac_header(uint8_t phase, const uint8_t f[12], const uint8_t c[16])
{
	uint8_t h[16];
	key(L_MAC, c);
	text_copy(h, T_MAGIC, 4);
	h[4] = 2;
	h[5] = phase;
	cmac_bytes(h, 6);
	cmac_bytes(f, 12);
	id_ctx(h, c);
	memset(h, 0, 10);
	cmac_bytes(h, 10);
}

/* 1 if the 16-byte tag equals the CMAC absorbed (constant time). */
static uint8_t tag_ok(const uint8_t *tag)
{
	uint8_t want[16];
	cmac_final(want);
	uint8_t ok = ct_equal(want, tag, 16) == 0;
	wipe(want, sizeof want);
	return ok;
}

/* 1 if len is a config length the layout allows on this EEPROM: 192,
 * 320 or 448 (2 mod 128 = 64). */
static uint8_t valid_len(uint16_t len)
{
	return (len & 127) == 64 && len >= EE_CONFIG_FIXED && len <= STORE_CONFIG_MAX_RAW;
}

/* After the config area changed (or may have: a failed commit): reload
 * it and drop everything any module derived from the old one. */
static uint8_t reload(void)
{
	uint8_t r = store_init(); /* also finishes a commit the EEPROM interrupted */
	esp_init();
#if CONFIG_MSSL
	mssl_reset();
#endif
#if CONFIG_COAP
	ms_coap_reset();
#endif
	return r;
}

/* Undo an unfinished factory session: back to the blank EEPROM. The
 * session began on a blank EEPROM and nothing else writes it while the
 * device is unprovisioned, so erasing all of it (eeprom_update_block:
 * bytes already 0xFF are not written again) erases exactly what the
 * session wrote. 0, or -1 if the EEPROM did not take it. */
static int factory_undo(void)
{
	uint8_t ff = 0xFF;
	ses.mode = M_NONE;
	for (uint16_t a = 0; a < STORE_EE_SIZE; a++)
		if (store_write(a, &ff, 1))
			return -1;
	return reload() == STORE_BLANK ? 0 : -1;
}

#if STORE_CAN_STAGE
/* Byte i of the config as it will be after the commit. */
static uint8_t new_byte(uint16_t i)
{
	uint16_t s = ses_s();
	return store_rd(i < s ? (uint16_t)(STORE_STAGE_END - s + i) : i);
}

/* 1 if the 52 key bytes of SA slot a of the new config equal those of
 * either SA slot of the current one. */
static uint8_t old_keys(uint8_t a)
{
	uint8_t same = 0;
	for (uint8_t b = 0; b < 2; b++) {
		uint8_t acc = 0;
		for (uint8_t i = EE_SA_ENC_KEY; i < 60; i++)
			acc |= (uint8_t)(new_byte(store_sa_addr(a, i)) ^ store_rd(store_sa_addr(b, i)));
		same |= acc == 0;
	}
	return same;
}

/* END of a re-provisioning: the tag over what is staged, the checks,
 * the new counters (docs/provisioning.md "Counters"), the commit. */
static uint8_t end_auth(const uint8_t *tag)
{
	uint16_t len = ses_len();
	uint8_t c[16];
	entropy_nonce(c, ses.chal);
	mac_header(2, ses.f, c);
	for (uint16_t i = 0; i < len; i++)
		cmac_byte(new_byte(i));
	ses.mode = M_NONE; /* one END per challenge */
	if (!tag_ok(tag))
		return MGMT_E_AUTH;
	if (store_check_staged(ses_s()) != STORE_OK)
		return MGMT_E_CONFIG;

	/* in fw_work: the MAC is done with it */
	struct store_state *ns = &work.prov_ns;
	*ns = store_st;
	uint32_t hi = ns->esp_out_reserved > ns->esp_in_floor ? ns->esp_out_reserved : ns->esp_in_floor;
	ns->esp_in_floor = old_keys(0) ? hi : 0;
	ns->esp_out_reserved = old_keys(1) ? hi : 0;
	uint8_t same_issuer = len == store_cfg.len;
	for (uint16_t i = EE_MODULUS; same_issuer && i < len; i++)
		same_issuer = new_byte(i) == store_rd(i);
	/* floors: the same issuer's only rise, a new issuer's start anew */
	if (!same_issuer)
		ns->serial_floor = ns->time_floor = 0;
	ms_raise32(&ns->serial_floor, ses.f + 4);
	ms_raise32(&ns->time_floor, ses.f + 8);
	int bad = store_journal_commit(ses_s(), ns);
	reload();
	if (bad)
		return MGMT_E_EEPROM;
	ses.mode = M_DONE;
	return 0;
}
#endif

/* ---- operations (lengths and state checked by prov_handle) ------------ */

static void op_info(uint8_t *r)
{
	uint8_t st = PROV_ST_LOCKED;
	memset(r + 7, 0, 18);
	if (store_blank() || ses.mode == M_FACTORY) {
		st = PROV_ST_FACTORY;
	} else if (store_provisioned()) {
		st = PROV_ST_PROVISIONED;
		entropy_nonce(r + 7, store_nonce_next);
		put16(r + 23, store_cfg.len);
	}
	r[1] = st;
	r[2] = store_reason;
	put32(r + 3, store_cfg.device_id);
	put16(r + 25, STORE_CAN_STAGE ? STORE_STAGE_END : 0);
	put16(r + 27, STORE_EE_SIZE);
}

static uint8_t op_factory(const uint8_t *p)
{
	if (!store_blank() && ses.mode != M_FACTORY)
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
static uint8_t op_begin(const uint8_t *p)
{
	uint32_t chal = get32(p);
	uint16_t len = get16(p + 16), s = get16(p + 18);
	uint8_t retry = STORE_CAN_STAGE && ses.mode == M_AUTH && chal == ses.chal;
	/* a challenge of another boot (epoch) is stale, whatever its counter */
	if ((chal != store_nonce_next && !retry) || memcmp(p + 4, entropy_epoch, ENTROPY_EPOCH_LEN))
		return MGMT_E_STALE;
	if (!valid_len(len) || s < EE_CONFIG_FIXED || s > len)
		return MGMT_E_PARAM;
	/* p's challenge is the session's now: the tag is computed from the
	 * request, the session changes only once it verifies */
	mac_header(1, p + 16, p);
	if (!tag_ok(p + 28))
		return MGMT_E_AUTH;
#if STORE_CAN_STAGE
	uint16_t top = len > store_cfg.len ? len : store_cfg.len;
	if (STORE_STAGE_END - s < top)
		return MGMT_E_ROOM;
	if (!retry && store_nonce_take(chal))
		return MGMT_E_EEPROM;
	ses.mode = M_AUTH;
	ses.chal = chal;
	memcpy(ses.f, p + 16, 12);
	return 0;
#else
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
	uint16_t at = off;
#if STORE_CAN_STAGE
	if (ses.mode == M_AUTH) {
		/* AES-CTR under K_enc, counter block i = block i of the config
		 * (16 zero bytes + i; off is a multiple of 16), keystream in
		 * the idle CMAC state */
		uint8_t c[16], *ks = work.prov.c.x;
		entropy_nonce(c, ses.chal);
		key(L_ENC, c);
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
	wipe(p + 2, n - 2); /* the plaintext of a re-provisioning */
	if (bad)
		return MGMT_E_EEPROM;
	put16(p, (uint16_t)(off + (n - 2)));
	return 0;
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
		if (reload() != STORE_OK) /* not a config this firmware accepts */
			return factory_undo() ? MGMT_E_EEPROM : MGMT_E_CONFIG;
		ses.mode = M_DONE;
		return 0;
	}
#if STORE_CAN_STAGE
	if (ses.mode == M_AUTH)
		return n != 16 ? MGMT_E_FORMAT : end_auth(p);
#else
	(void)p;
#endif
	return ses.mode == M_DONE ? 0 : MGMT_E_STATE; /* a retry after a lost reply */
}

static uint8_t op_read(const uint8_t *p, uint8_t *r, size_t room, size_t *rlen)
{
	uint16_t len = store_cfg.len, off = get16(p), k = p[2];
	if (off > len || k > len - off)
		return MGMT_E_PARAM;
	if (5 + (size_t)k > room)
		return MGMT_E_TOOBIG;
	put16(r + 1, len);
	put16(r + 3, off);
	for (uint16_t i = 0; i < k; i++) {
		uint16_t a = (uint16_t)(off + i);
		uint8_t v = store_rd(a);
		if (a < EE_CONFIG_FIXED && (PGM_BYTE(&text[T_SECRET + (a >> 5)]) >> ((a >> 2) & 7) & 1))
			v = 0;
		r[5 + i] = v;
	}
	*rlen = 5 + (size_t)k;
	return 0;
}

static void op_digest(const uint8_t *p, uint8_t *r)
{
	uint16_t len = store_cfg.len;
	key(L_READBACK, NULL);
	cmac_bytes(p, 16);
	put16(r + 1, len);
	cmac_bytes(r + 1, 2);
	for (uint16_t i = 0; i < len; i++)
		cmac_byte(store_rd(i));
	cmac_final(r + 3);
}

uint8_t prov_handle(uint8_t *buf, size_t plen, size_t cap, size_t *rlen)
{
	uint8_t *pl = buf + MGMT_HDR_LEN, *p = pl + 1;
	uint8_t op = pl[0], err = MGMT_E_FORMAT;
	size_t n = plen - 1;
	*rlen = 1;
	if (plen < 1)
		return err;
	if ((uint8_t)(op - 1) >= 7)
		return MGMT_E_PARAM;
	uint8_t t = PGM_BYTE(&text[T_REQ + op - 1]), want = t & 0x3F;
	if (n < want || (!(t & REQ_MIN) && n != want))
		goto out;
	err = MGMT_E_STATE;
	if ((t & REQ_PROV) && !store_provisioned())
		goto out;
	switch (op) {
	case PROV_INFO:
		op_info(pl);
		*rlen = 29;
		err = 0;
		break;
	case PROV_FACTORY:
		err = op_factory(p);
		break;
	case PROV_BEGIN:
		err = op_begin(p);
		break;
	case PROV_DATA:
		if (ses.mode == M_FACTORY || ses.mode == M_AUTH) {
			err = op_data(p, n);
			*rlen = 3;
		}
		break;
	case PROV_END:
		err = op_end(p, n);
		pl[1] = store_reason;
		*rlen = 2;
		break;
	case PROV_READ:
		err = op_read(p, pl, cap - MGMT_OVERHEAD, rlen);
		break;
	default: /* PROV_DIGEST */
		op_digest(p, pl);
		*rlen = 19;
		err = 0;
		break;
	}
out:
	wipe(&work, sizeof work);
	pl[0] = op;
	return err;
}
