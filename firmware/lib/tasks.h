/*
 * tasks.h - the device's task service: one dispatcher for the ESP front
 * end (UDP 7411, net/udp.c) and, later, MSSL. Wire format and task
 * numbers: docs/tasks.md (task numbers = grant task bits, pkg/grant).
 *
 * Request: version(1)=1 task(1) id(2) args. Reply, in place over the
 * request: version(1)=1 task(1) id(2) status(1) result.
 */
#ifndef MS_TASKS_H
#define MS_TASKS_H

#include <stdint.h>

#define TASK_VERSION 1

#define TASK_ID 0
#define TASK_UPTIME 1
#define TASK_COUNTERS 2
#define TASK_LED 3
#define TASK_ADC 4
#define TASK_SETTINGS_READ 5
#define TASK_SETTINGS_WRITE 6

#define TASK_OK 0
#define TASK_E_UNKNOWN 1
#define TASK_E_ARGS 2
#define TASK_E_DENIED 3
#define TASK_E_FAILED 4
#define TASK_E_VERSION 5

#define FW_VERSION_MAJOR 0
#define FW_VERSION_MINOR 2
#define FW_VERSION_PATCH 0

/*
 * tasks_handle - the n-byte request at p; room bytes are writable at p.
 * Returns the reply length (written at p), or 0 when the request is
 * shorter than 4 bytes (dropped and counted: it cannot be matched).
 */
uint16_t tasks_handle(uint8_t *p, uint16_t n, uint16_t room);

/* Hardware behind the tasks: hw.c on AVR, fakes in the host tests. */
void hw_init(void);
uint8_t hw_led(uint8_t op);       /* 0 off, 1 on, 2 toggle, 3 read -> state */
uint16_t hw_adc(uint8_t channel); /* 10-bit reading */
uint32_t hw_uptime(void);         /* seconds since reset */
uint8_t hw_mcu(void);             /* 1 ATmega328P, 2 ATmega168, 0 other */

#endif /* MS_TASKS_H */
