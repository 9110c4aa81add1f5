/*
 * ccm.c - AES-128-CCM (RFC 3610), see ccm.h.
 *
 * One pass: each 16-octet block costs two AES calls (CBC-MAC and CTR).
 * Only the forward cipher is used.
 */
#include <stddef.h>
#include <string.h>

#include "ccm.h"
#include "ct.h"

/* With CONFIG_CCM_ASM the device runs crypto/ccm_avr.S instead: this is
 * its reference (make avr-test) and the host's CCM. */
#if !CONFIG_CCM_ASM

/* (The key is an argument, not in the state: the ATmega168 is short of
 * stack. The counter block A_i is kept and incremented, not rebuilt from
 * the nonce for every block: 16 octets of stack buy back 2.4 % of a
 * 256-octet message's cycles.) */
typedef struct {
	uint8_t x[16];   /* CBC-MAC chaining value */
	uint8_t ks[16];  /* key stream / S_0; must follow x (KS below) */
	uint8_t a[16];   /* CTR counter block A_i */
	uint8_t pos;     /* octets absorbed into x since the last AES call */
} ccm_state;

/* ks[i] addressed from x: one pointer serves both (cheaper on AVR). */
#define KS 16
typedef char ccm_ks_follows_x[(offsetof(ccm_state, ks) ==
                               offsetof(ccm_state, x) + KS) ? 1 : -1];

/* One payload octet: seal absorbs the plaintext and encrypts it, open
 * decrypts and absorbs the plaintext. */
#define SEAL1(buf, x)                                                   \
	do {                                                            \
		uint8_t p_ = *(buf);                                    \
		uint8_t k_ = (x)[KS];                                   \
		*(x)++ ^= p_;                                           \
		*(buf)++ = (uint8_t)(p_ ^ k_);                          \
	} while (0)
#define OPEN1(buf, x)                                                   \
	do {                                                            \
		uint8_t p_ = (uint8_t)(*(buf) ^ (x)[KS]);               \
		*(buf)++ = p_;                                          \
		*(x)++ ^= p_;                                           \
	} while (0)

/* One octet of the AVR loops below: open (decrypt) or seal. */
#define OPEN1_ASM                                                       \
	"ld %[p], X\n\t"                                                \
	"ldd %[k], Z+16\n\t"                                            \
	"eor %[p], %[k]\n\t"                                            \
	"st X+, %[p]\n\t"                                               \
	"ld %[k], Z\n\t"                                                \
	"eor %[k], %[p]\n\t"                                            \
	"st Z+, %[k]\n\t"
#define SEAL1_ASM                                                       \
	"ld %[p], X\n\t"                                                \
	"ldd %[k], Z+16\n\t"                                            \
	"eor %[k], %[p]\n\t"                                            \
	"st X+, %[k]\n\t"                                               \
	"ld %[k], Z\n\t"                                                \
	"eor %[k], %[p]\n\t"                                            \
	"st Z+, %[k]\n\t"
/* Two octets a turn; an odd n enters at the second: (n + 1) / 2 turns. */
#define BLOCK_ASM(one)                                                  \
	"inc %[n]\n\t"                                                  \
	"lsr %[n]\n\t"                                                  \
	"brcc 2f\n"                                                      \
	"1:\n\t" one                                                    \
	"2:\n\t" one                                                    \
	"dec %[n]\n\t"                                                  \
	"brne 1b\n"

/*
 * block - one payload block of n octets, 1..16 (16 but for the last):
 * x ^= plaintext, buf = buf ^ ks (ks at x + KS). Returns buf + n. On AVR
 * the C loops cost 15 cycles per octet (avr-gcc will not keep both
 * pointers post-incremented when unrolled); the inline assembly does
 * 13.5 plus 3 a block (two octets a turn: four took 12.75, 0.3 % of a
 * block's cycles for about 80 more bytes of flash). Same operations, no
 * secret-dependent branch.
 */
static uint8_t *block(uint8_t *buf, uint8_t *x, uint8_t n, int decrypt)
{
#if defined(__AVR__)
	uint8_t p, k;

	if (decrypt) {
		__asm__ volatile(BLOCK_ASM(OPEN1_ASM)
		                 : [p] "=&r"(p), [k] "=&r"(k), [n] "+r"(n),
		                   "+x"(buf), "+z"(x)
		                 :
		                 : "memory");
	} else {
		__asm__ volatile(BLOCK_ASM(SEAL1_ASM)
		                 : [p] "=&r"(p), [k] "=&r"(k), [n] "+r"(n),
		                   "+x"(buf), "+z"(x)
		                 :
		                 : "memory");
	}
#else
	if (decrypt) {
		do {
			OPEN1(buf, x);
		} while (--n != 0);
	} else {
		do {
			SEAL1(buf, x);
		} while (--n != 0);
	}
#endif
	return buf;
}

/* Absorb n octets into the CBC-MAC (the lengths are public). */
static void mac_absorb(const aes128_ctx *ctx, ccm_state *st, const uint8_t *p, size_t n)
{
	while (n > 0) {
		st->x[st->pos++] ^= *p++;
		n--;
		if (st->pos == 16) {
			aes128_encrypt(ctx, st->x);
			st->pos = 0;
		}
	}
}

/* Zero-pad the current MAC block (RFC 3610 section 2.2). */
static void mac_pad(const aes128_ctx *ctx, ccm_state *st)
{
	if (st->pos != 0) {
		aes128_encrypt(ctx, st->x);
		st->pos = 0;
	}
}

/* A_i = A_(i-1) + 1 over the last l octets (the counter is public). */
static void ctr_inc(uint8_t a[16], uint8_t l)
{
	uint8_t *p = a + 16;

	do {
		if (++*--p != 0)
			break;
	} while (--l != 0);
}

/*
 * ccm_run - the common part of seal and open: B_0, the AAD, the payload
 * (encrypting or decrypting buf) and the tag U = T ^ first M octets of S_0,
 * left in st->x. Returns -1 on bad parameters. Inlined into aes128_ccm_crypt(): one
 * frame for the state and the pass (the ATmega168's stack is short).
 */
static inline __attribute__((always_inline)) int ccm_run(const aes128_ctx *ctx, ccm_state *st, const uint8_t *nonce, size_t nonce_len,
                   const uint8_t *aad, size_t aad_len, uint8_t *buf,
                   size_t len, size_t tag_len, int decrypt)
{
	uint8_t l, i;
	size_t rem;
	uint8_t *hdr = st->ks; /* l(a): ks is not in use yet */
	uint8_t hdr_len;

	if (nonce_len < CCM_NONCE_MIN || nonce_len > CCM_NONCE_MAX ||
	    tag_len < 4 || tag_len > 16 || (tag_len & 1) != 0) {
		return -1;
	}
#if SIZE_MAX > 0xffffffffu
	if (aad_len > 0xffffffffu) {
		return -1;
	}
#endif
	l = (uint8_t)(15 - nonce_len);

	/* B_0 = flags || nonce || l(m) (RFC 3610 section 2.2). */
	st->x[0] = (uint8_t)((aad_len > 0 ? 0x40 : 0) |
	                     (((tag_len - 2) / 2) << 3) | (l - 1));
	memcpy(st->x + 1, nonce, nonce_len);
	rem = len;
	for (i = 15; i > nonce_len; i--) {
		st->x[i] = (uint8_t)rem;
		rem >>= 8;
	}
	if (rem != 0) {
		return -1; /* len does not fit in L octets */
	}
	aes128_encrypt(ctx, st->x);
	st->pos = 0;

	/* l(a) || a, zero padded. */
	if (aad_len > 0) {
		if (aad_len < 0xff00u) {
			hdr[0] = (uint8_t)(aad_len >> 8);
			hdr[1] = (uint8_t)aad_len;
			hdr_len = 2;
		} else {
			uint32_t a32 = (uint32_t)aad_len;

			hdr[0] = 0xff;
			hdr[1] = 0xfe;
			hdr[2] = (uint8_t)(a32 >> 24);
			hdr[3] = (uint8_t)(a32 >> 16);
			hdr[4] = (uint8_t)(a32 >> 8);
			hdr[5] = (uint8_t)a32;
			hdr_len = 6;
		}
		/* l(a), then a: one inlined absorb loop for both */
		const uint8_t *src = hdr;
		size_t n = hdr_len;
		for (;;) {
			mac_absorb(ctx, st, src, n);
			if (src == aad)
				break;
			src = aad;
			n = aad_len;
		}
		mac_pad(ctx, st);
	}

	/* A_i = flags(L-1) || nonce || i, i from 1 */
	st->a[0] = (uint8_t)(l - 1);
	memcpy(st->a + 1, nonce, nonce_len);
	memset(st->a + 16 - l, 0, l);
	while (len > 0) {
		uint8_t n = len < 16 ? (uint8_t)len : 16;

		ctr_inc(st->a, l);
		aes128_encrypt_copy(ctx, st->a, st->ks);
		len -= n;
		/* the direction and the lengths are public: one loop each */
		buf = block(buf, st->x, n, decrypt);
		aes128_encrypt(ctx, st->x);
	}

	/* S_0 = E(A_0); U = T ^ S_0. */
	memset(st->a + 16 - l, 0, l);
	aes128_encrypt_copy(ctx, st->a, st->ks);
	for (i = 0; i < 16; i++) {
		st->x[i] ^= st->ks[i];
	}
	return 0;
}

int aes128_ccm_crypt(const aes128_ctx *ctx,
                     const uint8_t *nonce, size_t nonce_len,
                     const uint8_t *aad, size_t aad_len,
                     uint8_t *buf, size_t len,
                     uint8_t *tag, size_t tag_len, uint8_t decrypt)
{
	ccm_state st;
	int r;

	r = ccm_run(ctx, &st, nonce, nonce_len, aad, aad_len, buf, len, tag_len, decrypt);
	if (r == 0) {
		if (decrypt) {
			r = ct_equal(st.x, tag, tag_len);
		} else {
			memcpy(tag, st.x, tag_len);
		}
	}
	if (r != 0 && decrypt) {
		wipe(buf, len);
	}
	wipe(&st, sizeof st);
	return r;
}

#endif /* !CONFIG_CCM_ASM */
