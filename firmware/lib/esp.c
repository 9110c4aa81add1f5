/*
 * esp.c - ESP transport mode on the packet buffer (see esp.h).
 *
 * Written for size (docs/PERFORMANCE.md, "Device: link and ESP"): one
 * transform routine serves both directions, and the suite tests below
 * are constant in a build with one suite, so such a build keeps only that
 * suite's code. The store guarantees that a provisioned SA's suite is one
 * this build has (docs/firmware-net.md, reasons 8 and 9), so the last
 * suite of a build needs no test.
 */
#include <string.h>

#include "crypto/cbc.h"
#include "crypto/ccm.h"
#include "crypto/ct.h"
#include "crypto/ctr.h"
#include "crypto/pgm.h" /* MS_NOINLINE */
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

#if CONFIG_BOOTSTRAP
#if !CONFIG_ESP_CCM8
#error "CONFIG_BOOTSTRAP derives aes128-ccm8 SAs: it needs CONFIG_ESP_CCM8"
#endif
/* K of each SA a CFG_BOOTSTRAP config derives from its master key (RAM:
 * deriving it per packet would cost 4 AES blocks and a key schedule). */
static uint8_t sa_key[2][32];

/*
 * The SAs of a CFG_BOOTSTRAP config (docs/bootstrap.md "After the join"),
 * from the master key MK with AES as the PRF: for SA i (0: host to
 * device, the one the device receives with; 1: device to host), K =
 * AES(MK, 01 ‖ i ‖ 0^14) ‖ AES(MK, 02 ‖ i ‖ 0^14); SPI = K[0..4) with bit
 * 8 set and bit 0 = i (never 0, never equal), key and salt K[4..23),
 * suite aes128-ccm8. (No other AES(MK, ·) block starts that way: MSSL's
 * start with an ASCII 'M', CCM's counter blocks under MK with 01 and a
 * flight type 04 or 05.) The config's SA slots give the flags; their SPIs and keys
 * are not used. (MK passes through sa_key[0] on its way to the AES key
 * schedule.)
 */
static void derive_sas(void)
{
	store_master_key(sa_key[0]);
	aes128_init(&W.aes, sa_key[0]);
	for (uint8_t i = 0; i < 2; i++) {
		uint8_t *k = sa_key[i];
		for (uint8_t c = 0; c < 2; c++) {
			uint8_t *b = k + 16 * c;
			memset(b, 0, 16);
			b[0] = (uint8_t)(c + 1);
			b[1] = i;
			aes128_encrypt(&W.aes, b);
		}
		k[2] |= 0x01;
		k[3] = (uint8_t)((k[3] & 0xFE) | i);
		store_cfg.sa[i].spi = net_be32(k);
		store_cfg.sa[i].suite = SUITE_CCM8;
	}
	wipe(&W, sizeof W);
}

const uint8_t *esp_sa_key(uint8_t slot) { return sa_key[slot] + 4; }
#endif

void esp_init(void)
{
#if CONFIG_BOOTSTRAP
	if (BOOT_CFG(store_cfg.flags))
		derive_sas();
	else
		wipe(sa_key, sizeof sa_key);
#endif
	esp_in_top = store_st.esp_in_floor;
	esp_in_bits = 0xFFFFFFFFUL; /* everything at or below the floor: replay */
	esp_out_next = store_st.esp_out_reserved ? store_st.esp_out_reserved : 1;
}

/* ---- anti-replay window (RFC 4303 3.4.3), 32 packets ---------------- */

/*
 * The window is a 32-bit map indexed by the sequence number's low 5 bits
 * (bit s & 7 of byte (s >> 3) & 3 of esp_in_bits): it holds whether each
 * of top-31 .. top was seen; moving top up clears the positions it
 * enters. Byte operations only, no 32-bit shifts (size on AVR).
 *
 * replay returns 0 if seq may be accepted: above top, or within the 32
 * numbers up to top and not seen; -1 for 0, too old or seen. With commit
 * it also records seq (called again, with commit, once the packet is
 * authentic: nothing changes the window in between).
 */
#define WIN_TEST 0
#define WIN_SET 1
#define WIN_CLEAR 2
/* Test, set or clear the window bit of s; returns its old value. */
static __attribute__((noinline)) uint8_t win(uint8_t s, uint8_t op)
{
	uint8_t *b = (uint8_t *)&esp_in_bits + ((s >> 3) & 3);
	uint8_t m = (uint8_t)(1u << (s & 7)), old = *b & m;
	if (op == WIN_SET)
		*b |= m;
	else if (op == WIN_CLEAR)
		*b &= (uint8_t)~m;
	return old;
}

static __attribute__((noinline)) int replay(uint32_t seq, uint8_t commit)
{
	uint32_t top = esp_in_top;
	if (seq > top) {
		if (!commit)
			return 0;
		uint32_t d = seq - top;
		uint8_t t = (uint8_t)top, n = d > 32 ? 32 : (uint8_t)d;
		while (n--)
			win(++t, WIN_CLEAR);
		esp_in_top = seq;
	} else if (seq == 0 || top - seq >= 32 || win((uint8_t)seq, WIN_TEST)) {
		return -1;
	}
	if (commit)
		win((uint8_t)seq, WIN_SET);
	return 0;
}

/* ---- keys, nonces and MACs ------------------------------------------- */

/* Expand the SA's AES key; W.tmp[16..] keeps the salt/nonce (keylen-16). */
#if CONFIG_BOOTSTRAP
MS_NOINLINE /* with its branch, smaller out of line */
#endif
static void key_begin(uint8_t slot, uint8_t keylen)
{
#if CONFIG_BOOTSTRAP
	if (BOOT_CFG(store_cfg.flags))
		memcpy(W.tmp, sa_key[slot] + 4, 19);
	else
#endif
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
	uint8_t sha = !IS_CBC(suite), kl = sha ? 32 : 16;
	store_read(store_sa_addr(slot, EE_SA_AUTH_KEY), W.tmp, kl);
	hmac_any_init(sha, &W.mac, W.tmp, kl);
	hmac_any_update(sha, &W.mac, esp, n);
	if (store_cfg.sa[slot].flags & SA_ESN)
		hmac_any_update(sha, &W.mac, zero4, 4);
	hmac_any_final(sha, &W.mac, W.tmp);
}
#endif

/*
 * The cryptographic transform of the ESP packet e (header, IV, ct bytes
 * of ciphertext/plaintext, ICV) with the SA in slot (0 inbound: verify
 * and decrypt; 1 outbound: encrypt and write the ICV; the header and, for
 * CCM/CTR, the IV are already there). Returns 0, or -1 when an inbound
 * ICV does not verify (HMAC suites: nothing decrypted; CCM: the payload
 * wiped). W (keys, MAC state) is wiped before it returns.
 */
static int transform(uint8_t slot, uint8_t *e, uint16_t ct)
{
	uint8_t suite = store_cfg.sa[slot].suite;
	uint8_t ivl = esp_iv_len(suite);
	uint8_t *iv = e + ESP_HDR_LEN, *p = iv + ivl, *icv = p + ct;
	int r = 0;

	if (IS_CCM(suite)) {
#if CONFIG_ESP_CCM8
		/* RFC 4309: nonce salt(3) || iv(8) at W.tmp[16..27), AAD
		 * SPI || [ESN high half, 0] || seq at W.tmp[0..). */
		uint8_t alen = 8;
		key_begin(slot, 19);
		memcpy(W.tmp + 19, iv, 8);
		memcpy(W.tmp, e, 8);
		if (store_cfg.sa[slot].flags & SA_ESN) {
			memcpy(W.tmp + 8, e + 4, 4);
			memset(W.tmp + 4, 0, 4);
			alen = 12;
		}
		/* slot 1 seals; slot 0 opens: decrypts, checks the tag in
		 * constant time, wipes p on failure (one call site: ten
		 * arguments cost a lot to pass on AVR) */
		r = aes128_ccm_crypt(&W.aes, W.tmp + 16, 11, W.tmp, alen, p, ct, icv, 8,
		                     (uint8_t)!slot);
		goto out;
#endif
	}
#if CONFIG_ESP_HMAC
	uint16_t n = (uint16_t)(ESP_HDR_LEN + ivl + ct);
	/* Encrypt-then-MAC: nothing is decrypted before the ICV verifies. */
	if (!slot) {
		mac(suite, 0, e, n);
		r = ct_equal(W.tmp, icv, esp_icv_len(suite));
		if (r)
			goto out;
	}
	if (IS_CBC(suite)) {
#if CONFIG_ESP_CBC_MD5
		key_begin(slot, 16);
		if (slot) {
			/* IV = AES_K(ff*8 || seq64) (SP 800-38A App. C) */
			memset(W.tmp, 0xFF, 8);
			memset(W.tmp + 8, 0, 4);
			memcpy(W.tmp + 12, e + 4, 4);
			aes128_encrypt(&W.aes, W.tmp);
			memcpy(iv, W.tmp, 16);
			aes128_cbc_encrypt(&W.aes, W.tmp, p, ct / 16);
		} else {
			memcpy(W.tmp, iv, 16);
			aes128_cbc_decrypt(&W.aes, W.tmp, p, ct / 16);
		}
#endif
	} else {
#if CONFIG_ESP_CTR_SHA256
		/* RFC 3686 counter block nonce(4) || iv(8) || 00000001 */
		key_begin(slot, 20);
		memmove(W.tmp, W.tmp + 16, 4);
		memcpy(W.tmp + 4, iv, 8);
		memset(W.tmp + 12, 0, 3);
		W.tmp[15] = 1;
		aes128_ctr(&W.aes, W.tmp, p, ct);
#endif
	}
	if (slot) {
		mac(suite, 1, e, n);
		memcpy(icv, W.tmp, esp_icv_len(suite));
	}
#endif
out:
	wipe(&W, sizeof W);
	return r;
}

/* ---- inbound --------------------------------------------------------- */

/* (W is clean here: transform wipes it before returning.) */
static int drop(uint8_t counter)
{
	net_count(counter);
	return -1;
}

int esp_open(uint8_t *buf, uint16_t off, uint16_t len,
             uint16_t *pt_off, uint16_t *pt_len, uint8_t *nh)
{
	uint8_t suite = store_cfg.sa[0].suite;
	uint8_t *e = buf + off;
	uint16_t n = (uint16_t)(len - off);
	uint8_t ivl = esp_iv_len(suite);

	if (off > len || n < ESP_HDR_LEN)
		return drop(C_ESP_MALFORMED);
	if (net_be32(e) != store_cfg.sa[0].spi)
		return drop(C_ESP_SPI);
	uint8_t fixed = (uint8_t)(ESP_HDR_LEN + ivl + esp_icv_len(suite));
	if (n < (uint16_t)(fixed + 2))
		return drop(C_ESP_MALFORMED);
	uint16_t ct = (uint16_t)(n - fixed);
	if (IS_CBC(suite) && (ct & 15))
		return drop(C_ESP_MALFORMED);
	uint32_t seq = net_be32(e + 4);
	if (replay(seq, 0))
		return drop(C_ESP_REPLAY);
	if (transform(0, e, ct))
		return drop(C_ESP_AUTH);

	/* Authentic: now the trailer (RFC 4303 2.4-2.6). */
	uint8_t *p = e + ESP_HDR_LEN + ivl;
	uint8_t padlen = p[ct - 2], h = p[ct - 1];
	if (padlen > ct - 2)
		return drop(C_ESP_MALFORMED);
	uint16_t ptl = (uint16_t)(ct - 2 - padlen);
	/* padding 1, 2, .., padlen, checked from its end */
	for (uint8_t *q = p + ct - 2, i = padlen; i; i--)
		if (*--q != i)
			return drop(C_ESP_MALFORMED);
	if (h != IP_PROTO_ICMP && h != IP_PROTO_UDP && h != ESP_NH_DUMMY)
		return drop(C_ESP_MALFORMED);
	/* Keep the stored floor ahead before accepting (docs/eeprom.md). */
	if (store_in_floor(seq))
		return drop(C_NO_SEND);
	replay(seq, 1);
	*pt_off = (uint16_t)(p - buf);
	*pt_len = ptl;
	*nh = h;
	return 0;
}

/* ---- outbound -------------------------------------------------------- */

uint16_t esp_seal(uint8_t *buf, uint16_t off, uint16_t pt_len, uint8_t nh)
{
	uint8_t suite = store_cfg.sa[1].suite;
	uint8_t *e = buf + off;
	uint8_t ivl = esp_iv_len(suite);
	uint8_t blk = IS_CBC(suite) ? 16 : 4;
	uint32_t seq = esp_out_next;

	/* Reserve first: a number is used only below the stored reservation. */
	if (store_out_seq(seq)) {
		net_count(C_NO_SEND);
		return 0;
	}
	esp_out_next = seq + 1; /* seq < 0xFFFFFFFF here: no wrap */

	uint8_t *p = e + ESP_HDR_LEN + ivl;
	uint8_t padlen = (uint8_t)((blk - 1) & ~(pt_len + 1)); /* (pt+2) padded to blk */
	uint16_t ct = (uint16_t)(pt_len + 2 + padlen);
	uint8_t *q = p + pt_len;
	for (uint8_t i = 1; i <= padlen; i++)
		*q++ = i;
	*q++ = padlen;
	*q = nh;
	net_put32(e, store_cfg.sa[1].spi);
	net_put32(e + 4, seq);
	memset(e + 8, 0, 4); /* CCM, CTR: IV = 64-bit sequence number */
	memcpy(e + 12, e + 4, 4);
	transform(1, e, ct);
	return (uint16_t)(ESP_HDR_LEN + ivl + ct + esp_icv_len(suite));
}
