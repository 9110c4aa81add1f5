/*
 * bootstrap.c - the device side of secure bootstrapping (see bootstrap.h,
 * docs/bootstrap.md; byte for byte pkg/bootstrap/device.go).
 */
#include <string.h>

#include "config.h"
#include "bootstrap.h"
#include "reload.h"
#include "crypto/aes.h"
#include "crypto/ccm.h"
#include "crypto/ct.h"
#include "crypto/pgm.h"
#include "coap.h"
#include "esp.h"
#include "ms_base.h"
#if CONFIG_MSSL
#include "mssl.h"
#endif
#include "store.h"

#if CONFIG_BOOTSTRAP

#if !STORE_HAS_JOURNAL
#error "CONFIG_BOOTSTRAP commits through the journal (store.h)"
#endif

#define work fw_work

/* Header offsets; the CCM nonce is header bytes [3, 16): type ‖ id ‖ TID. */
#define H_TYPE 3
#define H_ID 4
#define H_TID 8
#define NONCE_LEN 13
#define TAG_LEN 16
#define F4_TAG (BOOT_FLIGHT4_SIZE - TAG_LEN)

/* The staged prefix of a join: the config up to the end of the master key
 * (its CRC is in it too). */
#define STAGE (EE_MASTER_KEY + 16)

/* RAM: the flight 5 of the last flight 4 accepted, and that flight's tag
 * after it (last_ok: there is one). A flight 4 with that tag (a retransmission:
 * the tag authenticates header and body under the key it was sent for)
 * gets the same flight 5 again, without a second commit. The copy is
 * public (it went over the link), so a forgery with that tag learns
 * nothing. */
static uint8_t last_ok, last[BOOT_FLIGHT4_SIZE]; /* flight 5 ‖ the flight 4 tag */

void bootstrap_reset(void) { last_ok = 0; }

/* Open (decrypt 1) or seal the flight body m[16, 16 + len) under key, its
 * tag after it, with the header as nonce ([3, 16)) and AAD. */
static int ccm(uint8_t *m, const uint8_t key[16], uint8_t len, uint8_t decrypt)
{
	aes128_init(&work.aes, key);
	return aes128_ccm_crypt(&work.aes, m + H_TYPE, NONCE_LEN, m, BOOT_HEADER_SIZE,
	                        m + BOOT_HEADER_SIZE, len, m + BOOT_HEADER_SIZE + len,
	                        TAG_LEN, decrypt);
}

/*
 * Make psk the master key: the config's first STAGE bytes with the key
 * replaced and the CRC taken again over the whole config are staged and
 * committed through the journal (store.h) with the ESP counters at zero
 * (the SAs derive from the new key: never used before). A power cut
 * leaves the old config and counters or the new ones. 0 or -1.
 */
static __attribute__((noinline)) int commit(const uint8_t psk[16])
{
	uint8_t b[STAGE];
	uint16_t crc = 0xFFFF, len = store_cfg.len;
#if STORE_STAGE_END_RAW - STAGE < STORE_CONFIG_MAX_RAW
	if (len > STORE_STAGE_END - STAGE)
		return -1; /* the config's tail would overlap the staging */
#endif
	store_read(0, b, STAGE);
	memcpy(b + EE_MASTER_KEY, psk, 16);
	for (uint16_t i = 0; i < len; i++)
		if ((uint16_t)(i - EE_CRC) >= 2)
			crc = crc16_byte(crc, i < STAGE ? b[i] : store_rd(i));
	net_put16(b + EE_CRC, crc);
	int bad = store_write((uint16_t)(STORE_STAGE_END - STAGE), b, STAGE);
	wipe(b, sizeof b);
	if (bad)
		return -1;
	/* store_init runs next: store_st is reloaded whatever happens here */
	memset(&store_st.esp_out_reserved, 0, 8); /* and esp_in_floor */
	return store_journal_commit(STAGE, &store_st);
}

size_t bootstrap_handle(uint8_t *m, size_t n)
{
	uint8_t kr[32]; /* the current key, then RN_i and the PSK: one wipe */
	uint8_t *key = kr, *rn = kr + 16;
	size_t r;
	if (n != BOOT_FLIGHT4_SIZE || net_be32(m) != 0x4D420104UL) /* "MB" 01 04 */
		return 0;
	if (last_ok && ct_equal(m + F4_TAG, last + F4_TAG, TAG_LEN) == 0) {
		memcpy(m, last, BOOT_FLIGHT5_SIZE);
		return BOOT_FLIGHT5_SIZE;
	}
	uint8_t code = BOOT_NAK_NO_KEY;
	if (!BOOT_CFG(store_cfg.flags)) /* also: not provisioned */
		goto nak;
	code = BOOT_NAK_NOT_MINE;
	if (net_be32(m + H_ID) != store_cfg.device_id)
		goto nak;
	store_master_key(key);
	code = BOOT_NAK_AUTH;
	if (ccm(m, key, 32, 1))
		goto nak;
	store_read(EE_BOOT, rn, 16);
	code = BOOT_NAK_LABEL;
	if (ct_equal(m + BOOT_HEADER_SIZE, rn, 16))
		goto nak;
	/* PSK = AES(key, RN_i ⊕ RN_c), in rn (work.aes is still keyed) */
	for (uint8_t k = 0; k < 16; k++)
		rn[k] ^= m[BOOT_HEADER_SIZE + 16 + k];
	aes128_encrypt(&work.aes, rn);
	int bad = commit(rn);
	/* Reload everything derived from the config and master key (also
	 * after a failed commit: the journal may have been written, and
	 * store_init finishes it or not). */
	ms_reload();
	code = BOOT_NAK_STORE;
	if (bad)
		goto nak;
	/* Flight 5: AE(PSK; RN_c) under the same header, type 05. */
	m[H_TYPE] = BOOT_TYPE_PROOF;
	memmove(m + BOOT_HEADER_SIZE, m + BOOT_HEADER_SIZE + 16, 16);
	ccm(m, rn, 16, 0); /* m[48, 64) keeps flight 4's tag */
	memcpy(last, m, sizeof last);
	last_ok = 1;
	r = BOOT_FLIGHT5_SIZE;
	goto out;
nak: /* the NAK over m, its TID kept: "MB" 01 0e id TID code */
	m[H_TYPE] = BOOT_TYPE_NAK;
	net_put32(m + H_ID, store_cfg.device_id);
	m[BOOT_HEADER_SIZE] = code;
	wipe(m + BOOT_NAK_SIZE, BOOT_FLIGHT4_SIZE - BOOT_NAK_SIZE);
	r = BOOT_NAK_SIZE;
out:
	wipe(kr, sizeof kr);
	wipe(&work, sizeof work);
	return r;
}

uint16_t ms_bootstrap_input(uint8_t *p, uint16_t n, uint16_t room,
                            const uint8_t *src_ip, uint16_t src_port)
{
	(void)room; /* the reply is never longer than the request */
	(void)src_ip;
	(void)src_port;
	return (uint16_t)bootstrap_handle(p, n);
}

#endif /* CONFIG_BOOTSTRAP */
