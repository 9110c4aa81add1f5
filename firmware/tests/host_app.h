/*
 * host_app.h - the reference application on the host, for the library's
 * tests: app/tasks.c's task and port tables over fake hardware, and an
 * EEPROM in RAM that tests fill with an image and can make fail.
 */
#ifndef MS_HOST_APP_H
#define MS_HOST_APP_H

#include <stdint.h>

#include "config.h"

extern uint8_t store_ee[CONFIG_HOST_EEPROM_SIZE];
/* Fault injection, on the next EEPROM writes: store_fail_writes tears
 * that many writes (only their first half reaches the cells);
 * store_cut_writes cuts the power at the Nth write (store_cut_mode 0: its
 * first half lands, 1: its last half, 2: none) and every later write is
 * lost while store_power_off is set. */
extern uint16_t store_fail_writes;
extern uint16_t store_cut_writes;
extern uint8_t store_power_off;
extern uint8_t store_cut_mode;

/* host_app_init - make the host application the library's (ms_app). */
void host_app_init(void);

#endif /* MS_HOST_APP_H */
