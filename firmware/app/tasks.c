/*
 * tasks.c - the reference device's tasks (docs/tasks.md): the library's
 * id, uptime, counters and settings, and its own led and adc on hw.c.
 */
#include "app.h"

/* led: 1 argument byte, 0 off, 1 on, 2 toggle, 3 read; result: the state. */
static uint8_t task_led(const uint8_t *a, uint16_t alen, uint8_t *r, uint8_t *rlen)
{
	if (alen != 1 || a[0] > 3)
		return MS_TASK_E_ARGS;
	r[0] = hw_led(a[0]);
	*rlen = 1;
	return MS_TASK_OK;
}

/* adc: 1 argument byte, the channel 0..7; result: the 10-bit reading. */
static uint8_t task_adc(const uint8_t *a, uint16_t alen, uint8_t *r, uint8_t *rlen)
{
	if (alen != 1 || a[0] > 7)
		return MS_TASK_E_ARGS;
	net_put16(r, hw_adc(a[0]));
	*rlen = 2;
	return MS_TASK_OK;
}

const struct ms_task app_tasks[APP_NTASKS] MS_PGM = {
	{ MS_TASK_ID, ms_task_id },
	{ MS_TASK_UPTIME, ms_task_uptime },
	{ MS_TASK_COUNTERS, ms_task_counters },
	{ 3, task_led },
	{ 4, task_adc },
	{ MS_TASK_SETTINGS_READ, ms_task_settings_read },
	{ MS_TASK_SETTINGS_WRITE, ms_task_settings_write },
};

const struct ms_port app_ports[APP_NPORTS] MS_PGM = {
	MS_PORT_TASKS,
#if CONFIG_MSSL
	MS_PORT_MSSL,
#endif
#if CONFIG_BOOTSTRAP
	MS_PORT_BOOTSTRAP,
#endif
#if CONFIG_COAP
	MS_PORT_COAP,
#endif
};
