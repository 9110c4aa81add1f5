/*
 * main.c - the mstool reference device (FW-DEVICE).
 *
 * One UART carries SLIP frames (RFC 1055). Each decoded frame is
 * dispatched on its first byte: 0x00 is the management channel (mgmt.c,
 * docs/management.md); 0x45..0x4F is an IPv4 datagram (version 4, header
 * length 5..15 words: the IP stack of the device-link issue plugs in
 * here, until then such frames are counted and dropped); anything else
 * is counted and dropped. Frames longer than CONFIG_FRAME_MAX and frames
 * with a bad escape are dropped and counted: garbage never stops the loop
 * or resets the device.
 */
#include <stdint.h>

#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/wdt.h>

#include "config.h"
#include "mgmt.h"
#include "uart.h"

/* RFC 1055 special bytes. */
#define SLIP_END 0xC0
#define SLIP_ESC 0xDB
#define SLIP_ESC_END 0xDC
#define SLIP_ESC_ESC 0xDD

static uint8_t frame[CONFIG_FRAME_MAX];

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
	if (first == MGMT_MAGIC) {
		size_t r = mgmt_handle(frame, len, sizeof frame);
		if (r)
			slip_send(frame, r);
	} else if (first >= 0x45 && first <= 0x4F) {
		mgmt_stats.ipv4++; /* no IP stack in this build yet */
	} else {
		mgmt_stats.drop_other++;
	}
}

int main(void)
{
	size_t len = 0;
	uint8_t esc = 0, drop = 0; /* drop: 1 oversize, 2 bad escape */

	mgmt_reset_cause = reset_cause;
	uart_init();
	sei();
	for (;;) {
		int c = uart_getc();
		if (c < 0) {
			uart_idle();
			continue;
		}
		if (c == SLIP_END) {
			if (drop == 1)
				mgmt_stats.drop_oversize++;
			else if (drop == 2 || esc)
				mgmt_stats.drop_escape++;
			else if (len > 0)
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
