/*
 * app.h - the reference device's parts: its task and port tables
 * (tasks.c) and the hardware behind them (hw.c on AVR; fakes in the host
 * tests, tests/host_app.c, which run the same tables).
 */
#ifndef MS_REF_APP_H
#define MS_REF_APP_H

#include <stdint.h>

#include "mstool.h"

/* Every task of docs/tasks.md; UDP: the task port and, when built, MSSL. */
#define APP_NTASKS 7
#define APP_NPORTS (1 + CONFIG_MSSL + CONFIG_BOOTSTRAP + CONFIG_COAP)
extern const struct ms_task app_tasks[APP_NTASKS] MS_PGM;
extern const struct ms_port app_ports[APP_NPORTS] MS_PGM;

void hw_init(void);
uint8_t hw_led(uint8_t op);       /* 0 off, 1 on, 2 toggle, 3 read -> state */
uint16_t hw_adc(uint8_t channel); /* 10-bit reading */
uint32_t hw_uptime(void);         /* seconds since reset */

#endif /* MS_REF_APP_H */
