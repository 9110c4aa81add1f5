/*
 * tasks.h - the device's task service: one dispatcher, over the tasks
 * the application registered (ms_app.h), for the ESP front end (UDP 7411,
 * MS_PORT_TASKS) and MSSL. Wire format and task
 * numbers: docs/tasks.md (task numbers = grant task bits, pkg/grant).
 *
 * Request: version(1)=1 task(1) id(2) args. Reply, in place over the
 * request: version(1)=1 task(1) id(2) status(1) result.
 */
#ifndef MS_TASKS_H
#define MS_TASKS_H

#include <stdint.h>

#include "ms_app.h"

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
 * Runs the task through the application's table (ms_app.h) and returns
 * the reply length (written at p), or 0 when the request is shorter than
 * 4 bytes (dropped and counted: it cannot be matched).
 */
uint16_t tasks_handle(uint8_t *p, uint16_t n, uint16_t room);

/*
 * tasks_find - the task id of the application's table (ms_app.h), or
 * NULL when it has none. The task service and the CoAP server (coap.h)
 * run tasks through it.
 */
ms_task_fn tasks_find(uint8_t id);

/* ms_tasks_input - the task service as a UDP service (MS_PORT_TASKS). */
uint16_t ms_tasks_input(uint8_t *p, uint16_t n, uint16_t room,
                        const uint8_t *src_ip, uint16_t src_port);

/* The tasks the library implements (ms_task_fn, ms_app.h): id, uptime,
 * counters, settings-read and settings-write of docs/tasks.md. */
uint8_t ms_task_id(const uint8_t *args, uint16_t alen, uint8_t *res, uint8_t *rlen);
uint8_t ms_task_uptime(const uint8_t *args, uint16_t alen, uint8_t *res, uint8_t *rlen);
uint8_t ms_task_counters(const uint8_t *args, uint16_t alen, uint8_t *res, uint8_t *rlen);
uint8_t ms_task_settings_read(const uint8_t *args, uint16_t alen, uint8_t *res, uint8_t *rlen);
uint8_t ms_task_settings_write(const uint8_t *args, uint16_t alen, uint8_t *res, uint8_t *rlen);

#endif /* MS_TASKS_H */
