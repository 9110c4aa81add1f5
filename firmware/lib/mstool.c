/*
 * mstool.c - the library's top: start-up, the watchdog, and the dispatch
 * of a frame on its first byte (mstool.h). 0x00 is the management channel
 * (mgmt.c, docs/management.md); 0x45..0x4F is an IPv4 datagram (version
 * 4, header length 5..15 words), handed to the IP stack (net/, esp.c;
 * docs/firmware-net.md) in place in the caller's buffer, and the reply,
 * if any, is sent from it; anything else is counted and dropped.
 */
#include <stdint.h>

#include <avr/io.h>
#include <avr/wdt.h>

#include "entropy.h"
#include "esp.h"
#include "mgmt.h"
#include "mstool.h"
#include "store.h"
#include "timer.h"


/* Disable a watchdog a bootloader may have left running, as early as
 * possible (avr-libc FAQ: .init3), and keep the reset cause. */
static uint8_t reset_cause __attribute__((section(".noinit")));
void ms_early_init(void) __attribute__((naked, used, section(".init3")));
void ms_early_init(void)
{
	reset_cause = MCUSR;
	MCUSR = 0;
	wdt_disable();
}

/*
 * The watchdog, in system reset mode from the end of the boot's entropy
 * sampling (entropy.c, 0.5 s, during which it already resets a device
 * stuck with interrupts off), or from ms_init in a build that samples
 * none (ENTROPY_SAMPLED 0); ms_poll resets it at every turn of the
 * application's loop. No frame may legitimately take as long as the
 * timeout (docs/management.md, "Work caps": the longest are an RSA-2048
 * verification with R^2, about 1 s, and a serial provisioning step's
 * EEPROM writes, up to about 2 s on a chip). A device stuck for longer
 * resets; STATS then reports the watchdog (WDRF) as the reset cause.
 */
#define WDT_TIMEOUT WDTO_4S

#if CONFIG_PACKET_CYCLES
static uint16_t timer_ovh;
#endif

void ms_init(struct ms_device *d, const struct ms_app *app, uint8_t *buf,
             uint16_t cap)
{
	ms_app = app;
	d->rx.buf = buf;
	d->rx.cap = cap;
	d->rx.len = 0;
	d->rx.state = 0;
	mgmt_reset_cause = reset_cause;
#if ENTROPY_SAMPLED
	d->armed = 0;
	entropy_start(); /* the boot epoch; the watchdog from now on */
#else
	d->armed = 1;
	wdt_enable(WDT_TIMEOUT);
#endif
#if CONFIG_PACKET_CYCLES
	timer_ovh = timer_overhead();
#endif
	store_init(); /* counts the boot: a state write (about 109 ms) */
	esp_init();
}

void ms_poll(struct ms_device *d)
{
#if ENTROPY_SAMPLED /* else (entropy.h) armed from the start */
	if (!d->armed) {
		d->armed = entropy_arm(WDT_TIMEOUT);
		return;
	}
#else
	(void)d;
#endif
	wdt_reset();
}

uint16_t ms_frame(uint8_t *frame, uint16_t len, uint16_t cap)
{
	uint8_t first = frame[0];
	/* Replies are sized for CONFIG_FRAME_MAX (STATUS writes 58 bytes
	 * whatever the room): a smaller buffer answers nothing. */
	if (cap < CONFIG_FRAME_MAX)
		return 0;
	net_count(C_SLIP_RX);
	if (first == MGMT_MAGIC)
		return (uint16_t)mgmt_handle(frame, len, cap);
	if (first >= 0x45 && first <= 0x4F) {
		NET_COUNT(C_MGMT_IPV4);
#if CONFIG_PACKET_CYCLES
		timer_start();
#endif
		uint16_t r = net_input(frame, len, cap);
#if CONFIG_PACKET_CYCLES
		uint32_t t = timer_stop();
		mgmt_last.cycles = t > timer_ovh ? t - timer_ovh : 0;
#endif
		mgmt_last.len = len;
		mgmt_last.dropped = r == 0;
		return r;
	}
	NET_COUNT(C_MGMT_DROP_OTHER);
	return net_count(C_SLIP_DROP);
}

void ms_input(struct ms_device *d, uint8_t c)
{
	uint16_t n = slip_rx(&d->rx, c);
	if (n && (n = ms_frame(d->rx.buf, n, d->rx.cap)) != 0)
		slip_send(MS_APP(link_putc), d->rx.buf, n);
}
