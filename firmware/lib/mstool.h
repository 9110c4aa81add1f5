/*
 * mstool.h - the mstool device library: what an application includes to
 * put ESP (and, by profile, MSSL and serial provisioning) in front of its
 * own tasks. docs/firmware.md walks through it; this header is the
 * contract.
 *
 * The application owns the main loop, the link driver (a UART, Arduino's
 * Serial, ...) and the frame buffer. It describes itself once, in a
 * `const struct ms_app` it keeps for the program's life, and then:
 *
 *   static uint8_t frame[CONFIG_FRAME_MAX];
 *   static struct ms_device dev;
 *   ms_init(&dev, &my_app, frame, sizeof frame);   once, interrupts on
 *   for (;;) {
 *           ms_poll(&dev);                          every turn
 *           int c = my_link_getc();
 *           if (c >= 0)
 *                   ms_input(&dev, (uint8_t)c);     every received byte
 *   }
 *
 * The link carries SLIP frames (RFC 1055): management (first byte 0x00,
 * docs/management.md: identify, status, serial provisioning) and IPv4
 * (ESP, docs/firmware-net.md). A reply is sent through app->link_putc
 * before ms_input returns; nothing is sent otherwise. Garbage never stops
 * the library: bad frames are counted (ms_base.h) and dropped.
 *
 * Tasks. The application lists the tasks it runs (struct ms_task): each
 * has a number 0..31, which is also its bit in an MSSL grant's task set
 * (pkg/grant). 0..15 are mstool's (the library implements id, uptime,
 * counters, settings-read/-write: MS_TASK_* below; 3 and 4 are the
 * reference device's led and adc); 16..31 are the application's own, named
 * for the host in a task map file (docs/tasks.md, "Application tasks").
 * A request for a task not in the list is answered "unknown task".
 *
 * UDP services. Inside ESP the library serves the UDP ports the
 * application lists (struct ms_port): the task service (MS_PORT_TASKS)
 * MSSL (MS_PORT_MSSL) and the CoAP server (MS_PORT_COAP), when built,
 * are entries like any other, so an application that does not list them
 * does not link them.
 *
 * One device per program: the library keeps its protocol state (the
 * stored configuration, the SA's sequence numbers, the MSSL session) in
 * its modules, reached only through their functions; struct ms_device
 * holds the link's state and points at the caller's buffer.
 */
#ifndef MS_MSTOOL_H
#define MS_MSTOOL_H

#include <stdint.h>

/* C++ (an Arduino sketch) sees the library's C names: every header below
 * is declared inside this block. */
#ifdef __cplusplus
extern "C" {
#endif

#include "config.h"
#include "ms_base.h"

#include "ms_app.h"
#include "net/net.h"
#include "tasks.h"
#if CONFIG_MSSL
#include "mssl.h"
#endif
#if CONFIG_BOOTSTRAP
#include "bootstrap.h"
#endif
#if CONFIG_COAP
#include "coap.h"
#endif

/* The task service on CONFIG_TASK_PORT; MSSL on CONFIG_MSSL_PORT. */
#define MS_PORT_TASKS { CONFIG_TASK_PORT, ms_tasks_input, 0 }
#if CONFIG_MSSL
#define MS_PORT_MSSL { CONFIG_MSSL_PORT, mssl_input, 1 }
#endif
/* Bootstrapping's flight 4 on CONFIG_BOOTSTRAP_PORT, in clear (it
 * authenticates itself: bootstrap.h). */
#if CONFIG_BOOTSTRAP
#define MS_PORT_BOOTSTRAP { CONFIG_BOOTSTRAP_PORT, ms_bootstrap_input, 1 }
#endif

/* The CoAP server (coap.h) on CONFIG_COAP_PORT, inside ESP only. */
#if CONFIG_COAP
#define MS_PORT_COAP { CONFIG_COAP_PORT, ms_coap_input, 0 }
#endif

/* The link's state and the caller's frame buffer (ms_init). */
struct ms_device {
	struct slip_rx rx; /* the decoder, over the caller's buffer */
	uint8_t armed;     /* the watchdog is in system-reset mode */
};

/*
 * ms_init - start the library: read the EEPROM (a blank or corrupt one
 * leaves the device unprovisioned: management answers, IPv4 is dropped),
 * start sampling the boot epoch (entropy.h) and the watchdog. buf is the
 * frame buffer, cap bytes: at least CONFIG_FRAME_MAX, the frame size the
 * device reports (IDENTIFY) and sizes its replies for; frames longer than
 * cap are dropped, and with a smaller buffer the device answers nothing.
 * Interrupts must be enabled. app and buf must outlive the program.
 * ms_init starts the watchdog (4 s): call it last before the main loop,
 * and call ms_poll within 4 s, or the device resets.
 */
void ms_init(struct ms_device *d, const struct ms_app *app, uint8_t *buf,
             uint16_t cap);

/* ms_poll - once per main-loop turn (at least every second): keeps the
 * watchdog from resetting a device that still loops. */
void ms_poll(struct ms_device *d);

/* ms_input - one byte received on the link. */
void ms_input(struct ms_device *d, uint8_t c);

/*
 * ms_frame - handle one decoded frame of len bytes in buf (capacity cap,
 * at least CONFIG_FRAME_MAX: else nothing is answered):
 * returns the reply's length (written over buf), or 0. ms_input calls it;
 * an application with its own framing calls it directly.
 */
uint16_t ms_frame(uint8_t *buf, uint16_t len, uint16_t cap);

/* The tasks the library implements, for the application's table, are
 * ms_task_id, ms_task_uptime, ms_task_counters, ms_task_settings_read and
 * ms_task_settings_write (tasks.h); the AVR's EEPROM for its persistence
 * callbacks is ms_eeprom_read and ms_eeprom_write (ms_app.h). */

#ifdef __cplusplus
}
#endif

#endif /* MS_MSTOOL_H */
