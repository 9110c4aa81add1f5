/*
 * reload.c - ms_reload, see reload.h.
 */
#include "config.h"
#include "coap.h"
#include "esp.h"
#include "mssl.h"
#include "reload.h"
#include "store.h"

uint8_t ms_reload(void)
{
	uint8_t r = store_init();
	esp_init();
#if CONFIG_MSSL
	mssl_reset();
#endif
#if CONFIG_COAP
	ms_coap_reset();
#endif
	return r;
}
