/*
 * main.c - the mstool reference device.
 *
 * One UART carries SLIP frames (RFC 1055). Each decoded frame is
 * dispatched on its first byte: 0x00 is the management channel (mgmt.c,
 * docs/management.md); 0x45..0x4F is an IPv4 datagram (version 4, header
 * length 5..15 words), handed to the IP stack (net/, esp.c; see
 * docs/firmware-net.md) in place in the one frame buffer, and the reply,
 * if any, is sent from that buffer; anything else is counted and dropped.
 * At boot the EEPROM is checked (store.c): a blank or corrupt one leaves
 * the device unprovisioned (management still answers, IPv4 is dropped).
 * SLIP decoding and encoding are net/slip.c (the frame buffer lives
 * there): frames longer than CONFIG_FRAME_MAX and frames with a bad
 * escape are dropped and counted; garbage never stops the loop or resets
 * the device. A watchdog (from entropy_start, then
 * in system-reset mode from entropy_arm) resets a device that stops looping.
 */
#include <stdint.h>

#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/wdt.h>

#include "config.h"
#include "entropy.h"
#include "esp.h"
#include "mgmt.h"
#include "net/net.h"
#include "store.h"
#include "tasks.h"
#include "timer.h"
#include "uart.h"

static uint16_t timer_ovh;

/* Disable a watchdog a bootloader may have left running, as early as
 * possible (avr-libc FAQ: .init3), and keep the reset cause. */
static uint8_t reset_cause __attribute__((section(".noinit")));
void early_init(void) __attribute__((naked, used, section(".init3")));
void early_init(void)
{
	reset_cause = MCUSR;
	MCUSR = 0;
	wdt_disable();
}

/*
 * The watchdog, in system reset mode from the end of the boot's entropy
 * sampling (entropy.c, 0.5 s, during which it already resets a device
 * stuck with interrupts off); the main loop resets it at every turn.
 * A turn comes at least every 4 ms while the device idles (Timer2's tick,
 * hw.c, wakes it from its sleep) and after every frame, and no frame may
 * legitimately take as long as the timeout (docs/management.md, "Work
 * caps": the longest are an RSA-2048 verification with R^2, about 1 s,
 * and a serial provisioning step's EEPROM writes, up to about 2 s on a
 * chip). A device stuck for longer resets; STATS then reports the
 * watchdog (WDRF) as the reset cause.
 */
#define WDT_TIMEOUT WDTO_4S

static void dispatch(uint16_t len)
{
	uint8_t *frame = slip_buf, first = frame[0];
	uint16_t r = 0;
	net_count(C_SLIP_RX);
	if (first == MGMT_MAGIC) {
		r = (uint16_t)mgmt_handle(frame, len, CONFIG_FRAME_MAX);
	} else if (first >= 0x45 && first <= 0x4F) {
		mgmt_stats.ipv4++;
		timer_start();
		r = net_input(frame, len, CONFIG_FRAME_MAX);
		uint32_t t = timer_stop();
		mgmt_last.cycles = t > timer_ovh ? t - timer_ovh : 0;
		mgmt_last.len = len;
		mgmt_last.dropped = r == 0;
	} else {
		mgmt_stats.drop_other++;
		net_count(C_SLIP_DROP);
	}
	if (r)
		slip_send(r);
}

int main(void)
{
	mgmt_reset_cause = reset_cause;
	uart_init();
	hw_init();
	sei();
	entropy_start(); /* the boot epoch; the watchdog from now on */
	timer_ovh = timer_overhead();
	store_init(); /* counts the boot: a state write (about 109 ms) */
	esp_init();
	uint8_t armed = 0;
	for (;;) {
		if (armed)
			wdt_reset();
		else
			armed = entropy_arm(WDT_TIMEOUT);
		int c = uart_getc();
		if (c < 0) {
			uart_idle();
			continue;
		}
		uint16_t n = slip_rx((uint8_t)c);
		if (n)
			dispatch(n);
	}
}
