/*
 * Sensor - a sketch that puts its own task behind ESP and MSSL.
 *
 * The board answers "temperature" (task bit 16: the AVR's internal
 * temperature sensor) next to the library's id, uptime and counters, to a
 * host running mstool on the other end of the USB serial line (Serial,
 * 115200 baud, SLIP). The host names the task with a task map file,
 * tasks.map next to this sketch:
 *
 *   mstool provision -d dev.key --ip 10.0.0.2 --sa host.sa \
 *           --issuer owner.pem --mssl-seal-only -o dev.hex
 *           (written with an ISP programmer: mstool flash --eeprom
 *           dev.hex; the library's profile, src/ms_profile.h, leaves
 *           serial provisioning out for room; on an ATmega168 board add
 *           --mcu atmega168 and use an RSA-1024 owner key, which its
 *           512-byte EEPROM holds)
 *   mstool --task-map tasks.map esp exec -p /dev/ttyACM0 --sa host.sa temperature
 *   mstool --task-map tasks.map mssl exec --port /dev/ttyACM0 \
 *           --device-ip 10.0.0.2 --grant alice.grant temperature
 *
 * Serial belongs to the library: do not print on it. The library uses
 * the EEPROM (keys, sequence numbers) and the watchdog (call ms_poll at
 * least every second); Timer0 (millis) and Timer1 stay the sketch's.
 */
#include <mstool.h>

static void link_putc(uint8_t c) { Serial.write(c); }
static void link_flush(void) { Serial.flush(); }
static uint32_t uptime_s(void) { return millis() / 1000; }

/* ADC channel 8 (the temperature sensor) against the internal 1.1 V
 * reference; analogRead cannot select it. Uncalibrated (ATmega328P
 * datasheet, "Temperature Measurement"). */
static uint16_t read_temperature_adc(void)
{
	ADMUX = _BV(REFS1) | _BV(REFS0) | _BV(MUX3);
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

/* temperature: no arguments; result i16, hundredths of a degree C. */
static uint8_t task_temperature(const uint8_t *args, uint16_t alen,
                                uint8_t *res, uint8_t *rlen)
{
	(void)args;
	if (alen != 0)
		return MS_TASK_E_ARGS;
	int32_t centi = adc_to_centi_celsius(read_temperature_adc());
	net_put16(res, (uint16_t)(int16_t)centi);
	*rlen = 2;
	return MS_TASK_OK;
}

#define TASK_TEMPERATURE 16 /* tasks.map */

static const struct ms_task tasks[] PROGMEM = {
	{ MS_TASK_ID, ms_task_id },
	{ MS_TASK_UPTIME, ms_task_uptime },
	{ MS_TASK_COUNTERS, ms_task_counters },
	{ TASK_TEMPERATURE, task_temperature },
};

static const struct ms_port ports[] PROGMEM = {
	MS_PORT_TASKS,
	MS_PORT_MSSL,
};

/* In the order of struct ms_app (C++ has no designated initialisers). */
static const struct ms_app app PROGMEM = {
	tasks, sizeof tasks / sizeof tasks[0],
	ports, sizeof ports / sizeof ports[0],
	link_putc,
	link_flush,
	NULL, /* link_overruns: Serial does not count them */
	uptime_s,
	ms_eeprom_read,
	ms_eeprom_write,
};

static uint8_t frame[CONFIG_FRAME_MAX];
static struct ms_device dev;

void setup()
{
	Serial.begin(115200);
	ms_init(&dev, &app, frame, sizeof frame);
}

void loop()
{
	ms_poll(&dev);
	int c = Serial.read();
	if (c >= 0)
		ms_input(&dev, (uint8_t)c);
}
