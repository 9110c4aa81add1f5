/*
 * main.c - the mstool reference device: the device library (../lib,
 * mstool.h) with the reference tasks on one UART.
 *
 * The UART (uart.c) carries the library's SLIP link; tasks.c lists the
 * tasks (every one of docs/tasks.md) and the UDP services (the task port
 * and, when built, MSSL); hw.c drives the LED, the ADC and the uptime
 * tick behind them. Between frames the device sleeps
 * (uart_idle) until an interrupt: a received byte or hw.c's 4 ms tick,
 * so the library's watchdog is fed at least every 4 ms.
 */
#include <stdint.h>

#include <avr/interrupt.h>

#include "app.h"
#include "uart.h"

static const struct ms_app app MS_PGM = {
	.tasks = app_tasks,
	.ntasks = APP_NTASKS,
	.ports = app_ports,
	.nports = APP_NPORTS,
	.link_putc = uart_putc,
	.link_flush = uart_flush,
	.link_overruns = uart_rx_overruns,
	.uptime = hw_uptime,
	.ee_read = ms_eeprom_read,
	.ee_write = ms_eeprom_write,
};

static uint8_t frame[CONFIG_FRAME_MAX];
static struct ms_device dev;

int main(void)
{
	uart_init();
	hw_init();
	sei();
	ms_init(&dev, &app, frame, sizeof frame);
	for (;;) {
		ms_poll(&dev);
		int c = uart_getc();
		if (c < 0) {
			uart_idle();
			continue;
		}
		ms_input(&dev, (uint8_t)c);
	}
}
