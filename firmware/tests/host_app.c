/*
 * host_app.c - see host_app.h.
 */
#include "host_app.h"

#include "app.h"

uint8_t store_ee[CONFIG_HOST_EEPROM_SIZE];
uint16_t store_fail_writes;
uint16_t store_cut_writes;
uint8_t store_power_off;
uint8_t store_cut_mode;

static uint8_t ee_read(uint16_t addr)
{
	return addr < CONFIG_HOST_EEPROM_SIZE ? store_ee[addr] : 0xFF;
}

static void ee_write(uint16_t addr, const uint8_t *src, uint8_t n)
{
	if (store_power_off)
		return; /* the power is gone: nothing reaches the cells */
	if (store_cut_writes && --store_cut_writes == 0) {
		store_power_off = 1; /* this write is torn, every later one lost */
		uint8_t k = store_cut_mode == 2 ? 0 : (uint8_t)(n / 2);
		if (store_cut_mode == 1) { /* the last k bytes reached the cells */
			addr = (uint16_t)(addr + n - k);
			src += n - k;
		}
		n = k;
	}
	if (store_fail_writes) {
		store_fail_writes--;
		/* a torn write: only the first half reaches the cells */
		n = (uint8_t)(n / 2);
	}
	while (n--) {
		if (addr < CONFIG_HOST_EEPROM_SIZE)
			store_ee[addr] = *src;
		addr++;
		src++;
	}
}

/* ---- hardware fakes (app.h) ------------------------------------------ */
static uint8_t led;
void hw_init(void) {}
uint8_t hw_led(uint8_t op)
{
	if (op < 2)
		led = op;
	else if (op == 2)
		led ^= 1;
	return led;
}
/* 0x200 + channel: the reading vectors/mssl.txt records */
uint16_t hw_adc(uint8_t ch) { return (uint16_t)(0x200 | ch); }
uint32_t hw_uptime(void) { return 1234; }

static void link_putc(uint8_t c) { (void)c; }

static const struct ms_app host_app = {
	.tasks = app_tasks,
	.ntasks = APP_NTASKS,
	.ports = app_ports,
	.nports = APP_NPORTS,
	.link_putc = link_putc,
	.uptime = hw_uptime,
	.ee_read = ee_read,
	.ee_write = ee_write,
};

void host_app_init(void)
{
	ms_app = &host_app;
}
