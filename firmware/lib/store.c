/*
 * store.c - EEPROM config and state slots (see store.h, docs/eeprom.md).
 */
#include <string.h>

#include "crypto/ct.h"
#include "crypto/pgm.h" /* MS_NOINLINE */
#include "ms_base.h"
#include "store.h"

#include "ms_app.h"

uint8_t store_reason = STORE_BLANK;
struct store_config store_cfg;
struct store_state store_st;
static uint8_t cur_slot; /* index of the current state slot */

#define STATE_BASE ((uint16_t)(STORE_EE_SIZE - EE_STATE_SIZE))

uint16_t crc16_byte(uint16_t crc, uint8_t b)
{
	crc ^= (uint16_t)((uint16_t)b << 8);
	for (uint8_t i = 0; i < 8; i++)
		crc = (uint16_t)((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
	return crc;
}

static uint8_t rd(uint16_t addr)
{
	return MS_APP(ee_read)(addr);
}

void store_read(uint16_t addr, uint8_t *dst, uint8_t n)
{
	while (n--)
		*dst++ = rd(addr++);
}

uint8_t store_rd(uint16_t addr) { return rd(addr); }

/*
 * The config being checked: normally the config area itself; while a
 * staged config is checked (store_check_staged, serial provisioning
 * only), its first stage_len bytes come from the staging area at
 * stage_base and the rest from the config area (the unchanged tail).
 */
#if CONFIG_PROV_SERIAL
static uint16_t stage_base, stage_len;

static uint8_t crd(uint16_t i)
{
	return i < stage_len ? rd((uint16_t)(stage_base + i)) : rd(i);
}
#else
#define crd rd
#endif

static void cread(uint16_t addr, uint8_t *dst, uint8_t n)
{
	while (n--)
		*dst++ = crd(addr++);
}

/* Write n bytes and wait until the EEPROM has taken them. */
MS_NOINLINE static void wr(uint16_t addr, const uint8_t *src, uint8_t n)
{
	MS_APP(ee_write)(addr, src, n);
}

#if defined(__AVR__)
#include <avr/eeprom.h>

uint8_t ms_eeprom_read(uint16_t addr)
{
	return eeprom_read_byte((const uint8_t *)(uintptr_t)addr);
}

void ms_eeprom_write(uint16_t addr, const uint8_t *src, uint8_t n)
{
	eeprom_update_block(src, (void *)(uintptr_t)addr, n);
	eeprom_busy_wait();
}
#endif

#define be16 net_be16
#define be32 net_be32
#define put16 net_put16
#define put32 net_put32

/* 1 if the n config bytes at addr are all zero. */
static uint8_t zero(uint16_t addr, uint16_t n)
{
	uint8_t acc = 0;
	while (n--)
		acc |= crd(addr++);
	return acc == 0;
}

uint8_t store_suites(void)
{
	uint8_t s = 0;
#if CONFIG_ESP_CCM8
	s |= 1u << (SUITE_CCM8 - 1);
#endif
#if CONFIG_ESP_CTR_SHA256
	s |= 1u << (SUITE_CTR_SHA256 - 1);
#endif
#if CONFIG_ESP_CBC_MD5
	s |= 1u << (SUITE_CBC_MD5 - 1);
#endif
	return s;
}

/* Parse SA slot i; 0 if the firmware can use it. */
static int load_sa(uint8_t i)
{
	struct store_sa *sa = &store_cfg.sa[i];
	uint8_t h[6];
	cread(store_sa_addr(i, 0), h, sizeof h);
	sa->spi = be32(h + EE_SA_SPI);
	sa->suite = h[EE_SA_SUITE];
	sa->flags = h[EE_SA_FLAGS];
	if (sa->spi == 0 || sa->suite == 0 || sa->suite > 8 ||
	    !((store_suites() >> (sa->suite - 1)) & 1) ||
	    (sa->flags & (uint8_t)~(SA_ESN | SA_UDP_ENCAP)))
		return -1;
	return 0;
}

/*
 * A state's fields, generation to boot count, are its first members in
 * slot order with the slot's widths (six 32-bit, three 16-bit) and no
 * padding; the slot holds them big-endian, the struct in the CPU's
 * little-endian order (AVR and the hosts the tests run on), so one byte
 * loop converts either way: slot_swap reverses each field's bytes.
 */
#define SLOT_FIELDS 30 /* bytes of fields; the CRC follows */
typedef char store_st_layout[offsetof(struct store_state, time_floor) == 20 &&
                             offsetof(struct store_state, settings) == 24 &&
                             offsetof(struct store_state, boot_count) == 28 ? 1 : -1];
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "store.c: slot_swap assumes a little-endian CPU"
#endif

static void slot_swap(uint8_t *d, const uint8_t *s)
{
	for (uint8_t i = 0, w = 4; i < SLOT_FIELDS; i = (uint8_t)(i + w)) {
		if (i == 24)
			w = 2;
		for (uint8_t k = 0; k < w; k++)
			d[i + k] = s[i + w - 1 - k];
	}
}

uint16_t crc16_ccitt(const uint8_t *p, size_t n)
{
	uint16_t crc = 0xFFFF;
	while (n--)
		crc = crc16_byte(crc, *p++);
	return crc;
}

uint8_t store_blank(void)
{
	uint8_t blank = 0xFF;
	for (uint16_t i = 0; i < STORE_EE_SIZE; i++)
		blank &= rd(i);
	return blank == 0xFF;
}

/* The config's 16-bit field at i (read through crd). */
static uint16_t crd16(uint16_t i)
{
	return (uint16_t)((uint16_t)crd(i) << 8 | crd((uint16_t)(i + 1)));
}

/* The config's fields (read through crd): magic, version, length, CRC,
 * fields, SAs. Fills store_cfg. The header is read from the EEPROM field
 * by field, not copied to RAM: it holds the master key, and 64 bytes on
 * the stack under provisioning's frames are more than the ATmega168 has. */
#if CONFIG_BOOTSTRAP
#define CFG_KNOWN (CFG_GROUP | CFG_ISSUER | CFG_CLEAR_ICMP | CFG_SEAL_OK | CFG_BOOTSTRAP)
#else
#define CFG_KNOWN (CFG_GROUP | CFG_ISSUER | CFG_CLEAR_ICMP | CFG_SEAL_OK)
#endif

static uint8_t check_fields(void)
{
	uint16_t i, len, crc;

	if (crd(EE_MAGIC) != 'M' || crd(EE_MAGIC + 1) != 'E')
		return STORE_MAGIC;
	if (crd(EE_VERSION) != 1)
		return STORE_VERSION;
	len = crd16(EE_LENGTH);
	if (len < EE_CONFIG_FIXED || len > STORE_EE_SIZE - EE_STATE_SIZE)
		return STORE_LENGTH;
	crc = 0xFFFF;
	for (i = 0; i < len; i++)
		if (i != EE_CRC && i != EE_CRC + 1)
			crc = crc16_byte(crc, crd(i));
	if (crc != crd16(EE_CRC))
		return STORE_CRC;

	/* The CRC is right; now the fields, as pkg/provision.Parse does. */
	uint8_t flags = crd(EE_FLAGS), count = crd(EE_SA_COUNT);
	uint16_t modlen = crd16(EE_MODULUS_LEN);
	uint8_t acc = !zero(EE_RESERVED, EE_SA0 - EE_RESERVED);
	if (!(flags & CFG_GROUP))
		acc |= !zero(EE_GROUP_ID, 20);
	store_cfg.device_id = (uint32_t)crd16(EE_DEVICE_ID) << 16 | crd16(EE_DEVICE_ID + 2);
	if (acc || (flags & (uint8_t)~CFG_KNOWN) ||
	    store_cfg.device_id == 0 ||
	    (((flags & CFG_ISSUER) != 0) != (modlen != 0)) ||
	    (modlen != 0 && modlen != 128 && modlen != 256) ||
	    len != EE_CONFIG_FIXED + modlen ||
	    (count != 0 && count != 2) ||
	    (count == 0 && !zero(EE_SA0, 2 * EE_SA_SIZE)))
		return STORE_FIELD;
	store_cfg.flags = flags;
	store_cfg.sa_count = count;
	store_cfg.len = len;
	cread(EE_ADDR, store_cfg.addr, 4);
	cread(EE_PEER, store_cfg.peer, 4);
	if (count == 2) {
		if (load_sa(0))
			return STORE_SA_IN;
		if (load_sa(1))
			return STORE_SA_OUT;
		if (store_cfg.sa[0].spi == store_cfg.sa[1].spi)
			return STORE_FIELD;
	}
	return STORE_OK;
}

/* The current state slot: highest generation with a good CRC. 0 if
 * found (store_st, cur_slot set), -1 if none. (Out of line: its slot
 * copy is not in store_init's frame under store_commit.) */
MS_NOINLINE static int find_slot(void)
{
	uint8_t rec[EE_SLOT_SIZE], found = 0;
	for (uint8_t s = 0; s < EE_SLOTS; s++) {
		store_read((uint16_t)(STATE_BASE + s * EE_SLOT_SIZE), rec, EE_SLOT_SIZE);
		uint32_t gen = be32(rec);
		if (gen == 0xFFFFFFFFUL || crc16_ccitt(rec, SLOT_FIELDS) != be16(rec + SLOT_FIELDS))
			continue;
		if (!found || gen > store_st.generation) {
			slot_swap((uint8_t *)&store_st, rec);
			cur_slot = s;
			found = 1;
		}
	}
	return found ? 0 : -1;
}

static uint8_t check_config(void)
{
	if (store_blank())
		return STORE_BLANK;
	uint8_t r = check_fields();
	if (r != STORE_OK)
		return r;
	if (find_slot())
		return STORE_NO_STATE;
	return STORE_OK;
}

#if CONFIG_PROV_SERIAL
uint8_t store_check_staged(uint16_t s)
{
	struct store_config saved = store_cfg;
	stage_base = (uint16_t)(STORE_STAGE_END - s);
	stage_len = s;
	uint8_t r = check_fields();
	uint16_t len = store_cfg.len;
	stage_len = 0;
	store_cfg = saved;
	/* The tail [s, len) comes from the config area: it must not overlap
	 * the staging area or the journal. */
	if (r == STORE_OK && (len < s || len > STORE_STAGE_END - s))
		r = STORE_LENGTH;
	return r;
}
#endif

void store_master_key(uint8_t k[16])
{
	store_read(EE_MASTER_KEY, k, 16);
}

/* ---- the journal (docs/provisioning.md) ------------------------------ */

#define J_S 2
#define J_CRC_STAGED 4
#define J_IN_FLOOR 8
#define J_OUT_RESERVED 12
#define J_SERIAL_FLOOR 16
#define J_TIME_FLOOR 20
#define J_GEN 24
#define J_CRC 30

#if STORE_HAS_JOURNAL
static uint16_t staged_crc(uint16_t s)
{
	uint16_t crc = 0xFFFF;
	for (uint16_t i = 0; i < s; i++)
		crc = crc16_byte(crc, rd((uint16_t)(STORE_STAGE_END - s + i)));
	return crc;
}
#endif

int store_write(uint16_t addr, const uint8_t *src, uint16_t n)
{
	uint8_t back[16];
	while (n) {
		uint8_t k = (uint8_t)(n < sizeof back ? n : sizeof back);
		wr(addr, src, k);
		store_read(addr, back, k);
		if (memcmp(back, src, k) != 0)
			return -1;
		addr = (uint16_t)(addr + k);
		src += k;
		n = (uint16_t)(n - k);
	}
	return 0;
}

/*
 * Read the journal; 0 and S in *s if it holds a valid record written
 * against the current state slot (loaded into store_st): a record is
 * bound to the generation it was written against, so once its commit has
 * written the next slot (or any later write has) it is inert, whatever
 * later commits stage or tear.
 */
static int journal_read(uint8_t j[STORE_JOURNAL_SIZE], uint16_t *s)
{
#if STORE_HAS_JOURNAL
	store_read(STORE_JOURNAL, j, STORE_JOURNAL_SIZE);
	*s = be16(j + J_S);
	if (j[0] != 'M' || j[1] != 'J' || crc16_ccitt(j, J_CRC) != be16(j + J_CRC) ||
	    find_slot() || be32(j + J_GEN) != store_st.generation ||
	    *s == 0 || *s > STORE_STAGE_MAX ||
	    staged_crc(*s) != be16(j + J_CRC_STAGED))
		return -1;
	return 0;
#else
	(void)j;
	(void)s;
	return -1;
#endif
}

/*
 * Finish a journalled commit on top of the state slot in store_st (the
 * one the record was written against): copy the staged bytes over the
 * config area, then store the new counters in the next slot, which makes
 * the record inert. Until that slot is written the record stays valid and
 * store_init redoes both steps; doing them twice gives the same bytes.
 */
static int journal_apply(const uint8_t j[STORE_JOURNAL_SIZE], uint16_t s)
{
	uint8_t b[16];
	for (uint16_t i = 0; i < s; i = (uint16_t)(i + sizeof b)) {
		uint8_t k = (uint8_t)(s - i < 16 ? s - i : 16);
		store_read((uint16_t)(STORE_STAGE_END - s + i), b, k);
		if (store_write(i, b, k))
			return -1;
	}
	wipe(b, sizeof b);
	store_st.esp_in_floor = be32(j + J_IN_FLOOR);
	store_st.esp_out_reserved = be32(j + J_OUT_RESERVED);
	store_st.serial_floor = be32(j + J_SERIAL_FLOOR);
	store_st.time_floor = be32(j + J_TIME_FLOOR);
	return store_commit();
}

int store_journal_commit(uint16_t s, const struct store_state *ns)
{
#if STORE_HAS_JOURNAL
	uint8_t j[STORE_JOURNAL_SIZE];
	memset(j, 0, sizeof j);
	j[0] = 'M';
	j[1] = 'J';
	put16(j + J_S, s);
	put16(j + J_CRC_STAGED, staged_crc(s));
	put32(j + J_IN_FLOOR, ns->esp_in_floor);
	put32(j + J_OUT_RESERVED, ns->esp_out_reserved);
	put32(j + J_SERIAL_FLOOR, ns->serial_floor);
	put32(j + J_TIME_FLOOR, ns->time_floor);
	put32(j + J_GEN, store_st.generation);
	put16(j + J_CRC, crc16_ccitt(j, J_CRC));
	if (store_write(STORE_JOURNAL, j, sizeof j))
		return -1; /* a torn record fails its CRC: the old config stays */
	return journal_apply(j, s);
#else
	(void)s;
	(void)ns;
	return -1;
#endif
}

int store_fresh_state(uint32_t serial_floor, uint32_t time_floor)
{
	memset(&store_st, 0, sizeof store_st);
	store_st.serial_floor = serial_floor;
	store_st.time_floor = time_floor;
	cur_slot = EE_SLOTS - 1; /* so that the record goes to slot 0, generation 1 */
	return store_commit();
}

/*
 * Set the state counter *f to v + CONFIG_RESERVE_BLOCK (saturating at
 * 2^32-1) and commit: 0, or -1 (the write failed; *f is unchanged). One
 * copy for the nonce, the outbound reservation and the inbound floor.
 */
static __attribute__((noinline)) int reserve(uint32_t *f, uint32_t v)
{
	uint32_t old = *f, n = v + CONFIG_RESERVE_BLOCK;
	*f = n < v ? 0xFFFFFFFFUL : n;
	if (store_commit()) {
		*f = old;
		return -1;
	}
	return 0;
}

uint32_t store_nonce_next;

int store_nonce_take(uint32_t v)
{
	if (!store_provisioned() || v != store_nonce_next || v == 0xFFFFFFFFUL)
		return -1;
	if (v >= store_st.nonce_reserved && reserve(&store_st.nonce_reserved, v))
		return -1;
	store_nonce_next = v + 1;
	return 0;
}

/* A commit a power loss interrupted is finished (0), or there is none
 * (0); -1 if the EEPROM does not take it. Out of line: its journal copy
 * is off the stack before store_init checks the config. */
MS_NOINLINE static int journal_finish(void)
{
	uint8_t j[STORE_JOURNAL_SIZE];
	uint16_t s;
	if (journal_read(j, &s))
		return 0;
	return journal_apply(j, s);
}

uint8_t store_init(void)
{
	memset(&store_cfg, 0, sizeof store_cfg);
#if CONFIG_PROV_SERIAL
	stage_len = 0;
#endif
	/* A commit a power loss interrupted is finished first; if the EEPROM
	 * does not take it, the device stays unprovisioned (no key is used
	 * with counters that may be stale) and the next boot tries again. */
	store_reason = STORE_NO_STATE;
	if (journal_finish() == 0)
		store_reason = check_config(); /* sets every field of store_st */
	if (store_reason != STORE_OK) {
		/* Nothing read from a config that failed its check is kept. */
		memset(&store_cfg, 0, sizeof store_cfg);
		memset(&store_st, 0, sizeof store_st);
		return store_reason;
	}
	store_st.boot_count++; /* diagnostics only; a failed write is harmless */
	if (store_commit())
		store_st.boot_count--;
	/* Nonce values below the stored reservation may have been used. */
	store_nonce_next = store_st.nonce_reserved;
	return STORE_OK;
}

int store_commit(void)
{
	uint8_t rec[EE_SLOT_SIZE], bad = 0;
	uint8_t next = (uint8_t)(cur_slot + 1 == EE_SLOTS ? 0 : cur_slot + 1);
	uint16_t addr = (uint16_t)(STATE_BASE + next * EE_SLOT_SIZE);

	if (store_st.generation >= 0xFFFFFFFEUL)
		return -1; /* 0xFFFFFFFF means "erased": never write it */
	slot_swap(rec, (const uint8_t *)&store_st);
	put32(rec, store_st.generation + 1);
	put16(rec + SLOT_FIELDS, crc16_ccitt(rec, SLOT_FIELDS));
	wr(addr, rec, EE_SLOT_SIZE);
	/* read back byte by byte (no second 32-byte copy on the stack) */
	for (uint8_t i = 0; i < EE_SLOT_SIZE; i++)
		bad |= (uint8_t)(rec[i] ^ rd((uint16_t)(addr + i)));
	if (bad)
		return -1;
	ms_inc32(&store_st.generation);
	cur_slot = next;
	return 0;
}

int store_out_seq(uint32_t seq)
{
	if (seq < store_st.esp_out_reserved)
		return 0;
	if (seq == 0xFFFFFFFFUL)
		return -1; /* never: the reservation saturates at 2^32-1 */
	return reserve(&store_st.esp_out_reserved, seq);
}

int store_in_floor(uint32_t seq)
{
	if (seq <= store_st.esp_in_floor)
		return 0;
	return reserve(&store_st.esp_in_floor, seq);
}
