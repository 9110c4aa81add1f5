/*
 * mssl.c - MSSL on the device (see mssl.h; protocol: docs/mssl.md; the
 * behaviour is pkg/mssl/server.go's, check for check and byte for byte).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVR__)
#include <avr/io.h> /* SP */
#endif

#include "config.h"
#include "entropy.h"

#if CONFIG_MSSL

#include "crypto/aes.h"
#include "crypto/ccm.h"
#include "crypto/cmac.h"
#include "crypto/ct.h"
#include "crypto/pgm.h"
#include "crypto/rsa.h"
#include "crypto/sha256.h"
#include "esp.h" /* fw_work */
#include "mssl.h"
#include "ms_base.h"
#include "store.h"
#include "tasks.h"

#if CONFIG_MSSL_RSA && (!CONFIG_WORK_RSA || !CONFIG_RSA || !CONFIG_SHA256)
#error "CONFIG_MSSL_RSA needs CONFIG_RSA, CONFIG_SHA256 and CONFIG_WORK_RSA"
#endif


/* Grant body offsets (docs/grant.md). */
#define G_FLAGS 3
#define G_KEYID 4
#define G_SERIAL 12
#define G_TARGET 16
#define G_IP 20
#define G_MAC 24
#define G_TASKS 30
#define G_ISSUED 34
#define G_NOT_AFTER 38
#define G_NONCE 42
#define G_SEALED 55
#define G_TAG 71
/* Floor statement body offsets. */
#define F_FLAGS 3
#define F_KEYID 4
#define F_TARGET 12
#define F_SERIAL 16
#define F_TIME 20

/* The 16-byte labels (pkg/mssl/keys.go, pkg/grant/seal.go). */
#define L_NONCE 0
#define L_CLIENT 16
#define L_SERVER 32
#define L_SALTS 48
#define L_SEAL 64
#define L_FLOOR 80
static const char labels[97] PGM =
	"MSSL-nonce-key-1" "MSSL1 client key" "MSSL1 server key"
	"MSSL1 nonce salt" "MSSL-grant-seal1" "MSSL-floor-mac-1";

/* ServerHello flags (pkg/mssl/wire.go). */
#define SH_NO_SIG 0x01 /* no signature needed: cached, or taken on its seal */
#define SH_NO_RSA 0x02 /* this device verifies no RSA: floors carry a MAC */
#if CONFIG_MSSL_RSA
#define SH_DEVICE 0
#else
#define SH_DEVICE SH_NO_RSA
#endif

struct peer {
	uint8_t ip[4];
	uint16_t port;
};
_Static_assert(sizeof(struct peer) == 6, "struct peer: compared with memcmp");

/* What a session takes over from its handshake, in one copy: the peer
 * and the PRK; the record keys and salts (docs/mssl.md) are derived from
 * the PRK in fw_work for each record and wiped (RAM: 22 bytes a side
 * instead of 54). */
struct ends {
	struct peer peer;
	uint8_t prk[16];
};

/* What the pending handshake and then the session keep of the grant,
 * as the grant body has it (big-endian): the session takes it over in
 * one copy (its issued_at unused). */
struct kept {
	struct ends e;
	uint8_t serial[4];
	uint8_t tina[12]; /* tasks, issued_at, not_after: body[30..42) */
};
#define K_ISSUED (G_ISSUED - G_TASKS)
#define K_NOT_AFTER (G_NOT_AFTER - G_TASKS)

#define SS_UP 1
#define SS_FLOOR 2

#define HS_NONE 0
#define HS_FINISHED 1  /* waiting for the host's Finished */
#define HS_SIGNATURE 2 /* waiting for GrantSignature */

/*
 * MSSL's state shares its RAM with the management channel's RSA bench
 * key (mgmt_rsa.c, mssl_lend): one owner at a time. The bench gets it
 * only while MSSL holds no session, pending handshake, floor statement
 * or cached grant; MSSL takes the area back at its next message (the
 * bench key is then forgotten): 256 bytes of the ATmega328P's 2 KB are
 * not spent twice. (With RSA-2048 the state fills the bench's 256 bytes
 * exactly: a byte more moves the static data up under the RSA
 * verification, which then refuses for lack of RAM, verify.)
 */
static union {
	struct {
#if CONFIG_MSSL_RSA
	/* AES(master key, "MSSL-nonce-key-1"); seal-only derives it for
	 * each ClientHello (two AES blocks and the key from the EEPROM: 16
	 * bytes of the ATmega168's RAM) */
	uint8_t knonce[16];
	uint8_t keyid[8]; /* (without RSA no SHA-256: no key id) */
	uint8_t ncache;
	struct {
		uint8_t hash[32]; /* SHA-256 of the grant body: the whole body
		                   * is compared through it */
		uint8_t kh[16];
	} cache[CONFIG_MSSL_CACHE]; /* most recently used first */
#endif
	/* The pending handshake keeps of its grant body what the later
	 * steps use: its SHA-256 (the GrantSignature's message and the cache
	 * entry), the seal tag (Finished AAD) and the fields the session
	 * takes over. */
	struct {
		uint8_t state; /* HS_* */
		uint8_t flags; /* ServerHello flags */
		uint8_t tag[8]; /* after flags: Finished's AAD extension */
		struct kept g;
#if CONFIG_MSSL_RSA
		uint8_t kh[16]; /* for the cache (without RSA: only the PRK) */
		uint8_t hash[32];
#endif
	} hs;
	struct {
		uint8_t up; /* 0: none, SS_UP: a session is established,
		             * SS_FLOOR: and a floor body waits for its
		             * signature (RSA; without, it comes whole) */
		struct kept g;
		uint8_t last_in[4]; /* sequence number, big-endian as received */
		uint32_t next_out;  /* (follows last_in: zeroed with it) */
#if CONFIG_MSSL_RSA
		/* the floor body waiting for its signature: its SHA-256 and
		 * the two floors it states */
		uint8_t floor_hash[32];
		uint8_t floors[8]; /* serial floor, time floor: body[16..24) */
#endif
	} ss;
	} s;
#if CONFIG_MGMT_CRYPTO
	uint8_t bench[CONFIG_RSA_MAX_BYTES];
#endif
} U;
#define S (U.s)
_Static_assert(offsetof(__typeof__(U.s.hs), tag) == offsetof(__typeof__(U.s.hs), flags) + 1,
               "hs.flags || hs.tag");
_Static_assert(offsetof(__typeof__(U.s.ss), next_out) == offsetof(__typeof__(U.s.ss), last_in) + 4,
               "ss.last_in, ss.next_out");
/* U holds MSSL's state, the key id and Knonce computed from the EEPROM
 * (0: U is free, wiped, or the bench's) */
static uint8_t owned;

void mssl_reset(void)
{
	if (owned) {
		wipe(&U, sizeof U);
		owned = 0;
	}
}

#if CONFIG_MGMT_CRYPTO
/* The borrower's reclaim callback (mssl_lend), called when MSSL takes
 * its RAM back. */
static void (*lent_reclaim)(void);

uint8_t *mssl_lend(void (*reclaim)(void))
{
	/* Never while MSSL holds state a host relies on: the bench is not
	 * authenticated. (The key id and Knonce are recomputed.) */
#if CONFIG_MSSL_RSA
	if (owned && (S.ss.up | S.hs.state | S.ncache))
#else
	if (owned && (S.ss.up | S.hs.state))
#endif
		return NULL;
	wipe(&U, sizeof U);
	owned = 0;
	lent_reclaim = reclaim;
	return U.bench;
}
#endif


/* out = AES(fw_work.aes's key, label) */
MS_NOINLINE static void enc_label(uint8_t out[16], uint8_t off)
{
	PGM_COPY(out, &labels[off], 16);
	aes128_encrypt(&fw_work.aes, out);
}

/* fw_work.aes keyed with AES(K, label), K the group key (group) or the
 * master key (out: that derived key). (Without RSA no group key is
 * used: group grants need the owner's signature.) */
MS_NOINLINE static void derive(uint8_t group, uint8_t label, uint8_t out[16])
{
	if (CONFIG_MSSL_RSA && group)
		store_read(EE_GROUP_KEY, out, 16);
	else
		store_master_key(out); /* the config's, or bootstrap's PSK */
	aes128_init(&fw_work.aes, out);
	enc_label(out, label);
	aes128_init(&fw_work.aes, out);
}

static uint16_t modulus_len(void)
{
	return (uint16_t)((uint16_t)store_rd(EE_MODULUS_LEN) << 8 | store_rd(EE_MODULUS_LEN + 1));
}

static uint8_t same_peer(const struct peer *p, const struct peer *from)
{
	return memcmp(p, from, sizeof *p) == 0;
}

MS_NOINLINE static uint16_t alert(uint8_t *m, uint8_t code)
{
	m[0] = MSSL_ALERT;
	m[1] = code;
	return 2;
}

/*
 * One record's CCM (RFC 3610, M = 8, 13-byte nonce): m holds type and
 * sequence number, then ptlen bytes (sealed/opened in place), then the
 * tag. The direction's key and salt come from the PRK: key =
 * AES(PRK, client or server label), salts = AES(PRK, "MSSL1 nonce salt")
 * (client: first 8 bytes, server: last 8). nonce = salt || dir || seq;
 * aad = type || seq, plus flags || seal tag of the pending handshake for
 * Finished records (type MSSL_REC_FINISHED at m[0]). (Not on the RSA
 * path: its locals do not add to the stack RSA needs.)
 */
#define R_CLIENT 1 /* the direction byte of the nonce: host to device */
#define R_SERVER 2 /* device to host */
#define R_SEAL 8   /* seal (else open) */
_Static_assert(L_CLIENT == R_CLIENT << 4 && L_SERVER == R_SERVER << 4, "labels by direction");
/* (direction and sealing in one argument: four arguments stay in
 * call-clobbered registers, no saved ones in this frame) */
MS_NOINLINE static int rec_crypt(const uint8_t prk[16], uint8_t *m, uint16_t ptlen, uint8_t how)
{
	uint8_t dirb = how & (R_CLIENT | R_SERVER);
	/* key, then aad: t[0..16); nonce: t[16..29) (in fw_work: this is
	 * the deepest frame of a record; esp.h) */
	uint8_t *key = fw_work.mssl.t, *aad = key, *nonce = key + 16;
	int r;
	aes128_init(&fw_work.aes, prk);
	/* the salts block placed so that the direction's salt (client: its
	 * first 8 bytes, server: its last) lands at nonce[0..8); the key
	 * then overwrites what of it lies below the nonce */
	enc_label(dirb == R_CLIENT ? nonce : nonce - 8, L_SALTS);
	nonce[8] = dirb;
	memcpy(nonce + 9, m + 1, 4);
	enc_label(key, (uint8_t)(dirb << 4)); /* L_CLIENT, L_SERVER */
	aes128_init(&fw_work.aes, key);
	memcpy(aad, m, 5);
	memcpy(aad + 5, &S.hs.flags, 9); /* flags || seal tag */
	r = aes128_ccm_crypt(&fw_work.aes, nonce, 13, aad, m[0] == MSSL_REC_FINISHED ? 14 : 5,
	                     m + 5, ptlen, m + 5 + ptlen, 8, (how & R_SEAL) ? 0 : 1);
	wipe(&fw_work.mssl, sizeof fw_work.mssl);
	return r;
}

/* Seal ptlen bytes at m + 5 as the device's next record, of type typ. */
static uint16_t seal_out(uint8_t *m, uint8_t typ, uint8_t ptlen)
{
	m[0] = typ;
	net_put32(m + 1, S.ss.next_out);
	ms_inc32(&S.ss.next_out);
	rec_crypt(S.ss.g.e.prk, m, ptlen, R_SERVER | R_SEAL);
	return (uint16_t)(MSSL_REC_OVERHEAD + ptlen);
}

static uint16_t rec_alert(uint8_t *m, uint8_t code)
{
	m[5] = code;
	return seal_out(m, MSSL_REC_ALERT, 1);
}

/* (The handlers are inlined into mssl_input, their one caller: 150 bytes
 * less flash on the 328P for 37 more bytes of stack under RSA than with
 * each out of line, 472 measured; make stack-check.) */

#if CONFIG_MSSL_RSA
/* out = SHA-256(p[0..len)), with fw_work (the final wipes it). */
static void hash(const uint8_t *p, uint8_t len, uint8_t out[32])
{
	hash_any_init(1, &fw_work.sha);
	hash_any_update(1, &fw_work.sha, p, len);
	hash_any_final(1, &fw_work.sha, out);
}

/* RSASSA-PKCS1-v1_5 SHA-256 of a message whose hash h (kept in S: no
 * hash on the stack under RSA) was computed when it arrived, with the
 * stored issuer modulus; sig has the modulus' length. 0 when it
 * verifies, -1 when it does not, 1 when the device lacks the RAM to
 * try. */
MS_NOINLINE static int verify(const uint8_t h[32], const uint8_t *sig)
{
	uint16_t k = modulus_len();
	uint8_t n[CONFIG_RSA_MAX_BYTES]; /* public: the issuer modulus */
	int r;
#if defined(__AVR__)
	/* Refuse (internal_error) rather than let the RSA frames run into
	 * the static data: 115 bytes measured below mgmt_rsa's verify, an
	 * interrupt, a margin (a build without the RAM answers
	 * internal_error instead of computing on corrupted memory). The
	 * modulus copy is in this frame, above SP: copied from the EEPROM
	 * here, it needs no RAM between verifications. */
	extern char __heap_start;
	if (SP < (uintptr_t)&__heap_start + 200)
		return 1;
#endif
	store_read(EE_MODULUS, n, 128);
	if (k > 128)
		store_read(EE_MODULUS + 128, n + 128, (uint8_t)(k - 128));
	r = rsa_verify_pkcs1_sha256(n, k, NULL, sig, h, (uint8_t *)&fw_work);
	wipe(&fw_work, sizeof fw_work);
	return r;
}
#endif /* CONFIG_MSSL_RSA */

/* Target id = device id, or the group id with the group flag (grants and
 * floor statements). */
static uint8_t target_ok(uint8_t group, const uint8_t *id)
{
	uint8_t t[4];
	if (group && !(store_cfg.flags & CFG_GROUP))
		return 0;
	/* (the config's ids, big-endian; store_cfg.device_id is the first) */
	store_read(group ? EE_GROUP_ID : EE_DEVICE_ID, t, 4);
	return memcmp(t, id, 4) == 0;
}

static uint8_t all_zero(const uint8_t *p, uint8_t n)
{
	uint8_t acc = 0;
	while (n--)
		acc |= *p++;
	return acc == 0;
}

/* 0, or the alert for a grant whose serial (big-endian at serial) is
 * below the serial floor (revoked) or whose not_after is below the time
 * floor (expired). */
static uint8_t below_floors(const uint8_t *serial, const uint8_t *not_after)
{
	if (net_be32(serial) < store_st.serial_floor)
		return MSSL_A_REVOKED;
	if (net_be32(not_after) < store_st.time_floor)
		return MSSL_A_EXPIRED;
	return 0;
}

/* Raise the serial floor to the big-endian value at serial (NULL: not
 * it) and the time floor to the one at time, and commit them when one
 * rose; -1 when the commit failed (store_commit put the floors back). */
static int raise_floors(const uint8_t *serial, const uint8_t *time)
{
	uint8_t v = 0;
	if (serial)
		v = ms_raise32(&store_st.serial_floor, serial);
	v |= ms_raise32(&store_st.time_floor, time);
	return v ? store_commit() : 0;
}

/* Checks 2-7 of docs/mssl.md on a grant body: 0 or the alert code. */
static uint8_t check_body(const uint8_t *b, const struct peer *from)
{
	uint8_t f = b[G_FLAGS], code;
	/* flags: bit 0 group, bit 1 IPv4 bound, bit 2 MAC bound, at least
	 * one bound, the others zero; an address is given iff it is bound:
	 * the flags but the group bit equal z, and z != 0 */
	uint8_t z = (uint8_t)(!all_zero(b + G_IP, 4) << 1 | !all_zero(b + G_MAC, 6) << 2);
	if (b[0] != 'M' || b[1] != 'G' || b[2] != 1 || (f & 0xFE) != z || !z ||
	    net_be32(b + G_TASKS) == 0 || net_be32(b + G_NOT_AFTER) < net_be32(b + G_ISSUED))
		return MSSL_A_BAD_GRANT;
#if CONFIG_MSSL_RSA
	/* (Without RSA there is no SHA-256 for the key id: the seal, under
	 * a key only the owner shares, stands for the issuer.) */
	if (memcmp(b + G_KEYID, S.keyid, 8) != 0)
		return MSSL_A_UNKNOWN_ISSUER;
#endif
	if (!target_ok(f & 1, b + G_TARGET))
		return MSSL_A_WRONG_DEVICE;
	if ((code = below_floors(b + G_SERIAL, b + G_NOT_AFTER)) != 0)
		return code;
	if ((f & 2) && memcmp(b + G_IP, from->ip, 4) != 0)
		return MSSL_A_WRONG_HOST;
	return 0;
}

static uint16_t client_hello(uint8_t *m, uint16_t n, const struct peer *from)
{
	/* Kh, then Nh || Nd: in fw_work (esp.h), not on the stack */
	uint8_t *body = m + 18, *kh = fw_work.mssl.t, *t = kh, *nd = kh + 16;
	uint8_t code, i, hit;
#if CONFIG_MSSL_RSA
	uint8_t hb[32];
#endif

	if (n != MSSL_CLIENT_HELLO_LEN)
		return alert(m, MSSL_A_DECODE);
	if (m[1] != 1)
		return alert(m, MSSL_A_VERSION);
	code = check_body(body, from);
	if (code)
		return alert(m, code);
	/* A device-bound grant is taken on its seal alone when the owner's
	 * policy says so (CFG_SEAL_OK): the seal key is derived from the
	 * device's master key, which only the owner and the device hold.
	 * Never a group grant: every member holds the group key. Without
	 * RSA every other grant is refused before any work. */
#if !CONFIG_MSSL_RSA
	if ((body[G_FLAGS] & 1) || !(store_cfg.flags & CFG_SEAL_OK))
		return alert(m, MSSL_A_BAD_SIGNATURE);
	hit = SH_NO_SIG;
#else
	hit = (!(body[G_FLAGS] & 1) && (store_cfg.flags & CFG_SEAL_OK)) ? SH_NO_SIG : 0;
	/* 8: the cache (whole body, by its SHA-256), else the seal yields Kh */
	hash(body, MSSL_BODY, hb);
	for (i = 0; i < S.ncache; i++) {
		if (memcmp(S.cache[i].hash, hb, 32) == 0) {
			memcpy(kh, S.cache[i].kh, 16);
#if CONFIG_MSSL_CACHE > 1
			/* most recently used first: bubble the entry up */
			for (; i; i--) {
				uint8_t *a = (uint8_t *)&S.cache[i], *z = a - sizeof S.cache[0];
				for (uint8_t j = 0; j < sizeof S.cache[0]; j++) {
					uint8_t x = a[j];
					a[j] = z[j];
					z[j] = x;
				}
			}
#endif
			hit = SH_NO_SIG | 0x80; /* 0x80: Kh from the cache */
			break;
		}
	}
#endif
	if (!(hit & 0x80)) {
		/* seal_key = AES(K, "MSSL-grant-seal1"); K = master or group key */
		derive(body[G_FLAGS] & 1, L_SEAL, kh);
		memcpy(kh, body + G_SEALED, 16);
		i = (uint8_t)aes128_ccm_open(&fw_work.aes, body + G_NONCE, 13, body, G_NONCE,
		                             kh, 16, body + G_TAG, 8);
		aes128_wipe(&fw_work.aes);
		if (i) /* (a failed open leaves kh wiped, ccm.h) */
			return alert(m, MSSL_A_BAD_GRANT);
	}
	/* 9: the next nonce counter value (reservation rule) */
	{
		uint32_t c = store_nonce_next;
		if (store_nonce_take(c)) {
			wipe(kh, 16);
			return alert(m, MSSL_A_INTERNAL);
		}
		/* Nd = AES(Knonce, counter || boot epoch): fresh even when
		 * the counter restarts with an older EEPROM image */
#if CONFIG_MSSL_RSA
		aes128_init(&fw_work.aes, S.knonce);
#else
		derive(0, L_NONCE, nd);
#endif
		entropy_nonce(nd, c);
		aes128_encrypt(&fw_work.aes, nd);
	}
	/* The pending handshake (replaces any other; the session stays). */
	hit = (uint8_t)((hit & SH_NO_SIG) | SH_DEVICE);
	S.hs.state = HS_FINISHED;
	S.hs.flags = hit;
	S.hs.g.e.peer = *from;
#if CONFIG_MSSL_RSA
	memcpy(S.hs.kh, kh, 16);
	memcpy(S.hs.hash, hb, 32);
#endif
	memcpy(S.hs.tag, body + G_TAG, 8);
	memcpy(S.hs.g.serial, body + G_SERIAL, 4);
	memcpy(S.hs.g.tina, body + G_TASKS, 12);
	/* PRK = AES-CMAC(Kh, Nh || Nd); keys and salts = AES(PRK, label),
	 * derived per record (rec_crypt) */
	aes128_init(&fw_work.aes, kh);
	memcpy(t, m + 2, 16); /* Kh's place: Nh || Nd */
	aes128_cmac(&fw_work.aes, t, 32, S.hs.g.e.prk);
	aes128_wipe(&fw_work.aes);
	/* ServerHello: 02 01 flags Nd */
	m[0] = MSSL_SERVER_HELLO;
	m[1] = 1;
	m[2] = hit;
	memcpy(m + 3, nd, 16);
	wipe(t, 32);
	return MSSL_SERVER_HELLO_LEN;
}

/* The session starts (docs/mssl.md "Establishing"): time floor first.
 * (The caller has ended the pending handshake.) */
static uint16_t establish(uint8_t *m)
{
	uint8_t code;
	/* The floors may have risen since the ClientHello (a handshake parked
	 * across a floor statement): they hold when the session starts. */
	if ((code = below_floors(S.hs.g.serial, S.hs.g.tina + K_NOT_AFTER)) != 0)
		return alert(m, code);
	if (raise_floors(NULL, S.hs.g.tina + K_ISSUED))
		return alert(m, MSSL_A_INTERNAL);
	S.ss.up = SS_UP;
	memcpy(&S.ss.g, &S.hs.g, sizeof S.ss.g);
	/* both sequence numbers start at 0: the device's Finished (same AAD
	 * extension) is its record 0 */
	memset(S.ss.last_in, 0, 8);
	return seal_out(m, MSSL_REC_FINISHED, 0);
}

static uint16_t finished(uint8_t *m, uint16_t n, const struct peer *from)
{
	if (S.hs.state != HS_FINISHED || !same_peer(&S.hs.g.e.peer, from))
		return alert(m, MSSL_A_UNEXPECTED);
	S.hs.state = HS_NONE; /* one try per ServerHello */
	if (n != MSSL_REC_OVERHEAD || net_be32(m + 1) != 0 ||
	    rec_crypt(S.hs.g.e.prk, m, 0, R_CLIENT))
		return alert(m, MSSL_A_BAD_RECORD_MAC);
#if CONFIG_MSSL_RSA
	/* (without RSA every grant taken has SH_NO_SIG) */
	if (!(S.hs.flags & SH_NO_SIG)) {
		S.hs.state = HS_SIGNATURE;
		m[0] = MSSL_SIG_REQUEST;
		return 1;
	}
#endif
	return establish(m);
}

#if CONFIG_MSSL_RSA
static uint16_t grant_signature(uint8_t *m, uint16_t n, const struct peer *from)
{
	int code;
	if (S.hs.state != HS_SIGNATURE || !same_peer(&S.hs.g.e.peer, from))
		return alert(m, MSSL_A_UNEXPECTED);
	S.hs.state = HS_NONE; /* one try: every outcome ends it */
	if (n - 1u != modulus_len())
		return alert(m, MSSL_A_DECODE);
	if ((code = verify(S.hs.hash, m + 1)) != 0)
		return alert(m, code > 0 ? MSSL_A_INTERNAL : MSSL_A_BAD_SIGNATURE);
	/* cache it, least recently used out */
#if CONFIG_MSSL_CACHE > 1
	if (S.ncache < CONFIG_MSSL_CACHE)
		S.ncache++;
	memmove(&S.cache[1], &S.cache[0], (size_t)(S.ncache - 1) * sizeof S.cache[0]);
#else
	S.ncache = 1;
#endif
	memcpy(S.cache[0].hash, S.hs.hash, 32);
	memcpy(S.cache[0].kh, S.hs.kh, 16);
	return establish(m);
}
#endif

/* A task request at m + 5 (len bytes): the grant decides, then tasks.c. */
static uint16_t task(uint8_t *m, uint16_t len, uint16_t room)
{
	uint8_t *p = m + 5;
	if (len < 4)
		return rec_alert(m, MSSL_A_DECODE);
	/* (tasks: big-endian, task t is bit t % 8 of byte 3 - t / 8) */
	if (p[0] == TASK_VERSION && (p[1] > 31 || !((S.ss.g.tina[3 - (p[1] >> 3)] >> (p[1] & 7)) & 1))) {
		p[4] = TASK_E_DENIED;
		len = 5;
	} else {
		/* a record carries at most 255 bytes (seal_out): a frame larger
		 * than the default's must not offer the task more */
		room = (uint16_t)(room - MSSL_REC_OVERHEAD);
		len = tasks_handle(p, len, room > 255 ? 255 : room);
		if (!len)
			return 0; /* no room (counted) */
	}
	return seal_out(m, MSSL_REC_DATA, (uint8_t)len);
}

/* An authenticated floor statement raises the floors (serial floor, time
 * floor at floors[0..8)); the answer is a Floor record 00 || floors, and
 * the session ends when its own grant falls below them (mssl.h). */
static uint16_t apply_floors(uint8_t *m, const uint8_t floors[8])
{
	if (raise_floors(floors, floors + 4))
		return rec_alert(m, MSSL_A_INTERNAL);
	if (below_floors(S.ss.g.serial, S.ss.g.tina + K_NOT_AFTER))
		S.ss.up = 0; /* (its keys stay for the answer) */
	m[5] = 0;
	net_put32s(m + 6, &store_st.serial_floor, 2);
	return seal_out(m, MSSL_REC_FLOOR, 9);
}

#if CONFIG_MSSL_RSA
/* A floor statement body in a Floor record: checks, then ask for the
 * signature. */
static uint16_t floor_body(uint8_t *m, uint16_t len)
{
	uint8_t *b = m + 5;
	if (len != MSSL_FLOOR_BODY || b[0] != 'M' || b[1] != 'F' || b[2] != 1 || (b[F_FLAGS] & ~1))
		return rec_alert(m, MSSL_A_DECODE);
	if (memcmp(b + F_KEYID, S.keyid, 8) != 0)
		return rec_alert(m, MSSL_A_UNKNOWN_ISSUER);
	if (!target_ok(b[F_FLAGS] & 1, b + F_TARGET))
		return rec_alert(m, MSSL_A_WRONG_DEVICE);
	hash(b, MSSL_FLOOR_BODY, S.ss.floor_hash);
	memcpy(S.ss.floors, b + F_SERIAL, 8);
	S.ss.up = SS_FLOOR;
	b[0] = 1; /* send the signature */
	return seal_out(m, MSSL_REC_FLOOR, 1);
}
#else
/* Without RSA a floor statement comes whole in one Floor record: the
 * 28-byte body, then its device MAC, AES-CMAC(Kfloor, body) with
 * Kfloor = AES(master key, "MSSL-floor-mac-1") (docs/mssl.md). Only a
 * device-bound statement: a group key is held by every member. */
static uint16_t floor_body(uint8_t *m, uint16_t len)
{
	uint8_t *b = m + 5, *t = fw_work.mssl.t; /* (esp.h) */
	int r;
	if (len != MSSL_FLOOR_BODY + 16 || b[0] != 'M' || b[1] != 'F' || b[2] != 1 || (b[F_FLAGS] & ~1))
		return rec_alert(m, MSSL_A_DECODE);
	if ((b[F_FLAGS] & 1) || !target_ok(0, b + F_TARGET))
		return rec_alert(m, MSSL_A_WRONG_DEVICE);
	derive(0, L_FLOOR, t);
	aes128_cmac(&fw_work.aes, b, MSSL_FLOOR_BODY, t);
	aes128_wipe(&fw_work.aes);
	r = ct_equal(t, b + MSSL_FLOOR_BODY, 16);
	wipe(t, 16);
	if (r)
		return rec_alert(m, MSSL_A_BAD_SIGNATURE);
	/* (apply_floors reads the floors before it writes its answer) */
	return apply_floors(m, b + F_SERIAL);
}
#endif

#if CONFIG_MSSL_RSA
static uint16_t floor_signature(uint8_t *m, uint16_t n, const struct peer *from)
{
	int i;
	if (S.ss.up != SS_FLOOR || !same_peer(&S.ss.g.e.peer, from))
		return alert(m, MSSL_A_UNEXPECTED);
	S.ss.up = SS_UP; /* one signature per body */
	if (n - 1u != modulus_len())
		return alert(m, MSSL_A_DECODE);
	if ((i = verify(S.ss.floor_hash, m + 1)) != 0)
		return alert(m, i > 0 ? MSSL_A_INTERNAL : MSSL_A_BAD_SIGNATURE);
	return apply_floors(m, S.ss.floors);
}
#endif

static uint16_t record(uint8_t *m, uint16_t n, uint16_t room, const struct peer *from)
{
	uint16_t len = (uint16_t)(n - MSSL_REC_OVERHEAD);
	if (n < MSSL_REC_OVERHEAD)
		return alert(m, MSSL_A_DECODE);
	if (m[0] == MSSL_REC_FINISHED)
		return finished(m, n, from);
	if (!S.ss.up || !same_peer(&S.ss.g.e.peer, from))
		return alert(m, MSSL_A_UNEXPECTED);
	/* (big-endian: the bytes compare as the numbers do) */
	if (memcmp(m + 1, S.ss.last_in, 4) <= 0)
		return alert(m, MSSL_A_REPLAY);
	if (rec_crypt(S.ss.g.e.prk, m, len, R_CLIENT))
		return alert(m, MSSL_A_BAD_RECORD_MAC);
	memcpy(S.ss.last_in, m + 1, 4);
	switch (m[0]) {
	case MSSL_REC_DATA:
		return task(m, len, room);
	case MSSL_REC_ALERT:
		if (len == 1 && m[5] == MSSL_A_CLOSE_NOTIFY) {
			S.ss.up = 0; /* (its keys stay for the answer) */
			return rec_alert(m, MSSL_A_CLOSE_NOTIFY);
		}
		return 0;
	default: /* MSSL_REC_FLOOR */
		return floor_body(m, len);
	}
}

/* Once per boot (or mssl_reset, or taking the RAM back from the bench):
 * with RSA, the issuer key id (SHA-256 of the stored modulus, first 8
 * bytes) and the nonce key. */
static uint8_t init(void)
{
	uint16_t k = modulus_len();
#if CONFIG_MSSL_RSA
	uint8_t t[32]; /* the modulus, then its SHA-256 (public) */
	uint16_t i;
#endif
	if (!store_provisioned() || !(store_cfg.flags & CFG_ISSUER) ||
	    (k != RSA1024_BYTES && k != RSA2048_BYTES) || k > CONFIG_RSA_MAX_BYTES)
		return 0;
	if (!owned) {
#if CONFIG_MGMT_CRYPTO
		if (lent_reclaim) /* the borrower's data in U is gone */
			lent_reclaim();
		lent_reclaim = NULL;
#endif
		wipe(&U, sizeof U);
#if CONFIG_MSSL_RSA
		hash_any_init(1, &fw_work.sha);
		for (i = 0; i < k; i = (uint16_t)(i + 16)) {
			store_read((uint16_t)(EE_MODULUS + i), t, 16);
			hash_any_update(1, &fw_work.sha, t, 16);
		}
		hash_any_final(1, &fw_work.sha, t);
		memcpy(S.keyid, t, 8);
		derive(0, L_NONCE, S.knonce);
		aes128_wipe(&fw_work.aes);
#endif
		owned = 1;
	}
	return 1;
}

uint16_t mssl_input(uint8_t *m, uint16_t n, uint16_t room, const uint8_t ip[4], uint16_t port)
{
	struct peer from; /* the sender, compared and kept in one piece */
	uint8_t t;
	if (!init())
		return net_count(C_UDP_NOPORT); /* no issuer: no MSSL service */
	if (!n)
		return 0;
	if (n > MSSL_MAX_MESSAGE)
		return alert(m, MSSL_A_OVERFLOW);
	memcpy(from.ip, ip, 4);
	from.port = port;
	t = m[0];
	switch (t) {
	case MSSL_CLIENT_HELLO:
		return client_hello(m, n, &from);
#if CONFIG_MSSL_RSA
	case MSSL_GRANT_SIG:
		return grant_signature(m, n, &from);
	case MSSL_FLOOR_SIG:
		return floor_signature(m, n, &from);
#endif
	case MSSL_ALERT:
		return 0; /* cleartext alerts from hosts change nothing */
	case MSSL_REC_FINISHED:
	case MSSL_REC_ALERT:
	case MSSL_REC_DATA:
	case MSSL_REC_FLOOR:
		return record(m, n, room, &from);
	}
	return alert(m, MSSL_A_UNEXPECTED);
}

#endif /* CONFIG_MSSL */
