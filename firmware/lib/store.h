/*
 * store.h - the device's EEPROM: config area and wear-levelled state slots
 * (layout v1, docs/eeprom.md, byte by byte; Go side: pkg/provision).
 *
 * store_init() checks the config area (magic, version, length, CRC, fields,
 * SA suites against the build) and selects the current state slot (highest
 * generation with a good CRC). Anything wrong leaves the device
 * UNPROVISIONED with a reason code (store_reason): no key is ever read
 * then, and the network stack drops every packet.
 *
 * Keys are not cached in RAM: store_read() copies them from the EEPROM
 * into the caller's context when a packet needs them; callers wipe.
 *
 * State updates follow the slot rule: the whole 32-byte record goes to
 * the NEXT slot with generation + 1, the write is waited for and read
 * back; only then does the caller use what it reserved. A torn write
 * fails its CRC and the previous slot stays current.
 *
 * EEPROM access: through the application's ee_read and ee_write
 * callbacks (ms_app.h): on AVR usually ms_eeprom_read/ms_eeprom_write
 * below; the host tests give a RAM array that can fail or tear writes
 * (tests/host_app.c).
 */
#ifndef MS_STORE_H
#define MS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#if defined(__AVR__)
#include <avr/io.h>
#define STORE_EE_SIZE ((uint16_t)(E2END + 1))
#else
#define STORE_EE_SIZE ((uint16_t)CONFIG_HOST_EEPROM_SIZE)
#endif

/* Config area offsets (docs/eeprom.md). */
#define EE_MAGIC 0
#define EE_VERSION 2
#define EE_FLAGS 3
#define EE_LENGTH 4
#define EE_CRC 6
#define EE_DEVICE_ID 8
#define EE_ADDR 12
#define EE_PEER 16
#define EE_MASTER_KEY 20
#define EE_GROUP_ID 36
#define EE_GROUP_KEY 40
#define EE_MODULUS_LEN 56
#define EE_SA_COUNT 58
#define EE_RESERVED 59
#define EE_SA0 64
#define EE_SA1 128
#define EE_MODULUS 192
#define EE_CONFIG_FIXED 192

#define EE_SA_SIZE 64
#define EE_SA_SPI 0
#define EE_SA_SUITE 4
#define EE_SA_FLAGS 5
#define EE_SA_ENC_KEY 8
#define EE_SA_AUTH_KEY 28

#define EE_SLOTS 6
#define EE_SLOT_SIZE 32
#define EE_STATE_SIZE (EE_SLOTS * EE_SLOT_SIZE)

/* Config flags. */
#define CFG_GROUP 0x01
#define CFG_ISSUER 0x02
#define CFG_CLEAR_ICMP 0x04
#define CFG_SEAL_OK 0x08 /* policy: device-bound MSSL grants are taken on their
                          * seal alone (without: every grant needs RSA) */
#define CFG_BOOTSTRAP 0x10 /* enrolled for bootstrapping (CONFIG_BOOTSTRAP):
                            * RN_i in the bootstrap area; the two SAs' SPIs
                            * and keys derive from the master key (esp.c) */
/* BOOT_CFG(flags) - the config flags say CFG_BOOTSTRAP, in a build with it. */
#define BOOT_CFG(f) (CONFIG_BOOTSTRAP && ((f) & CFG_BOOTSTRAP))
/* SA flags. */
#define SA_ESN 0x01
#define SA_UDP_ENCAP 0x02

/* esp.Suite numbers the firmware knows. */
#define SUITE_CCM8 1
#define SUITE_CTR_SHA256 4
#define SUITE_CBC_MD5 5

/* store_reason values (STATUS, docs/firmware-net.md). */
#define STORE_OK 0
#define STORE_BLANK 1
#define STORE_MAGIC 2
#define STORE_VERSION 3
#define STORE_LENGTH 4
#define STORE_CRC 5
#define STORE_FIELD 6
#define STORE_NO_STATE 7
#define STORE_SA_IN 8
#define STORE_SA_OUT 9

struct store_sa {
	uint32_t spi;
	uint8_t suite;
	uint8_t flags;
};

struct store_config {
	uint32_t device_id;
	uint8_t addr[4];
	uint8_t peer[4];
	uint16_t len; /* config length L */
	uint8_t flags;
	uint8_t sa_count; /* 0 or 2 */
	struct store_sa sa[2]; /* 0: inbound, 1: outbound */
};

/* One state slot (docs/eeprom.md "State area"). */
struct store_state {
	uint32_t generation;
	uint32_t esp_out_reserved;
	uint32_t esp_in_floor;
	uint32_t nonce_reserved;
	uint32_t serial_floor;
	uint32_t time_floor;
	uint16_t settings[2];
	uint16_t boot_count;
};

extern uint8_t store_reason; /* STORE_OK when provisioned */
extern struct store_config store_cfg; /* valid only when provisioned */
extern struct store_state store_st;   /* the current slot */

/* store_suites - bit s-1 for every esp.Suite s built into this firmware. */
uint8_t store_suites(void);

/*
 * store_init - finish an interrupted journal commit, check the EEPROM and
 * load the config and current state; on success count the boot (a state
 * write). Returns store_reason (STORE_NO_STATE also when the EEPROM did
 * not take the interrupted commit: tried again at the next boot).
 */
uint8_t store_init(void);

static inline uint8_t store_provisioned(void) { return store_reason == STORE_OK; }

/* store_read - copy n EEPROM bytes at addr to dst. */
void store_read(uint16_t addr, uint8_t *dst, uint8_t n);

/* store_sa_addr - EEPROM address of SA slot i's field at offset off. */
static inline uint16_t store_sa_addr(uint8_t i, uint8_t off)
{
	return (uint16_t)(EE_SA0 + (uint16_t)i * EE_SA_SIZE + off);
}

/*
 * store_commit - write store_st with generation + 1 into the next slot,
 * wait for completion and verify it by reading back. Returns 0, or -1
 * (the EEPROM did not take it: store_st is restored to the old record,
 * the caller must not use what it meant to reserve).
 */
int store_commit(void);

/*
 * store_out_seq - the reservation rule for an outbound sequence number:
 * 0 if seq may be used (seq < the stored reservation, raising it by one
 * block first when needed), -1 if not (exhausted, or the write failed).
 */
int store_out_seq(uint32_t seq);

/*
 * store_in_floor - keep the stored inbound floor at or above seq: if seq
 * is above it, store seq + CONFIG_RESERVE_BLOCK (saturating) first.
 * 0 when seq may be accepted, -1 if the write failed.
 */
int store_in_floor(uint32_t seq);

/* ---- serial provisioning support (docs/provisioning.md) -------------
 *
 * A re-provisioning stages the new config's first S bytes in the unused
 * EEPROM just below a 32-byte journal record that sits just below the
 * state area:
 *
 *   [0, L)            the active config
 *   [J - S, J)        staging (S bytes; must not overlap [0, max(L, L')))
 *   [J, J + 32)       journal record (J = STORE_JOURNAL)
 *   [EE - 192, EE)    state slots
 *
 * Once the new config is authenticated and checked, the journal record is
 * written (new counters, CRC of the staged bytes, the current slot's
 * generation G); then the staged bytes are copied over the config area
 * and a new state slot (G + 1) is written, which retires the record: it
 * counts only while the current slot's generation is G. store_init()
 * redoes an interrupted commit, so a power loss leaves the old config
 * (record not yet valid) or the new one, and no counter goes back.
 * The ATmega168's EEPROM has no room for staging (STORE_CAN_STAGE 0).
 */
#define STORE_JOURNAL_SIZE 32
#if defined(__AVR__)
#define STORE_EE_BYTES (E2END + 1) /* for #if: no casts */
#else
#define STORE_EE_BYTES CONFIG_HOST_EEPROM_SIZE
#endif
#define STORE_JOURNAL_RAW (STORE_EE_BYTES - EE_STATE_SIZE - STORE_JOURNAL_SIZE)
#define STORE_JOURNAL ((uint16_t)STORE_JOURNAL_RAW)

/*
 * The bootstrap area (docs/bootstrap.md "Device state", docs/eeprom.md):
 * RN_i, 16 bytes just below the journal record, written at enrolment and
 * never changed. It counts only in a config with CFG_BOOTSTRAP, whose
 * master key (EE_MASTER_KEY) is IK, then the PSK of the last join: a join
 * replaces it through the journal, with the ESP counters, in one commit.
 * With CONFIG_BOOTSTRAP, staging ends below the area ([STORE_STAGE_END -
 * S, STORE_STAGE_END)); without, the area is ignored and staging may
 * overwrite it.
 */
#define EE_BOOT_SIZE 16
#define EE_BOOT_RAW (STORE_JOURNAL_RAW - EE_BOOT_SIZE)
#define EE_BOOT ((uint16_t)EE_BOOT_RAW)
#if CONFIG_BOOTSTRAP
#define STORE_STAGE_END_RAW EE_BOOT_RAW
#else
#define STORE_STAGE_END_RAW STORE_JOURNAL_RAW
#endif
#define STORE_STAGE_END ((uint16_t)STORE_STAGE_END_RAW)

/* Largest config (layout v1: RSA-2048 issuer) and whether staging fits
 * next to it (a staged fixed part at least). */
#define STORE_CONFIG_MAX_RAW (EE_CONFIG_FIXED + 256 < STORE_EE_BYTES - EE_STATE_SIZE \
	? EE_CONFIG_FIXED + 256 : STORE_EE_BYTES - EE_STATE_SIZE)
#define STORE_CAN_STAGE (STORE_STAGE_END_RAW >= STORE_CONFIG_MAX_RAW + EE_CONFIG_FIXED)
#define STORE_STAGE_MAX ((uint16_t)(STORE_STAGE_END - EE_CONFIG_FIXED))
/* The journal is built where serial provisioning can stage a fixed part,
 * and for bootstrapping (whose commit stages the config's first 36 bytes). */
#define STORE_HAS_JOURNAL (STORE_CAN_STAGE || CONFIG_BOOTSTRAP)

/* store_blank - 1 if the whole EEPROM is erased (0xFF): factory state. */
uint8_t store_blank(void);

/* store_rd - one EEPROM byte. */
uint8_t store_rd(uint16_t addr);


/* store_write - write n bytes at addr, wait, read back: 0 or -1. */
int store_write(uint16_t addr, const uint8_t *src, uint16_t n);

/*
 * store_check_staged (built with CONFIG_PROV_SERIAL) - check the config made of the s staged bytes at
 * STORE_STAGE_END - s followed by the config area's bytes [s, L) as
 * store_init would (store_cfg is left unchanged). Also checks that the
 * tail does not overlap the staging area. Returns a STORE_* reason.
 */
uint8_t store_check_staged(uint16_t s);

/*
 * store_journal_commit - make the s staged bytes the config, with the
 * counters of ns (in floor, out reserved, serial floor, time floor; the
 * rest comes from the current slot). 0, or -1 if an EEPROM write failed.
 * The caller then runs ms_reload() (reload.h).
 */
int store_journal_commit(uint16_t s, const struct store_state *ns);

/* store_fresh_state - write the first state slot of a newly provisioned
 * device (slot 0, generation 1, counters zero, the given floors). */
int store_fresh_state(uint32_t serial_floor, uint32_t time_floor);

/*
 * The nonce counter (state field "nonce reserved"), shared by every user
 * of device challenges: store_nonce_next is the next unused value (RAM;
 * after a boot, the stored reservation). store_nonce_take(v) uses v,
 * which must equal store_nonce_next, raising the stored reservation by
 * CONFIG_RESERVE_BLOCK first when needed: 0, or -1 (not current,
 * exhausted, unprovisioned, or the write failed).
 */
extern uint32_t store_nonce_next;
int store_nonce_take(uint32_t v);

/*
 * store_master_key - copy the device's master key (EE_MASTER_KEY) into k.
 * Every key derived from the master key reads it here.
 */
void store_master_key(uint8_t k[16]);

/* crc16_byte - one byte of CRC-16/CCITT-FALSE. */
uint16_t crc16_byte(uint16_t crc, uint8_t b);

/* crc16_ccitt - CRC-16/CCITT-FALSE of n bytes (check("123456789") =
 * 0x29B1): the state slots, the journal and the management frames. */
uint16_t crc16_ccitt(const uint8_t *p, size_t n);

#endif /* MS_STORE_H */
