/*
 * tasks.c - the task dispatcher (see tasks.h, docs/tasks.md).
 */
#include "net/net.h"
#include "store.h"
#include "tasks.h"

uint16_t tasks_handle(uint8_t *p, uint16_t n, uint16_t room)
{
	uint8_t *a = p + 4, *r = p + 5;
	uint16_t alen = (uint16_t)(n - 4);
	uint8_t status = TASK_OK, rl = 0;

	if (n < 4)
		return net_count(C_UDP_BAD); /* cannot be matched: no reply */
	if (room < 5 + 4 * NET_NCOUNTERS)
		return net_count(C_NO_SEND);
	if (p[0] != TASK_VERSION) {
		status = TASK_E_VERSION;
		goto out;
	}
	switch (p[1]) {
	case TASK_ID:
		if (alen)
			goto bad;
		net_put32(r, store_cfg.device_id);
		r[4] = FW_VERSION_MAJOR;
		r[5] = FW_VERSION_MINOR;
		r[6] = hw_mcu();
		r[7] = store_suites();
		rl = 8;
		break;
	case TASK_UPTIME:
		if (alen)
			goto bad;
		net_put32(r, hw_uptime());
		net_put16(r + 4, store_st.boot_count);
		rl = 6;
		break;
	case TASK_COUNTERS:
		if (alen)
			goto bad;
		/* a snapshot: this request is not yet counted as served */
		for (uint8_t i = 0; i < NET_NCOUNTERS; i++)
			net_put32(r + 4 * i, net_counters[i]);
		rl = 4 * NET_NCOUNTERS;
		break;
	case TASK_LED:
		if (alen != 1 || a[0] > 3)
			goto bad;
		r[0] = hw_led(a[0]);
		rl = 1;
		break;
	case TASK_ADC:
		if (alen != 1 || a[0] > 7)
			goto bad;
		net_put16(r, hw_adc(a[0]));
		rl = 2;
		break;
	case TASK_SETTINGS_READ:
	case TASK_SETTINGS_WRITE: {
		uint8_t w = p[1] == TASK_SETTINGS_WRITE;
		if (alen != (w ? 3 : 1) || a[0] > 1)
			goto bad;
		uint8_t i = a[0];
		if (w) {
			uint16_t old = store_st.settings[i];
			store_st.settings[i] = net_be16(a + 1);
			if (store_commit()) {
				store_st.settings[i] = old;
				status = TASK_E_FAILED;
				break;
			}
		}
		net_put16(r, store_st.settings[i]);
		rl = 2;
		break;
	}
	default:
		status = TASK_E_UNKNOWN;
		break;
	}
	goto out;
bad:
	status = TASK_E_ARGS;
out:
	p[0] = TASK_VERSION;
	p[4] = status;
	net_count(C_TASKS);
	return (uint16_t)(5 + (status == TASK_OK ? rl : 0));
}
