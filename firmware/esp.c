/*
 * esp.c - ESP transport mode on the packet buffer (see esp.h).
 */
#include <string.h>

#include "crypto/cbc.h"
#include "crypto/ccm.h"
#include "crypto/ct.h"
#include "crypto/ctr.h"
#include "esp.h"
#include "net/net.h"
#include "store.h"

#if !(CONFIG_ESP_CCM8 || CONFIG_ESP_CTR_SHA256 || CONFIG_ESP_CBC_MD5)
#error "build at least one ESP suite (CONFIG_ESP_*)"
#endif

union fw_work fw_work;
uint32_t esp_in_top;
uint32_t esp_in_bits;
uint32_t esp_out_next;

#define W (fw_work.esp)

void esp_init(void)
{
	esp_in_top = store_st.esp_in_floor;
	esp_in_bits = 0xFFFFFFFFUL; /* everything at or below the floor: replay */
	esp_out_next = store_st.esp_out_reserved ? store_st.esp_out_reserved : 1;
}

uint8_t esp_iv_len(uint8_t suite)
{
	return suite == SUITE_CBC_MD5 ? 16 : 8;
}

static uint8_t icv_len(uint8_t suite)
{
	return suite == SUITE_CCM8 ? 8 : suite == SUITE_CBC_MD5 ? 12 : 16;
}

uint8_t esp_overhead_max(uint8_t suite)
{
	/* padding (block - 1) + pad length + next header + ICV */
	return (uint8_t)((suite == SUITE_CBC_MD5 ? 15 : 3) + 2 + icv_len(suite));
}

/* ---- anti-replay window (RFC 4303 3.4.3), 32 packets ---------------- */

static int replay_check(uint32_t seq)
{
	if (seq == 0)
		return -1;
	if (seq > esp_in_top)
		return 0;
	uint32_t d = esp_in_top - seq;
	if (d >= 32)
		return -1;
	return ((esp_in_bits >> d) & 1) ? -1 : 0;
}

static void replay_update(uint32_t seq)
{
	if (seq > esp_in_top) {
		uint32_t d = seq - esp_in_top;
		esp_in_bits = d >= 32 ? 1 : (esp_in_bits << d) | 1;
		esp_in_top = seq;
	} else {
		esp_in_bits |= (uint32_t)1 << (esp_in_top - seq);
	}
}

/* ---- keys and MACs --------------------------------------------------- */

/* Expand the SA's AES key; W.tmp[16..] keeps the salt/nonce (keylen-16). */
static void key_begin(uint8_t slot, uint8_t keylen)
{
	store_read(store_sa_addr(slot, EE_SA_ENC_KEY), W.tmp, keylen);
	aes128_init(&W.aes, W.tmp);
	wipe(W.tmp, 16);
}

#if CONFIG_ESP_HMAC
static const uint8_t zero4[4] = { 0, 0, 0, 0 };

/*
 * The ICV of an HMAC suite over esp[0..n) (SPI .. ciphertext), with the
 * untransmitted high half of an ESN (always 0 here) after it; the full
 * MAC is left in W.tmp.
 */
static void mac(uint8_t suite, uint8_t slot, const uint8_t *esp, uint16_t n)
{
	uint8_t esn = store_cfg.sa[slot].flags & SA_ESN;
	uint16_t kaddr = store_sa_addr(slot, EE_SA_AUTH_KEY);
#if CONFIG_ESP_CBC_MD5
	if (suite == SUITE_CBC_MD5) {
		store_read(kaddr, W.tmp, 16);
		hmac_md5_init(&W.mac.md5, W.tmp, 16);
		hmac_md5_update(&W.mac.md5, esp, n);
		if (esn)
			hmac_md5_update(&W.mac.md5, zero4, 4);
		hmac_md5_final(&W.mac.md5, W.tmp);
		return;
	}
#endif
#if CONFIG_ESP_CTR_SHA256
	store_read(kaddr, W.tmp, 32);
	hmac_sha256_init(&W.mac.sha, W.tmp, 32);
	hmac_sha256_update(&W.mac.sha, esp, n);
	if (esn)
		hmac_sha256_update(&W.mac.sha, zero4, 4);
	hmac_sha256_final(&W.mac.sha, W.tmp);
#else
	(void)suite;
#endif
}
#endif

#if CONFIG_ESP_CCM8
/*
 * RFC 4309: the AES key is expanded, the nonce salt(3) || iv(8) is put at
 * W.tmp[16..27) and the AAD SPI || [ESN high 0] || seq at W.tmp[0..);
 * returns the AAD length.
 */
static uint8_t ccm_begin(uint8_t slot, const uint8_t *esp, const uint8_t *iv)
{
	key_begin(slot, 19);
	memcpy(W.tmp + 19, iv, 8);
	memcpy(W.tmp, esp, 4);
	if (store_cfg.sa[slot].flags & SA_ESN) {
		memset(W.tmp + 4, 0, 4);
		memcpy(W.tmp + 8, esp + 4, 4);
		return 12;
	}
	memcpy(W.tmp + 4, esp + 4, 4);
	return 8;
}
#endif

#if CONFIG_ESP_CTR_SHA256
/* RFC 3686 counter block nonce(4) || iv(8) || 00000001 at W.tmp[0..16). */
static void ctr_begin(uint8_t slot, const uint8_t *iv)
{
	key_begin(slot, 20);
	memmove(W.tmp, W.tmp + 16, 4);
	memcpy(W.tmp + 4, iv, 8);
	W.tmp[12] = 0;
	W.tmp[13] = 0;
	W.tmp[14] = 0;
	W.tmp[15] = 1;
}
#endif

/* ---- inbound --------------------------------------------------------- */

static int drop(uint8_t counter)
{
	wipe(&W, sizeof W);
	NET_COUNT(counter);
	return -1;
}

int esp_open(uint8_t *buf, uint16_t off, uint16_t len,
             uint16_t *pt_off, uint16_t *pt_len, uint8_t *nh)
{
	const struct store_sa *sa = &store_cfg.sa[0];
	uint8_t suite = sa->suite;
	uint8_t *e = buf + off;
	uint16_t n = (uint16_t)(len - off);
	uint8_t ivl = esp_iv_len(suite), icvl = icv_len(suite);
	int bad = -1;

	if (off > len || n < ESP_HDR_LEN)
		return drop(C_ESP_MALFORMED);
	if (net_be32(e) != sa->spi || store_cfg.sa_count != 2)
		return drop(C_ESP_SPI);
	if (n < (uint16_t)(ESP_HDR_LEN + ivl + 2 + icvl))
		return drop(C_ESP_MALFORMED);
	uint16_t ct = (uint16_t)(n - ESP_HDR_LEN - ivl - icvl);
	if (suite == SUITE_CBC_MD5 && (ct & 15))
		return drop(C_ESP_MALFORMED);
	uint32_t seq = net_be32(e + 4);
	if (replay_check(seq))
		return drop(C_ESP_REPLAY);

	uint8_t *iv = e + ESP_HDR_LEN, *p = iv + ivl, *icv = p + ct;
#if CONFIG_ESP_CCM8
	if (suite == SUITE_CCM8) {
		uint8_t alen = ccm_begin(0, e, iv);
		/* decrypts and checks the tag in constant time; wipes p on failure */
		bad = aes128_ccm_open(&W.aes, W.tmp + 16, 11, W.tmp, alen, p, ct, icv, 8);
	}
#endif
#if CONFIG_ESP_HMAC
	if (suite != SUITE_CCM8) {
		/* Encrypt-then-MAC: nothing is decrypted before the ICV verifies. */
		mac(suite, 0, e, (uint16_t)(ESP_HDR_LEN + ivl + ct));
		bad = ct_equal(W.tmp, icv, icvl);
		if (!bad) {
#if CONFIG_ESP_CBC_MD5
			if (suite == SUITE_CBC_MD5) {
				key_begin(0, 16);
				memcpy(W.tmp, iv, 16);
				aes128_cbc_decrypt(&W.aes, W.tmp, p, ct / 16);
			}
#endif
#if CONFIG_ESP_CTR_SHA256
			if (suite == SUITE_CTR_SHA256) {
				ctr_begin(0, iv);
				aes128_ctr(&W.aes, W.tmp, p, ct);
			}
#endif
		}
	}
#endif
	if (bad)
		return drop(C_ESP_AUTH);
	wipe(&W, sizeof W);

	/* Authentic: now the trailer (RFC 4303 2.4-2.6). */
	uint8_t padlen = p[ct - 2], h = p[ct - 1];
	if (padlen > ct - 2)
		return drop(C_ESP_MALFORMED);
	uint8_t *pad = p + ct - 2 - padlen;
	for (uint8_t i = 0; i < padlen; i++)
		if (pad[i] != (uint8_t)(i + 1))
			return drop(C_ESP_MALFORMED);
	if (h != IP_PROTO_ICMP && h != IP_PROTO_UDP && h != ESP_NH_DUMMY)
		return drop(C_ESP_MALFORMED);
	/* Keep the stored floor ahead before accepting (docs/eeprom.md). */
	if (store_in_floor(seq))
		return drop(C_NO_SEND);
	replay_update(seq);
	*pt_off = (uint16_t)(off + ESP_HDR_LEN + ivl);
	*pt_len = (uint16_t)(ct - 2 - padlen);
	*nh = h;
	return 0;
}

/* ---- outbound -------------------------------------------------------- */

uint16_t esp_seal(uint8_t *buf, uint16_t off, uint16_t pt_len, uint8_t nh)
{
	const struct store_sa *sa = &store_cfg.sa[1];
	uint8_t suite = sa->suite;
	uint8_t *e = buf + off;
	uint8_t ivl = esp_iv_len(suite), icvl = icv_len(suite);
	uint8_t blk = suite == SUITE_CBC_MD5 ? 16 : 4;
	uint32_t seq = esp_out_next;

	/* Reserve first: a number is used only below the stored reservation. */
	if (store_cfg.sa_count != 2 || store_out_seq(seq)) {
		NET_COUNT(C_NO_SEND);
		return 0;
	}
	esp_out_next = seq + 1; /* seq < 0xFFFFFFFF here: no wrap */

	uint16_t ct = (uint16_t)(pt_len + 2);
	uint8_t padlen = (uint8_t)((blk - ct % blk) % blk);
	ct = (uint16_t)(ct + padlen);
	uint8_t *iv = e + ESP_HDR_LEN, *p = iv + ivl;
	for (uint8_t i = 0; i < padlen; i++)
		p[pt_len + i] = (uint8_t)(i + 1);
	p[ct - 2] = padlen;
	p[ct - 1] = nh;
	net_put32(e, sa->spi);
	net_put32(e + 4, seq);
	memset(iv, 0, 4); /* CCM, CTR: IV = 64-bit sequence number */
	net_put32(iv + 4, seq);

#if CONFIG_ESP_CCM8
	if (suite == SUITE_CCM8) {
		uint8_t alen = ccm_begin(1, e, iv);
		aes128_ccm_seal(&W.aes, W.tmp + 16, 11, W.tmp, alen, p, ct, p + ct, 8);
	}
#endif
#if CONFIG_ESP_CBC_MD5
	if (suite == SUITE_CBC_MD5) {
		key_begin(1, 16);
		memset(W.tmp, 0xFF, 8);
		memset(W.tmp + 8, 0, 4);
		net_put32(W.tmp + 12, seq);
		aes128_encrypt(&W.aes, W.tmp); /* IV = AES_K(ff*8 || seq64) */
		memcpy(iv, W.tmp, 16);
		aes128_cbc_encrypt(&W.aes, W.tmp, p, ct / 16);
	}
#endif
#if CONFIG_ESP_CTR_SHA256
	if (suite == SUITE_CTR_SHA256) {
		ctr_begin(1, iv);
		aes128_ctr(&W.aes, W.tmp, p, ct);
	}
#endif
#if CONFIG_ESP_HMAC
	if (suite != SUITE_CCM8) {
		mac(suite, 1, e, (uint16_t)(ESP_HDR_LEN + ivl + ct));
		memcpy(p + ct, W.tmp, icvl);
	}
#endif
	wipe(&W, sizeof W);
	return (uint16_t)(ESP_HDR_LEN + ivl + ct + icvl);
}
