/*
 * tasks.c - the task dispatcher and the tasks the library implements
 * (see tasks.h, docs/tasks.md).
 */
#include "ms_base.h"
#include "store.h"
#include "tasks.h"

/* One out-of-line copy, not specialised per caller (GCC's IPA would
 * clone no_args for each constant task number). */
#if defined(__GNUC__) && !defined(__clang__)
#define MS_NOCLONE __attribute__((noinline, noclone))
#else
#define MS_NOCLONE __attribute__((noinline))
#endif

ms_task_fn tasks_find(uint8_t id)
{
	const struct ms_task *t = MS_APP(tasks);
	for (uint8_t i = MS_PGM_U8(&ms_app->ntasks); i--; t++)
		if (MS_PGM_U8(&t->id) == id)
			return MS_PGM_READ(&t->run);
	return 0;
}

uint16_t tasks_handle(uint8_t *p, uint16_t n, uint16_t room)
{
	if (n < 4)
		return net_count(C_UDP_BAD); /* cannot be matched: no reply */
	if (room < 5 + 4 * NET_NCOUNTERS)
		return net_count(C_NO_SEND);
	uint8_t rl = room > 255 + 5 ? 255 : (uint8_t)(room - 5), status = TASK_E_VERSION;
	if (p[0] == TASK_VERSION) {
		ms_task_fn run = tasks_find(p[1]);
		status = run ? run(p + 4, (uint16_t)(n - 4), p + 5, &rl) : TASK_E_UNKNOWN;
	}
	p[0] = TASK_VERSION;
	p[4] = status;
	net_count(C_TASKS);
	return (uint16_t)(5 + (status == TASK_OK ? rl : 0));
}

uint16_t ms_tasks_input(uint8_t *p, uint16_t n, uint16_t room,
                        const uint8_t *src_ip, uint16_t src_port)
{
	(void)src_ip;
	(void)src_port;
	return tasks_handle(p, n, room);
}

/*
 * The library's tasks without arguments: id, uptime and counters (their
 * task numbers in task). One body: the three entry points pass the
 * number in place of the argument pointer they do not read, so each is
 * a jump with every other register in place.
 */
MS_NOCLONE static uint8_t no_args(uint16_t task, uint16_t alen, uint8_t *r, uint8_t *rlen)
{
	uint8_t n;
	if (alen)
		return TASK_E_ARGS;
	if (task == TASK_ID) {
		net_put32(r, store_cfg.device_id);
		r[4] = FW_VERSION_MAJOR;
		r[5] = FW_VERSION_MINOR;
#if defined(__AVR_ATmega328P__) || !defined(__AVR__)
		r[6] = 1; /* the host build stands for an ATmega328P */
#elif defined(__AVR_ATmega168__)
		r[6] = 2;
#else
		r[6] = 0;
#endif
		r[7] = store_suites();
		n = 8;
	} else if (task == TASK_UPTIME) {
		uint32_t (*uptime)(void) = MS_APP(uptime);
		net_put32(r, uptime ? uptime() : 0);
		net_put16(r + 4, store_st.boot_count);
		n = 6;
	} else {
		/* a snapshot: this request is not yet counted as served */
		net_put_counters(r, 0, NET_NCOUNTERS);
		n = 4 * NET_NCOUNTERS;
	}
	*rlen = n;
	return TASK_OK;
}

uint8_t ms_task_id(const uint8_t *a, uint16_t alen, uint8_t *r, uint8_t *rlen)
{
	(void)a;
	return no_args(TASK_ID, alen, r, rlen);
}

uint8_t ms_task_uptime(const uint8_t *a, uint16_t alen, uint8_t *r, uint8_t *rlen)
{
	(void)a;
	return no_args(TASK_UPTIME, alen, r, rlen);
}

uint8_t ms_task_counters(const uint8_t *a, uint16_t alen, uint8_t *r, uint8_t *rlen)
{
	(void)a;
	return no_args(TASK_COUNTERS, alen, r, rlen);
}

/* settings-read (w = 0) and settings-write (w = 1): the two EEPROM-backed
 * 16-bit settings. */
static uint8_t settings(const uint8_t *a, uint16_t alen, uint8_t *r,
                        uint8_t *rlen, uint8_t w)
{
	if (alen != (w ? 3 : 1) || a[0] > 1)
		return TASK_E_ARGS;
	uint8_t i = a[0];
	if (w) {
		store_st.settings[i] = net_be16(a + 1);
		if (store_commit()) /* (which put the old value back) */
			return TASK_E_FAILED;
	}
	net_put16(r, store_st.settings[i]);
	*rlen = 2;
	return TASK_OK;
}

uint8_t ms_task_settings_read(const uint8_t *a, uint16_t alen, uint8_t *r, uint8_t *rlen)
{
	return settings(a, alen, r, rlen, 0);
}

uint8_t ms_task_settings_write(const uint8_t *a, uint16_t alen, uint8_t *r, uint8_t *rlen)
{
	return settings(a, alen, r, rlen, 1);
}
