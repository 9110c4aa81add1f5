/*
 * mgmt_rsa.h - management commands for RSA verification (ENGINEER RSA).
 * Wire format: docs/management.md, "RSA 0x20".
 */
#ifndef MS_MGMT_RSA_H
#define MS_MGMT_RSA_H

#include <stddef.h>
#include <stdint.h>

#define MGMT_RSA 0x20

/* Operations (first payload byte). */
#define RSA_OP_KEY 0x01    /* load the modulus in chunks */
#define RSA_OP_VERIFY 0x02 /* verify a signature on a SHA-256 hash */

/*
 * mgmt_rsa - handle one MGMT_RSA request of plen payload bytes in buf
 * (frame of capacity cap; payload at buf + MGMT_HDR_LEN). Writes the reply
 * payload in place and its length to *rlen. Returns 0 or an MGMT_E_* code.
 */
uint8_t mgmt_rsa(uint8_t *buf, size_t plen, size_t cap, size_t *rlen);

/* mgmt_rsa_forget - forget a key loaded with KEY: with CONFIG_MSSL its
 * buffer is MSSL's state RAM (mssl_lend), which MSSL takes back. */
void mgmt_rsa_forget(void);

#endif /* MS_MGMT_RSA_H */
