/*
 * bootstrap.c - the device side of secure bootstrapping (see bootstrap.h,
 * docs/bootstrap.md; byte for byte pkg/bootstrap/device.go).
 */
#include <string.h>

#include "config.h"
#include "bootstrap.h"
#include "crypto/aes.h"
#include "crypto/ccm.h"
#include "crypto/cmac.h"
#include "crypto/ct.h"
#include "crypto/pgm.h"
#include "coap.h"
#include "esp.h"
#include "ms_base.h"
#if CONFIG_MSSL
#include "mssl.h"
#endif
#include "prov.h"
#include "store.h"

#if CONFIG_BOOTSTRAP

#if !CONFIG_ESP_CCM8
#error "CONFIG_BOOTSTRAP installs aes128-ccm8 SAs: it needs CONFIG_ESP_CCM8"
#endif

#define work fw_work

/* Header offsets; the CCM nonce is header bytes [3, 16): type ‖ id ‖ TID. */
#define H_TYPE 3
#define H_ID 4
#define H_TID 8
#define NONCE_LEN 13
#define TAG_LEN 16
#define F4_TAG (BOOT_FLIGHT4_SIZE - TAG_LEN)

/* RAM: the tag of the last flight 4 accepted (last_ok: there is one). A flight
 * 4 with that tag is tried under the previous slot's key: it opens only
 * if it is a byte-identical copy (the tag authenticates header and body
 * under that key), and then gets the same flight 5 again. */
static uint8_t last_ok, last_tag[TAG_LEN];

void bootstrap_reset(void) { last_ok = 0; }

/* The NAK over m (its TID stays); nothing else of m is left behind. */
static size_t nak(uint8_t *m, uint8_t code)
{
	m[H_TYPE] = BOOT_TYPE_NAK;
	net_put32(m + H_ID, store_cfg.device_id);
	m[BOOT_HEADER_SIZE] = code;
	wipe(m + BOOT_NAK_SIZE, BOOT_FLIGHT4_SIZE - BOOT_NAK_SIZE);
	return BOOT_NAK_SIZE;
}

/* Write key into the bootstrap slot at a with the gen of the slot at
 * cur + 1: marker erased, gen ‖ key ‖ CRC, the marker last. 0, or -1
 * (the slot may be left invalid, never valid with other bytes). */
static __attribute__((noinline)) int commit(uint16_t a, uint16_t cur, const uint8_t key[16])
{
	uint8_t s[EE_BOOT_SLOT_SIZE];
	store_read((uint16_t)(cur + EE_BOOT_GEN), s + EE_BOOT_GEN, 4);
	net_put32(s + EE_BOOT_GEN, net_be32(s + EE_BOOT_GEN) + 1);
	memcpy(s + EE_BOOT_KEY, key, 16);
	net_put16(s + EE_BOOT_CRC, crc16_ccitt(s + EE_BOOT_GEN, EE_BOOT_CRC - EE_BOOT_GEN));
	s[0] = 0xFF;
	int bad = store_write(a, s, 1) ||
	          store_write((uint16_t)(a + 1), s + 1, EE_BOOT_SLOT_SIZE - 1) ||
	          (s[0] = EE_BOOT_VALID, store_write(a, s, 1));
	wipe(s, sizeof s);
	return bad;
}

#if STORE_CAN_STAGE
/*
 * Replace the config's SAs with the ones derived from the master key
 * (the new PSK: prov_kdf, labels "ESP-h2d " for SA slot 0, the one the
 * device receives with, "ESP-d2h " for slot 1), the way serial
 * provisioning commits a config: the new fixed part (192 bytes) is
 * staged 32 bytes at a time, copied from the config with the SA count 2
 * and the SAs replaced, its CRC taken on the way, and made the config
 * through the journal (store.h), with the ESP counters at zero (new
 * keys). No store_check_staged: the config was checked at boot and only
 * its SAs change, to CCM-8 SAs with non-zero, distinct SPIs and the
 * flags they had. 0 or -1.
 */
static __attribute__((noinline)) int install(void)
{
	const uint16_t base = (uint16_t)(STORE_STAGE_END - EE_CONFIG_FIXED);
	uint8_t b[36], spi0[4]; /* b: 32 bytes of the config, 4 of room */
	uint16_t crc = 0xFFFF;
	int bad = 0;
	for (uint8_t at = 0; at < EE_CONFIG_FIXED; at = (uint8_t)(at + 32)) {
		store_read(at, b, 32);
		if (at == EE_SA_COUNT / 32 * 32)
			b[EE_SA_COUNT % 32] = 2;
		if (at >= EE_SA0) {
			uint8_t flags = b[EE_SA_FLAGS];
			if (at & 32) { /* [32, 64): no integrity key, reserved */
				memset(b, 0, 32);
			} else { /* SPI suite flags 00 00 key(16) salt(3) 0... */
				uint8_t i = (uint8_t)(at >= EE_SA1);
				/* K (32 bytes) at b + 4: key and salt in place */
				prov_kdf(b + 4, 1, i);
				prov_kdf(b + 20, 2, i);
				memcpy(b, b + 4, 4);
				memset(b + EE_SA_ENC_KEY + 19, 0, 32 - EE_SA_ENC_KEY - 19);
				b[EE_SA_SPI + 2] |= 0x01; /* SPI | 0x100 */
				if (!i)
					memcpy(spi0, b, 4);
				else if (memcmp(b, spi0, 4) == 0)
					b[EE_SA_SPI + 3] ^= 1;
				b[EE_SA_SUITE] = SUITE_CCM8;
				b[EE_SA_FLAGS] = flags;
				b[6] = b[7] = 0;
			}
		}
		/* the CRC over [0, 6) ‖ [8, L): the staged part, then the tail */
		for (uint8_t k = 0; k < 32; k++)
			if ((uint8_t)(at + k - EE_CRC) >= 2)
				crc = crc16_byte(crc, b[k]);
		bad |= store_write((uint16_t)(base + at), b, 32);
	}
	for (uint16_t i = EE_CONFIG_FIXED; i < store_cfg.len; i++)
		crc = crc16_byte(crc, store_rd(i));
	net_put16(b, crc);
	bad |= store_write(base + EE_CRC, b, 2);
	wipe(b, sizeof b);
	if (bad)
		return -1;
	/* store_init runs next: store_st is reloaded whatever happens here */
	store_st.esp_in_floor = 0;
	store_st.esp_out_reserved = 0;
	return store_journal_commit(EE_CONFIG_FIXED, &store_st);
}
#endif

size_t bootstrap_handle(uint8_t *m, size_t n)
{
	uint8_t kr[32]; /* the current key, then RN_i and the PSK: one wipe */
	uint8_t *key = kr, *rn = kr + 16;
	size_t r;
	if (n != BOOT_FLIGHT4_SIZE || net_be32(m) != 0x4D420104UL) /* "MB" 01 04 */
		return 0;
	if (!store_provisioned())
		return nak(m, BOOT_NAK_NO_KEY); /* no config, no device id */
	if (net_be32(m + H_ID) != store_cfg.device_id)
		return nak(m, BOOT_NAK_NOT_MINE);
	uint16_t cur = store_boot_slot();
	if (!cur)
		return nak(m, BOOT_NAK_NO_KEY);
	/* the other slot: the next key's, or the last flight 4's key */
	uint16_t other = (uint16_t)(store_boot_slot_addr(0) + store_boot_slot_addr(1) - cur);
	/* A copy of the last flight 4 opens under the key it was sent for. */
	uint8_t again = last_ok && ct_equal(m + F4_TAG, last_tag, TAG_LEN) == 0;
	store_read((uint16_t)((again ? other : cur) + EE_BOOT_KEY), key, 16);
	aes128_init(&work.aes, key);
	if (aes128_ccm_open(&work.aes, m + H_TYPE, NONCE_LEN, m, BOOT_HEADER_SIZE,
	                    m + BOOT_HEADER_SIZE, 32, m + F4_TAG, TAG_LEN)) {
		r = nak(m, BOOT_NAK_AUTH);
		goto out;
	}
	store_read(EE_BOOT + EE_BOOT_RN, rn, 16);
	if (ct_equal(m + BOOT_HEADER_SIZE, rn, 16)) {
		r = nak(m, BOOT_NAK_LABEL);
		goto out;
	}
	/* PSK = AES(key, RN_i ⊕ RN_c), in rn */
	for (uint8_t k = 0; k < 16; k++)
		rn[k] ^= m[BOOT_HEADER_SIZE + 16 + k];
	aes128_encrypt(&work.aes, rn);
	if (!again) {
		if (commit(other, cur, rn)) {
			r = nak(m, BOOT_NAK_STORE);
			goto out;
		}
		memcpy(last_tag, m + F4_TAG, TAG_LEN);
		last_ok = 1;
#if STORE_CAN_STAGE
		/* The key is committed: a failure here leaves the old SAs
		 * (the next join installs them); flight 5 proves the key. */
		install();
#endif
		/* Reload everything derived from the config and master key. */
		store_init();
		esp_init();
#if CONFIG_MSSL
		mssl_reset();
#endif
#if CONFIG_COAP
		ms_coap_reset();
#endif
	}
	/* Flight 5: AE(PSK; RN_c) under the same header, type 05. */
	m[H_TYPE] = BOOT_TYPE_PROOF;
	memmove(m + BOOT_HEADER_SIZE, m + BOOT_HEADER_SIZE + 16, 16);
	aes128_init(&work.aes, rn);
	aes128_ccm_seal(&work.aes, m + H_TYPE, NONCE_LEN, m, BOOT_HEADER_SIZE,
	                m + BOOT_HEADER_SIZE, 16, m + BOOT_HEADER_SIZE + 16, TAG_LEN);
	wipe(m + BOOT_FLIGHT5_SIZE, BOOT_FLIGHT4_SIZE - BOOT_FLIGHT5_SIZE);
	r = BOOT_FLIGHT5_SIZE;
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
