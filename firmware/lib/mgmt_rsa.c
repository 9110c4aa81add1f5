/*
 * mgmt_rsa.c - RSA verification over the management channel (ENGINEER
 * RSA; wire format in docs/management.md, "RSA 0x20").
 *
 * The host loads an issuer modulus in chunks (KEY) into a static buffer
 * that stands in for the RAM copy of the EEPROM issuer key (docs/eeprom.md,
 * offset 192), then asks for verifications (VERIFY: hash and signature in
 * one frame: 1 + 32 + 256 payload bytes fit CONFIG_FRAME_MAX = 296 on the
 * ATmega328P). VERIFY times the two parts separately with Timer1: computing
 * R^2 mod n (the constant a device may cache at provisioning) and the
 * verification proper given R^2.
 *
 * RAM: the 2k + 5 byte work area is the RSA member of the shared static
 * work area fw_work (esp.h, CONFIG_WORK_RSA): ESP's per-packet area and
 * the management channel's contexts are never in use during a VERIFY,
 * and mgmt_handle wipes the whole area after the request. The stack then
 * holds only the call frames; how deep they go is measured by painting
 * the free RAM and reported, so the stack figure is measured, not
 * assumed. The modulus must survive from KEY to VERIFY (several
 * requests), so it keeps a buffer of its own outside fw_work: with
 * CONFIG_MSSL, MSSL's state RAM, lent by mssl_lend only while MSSL holds
 * nothing a host relies on (no session, handshake, floor statement or
 * cached grant; else KEY is refused: an unauthenticated frame never ends
 * MSSL state), and an MSSL message takes it back (the key is forgotten);
 * without, a static buffer. The whole command is an engineering tool:
 * CONFIG_MGMT_CRYPTO=0 leaves it out (config.h).
 */
#include <string.h>

#include <avr/io.h>

#include "config.h"

#if CONFIG_RSA && CONFIG_MGMT_CRYPTO

#if !CONFIG_WORK_RSA
#error "the RSA management command needs CONFIG_WORK_RSA"
#endif

#include "crypto/ct.h"
#include "crypto/rsa.h"
#include "esp.h" /* fw_work */
#include "mgmt_proto.h"
#include "mgmt_rsa.h"
#include "timer.h"

#define PAINT 0xA5

#if CONFIG_MSSL
/* The key buffer is MSSL's state RAM (mssl.c, mssl_lend), one owner at a
 * time: KEY at offset 0 borrows it, refused (MGMT_E_STATE) while MSSL
 * holds a session, a handshake, a floor statement or a cached grant;
 * MSSL's next message takes it back (mgmt_rsa_forget). */
#include "mssl.h"
static uint8_t *key;
#else
static uint8_t key[CONFIG_RSA_MAX_BYTES];
#endif
static uint16_t key_len;  /* announced modulus length */
static uint16_t key_fill; /* bytes loaded so far */
static uint8_t key_ok;    /* complete and accepted by rsa_check_modulus */

void mgmt_rsa_forget(void)
{
	key_ok = 0;
	key_fill = 0;
#if CONFIG_MSSL
	key = NULL;
#endif
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)((uint16_t)p[0] << 8 | p[1]); }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/*
 * KEY: klen(2) offset(2) chunk. Offset 0 starts a new key of klen bytes;
 * later chunks must continue exactly where the last one ended. Reply:
 * op(1) state(1: 0 incomplete, 1 complete and accepted).
 */
static uint8_t op_key(uint8_t *p, size_t n, size_t *rlen)
{
	if (n < 4)
		return MGMT_E_FORMAT;
	uint16_t klen = get16(p), off = get16(p + 2);
	size_t clen = n - 4;
	if (off == 0) {
		if (klen != RSA1024_BYTES && klen != RSA2048_BYTES)
			return MGMT_E_PARAM;
		if (klen > CONFIG_RSA_MAX_BYTES)
			return MGMT_E_UNSUPP;
		key_len = klen;
		key_fill = 0;
		key_ok = 0;
#if CONFIG_MSSL
		if (!key && !(key = mssl_lend(mgmt_rsa_forget)))
			return MGMT_E_STATE; /* MSSL holds state: never ended from here */
#endif
	}
#if CONFIG_MSSL
	if (!key)
		return MGMT_E_PARAM; /* MSSL took the buffer back */
#endif
	if (klen != key_len || off != key_fill || clen > (size_t)(key_len - key_fill)) {
		key_ok = 0;
		return MGMT_E_PARAM;
	}
	memcpy(key + off, p + 4, clen);
	key_fill = (uint16_t)(key_fill + clen);
	if (key_fill == key_len) {
		if (rsa_check_modulus(key, key_len)) {
			key_fill = 0;
			return MGMT_E_PARAM;
		}
		key_ok = 1;
	}
	p[-1] = RSA_OP_KEY;
	p[0] = key_ok;
	*rlen = 2;
	return 0;
}

extern char __heap_start;

/*
 * VERIFY: hash(32) sig(k). Reply: op(1) result(1: 0 valid, 1 invalid)
 * r2_cycles(4) verify_cycles(4) stack(2) work(2) free(2).
 * stack: bytes of stack the verification used below verify()'s caller
 * (its frames, measured); work: the work area (static, in fw_work);
 * free: RAM never reached between the static data and the deepest point.
 */
/* Free RAM required below the stack pointer before a verification: the
 * RSA call frames (measured on the ATmega328P: 139 bytes below
 * op_verify, docs/PERFORMANCE.md) plus room for one interrupt (UART or
 * timer, about 20 bytes) and a margin. A build with less refuses. */
#define RSA_STACK_NEED 192

static __attribute__((noinline)) void verify(uint8_t *p, size_t *rlen, uintptr_t start_sp)
{
	uint8_t *work = fw_work.rsa;
	const uint8_t *hash = p, *sig = p + 32;

	/* Paint the free RAM between the heap start (the end of the static
	 * data) and this frame, to measure the stack the RSA code uses and
	 * what is left. */
	volatile uint8_t *sp = (volatile uint8_t *)SP;
	volatile uint8_t *lo = (volatile uint8_t *)&__heap_start;
	for (volatile uint8_t *q = sp - 16; q >= lo; q--)
		*q = PAINT;

	uint16_t ovh = timer_quiet();
	timer_start();
	rsa_r2(key, key_len, work);
	uint32_t t_r2 = timer_stop();
	timer_start();
	int rc = rsa_verify_pkcs1_sha256(key, key_len, work, sig, hash, work);
	uint32_t t_ver = timer_stop();
	t_r2 = timer_net(t_r2, ovh);
	t_ver = timer_net(t_ver, ovh);

	volatile uint8_t *q = lo;
	while (q < sp - 16 && *q == PAINT)
		q++;
	/* Stack used from this function's caller down to the deepest point
	 * (verify's own frame and the RSA calls), and the free RAM left
	 * there (0: the stack may have reached the static data). */
	uint16_t used = (uint16_t)((uintptr_t)start_sp - (uintptr_t)q);
	uint16_t left = (uint16_t)((uintptr_t)q - (uintptr_t)lo);
	wipe(work, RSA_WORK_SIZE(key_len));

	p[-1] = RSA_OP_VERIFY;
	p[0] = rc ? 1 : 0;
	put32(p + 1, t_r2);
	put32(p + 5, t_ver);
	put16(p + 9, used);
	put16(p + 11, RSA_WORK_SIZE(key_len));
	put16(p + 13, left);
	*rlen = 16;
}

static uint8_t op_verify(uint8_t *p, size_t n, size_t *rlen)
{
	if (!key_ok)
		return MGMT_E_PARAM;
	if (n != 32 + (size_t)key_len)
		return MGMT_E_FORMAT;
	/* Refuse rather than let the stack run into the static data: this
	 * build may not leave the stack enough free RAM. */
	uintptr_t sp = SP;
	if (sp < (uintptr_t)&__heap_start + RSA_STACK_NEED)
		return MGMT_E_TOOBIG;
	verify(p, rlen, sp);
	return 0;
}

uint8_t mgmt_rsa(uint8_t *buf, size_t plen, size_t cap, size_t *rlen)
{
	uint8_t *pl = buf + MGMT_HDR_LEN;
	(void)cap;
	if (plen < 1)
		return MGMT_E_FORMAT;
	switch (pl[0]) {
	case RSA_OP_KEY:
		return op_key(pl + 1, plen - 1, rlen);
	case RSA_OP_VERIFY:
		return op_verify(pl + 1, plen - 1, rlen);
	default:
		return MGMT_E_PRIM;
	}
}

#endif /* CONFIG_RSA && CONFIG_MGMT_CRYPTO */
