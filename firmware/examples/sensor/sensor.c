/*
 * sensor.c - someone else's application with the mstool device library:
 * a sensor board that answers one task of its own, "temperature" (task
 * bit 16, tasks.map), next to the library's id and counters, over ESP and
 * MSSL on its serial line. It links build/<mcu>/libmstool.a and nothing
 * of the reference device (firmware/app/): its own main loop, its own
 * UART driver, its own tables (docs/firmware.md, "Your own application").
 *
 *   make -C firmware examples   build/examples/sensor/<mcu>/sensor.elf
 *   mstool --task-map firmware/examples/sensor/tasks.map \
 *           esp exec -p PORT --sa host.sa temperature
 */
#include <stdint.h>

#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <util/delay.h>

#include "mstool.h"

/* --- the UART: 115200 8N1, receive ring filled by the interrupt, polled
 * transmit (the library waits in link_putc anyway) --- */
#define BAUD 115200UL
#define RX_SIZE 64 /* power of two: a frame may arrive while a task runs */

static uint8_t rx_ring[RX_SIZE];
static volatile uint8_t rx_head, rx_tail;
static volatile uint32_t rx_lost;

ISR(USART_RX_vect)
{
	uint8_t c = UDR0;
	uint8_t next = (uint8_t)((rx_head + 1) & (RX_SIZE - 1));
	if (next == rx_tail) {
		rx_lost++;
		return;
	}
	rx_ring[rx_head] = c;
	rx_head = next;
}

static void uart_init(void)
{
	UBRR0 = (uint16_t)((F_CPU + BAUD * 4) / (BAUD * 8) - 1);
	UCSR0A = _BV(U2X0);
	UCSR0C = _BV(UCSZ01) | _BV(UCSZ00);
	UCSR0B = _BV(RXEN0) | _BV(TXEN0) | _BV(RXCIE0);
}

static int uart_getc(void)
{
	if (rx_head == rx_tail)
		return -1;
	uint8_t c = rx_ring[rx_tail];
	rx_tail = (uint8_t)((rx_tail + 1) & (RX_SIZE - 1));
	return c;
}

static void uart_putc(uint8_t c)
{
	while (!(UCSR0A & _BV(UDRE0))) {
	}
	UDR0 = c;
}

/* Wait until the last byte has left: the data register is empty, then
 * one character time (10 bits at 115200 baud, 87 us) for the shift
 * register. (TXC0 would say so exactly, but clearing it takes a write to
 * UCSR0A on every byte.) */
static void uart_flush(void)
{
	while (!(UCSR0A & _BV(UDRE0))) {
	}
	_delay_us(87);
}

static uint32_t uart_overruns(void)
{
	cli();
	uint32_t n = rx_lost;
	sei();
	return n;
}

/* --- a 250 Hz tick (Timer2): wakes the main loop from sleep, so the
 * library's watchdog is fed, and counts seconds --- */
static volatile uint32_t seconds;

ISR(TIMER2_COMPA_vect)
{
	static uint8_t ticks;
	if (++ticks == 250) {
		ticks = 0;
		seconds++;
	}
}

static void tick_init(void)
{
	TCCR2A = _BV(WGM21);                   /* CTC */
	OCR2A = (uint8_t)(F_CPU / 256 / 250 - 1);
	TIMSK2 = _BV(OCIE2A);
	TCCR2B = _BV(CS22) | _BV(CS21);        /* clk/256 */
}

static uint32_t uptime(void)
{
	cli();
	uint32_t s = seconds;
	sei();
	return s;
}

/* --- the sensor: the AVR's internal temperature sensor, ADC channel 8
 * against the internal 1.1 V reference (ATmega328P datasheet,
 * "Temperature Measurement"); uncalibrated, good to about 10 degrees. --- */
static uint16_t adc_read_temp(void)
{
	ADMUX = _BV(REFS1) | _BV(REFS0) | _BV(MUX3);
	ADCSRA = _BV(ADEN) | _BV(ADPS2) | _BV(ADPS1) | _BV(ADPS0);
	uint16_t v = 0;
	for (uint8_t i = 0; i < 2; i++) { /* the first after a switch is off */
		ADCSRA |= _BV(ADSC);
		while (ADCSRA & _BV(ADSC)) {
		}
		v = ADC;
	}
	return v;
}

/* The sensor's voltage, 1100 mV * adc / 1024, against the datasheet's
 * typical line: 314 mV at 25 C, 1.06 mV per degree (242 mV at -45 C,
 * 380 mV at 85 C). Hundredths of a degree. */
static int32_t adc_to_centi_celsius(uint16_t adc)
{
	int32_t mv100 = (int32_t)adc * 110000L / 1024; /* hundredths of mV */
	return 2500 + (mv100 - 31400) * 100 / 106;
}

/* temperature: no arguments; result: i16, hundredths of a degree C. */
static uint8_t task_temperature(const uint8_t *args, uint16_t alen,
                                uint8_t *res, uint8_t *rlen)
{
	(void)args;
	if (alen != 0)
		return MS_TASK_E_ARGS;
	int32_t centi = adc_to_centi_celsius(adc_read_temp());
	net_put16(res, (uint16_t)(int16_t)centi);
	*rlen = 2;
	return MS_TASK_OK;
}

#define TASK_TEMPERATURE 16 /* tasks.map */

static const struct ms_task tasks[] MS_PGM = {
	{ MS_TASK_ID, ms_task_id },
	{ MS_TASK_UPTIME, ms_task_uptime },
	{ MS_TASK_COUNTERS, ms_task_counters },
	{ TASK_TEMPERATURE, task_temperature },
};

static const struct ms_port ports[] MS_PGM = {
	MS_PORT_TASKS,
#if CONFIG_MSSL
	MS_PORT_MSSL,
#endif
};

static const struct ms_app app MS_PGM = {
	.tasks = tasks,
	.ntasks = sizeof tasks / sizeof tasks[0],
	.ports = ports,
	.nports = sizeof ports / sizeof ports[0],
	.link_putc = uart_putc,
	.link_flush = uart_flush,
	.link_overruns = uart_overruns,
	.uptime = uptime,
	.ee_read = ms_eeprom_read,
	.ee_write = ms_eeprom_write,
};

static uint8_t frame[CONFIG_FRAME_MAX];
static struct ms_device dev;

int main(void)
{
	uart_init();
	tick_init();
	sei();
	ms_init(&dev, &app, frame, sizeof frame);
	for (;;) {
		ms_poll(&dev);
		int c = uart_getc();
		if (c >= 0) {
			ms_input(&dev, (uint8_t)c);
			continue;
		}
		/* Sleep until the next byte or tick; no byte can slip in
		 * between the test and the sleep (sei; sleep is atomic). */
		cli();
		if (rx_head == rx_tail) {
			sleep_enable();
			sei();
			sleep_cpu();
			sleep_disable();
		}
		sei();
	}
}
