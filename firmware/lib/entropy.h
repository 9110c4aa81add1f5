/*
 * entropy.h - the boot epoch: what makes the device's nonces fresh even
 * when its EEPROM goes back to an older image.
 *
 * The persisted nonce counter (store_nonce_next, the reservation rule)
 * keeps MSSL device nonces and provisioning challenges unique only as
 * long as the EEPROM moves forward. Re-flashing an image, re-running
 * factory provisioning or reloading a simulator starts the counter again
 * under the same master key. So every such value is the counter AND a
 * 12-byte epoch drawn at boot from the device's own entropy: the jitter
 * of the watchdog's RC oscillator against the crystal-clocked Timer0
 * (entropy.c). Nothing of it is secret; it only has to differ between
 * boots, which it does unless the jitter repeats over CONFIG_ENTROPY_SAMPLES
 * samples (docs/provisioning.md, "Freshness").
 *
 * entropy_start() starts the sampling at boot; the watchdog interrupt
 * takes CONFIG_ENTROPY_SAMPLES samples, one per 16 ms (0.5 s with the
 * default 32), while the device already serves. The watchdog is the
 * device's from the start: it resets a device stuck with interrupts off
 * during the sampling, and the main loop then arms it in system-reset
 * mode (entropy_arm). The first nonce of a boot (entropy_nonce) waits
 * for the epoch to be complete. Host builds have no sampling: tests set
 * entropy_epoch themselves.
 */
#ifndef MS_ENTROPY_H
#define MS_ENTROPY_H

#include <stdint.h>

#include "config.h"

#define ENTROPY_EPOCH_LEN 12

/*
 * ENTROPY_SAMPLED - 1 when the build has a user of the epoch (MSSL's
 * device nonces, provisioning's challenges). Otherwise (the esp profile)
 * no sampling is built, nor the watchdog interrupt that takes it:
 * ms_init puts the watchdog in system-reset mode at once, and
 * entropy_nonce, which no such build calls, does not wait.
 */
#define ENTROPY_SAMPLED (CONFIG_MSSL || CONFIG_PROV_SERIAL)

extern uint8_t entropy_epoch[ENTROPY_EPOCH_LEN];

/* entropy_nonce - out = counter (big-endian) || entropy_epoch: the 16-byte
 * block behind an MSSL device nonce and a provisioning challenge. On the
 * device it waits until the epoch is complete. */
void entropy_nonce(uint8_t out[16], uint32_t counter);

#if defined(__AVR__) && ENTROPY_SAMPLED
/* entropy_start - start sampling (Timer0 free-running at clk/1, the
 * watchdog at 16 ms in interrupt-and-reset mode). Call once at boot with
 * interrupts enabled, and do not call wdt_reset() before entropy_arm():
 * it would hold the samples back. */
void entropy_start(void);

/* entropy_ready - 1 once the epoch is complete. */
uint8_t entropy_ready(void);

/* entropy_arm - once the epoch is complete, put the watchdog in
 * system-reset mode with timeout (WDTO_*) and return 1; else 0. Call from
 * the main loop (not an interrupt) until it returns 1; a main loop that
 * does not within 4 s of the epoch is reset. */
uint8_t entropy_arm(uint8_t timeout);
#endif

#endif /* MS_ENTROPY_H */
