/*
 * esp.h - ESP (RFC 4303) in transport mode for the device's two SAs
 * (EEPROM SA slot 0 inbound, slot 1 outbound; docs/eeprom.md), in place
 * on the packet buffer. Contract: docs/firmware-net.md.
 *
 * Suites (config.h): CONFIG_ESP_CCM8 (RFC 4309, ICV 8), CONFIG_ESP_CTR_SHA256
 * (RFC 3686 + RFC 4868, ICV 16), CONFIG_ESP_CBC_MD5 (RFC 3602 + RFC 2403,
 * ICV 12). Keys are read from the EEPROM for each packet into one static
 * work area and wiped afterwards; RAM holds no key between packets.
 *
 * Callers (net_input) call esp_open/esp_seal only when the device is
 * provisioned with both SAs (store_cfg.sa_count == 2): the suites are
 * then ones this build has (the store checks), so a one-suite build
 * compiles without suite tests.
 *
 * Inbound (esp_open): SPI -> lengths -> sequence number (0 never valid)
 * and anti-replay pre-check (32-packet window, RFC 4303 3.4.3) -> ICV in
 * constant time (HMAC suites: before decrypting; CCM: combined, buffer
 * wiped on failure) -> decrypt -> padding 1,2,3.., pad length, next header
 * -> the persisted inbound floor (store_in_floor) -> window update. A
 * packet that fails a step is counted and changes nothing else.
 *
 * Outbound (esp_seal): the sequence number is reserved in EEPROM before
 * use (store_out_seq) and never reused, across resets too. CCM/CTR IV =
 * the 64-bit sequence number; CBC IV = AES_K(ff*8 || seq64) (SP 800-38A
 * App. C). ESN: high half 0.
 */
#ifndef MS_ESP_H
#define MS_ESP_H

#include <stdint.h>

#include "config.h"
#include "crypto/aes.h"
#include "crypto/cmac.h"
#include "crypto/hmac.h"
#include "crypto/rsa.h"
#include "store.h"

#define ESP_HDR_LEN 8

/*
 * fw_work - the one static work area of the firmware, shared by ESP (per
 * packet: key schedule, MAC state, nonces), the management channel (per
 * request: BENCH/COMPUTE contexts, serial provisioning's AES) and RSA
 * verification (the 2k + 5 byte Montgomery work area, CONFIG_WORK_RSA in
 * config.h). Its size is the largest member: 517 bytes in the 328P's
 * reference image (RSA-2048); 208 with CCM-8 only, 48 with the key
 * schedule computed on the fly (CONFIG_AES_KEY_ONTHEFLY, the ATmega168).
 *
 * ONE OWNER AT A TIME, guaranteed by construction, not by a lock:
 *  - every user runs from the main loop (main.c: one frame at a time,
 *    to completion); no interrupt handler touches fw_work;
 *  - no user keeps anything in it between two calls: esp_open and
 *    esp_seal each wipe it before returning (and on every drop), and
 *    mgmt_handle wipes all of it after every request (RSA included);
 *  - inside net_input, esp_open has returned (area wiped) before the
 *    inner protocol runs (ICMP, the task service, later MSSL), and
 *    esp_seal starts only after that handler has returned; so an inner
 *    handler may use the area too: MSSL's handshake verifies its grant
 *    with RSA there, between the two ESP calls or outside ESP entirely.
 * What must outlive a request (the RSA modulus loaded by the management
 * channel in several frames) lives elsewhere (mgmt_rsa.c).
 * The area also keeps large temporaries off the stack, which on the
 * ATmega168 shares 1 KB with the static data (docs/PERFORMANCE.md,
 * "Device library: profiles and sizes"): provisioning's CMAC state and
 * new counters, MSSL's record key, nonce and AAD. A member is added
 * only where it fits the largest one, or costs fewer static bytes than
 * it saves on the deepest stack.
 */
union fw_work {
	aes128_ctx aes;
	/* the hash contexts only where a user of them is built: COMPUTE and
	 * BENCH, MSSL's RSA path (ESP's HMACs are in esp.mac) */
#if CONFIG_MD5 && CONFIG_MGMT_CRYPTO
	md5_ctx md5;
	hmac_md5_ctx hmd5;
#endif
#if CONFIG_SHA256 && (CONFIG_MGMT_CRYPTO || CONFIG_MSSL_RSA)
	sha256_ctx sha;
	hmac_sha256_ctx hsha;
#endif
	struct {
		aes128_ctx aes;
#if CONFIG_ESP_HMAC
		union {
#if CONFIG_ESP_CBC_MD5
			hmac_md5_ctx md5;
#endif
#if CONFIG_ESP_CTR_SHA256
			hmac_sha256_ctx sha;
#endif
		} mac;
#endif
		uint8_t tmp[32]; /* keys on their way in, nonces, AAD, MACs */
	} esp;
#if CONFIG_MSSL
	/* MSSL (mssl.c): a record's key, then its AAD (t[0..16)), and its
	 * nonce (t[16..29); the salts block lands at t[16] or t[8], so that
	 * the direction's salt is the nonce's first 8 bytes); ClientHello's
	 * Kh, then Nh || Nd */
	struct {
		aes128_ctx aes;
		uint8_t t[32];
	} mssl;
#endif
#if CONFIG_PROV_SERIAL || defined(MS_PROV_C)
	/* serial provisioning (prov.c): the CMAC under the derived key, then
	 * the new counters of an authenticated commit (MS_PROV_C: prov.c is
	 * compiled, if not linked, where PROV is left out, e.g. the Arduino
	 * library) */
	struct {
		aes128_ctx aes;
		struct aes128_cmac c;
	} prov;
	struct store_state prov_ns;
#endif
#if CONFIG_WORK_RSA
	uint8_t rsa[RSA_WORK_SIZE(CONFIG_RSA_MAX_BYTES)];
#endif
};
extern union fw_work fw_work;

/* Anti-replay state (RAM) and the next outbound sequence number. */
extern uint32_t esp_in_top;  /* highest accepted sequence number */
extern uint32_t esp_in_bits; /* window map: bit s & 7 of byte (s >> 3) & 3
                              * set when s (one of top-31..top) was seen */
extern uint32_t esp_out_next;

/* esp_init - start the window at the stored inbound floor and the
 * outbound counter at the stored reservation (after store_init); for a
 * CFG_BOOTSTRAP config, derive the SAs from the master key. */
void esp_init(void);

#if CONFIG_BOOTSTRAP
/* esp_sa_key - the 16-byte key and 3-byte salt of SA slot (0: inbound)
 * derived for a CFG_BOOTSTRAP config (for tests; a device never reads
 * it out). */
const uint8_t *esp_sa_key(uint8_t slot);
#endif

/* Suite tests: constant when the build has one suite (or lacks one); the
 * store guarantees a provisioned SA's suite is one this build has. */
#define IS_CCM(s) (CONFIG_ESP_CCM8 && (!CONFIG_ESP_HMAC || (s) == SUITE_CCM8))
#define IS_CBC(s) \
	(CONFIG_ESP_CBC_MD5 && ((!CONFIG_ESP_CCM8 && !CONFIG_ESP_CTR_SHA256) || (s) == SUITE_CBC_MD5))
#define IS_CTR(s) \
	(CONFIG_ESP_CTR_SHA256 && ((!CONFIG_ESP_CCM8 && !CONFIG_ESP_CBC_MD5) || (s) == SUITE_CTR_SHA256))

/* esp_iv_len / esp_icv_len / esp_overhead_max - IV bytes, ICV bytes, and
 * the most bytes an ESP packet adds after its payload (padding, trailer,
 * ICV), for a suite. Inline: constants in a one-suite build. */
static inline uint8_t esp_iv_len(uint8_t suite)
{
	return IS_CBC(suite) ? 16 : 8;
}
static inline uint8_t esp_icv_len(uint8_t suite)
{
	return IS_CCM(suite) ? 8 : IS_CBC(suite) ? 12 : 16;
}
static inline uint8_t esp_overhead_max(uint8_t suite)
{
	/* padding (block - 1) + pad length + next header + ICV */
	return (uint8_t)((IS_CBC(suite) ? 15 : 3) + 2 + esp_icv_len(suite));
}

/*
 * esp_open - the ESP packet at buf[off..len) for the inbound SA. On
 * success returns 0 with the inner payload at buf[*pt_off..+*pt_len) and
 * its next header in *nh (1, 17 or 59). Otherwise -1, counted.
 */
int esp_open(uint8_t *buf, uint16_t off, uint16_t len,
             uint16_t *pt_off, uint16_t *pt_len, uint8_t *nh);

/*
 * esp_seal - protect pt_len payload bytes already placed at
 * buf + off + ESP_HDR_LEN + esp_iv_len(outbound suite) with the outbound
 * SA: writes the ESP header, IV, padding, trailer and ICV. The caller has
 * checked that esp_overhead_max() bytes fit after the payload. Returns
 * the ESP length, or 0 (counted: sequence numbers exhausted or the
 * reservation could not be stored).
 */
uint16_t esp_seal(uint8_t *buf, uint16_t off, uint16_t pt_len, uint8_t nh);

#endif /* MS_ESP_H */
