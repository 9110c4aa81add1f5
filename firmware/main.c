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
 * the device unprovisioned (management still answers, IPv4 is dropped). Frames longer than CONFIG_FRAME_MAX and frames
 * with a bad escape are dropped and counted: garbage never stops the loop
 * or resets the device.
 */
#include <stdint.h>

#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/wdt.h>

#include "config.h"
#include "esp.h"
#include "mgmt.h"
#include "net/net.h"
#include "store.h"
#include "tasks.h"
#include "timer.h"
#include "uart.h"

/* RFC 1055 special bytes. */
#define SLIP_END 0xC0
#define SLIP_ESC 0xDB
#define SLIP_ESC_END 0xDC
#define SLIP_ESC_ESC 0xDD

static uint8_t frame[CONFIG_FRAME_MAX];
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

static void slip_send(const uint8_t *p, size_t n)
{
	uart_putc(SLIP_END);
	while (n--) {
		uint8_t c = *p++;
		if (c == SLIP_END) {
			uart_putc(SLIP_ESC);
			uart_putc(SLIP_ESC_END);
		} else if (c == SLIP_ESC) {
			uart_putc(SLIP_ESC);
			uart_putc(SLIP_ESC_ESC);
		} else {
			uart_putc(c);
		}
	}
	uart_putc(SLIP_END);
}

static void dispatch(size_t len)
{
	uint8_t first = frame[0];
	NET_COUNT(C_SLIP_RX);
	if (first == MGMT_MAGIC) {
		size_t r = mgmt_handle(frame, len, sizeof frame);
		if (r)
			slip_send(frame, r);
	} else if (first >= 0x45 && first <= 0x4F) {
		mgmt_stats.ipv4++;
		timer_start();
		uint16_t r = net_input(frame, (uint16_t)len, sizeof frame);
		uint32_t t = timer_stop();
		mgmt_last.cycles = t > timer_ovh ? t - timer_ovh : 0;
		mgmt_last.len = (uint16_t)len;
		mgmt_last.dropped = r == 0;
		if (r)
			slip_send(frame, r);
	} else {
		mgmt_stats.drop_other++;
		NET_COUNT(C_SLIP_DROP);
	}
}

int main(void)
{
	size_t len = 0;
	uint8_t esc = 0, drop = 0; /* drop: 1 oversize, 2 bad escape */

	mgmt_reset_cause = reset_cause;
	uart_init();
	hw_init();
	sei();
	timer_ovh = timer_overhead();
	store_init(); /* counts the boot: a state write (about 109 ms) */
	esp_init();
	for (;;) {
		int c = uart_getc();
		if (c < 0) {
			uart_idle();
			continue;
		}
		if (c == SLIP_END) {
			if (drop == 1) {
				mgmt_stats.drop_oversize++;
				NET_COUNT(C_SLIP_DROP);
			} else if (drop == 2 || esc) {
				mgmt_stats.drop_escape++;
				NET_COUNT(C_SLIP_DROP);
			} else if (len > 0)
				dispatch(len);
			len = 0;
			esc = drop = 0;
			continue;
		}
		if (drop)
			continue;
		if (esc) {
			esc = 0;
			if (c == SLIP_ESC_END) {
				c = SLIP_END;
			} else if (c == SLIP_ESC_ESC) {
				c = SLIP_ESC;
			} else {
				drop = 2;
				continue;
			}
		} else if (c == SLIP_ESC) {
			esc = 1;
			continue;
		}
		if (len >= sizeof frame) {
			drop = 1;
			continue;
		}
		frame[len++] = (uint8_t)c;
	}
}
