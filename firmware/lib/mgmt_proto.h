/*
 * mgmt_proto.h - the management channel's wire format (docs/management.md):
 * frame header, commands and error codes. A leaf: the command handlers
 * (mgmt.c, prov.c, mgmt_rsa.c) include it, not each other's headers.
 */
#ifndef MS_MGMT_PROTO_H
#define MS_MGMT_PROTO_H

#define MGMT_MAGIC 0x00
#define MGMT_PROTO_VERSION 1
#define MGMT_HDR_LEN 5
#define MGMT_CRC_LEN 2
#define MGMT_OVERHEAD (MGMT_HDR_LEN + MGMT_CRC_LEN)

/* Commands (request types); the reply type is command | MGMT_REPLY. */
#define MGMT_IDENTIFY 0x01
#define MGMT_STATS 0x02
#define MGMT_BENCH 0x03
#define MGMT_COMPUTE 0x04
#define MGMT_STATUS 0x05 /* provisioning, SAs, sequence state, counters */
#define MGMT_FAULT 0x7D  /* test images only (CONFIG_TEST_FAULT): hang */
#define MGMT_REPLY 0x80
#define MGMT_ERROR 0xFF

/* Error codes (first payload byte of an error reply; the second is the
 * request type). */
#define MGMT_E_COMMAND 1   /* unknown command */
#define MGMT_E_FORMAT 2    /* payload malformed: field lengths do not add up */
#define MGMT_E_PRIM 3      /* unknown primitive */
#define MGMT_E_PARAM 4     /* bad parameter for the primitive (length, size) */
#define MGMT_E_UNSUPP 5    /* primitive not built in (build option off) */
#define MGMT_E_TOOBIG 6    /* result would not fit in a frame */
/* Provisioning (PROV 0x06, prov.c, docs/provisioning.md). */
#define MGMT_E_STATE 7     /* refused in this state (not factory state, no session) */
#define MGMT_E_AUTH 8      /* authentication failed (one opaque code) */
#define MGMT_E_STALE 9     /* challenge is not the device's current one */
#define MGMT_E_ROOM 10     /* no room in the EEPROM to stage this config */
#define MGMT_E_CONFIG 11   /* the new config fails the device's checks */
#define MGMT_E_EEPROM 12   /* an EEPROM write did not take */
#define MGMT_E_LIMIT 13    /* over a per-frame work cap (below) */

#endif /* MS_MGMT_PROTO_H */
