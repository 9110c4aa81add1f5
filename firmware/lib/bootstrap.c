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
#include "esp.h"
#include "ms_base.h"
#if CONFIG_MSSL
#include "mssl.h"
#endif
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
	uint16_t crc = 0xFFFF;
	store_read((uint16_t)(cur + EE_BOOT_GEN), s + EE_BOOT_GEN, 4);
	for (uint8_t k = EE_BOOT_KEY - 1; ++s[k] == 0 && k > EE_BOOT_GEN; k--)
		; /* gen + 1, big-endian */
	memcpy(s + EE_BOOT_KEY, key, 16);
	for (uint8_t k = EE_BOOT_GEN; k < EE_BOOT_CRC; k++)
		crc = crc16_byte(crc, s[k]);
	net_put16(s + EE_BOOT_CRC, crc);
	s[0] = 0xFF;
	int bad = store_write(a, s, 1) ||
	          store_write((uint16_t)(a + 1), s + 1, EE_BOOT_SLOT_SIZE - 1);
	s[0] = EE_BOOT_VALID;
	if (!bad)
		bad = store_write(a, s, 1);
	wipe(s, sizeof s);
	return bad;
}

#if STORE_CAN_STAGE
/* The KDF labels (docs/bootstrap.md "After the join"): SA slot 0 is the
 * one the device receives with (host to device), slot 1 it sends with. */
static const uint8_t labels[16] PGM = "ESP-h2d ESP-d2h ";

/* KDF blocks 1 and 2 of SA slot i's label under work.aes (keyed with the
 * master key): CMAC(MK, j ‖ label(8) ‖ 00 ‖ id(4) ‖ 0^16 ‖ 00 80). */
static __attribute__((noinline)) void kdf2(uint8_t out[32], uint8_t i)
{
	uint8_t in[32];
	memset(in, 0, sizeof in);
	for (uint8_t k = 0; k < 8; k++)
		in[1 + k] = PGM_BYTE(&labels[8 * i + k]);
	net_put32(in + 10, store_cfg.device_id);
	in[31] = 0x80;
	for (uint8_t j = 0; j < 2; j++) {
		in[0] = (uint8_t)(j + 1);
		aes128_cmac(&work.aes, in, sizeof in, out + 16 * j);
	}
}

/* Copy n bytes (a multiple of 32) of EEPROM from src to dst through b. */
static int copy32(uint16_t dst, uint16_t src, uint8_t n, uint8_t b[32])
{
	for (; n; n = (uint8_t)(n - 32), src = (uint16_t)(src + 32), dst = (uint16_t)(dst + 32)) {
		store_read(src, b, 32);
		if (store_write(dst, b, 32))
			return -1;
	}
	return 0;
}

/*
 * Replace the config's SAs with the ones derived from the master key in
 * work.aes, the way serial provisioning commits a config: the new fixed
 * part (192 bytes) is staged and made the config through the journal
 * (store.h), with the ESP counters at zero (new keys). No
 * store_check_staged: the config was checked at boot and only its SAs
 * change, to CCM-8 SAs with non-zero, distinct SPIs and the flags they
 * had. 0 or -1.
 */
static __attribute__((noinline)) int install(void)
{
	const uint16_t base = (uint16_t)(STORE_STAGE_END - EE_CONFIG_FIXED);
	uint8_t b[32], spi0[4];
	int bad = copy32(base, 0, EE_SA0, b); /* the header, SA count below */
	b[0] = 2;
	bad |= store_write(base + EE_SA_COUNT, b, 1);
	for (uint8_t i = 0; i < 2; i++) {
		uint16_t sa = (uint16_t)(base + EE_SA0 + i * EE_SA_SIZE);
		/* bytes [0, 32): SPI suite flags 00 00 key(16) salt(3) 0... */
		kdf2(b, i);
		memmove(b + EE_SA_ENC_KEY, b + 4, 19);
		memset(b + EE_SA_ENC_KEY + 19, 0, 32 - EE_SA_ENC_KEY - 19);
		b[EE_SA_SPI + 2] |= 0x01; /* SPI | 0x100 */
		if (i == 0)
			memcpy(spi0, b, 4);
		else if (memcmp(b, spi0, 4) == 0)
			b[EE_SA_SPI + 3] ^= 1;
		b[EE_SA_SUITE] = SUITE_CCM8;
		b[EE_SA_FLAGS] = store_rd(store_sa_addr(i, EE_SA_FLAGS));
		b[6] = b[7] = 0;
		bad |= store_write(sa, b, 32);
		memset(b, 0, 32); /* [32, 64): no integrity key, reserved */
		bad |= store_write((uint16_t)(sa + 32), b, 32);
	}
	/* The CRC over [0, 6) ‖ [8, L): the staged part, then the tail. */
	uint16_t crc = 0xFFFF;
	for (uint16_t i = 0; i < store_cfg.len; i++)
		if (i != EE_CRC && i != EE_CRC + 1)
			crc = crc16_byte(crc, store_rd(i < EE_CONFIG_FIXED ? (uint16_t)(base + i) : i));
	net_put16(b, crc);
	bad |= store_write(base + EE_CRC, b, 2);
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
	uint8_t key[16], rn[16];
	size_t r;
	if (n != BOOT_FLIGHT4_SIZE || m[0] != 'M' || m[1] != 'B' || m[2] != 1 ||
	    m[H_TYPE] != BOOT_TYPE_REKEY)
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
		aes128_init(&work.aes, rn);
		install();
#endif
		/* Reload everything derived from the config and master key. */
		store_init();
		esp_init();
#if CONFIG_MSSL
		mssl_reset();
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
	wipe(key, sizeof key);
	wipe(rn, sizeof rn);
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
