/*
 * ms_app.h - the application as the library sees it: its tasks, its UDP
 * services and its callbacks (link output, time, persistence), in one
 * table given to ms_init (mstool.h, which states the whole contract).
 * Low in the library: the modules that call back into the application
 * (tasks.c, net/udp.c, store.c, mgmt.c) include this, not mstool.h.
 */
#ifndef MS_APP_H
#define MS_APP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The application's tables live in flash on AVR (RAM is the scarce part:
 * 1 KB on the ATmega168): declare struct ms_app, its tasks and its ports
 * `const ... MS_PGM`. The library reads them with MS_PGM_READ (16-bit
 * fields: pointers, ports) and MS_PGM_U8.
 */
#if defined(__AVR__)
#include <avr/pgmspace.h>
#define MS_PGM PROGMEM
#define MS_PGM_READ(p) ((__typeof__(*(p)))pgm_read_word(p))
#define MS_PGM_U8(p) pgm_read_byte(p)
#else
#define MS_PGM
#define MS_PGM_READ(p) (*(p))
#define MS_PGM_U8(p) (*(p))
#endif
/* One field of the application's table. */
#define MS_APP(field) MS_PGM_READ(&ms_app->field)

/* Task numbers the library implements (ms_task_* below). */
#define MS_TASK_ID 0
#define MS_TASK_UPTIME 1
#define MS_TASK_COUNTERS 2
#define MS_TASK_SETTINGS_READ 5
#define MS_TASK_SETTINGS_WRITE 6
/* The application's range. */
#define MS_TASK_APP_FIRST 16
#define MS_TASK_APP_LAST 31

/* Task statuses (docs/tasks.md). */
#define MS_TASK_OK 0
#define MS_TASK_E_ARGS 2
#define MS_TASK_E_FAILED 4

/*
 * ms_task_fn - run a task. args holds alen argument bytes; the result
 * goes to res, whose capacity is *rlen on entry (at least 72 bytes); set
 * *rlen to the result's length. res may overlap args (it starts 1 to 3
 * bytes above them: the task service, CoAP): read the arguments before
 * writing the result. Return MS_TASK_OK, or
 * MS_TASK_E_ARGS (malformed arguments) or MS_TASK_E_FAILED (the result
 * is then not sent). Runs in ms_input's call: keep it short (the
 * watchdog resets a device that does not come back within 4 s).
 */
typedef uint8_t (*ms_task_fn)(const uint8_t *args, uint16_t alen,
                              uint8_t *res, uint8_t *rlen);

struct ms_task {
	uint8_t id; /* 0..31 */
	ms_task_fn run;
};

/*
 * ms_port_fn - serve one UDP datagram inside ESP: its payload is the n
 * bytes at p, room bytes are writable at p. src_ip (4 bytes) and src_port
 * are the sender's. Return the reply payload's length (written at p; the
 * library adds the UDP header, swaps the ports and seals it), or 0 for no
 * reply.
 */
typedef uint16_t (*ms_port_fn)(uint8_t *p, uint16_t n, uint16_t room,
                               const uint8_t *src_ip, uint16_t src_port);

struct ms_port {
	uint16_t port;
	ms_port_fn input;
	/* 1: also served in clear, without ESP. Only for a service that
	 * authenticates every message itself (MS_PORT_MSSL,
	 * MS_PORT_BOOTSTRAP), and only on CONFIG_MSSL_PORT or
	 * CONFIG_BOOTSTRAP_PORT: nothing else is ever reached in clear. */
	uint8_t clear;
};

/*
 * struct ms_app - the application, as the library sees it (in flash:
 * MS_PGM). Callbacks marked "may be NULL" are optional.
 */
struct ms_app {
	const struct ms_task *tasks; /* the tasks it runs, any order */
	uint8_t ntasks;
	const struct ms_port *ports; /* UDP services inside ESP */
	uint8_t nports;
	/* Link output: queue one byte (may wait for room). */
	void (*link_putc)(uint8_t c);
	/* Wait until every queued byte has left (before a cycle
	 * measurement); may be NULL. */
	void (*link_flush)(void);
	/* Received bytes the link driver lost (management STATS); may be
	 * NULL. */
	uint32_t (*link_overruns)(void);
	/* Seconds since reset (the uptime task); may be NULL (reads 0). */
	uint32_t (*uptime)(void);
	/*
	 * Persistence (required): read one EEPROM byte at addr; write n
	 * bytes at addr and return when they are in the cells. The AVR's own
	 * EEPROM is ms_eeprom_read/ms_eeprom_write; a power cut during a
	 * write may tear it (the store survives that, docs/eeprom.md).
	 */
	uint8_t (*ee_read)(uint16_t addr);
	void (*ee_write)(uint16_t addr, const uint8_t *src, uint8_t n);
};

/* The application, as given to ms_init (the library's callback table). */
extern const struct ms_app *ms_app;

/* The AVR's EEPROM as the library's persistence (ee_read, ee_write;
 * store.c): avr-libc's eeprom_read_byte and eeprom_update_block (only
 * the bytes that differ are written), then waits for the write. */
uint8_t ms_eeprom_read(uint16_t addr);
void ms_eeprom_write(uint16_t addr, const uint8_t *src, uint8_t n);

#ifdef __cplusplus
}
#endif

#endif /* MS_APP_H */
