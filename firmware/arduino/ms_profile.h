/*
 * ms_profile.h - the Arduino library's build profile (generated library:
 * `make -C firmware arduino-lib` puts this file in src/ and has config.h
 * include it first). An Arduino library cannot take -D flags, so the
 * profile is fixed here; lib/config.h explains every option.
 *
 * ESP with AES-CCM-8 only; MSSL seal-only (no RSA, bignum or SHA-256:
 * provision the device with `mstool provision --mssl-seal-only`); no
 * engineering commands (BENCH, COMPUTE, RSA); Timer1 left to the sketch
 * (no per-packet cycle count: analogWrite on pins 9 and 10, Servo).
 * No serial provisioning (PROV): the Sensor sketch takes about 13.0 KB of
 * the Uno's 32,256 bytes (60 % free; the target is 40 %) and
 * 12.7 KB of an ATmega168 Nano's 14,336 (`make arduino` prints both);
 * with it about 16.6 KB on the Uno (49 % free) and 14.8 KB on the
 * ATmega168, which then does not fit. The EEPROM image
 * (`mstool provision -o dev.hex`) is written with an ISP programmer
 * (`mstool flash --eeprom`, docs/flash.md); set CONFIG_PROV_SERIAL to 1
 * here to provision over Serial instead.
 */
#ifndef MS_PROFILE_H
#define MS_PROFILE_H

#define CONFIG_ESP_CCM8 1
#define CONFIG_ESP_CTR_SHA256 0
#define CONFIG_ESP_CBC_MD5 0
#define CONFIG_AES_DECRYPT 0
#define CONFIG_MD5 0
#define CONFIG_MD5_ASM 0
#define CONFIG_SHA256 0
#define CONFIG_SHA256_ASM 0
#define CONFIG_RSA 0
#define CONFIG_RSA_ASM 0
#define CONFIG_MSSL 1
#define CONFIG_MSSL_RSA 0
#define CONFIG_PROV_SERIAL 0
#define CONFIG_MGMT_CRYPTO 0
#define CONFIG_PACKET_CYCLES 0

#endif /* MS_PROFILE_H */
