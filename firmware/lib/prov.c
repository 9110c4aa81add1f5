/*
 * prov.c - serial provisioning (see prov.h, docs/provisioning.md).
 */
#include <string.h>

#define MS_PROV_C /* esp.h: fw_work's members for provisioning */

#include "config.h"
#include "entropy.h"
#include "crypto/aes.h"
#include "crypto/cmac.h"
#include "crypto/ct.h"
#include "crypto/ctr.h"
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
	uint16_t len;     /* new config length L */
	uint16_t s;       /* bytes transferred (staged) */
	uint16_t hi;      /* factory: end of the bytes written so far */
	uint8_t floors[8]; /* requested serial and time floors (big-endian) */
	uint32_t chal;    /* the challenge the session is bound to */
} ses;

void prov_reset(void) { memset(&ses, 0, sizeof ses); }

#define get16 net_be16
#define get32 net_be32
#define put16 net_put16
#define put32 net_put32

#define H_LEN 48 /* the header block MACed at BEGIN and END */

/* KDF labels (8 bytes each) and the header's magic, in flash. */
static const uint8_t text[28] PGM_FIRST(text) = "prov-macprov-encreadbackMSPV";
#define L_MAC 0
#define L_ENC 8
#define L_READBACK 16
#define T_MAGIC 24

#define text_copy(dst, at, n) PGM_COPY(dst, &text[at], n)

/* ---- keys: AES-CMAC (crypto/cmac.c) under work.aes ------------------- */
/* The CMAC state and the key schedule live in fw_work (work.prov), not on
 * the stack: the ATmega168 has no room for them under these frames. The
 * state is zero between two uses (key_schedule starts it, the final
 * wipes it). */

static void cmac_byte(uint8_t b)
{
	aes128_cmac_update(&work.aes, &work.prov.c, &b, 1);
}

static void cmac_bytes(const uint8_t *p, uint16_t n)
{
	aes128_cmac_update(&work.aes, &work.prov.c, p, n);
}

static void cmac_final(uint8_t tag[16])
{
	aes128_cmac_final(&work.aes, &work.prov.c, tag);
}

/* The 16-byte challenge of this boot for counter value chal: the
 * counter and the boot epoch (entropy.h), so that a challenge is never
 * handed out twice even when the EEPROM goes back to an older image. */
#define challenge(out, chal) entropy_nonce(out, chal)

/* Absorb device id(4) || the session's challenge(16) (keyed 0: zero),
 * through t (16 bytes): the end of the KDF's message and of the header
 * block's fields. */
MS_NOINLINE static void id_challenge(uint8_t t[16], uint8_t keyed)
{
	put32(t, store_cfg.device_id);
	cmac_bytes(t, 4);
	memset(t, 0, 16);
	if (keyed)
		challenge(t, ses.chal);
	cmac_bytes(t, 16);
}

/*
 * Key derivation (SP 800-108 counter mode, PRF = AES-CMAC under the
 * master key): block ctr of K = CMAC(MK, ctr || label(8) || 00 ||
 * device id(4) || context(16) || 0080) into k; the context is the
 * challenge (keyed 0: zero). (esp.c derives a CFG_BOOTSTRAP config's SAs
 * the same way, with a zero context.)
 */
static void kdf(uint8_t k[16], uint8_t ctr, uint8_t label, uint8_t keyed)
{
	memset(&work.prov.c, 0, sizeof work.prov.c);
	store_master_key(k);
	aes128_init(&work.aes, k);
	cmac_byte(ctr);
	text_copy(k, label, 8);
	cmac_bytes(k, 8);
	cmac_byte(0);
	id_challenge(k, keyed);
	cmac_byte(0);
	cmac_byte(0x80);
	cmac_final(k);
}


/* K (block 1) as the key of work.aes. */
static void key_schedule(uint8_t label, uint8_t keyed)
{
	uint8_t k[16];
	kdf(k, 1, label, keyed);
	aes128_init(&work.aes, k);
	wipe(k, sizeof k);
}

/* The header block: "MSPV" ver phase L S floors device-id challenge 0...
 * (H_LEN bytes), absorbed in parts through a 16-byte buffer: a 48-byte
 * copy was the deepest frame of BEGIN. */
static void header(uint8_t phase)
{
	uint8_t h[16];
	text_copy(h, T_MAGIC, 4);
	h[4] = 2;
	h[5] = phase;
	put16(h + 6, ses.len);
	put16(h + 8, ses.s);
	cmac_bytes(h, 10);
	cmac_bytes(ses.floors, 8);
	id_challenge(h, 1);
	memset(h, 0, H_LEN - 38);
	cmac_bytes(h, H_LEN - 38);
	wipe(h, sizeof h);
}

/* Byte i of the config as it will be after the commit. */
static uint8_t new_byte(uint16_t i)
{
	return store_rd(i < ses.s ? (uint16_t)(STORE_STAGE_END - ses.s + i) : i);
}

/* 1 if the 52 key bytes of SA slot a of the new config equal those of
 * SA slot b of the current one. */
static uint8_t same_keys(uint8_t a, uint8_t b)
{
	uint8_t acc = 0;
	for (uint8_t i = EE_SA_ENC_KEY; i < 60; i++)
		acc |= (uint8_t)(new_byte(store_sa_addr(a, i)) ^ store_rd(store_sa_addr(b, i)));
	return acc == 0;
}

static uint8_t secret(uint16_t i)
{
	if ((i >= EE_MASTER_KEY && i < EE_MASTER_KEY + 16) ||
	    (i >= EE_GROUP_KEY && i < EE_GROUP_KEY + 16))
		return 1;
	if (i >= EE_SA0 && i < EE_CONFIG_FIXED) {
		uint8_t o = (uint8_t)((i - EE_SA0) % EE_SA_SIZE);
		return o >= EE_SA_ENC_KEY && o < 60;
	}
	return 0;
}

static int valid_len(uint16_t len)
{
	return (len == EE_CONFIG_FIXED || len == EE_CONFIG_FIXED + 128 ||
	        len == EE_CONFIG_FIXED + 256) && len <= STORE_EE_SIZE - EE_STATE_SIZE;
}

/* Erase (0xFF) n bytes at addr. */
static int erase(uint16_t addr, uint16_t n)
{
	uint8_t ff[16];
	memset(ff, 0xFF, sizeof ff);
	while (n) {
		uint8_t k = (uint8_t)(n < sizeof ff ? n : sizeof ff);
		if (store_write(addr, ff, k))
			return -1;
		addr = (uint16_t)(addr + k);
		n = (uint16_t)(n - k);
	}
	return 0;
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

/* Undo an unfinished factory session: back to the blank EEPROM. */
static int factory_undo(void)
{
	uint16_t hi = ses.hi < 2 ? 2 : ses.hi;
	ses.mode = M_NONE;
	if (erase(0, hi) ||
	    erase((uint16_t)(STORE_EE_SIZE - EE_STATE_SIZE), 2 * EE_SLOT_SIZE))
		return -1;
	reload();
	return store_blank() ? 0 : -1;
}

/* ---- operations ------------------------------------------------------ */

static uint8_t op_info(uint8_t *r, size_t *rlen)
{
	uint8_t st = PROV_ST_LOCKED;
	if (store_blank() || ses.mode == M_FACTORY)
		st = PROV_ST_FACTORY;
	else if (store_provisioned())
		st = PROV_ST_PROVISIONED;
	r[1] = st;
	r[2] = store_reason;
	put32(r + 3, store_cfg.device_id);
	memset(r + 7, 0, 16);
	if (st == PROV_ST_PROVISIONED)
		challenge(r + 7, store_nonce_next);
	put16(r + 23, store_provisioned() ? store_cfg.len : 0);
	put16(r + 25, STORE_CAN_STAGE ? STORE_STAGE_END : 0);
	put16(r + 27, STORE_EE_SIZE);
	*rlen = 29;
	return 0;
}

static uint8_t op_factory(const uint8_t *p, size_t n)
{
	if (n != 10)
		return MGMT_E_FORMAT;
	if (!store_blank() && ses.mode != M_FACTORY)
		return MGMT_E_STATE; /* provisioned, or corrupt: never unauthenticated */
	uint16_t len = get16(p);
	if (!valid_len(len))
		return MGMT_E_PARAM;
	if (ses.mode == M_FACTORY && factory_undo())
		return MGMT_E_EEPROM;
	ses.mode = M_FACTORY;
	ses.len = ses.s = len;
	ses.hi = 0;
	memcpy(ses.floors, p + 2, 8);
	ses.chal = 0;
	ses.magic[0] = ses.magic[1] = 0xFF;
	return 0;
}

static uint8_t op_begin(const uint8_t *p, size_t n)
{
	if (n != 44)
		return MGMT_E_FORMAT;
	if (!store_provisioned())
		return MGMT_E_STATE;
	uint32_t chal = get32(p);
	uint16_t len = get16(p + 16), s = get16(p + 18);
	int retry = ses.mode == M_AUTH && chal == ses.chal;
	/* a challenge of another boot (epoch) is stale, whatever its counter */
	if ((chal != store_nonce_next && !retry) || memcmp(p + 4, entropy_epoch, ENTROPY_EPOCH_LEN))
		return MGMT_E_STALE;
	if (!valid_len(len) || s < EE_CONFIG_FIXED || s > len)
		return MGMT_E_PARAM;

	/* A BEGIN that fails leaves a session in progress as it was. */
	uint8_t saved[sizeof ses];
	memcpy(saved, &ses, sizeof ses);
	ses.mode = M_NONE;
	ses.len = len;
	ses.s = s;
	memcpy(ses.floors, p + 20, 8);
	ses.chal = chal;
	uint8_t tag[16];
	key_schedule(L_MAC, 1);
	header(1);
	cmac_final(tag);
	int ok = ct_equal(tag, p + 28, 16) == 0;
	wipe(tag, sizeof tag);
	uint8_t err = 0;
	uint16_t top = len > store_cfg.len ? len : store_cfg.len;
	if (!ok)
		err = MGMT_E_AUTH;
	else if (!STORE_CAN_STAGE || STORE_STAGE_END - s < top)
		err = MGMT_E_ROOM;
	else if (!retry && store_nonce_take(chal))
		err = MGMT_E_EEPROM;
	if (err) {
		memcpy(&ses, saved, sizeof ses);
		return err;
	}
	ses.mode = M_AUTH;
	return 0;
}

static uint8_t op_data(uint8_t *p, size_t n, uint8_t *r, size_t *rlen)
{
	if (n < 3)
		return MGMT_E_FORMAT;
	if (ses.mode != M_FACTORY && ses.mode != M_AUTH)
		return MGMT_E_STATE;
	uint16_t off = get16(p), k = (uint16_t)(n - 2);
	uint8_t *d = p + 2;
	if (off % 16 || off > ses.s || k > ses.s - off || (off == 0 && k < 2))
		return MGMT_E_PARAM;
	if (ses.mode == M_FACTORY) {
		uint16_t at = off;
		if (off == 0) { /* the magic goes in last, at END */
			ses.magic[0] = d[0];
			ses.magic[1] = d[1];
			d += 2;
			at = 2;
		}
		if (off + k > ses.hi)
			ses.hi = (uint16_t)(off + k);
		if (store_write(at, d, (uint16_t)(off + k - at)))
			return MGMT_E_EEPROM;
	} else {
		uint8_t ctr[16];
		memset(ctr, 0, sizeof ctr);
		put16(ctr + 14, (uint16_t)(off / 16));
		key_schedule(L_ENC, 1);
		aes128_ctr(&work.aes, ctr, d, k);
		/* Staging is inert until END authenticates it. */
		int bad = store_write((uint16_t)(STORE_STAGE_END - ses.s + off), d, k);
		wipe(d, k);
		if (bad)
			return MGMT_E_EEPROM;
	}
	put16(r + 1, (uint16_t)(off + k));
	*rlen = 3;
	return 0;
}

static uint8_t end_factory(void)
{
	if (store_fresh_state(get32(ses.floors), get32(ses.floors + 4)) ||
	    store_write(EE_MAGIC, ses.magic, 2)) {
		factory_undo();
		return MGMT_E_EEPROM;
	}
	if (ses.hi < 2)
		ses.hi = 2;
	if (reload() != STORE_OK) {
		/* not a config this firmware accepts: back to factory state */
		return factory_undo() ? MGMT_E_EEPROM : MGMT_E_CONFIG;
	}
	ses.mode = M_DONE;
	return 0;
}

static uint8_t end_auth(const uint8_t *tag)
{
	uint8_t want[16];
	key_schedule(L_MAC, 1);
	header(2);
	for (uint16_t i = 0; i < ses.len; i++)
		cmac_byte(new_byte(i));
	cmac_final(want);
	int ok = ct_equal(want, tag, 16) == 0;
	wipe(want, sizeof want);
	ses.mode = M_NONE; /* one END per challenge */
	if (!ok)
		return MGMT_E_AUTH;
	if (store_check_staged(ses.s) != STORE_OK)
		return MGMT_E_CONFIG;

	/* The new counters (docs/provisioning.md "Counters"), in fw_work:
	 * the MAC is done with it. */
	struct store_state *ns = &work.prov_ns;
	*ns = store_st;
	uint32_t hi = ns->esp_out_reserved > ns->esp_in_floor ? ns->esp_out_reserved : ns->esp_in_floor;
	ns->esp_in_floor = same_keys(0, 0) || same_keys(0, 1) ? hi : 0;
	ns->esp_out_reserved = same_keys(1, 0) || same_keys(1, 1) ? hi : 0;
	uint8_t same_issuer = ses.len == store_cfg.len;
	for (uint16_t i = EE_MODULUS; same_issuer && i < ses.len; i++)
		same_issuer = new_byte(i) == store_rd(i);
	/* floors: the same issuer's only rise, a new issuer's start anew */
	if (!same_issuer)
		ns->serial_floor = ns->time_floor = 0;
	ms_raise32(&ns->serial_floor, ses.floors);
	ms_raise32(&ns->time_floor, ses.floors + 4);
	int bad = store_journal_commit(ses.s, ns);
	reload();
	if (bad)
		return MGMT_E_EEPROM;
	ses.mode = M_DONE;
	return 0;
}

static uint8_t op_end(const uint8_t *p, size_t n, uint8_t *r, size_t *rlen)
{
	uint8_t err;
	switch (ses.mode) {
	case M_FACTORY:
		if (n != 0)
			return MGMT_E_FORMAT;
		if (ses.hi < ses.len)
			return MGMT_E_PARAM; /* not everything sent yet */
		err = end_factory();
		break;
	case M_AUTH:
		if (n != 16)
			return MGMT_E_FORMAT;
		err = end_auth(p);
		break;
	case M_DONE: /* a retry after a lost reply */
		err = 0;
		break;
	default:
		return MGMT_E_STATE;
	}
	if (err)
		return err;
	r[1] = store_reason;
	*rlen = 2;
	return 0;
}

MS_NOINLINE static uint8_t op_read(const uint8_t *p, size_t n, uint8_t *r, size_t room, size_t *rlen)
{
	if (n != 3)
		return MGMT_E_FORMAT;
	if (!store_provisioned())
		return MGMT_E_STATE;
	uint16_t off = get16(p), k = p[2];
	if (off > store_cfg.len || k > store_cfg.len - off)
		return MGMT_E_PARAM;
	if (5 + (size_t)k > room)
		return MGMT_E_TOOBIG;
	put16(r + 1, store_cfg.len);
	put16(r + 3, off);
	for (uint16_t i = 0; i < k; i++) {
		uint16_t a = (uint16_t)(off + i);
		r[5 + i] = secret(a) ? 0 : store_rd(a);
	}
	*rlen = 5 + (size_t)k;
	return 0;
}

static uint8_t op_digest(const uint8_t *p, size_t n, uint8_t *r, size_t *rlen)
{
	if (n != 16)
		return MGMT_E_FORMAT;
	if (!store_provisioned())
		return MGMT_E_STATE;
	key_schedule(L_READBACK, 0);
	cmac_bytes(p, 16);
	cmac_byte((uint8_t)(store_cfg.len >> 8));
	cmac_byte((uint8_t)store_cfg.len);
	for (uint16_t i = 0; i < store_cfg.len; i++)
		cmac_byte(store_rd(i));
	put16(r + 1, store_cfg.len);
	cmac_final(r + 3);
	*rlen = 19;
	return 0;
}

uint8_t prov_handle(uint8_t *buf, size_t plen, size_t cap, size_t *rlen)
{
	uint8_t *pl = buf + MGMT_HDR_LEN;
	size_t room = cap - MGMT_OVERHEAD; /* reply payload bytes */
	uint8_t err;
	if (plen < 1)
		return MGMT_E_FORMAT;
	uint8_t op = pl[0];
	switch (op) {
	case PROV_INFO:
		err = plen == 1 ? op_info(pl, rlen) : MGMT_E_FORMAT;
		break;
	case PROV_FACTORY:
		err = op_factory(pl + 1, plen - 1);
		*rlen = 1;
		break;
	case PROV_BEGIN:
		err = op_begin(pl + 1, plen - 1);
		*rlen = 1;
		break;
	case PROV_DATA:
		err = op_data(pl + 1, plen - 1, pl, rlen);
		break;
	case PROV_END:
		err = op_end(pl + 1, plen - 1, pl, rlen);
		break;
	case PROV_READ:
		err = op_read(pl + 1, plen - 1, pl, room, rlen);
		break;
	case PROV_DIGEST:
		err = op_digest(pl + 1, plen - 1, pl, rlen);
		break;
	default:
		err = MGMT_E_PARAM;
		break;
	}
	wipe(&work, sizeof work);
	pl[0] = op;
	return err;
}
