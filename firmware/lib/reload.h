/*
 * reload.h - one place that reloads the config and drops what modules
 * derived from the old one (docs/provisioning.md, "Rotation takes effect at once").
 *
 * ms_reload: store_init() (checks the config area, finishes a journal
 * commit a power cut or a failed write interrupted, selects the state
 * slot), esp_init() (SAs, sequence state, derived keys), then MSSL's
 * session and CoAP's last reply are forgotten where they are built.
 * Called at boot and after anything that may have changed the config
 * area (serial provisioning, a bootstrap join). Returns store_init()'s
 * reason (STORE_OK when provisioned).
 */
#ifndef MS_RELOAD_H
#define MS_RELOAD_H

#include <stdint.h>

uint8_t ms_reload(void);

#endif
