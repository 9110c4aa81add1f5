/*
 * prov.h - serial provisioning through the management channel: the PROV
 * command (0x06). Wire format, threat model and state machine:
 * docs/provisioning.md.
 *
 *   factory state (whole EEPROM 0xFF): one unauthenticated provisioning
 *     in clear (physical access assumed): FACTORY, DATA..., END;
 *   provisioned: re-provisioning under keys derived from the current
 *     master key and a fresh device challenge (the persisted nonce
 *     counter and the boot epoch, entropy.h): INFO (challenge), BEGIN
 *     (CMAC), DATA (AES-CTR) ..., END
 *     (CMAC over the whole new config as staged); the new config becomes
 *     active only after its tag verifies, through the EEPROM journal of
 *     store.h;
 *   READ (config with secret fields zeroed) and DIGEST (CMAC of the whole
 *     config under a read-back key derived from the master key, over a
 *     host nonce) let the host verify the write without secrets on the
 *     wire.
 *
 * The code is host-testable (no AVR headers); RAM between requests: the
 * session record below (no keys: they are derived again from the EEPROM
 * for every request and wiped).
 */
#ifndef MS_PROV_H
#define MS_PROV_H

#include <stddef.h>
#include <stdint.h>

#define MGMT_PROV 0x06

/* Operations (first payload byte). */
#define PROV_INFO 0x01
#define PROV_FACTORY 0x02
#define PROV_BEGIN 0x03
#define PROV_DATA 0x04
#define PROV_END 0x05
#define PROV_READ 0x06
#define PROV_DIGEST 0x07

/* INFO states. */
#define PROV_ST_FACTORY 0   /* whole EEPROM blank: FACTORY accepted */
#define PROV_ST_PROVISIONED 1 /* BEGIN accepted under the master key */
#define PROV_ST_LOCKED 2    /* neither: recovery needs ISP */

/*
 * prov_handle - one PROV request: payload of plen bytes at
 * buf + MGMT_HDR_LEN, reply payload written in place (*rlen bytes).
 * Returns 0 or an MGMT_E_* code. The derived keys are left in fw_work
 * (esp.h): the caller wipes it, as mgmt_handle does after every request.
 */
uint8_t prov_handle(uint8_t *buf, size_t plen, size_t cap, size_t *rlen);

/* prov_reset - forget any session (what a reset does to RAM; host tests). */
void prov_reset(void);

#endif /* MS_PROV_H */
