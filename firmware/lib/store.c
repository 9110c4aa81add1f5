/*
 * store.c - EEPROM config and state slots (see store.h, docs/eeprom.md).
 *
 * Everything is read straight from the EEPROM a byte at a time (rd):
 * the config's checks, the slots' CRCs and the journal record need no
 * RAM copy; a few helpers (crc_ee, diff, load, put) do every block
 * access, for the config, the slots and the journal alike. A CRC is
 * checked by taking it on over the stored CRC (crc_ee), a slot is found
 * in one pass, and the 32-bit counters go through one routine (take):
 * AVR code for 32-bit arithmetic is large.
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
static uint8_t cur_slot; /* the current state slot: its offset in the state area */

#define STATE_BASE ((uint16_t)(STORE_EE_SIZE - EE_STATE_SIZE))

/* Serial provisioning checks a staged config (store_check_staged) only
 * where it can stage one. */
#define STORE_STAGING (CONFIG_PROV_SERIAL && STORE_CAN_STAGE)

uint16_t crc16_byte(uint16_t crc, uint8_t b)
{
	crc ^= (uint16_t)((uint16_t)b << 8);
	for (uint8_t i = 0; i < 8; i++)
		crc = (uint16_t)((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
	return crc;
}

uint16_t crc16_ccitt(const uint8_t *p, size_t n)
{
	uint16_t crc = 0xFFFF;
	while (n--)
		crc = crc16_byte(crc, *p++);
	return crc;
}

/*
 * One EEPROM byte. While a staged config is checked (store_check_staged
 * only: nothing else runs then), the config's bytes [0, stage_len) come
 * from the staging area (ending at STORE_STAGE_END) and the rest from
 * the config area (the unchanged tail); stage_len is 0 at every other
 * time.
 */
#if STORE_STAGING
static uint16_t stage_len;
#endif

static uint8_t rd(uint16_t addr)
{
#if STORE_STAGING
	uint16_t s = stage_len;
	if (addr < s)
		addr = (uint16_t)(addr + STORE_STAGE_END - s);
#endif
	return MS_APP(ee_read)(addr);
}

uint8_t store_rd(uint16_t addr) { return rd(addr); }

/* The big-endian 16-bit value at addr. */
static uint16_t rd16(uint16_t addr)
{
	return (uint16_t)((uint16_t)rd(addr) << 8 | rd((uint16_t)(addr + 1)));
}

/*
 * CRC-16 of the n EEPROM bytes at addr, going on from crc. A CRC-16/
 * CCITT-FALSE (no reflection, no final XOR) taken on over the stored
 * big-endian CRC comes out 0 exactly when that CRC is right: the checks
 * compare nothing else.
 */
static uint16_t crc_ee(uint16_t crc, uint16_t addr, uint16_t n)
{
	while (n--)
		crc = crc16_byte(crc, rd(addr++));
	return crc;
}

/* 0 if the n EEPROM bytes at addr equal those at p (in RAM), or all
 * equal x when p is NULL; non-zero if any differs. The read-back of
 * every write, the zero checks and store_blank. */
MS_NOINLINE static uint8_t diff(uint16_t addr, uint16_t n, const uint8_t *p, uint8_t x)
{
	uint8_t acc = 0;
	while (n--)
		acc |= (uint8_t)(rd(addr++) ^ (p ? *p++ : x));
	return acc;
}
/* 0 if the n EEPROM bytes at addr are all zero. */
MS_NOINLINE static uint8_t or_ee(uint16_t addr, uint8_t n)
{
	return diff(addr, n, NULL, 0);
}

/*
 * Copy n EEPROM bytes at addr to d: the first n32 bytes are big-endian
 * 32-bit fields, the rest are 16-bit ones (m = 1) or bytes (m = 0). The
 * CPU is little-endian (AVR and the hosts the tests run on), so a field's
 * bytes land reversed: byte i goes to i ^ 3 (32-bit) or i ^ 1 (16-bit).
 */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "store.c: load and store_commit assume a little-endian CPU"
#endif
static void load(uint16_t addr, void *d, uint8_t n, uint8_t n32, uint8_t m)
{
	uint8_t *p = d;
	for (uint8_t i = 0; i < n; i++)
		p[(uint8_t)(i ^ (i < n32 ? 3 : m))] = rd(addr++);
}

/* (Every ESP packet reads its SA's keys through here, and MSSL the
 * issuer's modulus: a plain loop with the callback fetched once, not
 * load() and rd(), keeps the per-byte cost where it was; no staged
 * config is ever read through it.) */
void store_read(uint16_t addr, uint8_t *dst, uint8_t n)
{
	uint8_t (*ee_read)(uint16_t) = MS_APP(ee_read);
	uint16_t end = (uint16_t)(addr + n);
	while (addr != end)
		*dst++ = ee_read(addr++);
}

void store_master_key(uint8_t k[16])
{
	store_read(EE_MASTER_KEY, k, 16);
}

/* Write n bytes with one ee_write call (the EEPROM has them when it
 * returns) and read them back: 0, or -1 if they differ. */
MS_NOINLINE static uint8_t put(uint16_t addr, const uint8_t *src, uint8_t n)
{
	MS_APP(ee_write)(addr, src, n);
	return diff(addr, n, src, 0);
}

int store_write(uint16_t addr, const uint8_t *src, uint16_t n)
{
	for (uint8_t k = 16; n; n = (uint16_t)(n - k)) {
		if (n < 16)
			k = (uint8_t)n;
		if (put(addr, src, k))
			return -1;
		addr = (uint16_t)(addr + k);
		src += k;
	}
	return 0;
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

uint8_t store_suites(void)
{
	return (uint8_t)((CONFIG_ESP_CCM8 ? 1u << (SUITE_CCM8 - 1) : 0) |
	                 (CONFIG_ESP_CTR_SHA256 ? 1u << (SUITE_CTR_SHA256 - 1) : 0) |
	                 (CONFIG_ESP_CBC_MD5 ? 1u << (SUITE_CBC_MD5 - 1) : 0));
}

/* 1 if esp.Suite s is built in (constants: no shift by a variable). */
static uint8_t suite_ok(uint8_t s)
{
	return (CONFIG_ESP_CCM8 && s == SUITE_CCM8) ||
	       (CONFIG_ESP_CTR_SHA256 && s == SUITE_CTR_SHA256) ||
	       (CONFIG_ESP_CBC_MD5 && s == SUITE_CBC_MD5);
}

uint8_t store_blank(void)
{
	return !diff(0, STORE_EE_SIZE, NULL, 0xFF);
}

/*
 * The config's checks (read through rd), in this order: magic, version,
 * length, CRC, fields (as pkg/provision.Parse does), SAs. Fills every
 * field of *c on success (store_init clears store_cfg on a failure). The
 * config is read from the EEPROM field by field, not copied to RAM: it
 * holds the master key, and 64 bytes on the stack under provisioning's
 * frames are more than the ATmega168 has.
 */
#if CONFIG_BOOTSTRAP
#define CFG_KNOWN (CFG_GROUP | CFG_ISSUER | CFG_CLEAR_ICMP | CFG_SEAL_OK | CFG_BOOTSTRAP)
#else
#define CFG_KNOWN (CFG_GROUP | CFG_ISSUER | CFG_CLEAR_ICMP | CFG_SEAL_OK)
#endif
/* load() fills device_id, addr and peer in one go, and an SA's spi,
 * suite and flags in another: the EEPROM order, without padding. */
typedef char store_cfg_layout[offsetof(struct store_config, addr) == 4 &&
                              offsetof(struct store_config, peer) == 8 &&
                              offsetof(struct store_sa, suite) == EE_SA_SUITE &&
                              offsetof(struct store_sa, flags) == EE_SA_FLAGS ? 1 : -1];

MS_NOINLINE static uint8_t check_fields(struct store_config *c)
{
	if (rd16(EE_MAGIC) != 0x4D45) /* "ME" */
		return STORE_MAGIC;
	if (rd(EE_VERSION) != 1)
		return STORE_VERSION;
	uint16_t len = rd16(EE_LENGTH);
	uint16_t m = (uint16_t)(len - EE_CONFIG_FIXED); /* the modulus length, if right */
	if (m > STORE_EE_SIZE - EE_STATE_SIZE - EE_CONFIG_FIXED) /* also: len < 192 */
		return STORE_LENGTH;
	/* the CRC covers [0, 6) and [8, L) */
	uint16_t crc = 0xFFFF;
	for (uint16_t i = 0; i < len; i++)
		if ((uint16_t)(i - EE_CRC) >= 2)
			crc = crc16_byte(crc, rd(i));
	if (crc != rd16(EE_CRC))
		return STORE_CRC;

	/* The CRC is right; now the fields. m must be 0, 128 or 256, equal
	 * the length field, and be non-zero exactly with the issuer flag. */
	uint8_t flags = rd(EE_FLAGS), count = rd(EE_SA_COUNT);
	uint8_t bad = (uint8_t)((flags & (uint8_t)~CFG_KNOWN) | (count & (uint8_t)~2) |
	                        or_ee(EE_RESERVED, EE_SA0 - EE_RESERVED));
	if (!(flags & CFG_GROUP))
		bad |= or_ee(EE_GROUP_ID, EE_MODULUS_LEN - EE_GROUP_ID);
	if (!count)
		bad |= or_ee(EE_SA0, 2 * EE_SA_SIZE);
	load(EE_DEVICE_ID, c, 12, 4, 0);
	if (bad || !or_ee(EE_DEVICE_ID, 4) ||
	    rd16(EE_MODULUS_LEN) != m || (m & (uint16_t)~0x180) || m == 0x180 ||
	    (flags & CFG_ISSUER ? !m : m))
		return STORE_FIELD;
	c->flags = flags;
	c->sa_count = count;
	c->len = len;
	/* Without SAs their slots are zero (checked above): loading them
	 * clears c->sa. */
	for (uint8_t i = 0; i < 2; i++) {
		struct store_sa *sa = &c->sa[i];
		uint16_t a = store_sa_addr(i, 0);
		load(a, sa, 6, 4, 0);
		if (count && (!or_ee(a, 4) || !suite_ok(sa->suite) ||
		              (sa->flags & (uint8_t)~(SA_ESN | SA_UDP_ENCAP))))
			return (uint8_t)(STORE_SA_IN + i);
	}
	if (count && !memcmp(&c->sa[0].spi, &c->sa[1].spi, 4))
		return STORE_FIELD;
	return STORE_OK;
}

/*
 * A state's fields, generation to boot count, are its first members in
 * slot order with the slot's widths (six 32-bit, three 16-bit) and no
 * padding: load(slot, &store_st, 30, 24, 1) reads a slot; store_commit
 * converts back.
 */
#define SLOT_FIELDS 30 /* bytes of fields; the CRC follows */
typedef char store_st_layout[offsetof(struct store_state, time_floor) == 20 &&
                             offsetof(struct store_state, settings) == 24 &&
                             offsetof(struct store_state, boot_count) == 28 ? 1 : -1];

MS_NOINLINE static void load_slot(uint8_t o)
{
	load((uint16_t)(STATE_BASE + o), &store_st, SLOT_FIELDS, 24, 1);
}

/*
 * The current state slot: the highest generation (not 0xFFFFFFFF: an
 * erased slot) with a good CRC, the first of equals. 0 if found (store_st,
 * cur_slot set), non-zero if none (cur_slot unchanged: always a slot).
 * One pass, the CRCs taken from the EEPROM; generations are compared plus
 * one, so that an erased slot's comes out 0 and never wins.
 */
MS_NOINLINE static uint8_t find_slot(void)
{
	uint8_t best = 0xFF;
	uint32_t top = 0, gen;
	for (uint8_t o = 0; o < EE_STATE_SIZE; o = (uint8_t)(o + EE_SLOT_SIZE)) {
		uint16_t a = (uint16_t)(STATE_BASE + o);
		load(a, &gen, 4, 4, 0);
		uint32_t g = gen + 1;
		if (g <= top || crc_ee(0xFFFF, a, EE_SLOT_SIZE))
			continue;
		top = g;
		best = o;
	}
	if (best == 0xFF)
		return 1;
	cur_slot = best;
	load_slot(best);
	return 0;
}

int store_commit(void)
{
	uint8_t rec[EE_SLOT_SIZE];
	uint8_t next = (uint8_t)(cur_slot + EE_SLOT_SIZE);
	const uint8_t *st = (const uint8_t *)&store_st;

	/* 0xFFFFFFFF means "erased": never write it */
	if (store_st.generation < 0xFFFFFFFEUL) {
		ms_inc32(&store_st.generation);
		for (uint8_t i = 0; i < SLOT_FIELDS; i++)
			rec[i] = st[(uint8_t)(i ^ (i < 24 ? 3 : 1))];
		net_put16(rec + SLOT_FIELDS, crc16_ccitt(rec, SLOT_FIELDS));
		if (next == EE_STATE_SIZE)
			next = 0;
		if (put((uint16_t)(STATE_BASE + next), rec, EE_SLOT_SIZE) == 0) {
			cur_slot = next;
			return 0;
		}
	}
	load_slot(cur_slot); /* back to the record that stays current */
	return -1;
}

#if STORE_STAGING
uint8_t store_check_staged(uint16_t s)
{
	struct store_config c;
	stage_len = s;
	uint8_t r = check_fields(&c);
	uint16_t len = c.len;
	stage_len = 0;
	/* The tail [s, len) comes from the config area: it must not overlap
	 * the staging area or the journal. */
	if (r == STORE_OK && (len < s || len > STORE_STAGE_END - s))
		r = STORE_LENGTH;
	return r;
}
#elif CONFIG_PROV_SERIAL
/* Nothing can be staged here (STORE_CAN_STAGE 0: PROV BEGIN refuses
 * every re-provisioning), so there is no staged config to accept. */
uint8_t store_check_staged(uint16_t s)
{
	(void)s;
	return STORE_LENGTH;
}
#endif

/* ---- the journal (docs/provisioning.md) ------------------------------ */

#define J_S 2
#define J_CRC_STAGED 4
#define J_IN_FLOOR 8
#define J_OUT_RESERVED 12
#define J_SERIAL_FLOOR 16 /* and the time floor: the order of store_st */
#define J_GEN 24
#define J_CRC 30

#if STORE_HAS_JOURNAL
static uint16_t staged_crc(uint16_t s)
{
	return crc_ee(0xFFFF, (uint16_t)(STORE_STAGE_END - s), s);
}

/*
 * Finish the commit the journal record holds, if it is valid: read from
 * the EEPROM, bound to the current state slot's generation (so once its
 * commit has written the next slot, or any later write has, it is inert,
 * whatever later commits stage or tear), with its staged bytes intact.
 * Copy the staged bytes over the config area, then store the record's
 * counters in the next slot (the rest from the current one), which makes
 * the record inert. Until that slot is written the record stays valid
 * and store_init redoes both steps; doing them twice gives the same
 * bytes. 1 if there is no valid record, 0 done, -1 if the EEPROM did not
 * take it.
 */
MS_NOINLINE static int journal_run(void)
{
	const uint16_t J = STORE_JOURNAL;
	uint8_t b[16];
	uint16_t s = rd16(J + J_S);
	if (find_slot())
		return 1;
	net_put32(b, store_st.generation);
	if (rd16(J) != 0x4D4A /* "MJ" */ || crc_ee(0xFFFF, J, STORE_JOURNAL_SIZE) ||
	    diff(J + J_GEN, 4, b, 0) || s == 0 || s > STORE_STAGE_MAX ||
	    crc_ee(staged_crc(s), J + J_CRC_STAGED, 2))
		return 1;

	int bad = 0;
	for (uint16_t i = 0; i < s && !bad; i = (uint16_t)(i + sizeof b)) {
		uint8_t k = (uint8_t)(s - i < 16 ? s - i : 16);
		store_read((uint16_t)(STORE_STAGE_END - s + i), b, k);
		bad = put(i, b, k);
	}
	wipe(b, sizeof b);
	if (bad)
		return -1;
	load(J + J_IN_FLOOR, &store_st.esp_in_floor, 4, 4, 0);
	load(J + J_OUT_RESERVED, &store_st.esp_out_reserved, 4, 4, 0);
	load(J + J_SERIAL_FLOOR, &store_st.serial_floor, 8, 8, 0);
	return store_commit();
}
#endif

int store_journal_commit(uint16_t s, const struct store_state *ns)
{
#if STORE_HAS_JOURNAL
	uint8_t j[STORE_JOURNAL_SIZE];
	memset(j, 0, sizeof j);
	j[0] = 'M';
	j[1] = 'J';
	net_put16(j + J_S, s);
	net_put16(j + J_CRC_STAGED, staged_crc(s));
	net_put32s(j + J_IN_FLOOR, &ns->esp_in_floor, 1);
	net_put32s(j + J_OUT_RESERVED, &ns->esp_out_reserved, 1);
	net_put32s(j + J_SERIAL_FLOOR, &ns->serial_floor, 2);
	net_put32s(j + J_GEN, &store_st.generation, 1);
	net_put16(j + J_CRC, crc16_ccitt(j, J_CRC));
	if (store_write(STORE_JOURNAL, j, sizeof j))
		return -1; /* a torn record fails its CRC: the old config stays */
	/* the record just written and read back is valid: run it */
	return journal_run() ? -1 : 0;
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
	cur_slot = EE_STATE_SIZE - EE_SLOT_SIZE; /* so that the record goes to slot 0, generation 1 */
	return store_commit();
}

/*
 * The reservation rule for counter value v under the reservation *f: 0
 * if v may be used (v < *f), else *f is first set to v +
 * CONFIG_RESERVE_BLOCK (saturating at 2^32-1) and committed: 0, or -1
 * (exhausted: v is 2^32-1; or the write failed, and store_commit put *f
 * back). With floor set, the inbound floor's rule instead: 0 if v <= *f,
 * else the same raise (never exhausted). One copy for the nonce, the
 * outbound reservation and the inbound floor.
 */
MS_NOINLINE static int take(uint32_t *f, uint32_t v, uint8_t floor)
{
	if (v < *f || (floor && v == *f))
		return 0;
	if (!floor && v == 0xFFFFFFFFUL)
		return -1;
	v += CONFIG_RESERVE_BLOCK;
	*f = v < CONFIG_RESERVE_BLOCK ? 0xFFFFFFFFUL : v;
	return store_commit();
}

uint32_t store_nonce_next;

int store_nonce_take(uint32_t v)
{
	if (!store_provisioned() || v != store_nonce_next || take(&store_st.nonce_reserved, v, 0))
		return -1;
	ms_inc32(&store_nonce_next);
	return 0;
}

uint8_t store_init(void)
{
	/* A commit a power loss interrupted is finished first; if the EEPROM
	 * does not take it, the device stays unprovisioned (no key is used
	 * with counters that may be stale) and the next boot tries again. */
	uint8_t r = STORE_NO_STATE;
#if STORE_HAS_JOURNAL
	if (journal_run() >= 0)
#endif
	{
		r = STORE_BLANK;
		if (!store_blank()) {
			r = check_fields(&store_cfg);
			if (r == STORE_OK && find_slot()) /* sets every field of store_st */
				r = STORE_NO_STATE;
		}
	}
	store_reason = r;
	if (r != STORE_OK) {
		/* Nothing read from a config that failed its check is kept. */
		memset(&store_cfg, 0, sizeof store_cfg);
		memset(&store_st, 0, sizeof store_st);
		return r;
	}
	store_st.boot_count++; /* diagnostics only; a failed write is harmless */
	(void)store_commit(); /* (and puts the old count back) */
#if CONFIG_MSSL || CONFIG_PROV_SERIAL
	/* Nonce values below the stored reservation may have been used. */
	memcpy(&store_nonce_next, &store_st.nonce_reserved, 4);
#endif
	return STORE_OK;
}

int store_out_seq(uint32_t seq)
{
	return take(&store_st.esp_out_reserved, seq, 0);
}

int store_in_floor(uint32_t seq)
{
	return take(&store_st.esp_in_floor, seq, 1);
}
