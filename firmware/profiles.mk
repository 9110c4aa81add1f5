# firmware/profiles.mk - the named build profiles of the device library, in
# one place (included by the Makefile).
#
# A profile is a set of CONFIG_* options (lib/config.h documents each one):
#   ESP suites   CONFIG_ESP_CCM8, CONFIG_ESP_CBC_MD5, CONFIG_ESP_CTR_SHA256 and
#                the crypto they need: CONFIG_AES_DECRYPT, CONFIG_MD5, CONFIG_SHA256
#   MSSL         CONFIG_MSSL; RSA verification of grants CONFIG_MSSL_RSA
#                (0: seal-only, docs/mssl.md) with CONFIG_RSA
#   provisioning CONFIG_PROV_SERIAL (0: lib/prov.c is not linked, PROV is an
#                unknown command; the device takes an EEPROM image)
#   CoAP         CONFIG_COAP (the tasks as CoAP resources inside ESP)
#   bootstrap    CONFIG_BOOTSTRAP (flight 4 of docs/bootstrap.md on the
#                management channel and UDP; 0: bootstrap.c is not linked)
#   engineering  CONFIG_MGMT_CRYPTO (BENCH, COMPUTE, RSA; 0 in production)
#   timing       CONFIG_PACKET_CYCLES (Timer1 per packet, STATUS; a
#                measurement: 0 in production, where Timer1 is the
#                application's)
# plus, where a profile needs them, buffer sizes (CONFIG_UART_*).
#
#   make profile PROFILE=esp-mssl MCU=atmega168   one image, build/profile/<name>/<mcu>/
#   make size                                     every profile on both MCUs, one table
#
# The production profiles (esp, esp-mssl, esp-mssl-prov) build on both MCUs
# and leave the engineering commands out. reference-328p and reference-168
# are the default images (`make`, build/<mcu>/): their sets below spell
# out lib/config.h's defaults for that MCU, so the same image comes out
# either way. The special test images (nobench, lowram, fault, mssl168)
# and the one-suite images of `make size-suites` are profiles too.
#
# A CONFIG_* variable given on make's command line wins over every
# profile (e.g. `make CONFIG_AES_ASM=0`).

# profile_merge(base, overrides): base with the options named in
# overrides replaced by overrides' values.
profile_merge = $(filter-out $(foreach o,$(2),$(firstword $(subst =, ,$(o)))=%),$(1)) $(2)

# --- production profiles -------------------------------------------------
# esp: ESP with AES-CCM-8 only, SLIP + IPv4 + ICMP + UDP, the store with
# sequence persistence; no MSSL, no serial provisioning, no engineering,
# no per-packet cycle timing (Timer1 stays the application's).
PROFILE_esp := CONFIG_ESP_CCM8=1 CONFIG_ESP_CBC_MD5=0 CONFIG_ESP_CTR_SHA256=0 \
	CONFIG_AES_DECRYPT=0 CONFIG_MD5=0 CONFIG_SHA256=0 CONFIG_RSA=0 \
	CONFIG_MSSL=0 CONFIG_MSSL_RSA=0 CONFIG_PROV_SERIAL=0 CONFIG_BOOTSTRAP=0 \
	CONFIG_MGMT_CRYPTO=0 CONFIG_PACKET_CYCLES=0
# esp-mssl: + MSSL seal-only (no RSA, bignum or SHA-256).
PROFILE_esp-mssl := $(call profile_merge,$(PROFILE_esp),CONFIG_MSSL=1)
# esp-mssl-prov: + serial provisioning (PROV).
PROFILE_esp-mssl-prov := $(call profile_merge,$(PROFILE_esp-mssl),CONFIG_PROV_SERIAL=1)
# esp-mssl-boot: + secure bootstrapping (CONFIG_BOOTSTRAP, docs/bootstrap.md).
# On the ATmega168 only the key changes at a join (no room to stage SAs).
PROFILE_esp-mssl-boot := $(call profile_merge,$(PROFILE_esp-mssl-prov),CONFIG_BOOTSTRAP=1)
# esp-coap: esp + the CoAP server of the tasks inside ESP (CONFIG_COAP,
# docs/coap.md).
PROFILE_esp-coap := $(call profile_merge,$(PROFILE_esp),CONFIG_COAP=1)
# On the ATmega168 the MSSL profiles take a 32-byte receive ring and no
# transmit ring: the seal-only handshake's stack and the static data
# share 1 KB (make stack-check: static + stack + 32 <= 1,024). A transmit
# ring only lets the last bytes of a reply drain while the main loop goes
# back to reading (uart_putc waits for room byte by byte before that):
# without one, uart_putc waits for the data register (0.7 ms per 8 bytes
# at 115,200 baud), and the ring, its indices and the UDRE interrupt
# (10 bytes of RAM, 130 of flash) are the application's.
PROFILE_esp-mssl_atmega168 := CONFIG_UART_RX_SIZE=32 CONFIG_UART_TX_SIZE=0
PROFILE_esp-mssl-prov_atmega168 := $(PROFILE_esp-mssl_atmega168)
PROFILE_esp-mssl-boot_atmega168 := $(PROFILE_esp-mssl_atmega168)

# --- the reference device (firmware/app/, `make`) --------------------------
# reference-328p: all three ESP suites, MSSL with RSA-2048 issuers, the
# engineering commands (BENCH, COMPUTE, RSA), serial provisioning.
PROFILE_reference-328p := CONFIG_ESP_CCM8=1 CONFIG_ESP_CBC_MD5=1 CONFIG_ESP_CTR_SHA256=1 \
	CONFIG_AES_DECRYPT=1 CONFIG_MD5=1 CONFIG_SHA256=1 CONFIG_RSA=1 \
	CONFIG_MSSL=1 CONFIG_MSSL_RSA=1 CONFIG_PROV_SERIAL=1 CONFIG_BOOTSTRAP=0 \
	CONFIG_MGMT_CRYPTO=1 CONFIG_PACKET_CYCLES=1
# reference-168: ESP CCM-8 with serial provisioning; no MSSL, no engineering
# (MD5, SHA-256 and RSA are built but unused: the linker drops them; IDENTIFY
# reports the hashes); per-packet cycles in STATUS, like the 328P's.
PROFILE_reference-168 := $(call profile_merge,$(PROFILE_esp),CONFIG_PROV_SERIAL=1 \
	CONFIG_MD5=1 CONFIG_SHA256=1 CONFIG_RSA=1 CONFIG_PACKET_CYCLES=1)

# --- special images (tests and measurements) -------------------------------
# nobench: the 328P reference without the engineering commands
# (pkg/device TestEngineeringCommandsLeftOut).
PROFILE_nobench := $(call profile_merge,$(PROFILE_reference-328p),CONFIG_MGMT_CRYPTO=0)
# lowram: static data that leave less RAM than an RSA verification needs
# (pkg/device TestRSARefusedWithoutRAM).
PROFILE_lowram := $(call profile_merge,$(PROFILE_reference-328p),CONFIG_UART_RX_SIZE=256 CONFIG_UART_TX_SIZE=256)
# fault: the FAULT command (CONFIG_TEST_FAULT) for the watchdog test. Never flash it.
PROFILE_fault := $(call profile_merge,$(PROFILE_reference-328p),CONFIG_TEST_FAULT=1)
# mssl168: the ATmega168's MSSL image of the seal-only tests
# (pkg/mssl TestDeviceSealOnly168): reference-168 with MSSL seal-only and
# without PROV, which is esp-mssl on the ATmega168 but for IDENTIFY's hash bits.
PROFILE_mssl168 := $(call profile_merge,$(PROFILE_reference-168),CONFIG_MSSL=1 \
	CONFIG_MSSL_RSA=0 CONFIG_PROV_SERIAL=0 $(PROFILE_esp-mssl_atmega168))
# suite-*: one ESP suite each, no MSSL and no engineering (`make size-suites`).
PROFILE_suite-ccm8 := $(call profile_merge,$(PROFILE_reference-328p),CONFIG_ESP_CBC_MD5=0 \
	CONFIG_ESP_CTR_SHA256=0 CONFIG_AES_DECRYPT=0 CONFIG_MD5=0 CONFIG_SHA256=0 \
	CONFIG_MGMT_CRYPTO=0 CONFIG_MSSL=0)
PROFILE_suite-cbc-md5 := $(call profile_merge,$(PROFILE_reference-328p),CONFIG_ESP_CCM8=0 \
	CONFIG_ESP_CTR_SHA256=0 CONFIG_SHA256=0 CONFIG_MGMT_CRYPTO=0 CONFIG_MSSL=0)
PROFILE_suite-ctr-sha256 := $(call profile_merge,$(PROFILE_reference-328p),CONFIG_ESP_CCM8=0 \
	CONFIG_ESP_CBC_MD5=0 CONFIG_AES_DECRYPT=0 CONFIG_MD5=0 CONFIG_MGMT_CRYPTO=0 CONFIG_MSSL=0)

# The profiles `make size` measures, on both MCUs (a reference profile on
# its own MCU only).
SIZE_PROFILES := esp esp-coap esp-mssl esp-mssl-prov esp-mssl-boot reference-328p reference-168
SIZE_MCUS_reference-328p := atmega328p
SIZE_MCUS_reference-168 := atmega168
SIZE_MCUS_esp-mssl-boot := atmega328p
size_mcus = $(or $(SIZE_MCUS_$(1)),atmega328p atmega168)

# The options given on make's command line, which win over a profile's.
USER_CONFIG := $(foreach v,$(filter CONFIG_%,$(.VARIABLES)),$(if $(filter command line,$(origin $(v))),$(v)))
# profile_cfg(name, mcu): the options of profile name on mcu, as make
# variable assignments for a recursive `make mcu`.
profile_cfg = $(filter-out $(foreach v,$(USER_CONFIG),$(v)=%),$(strip \
	$(call profile_merge,$(PROFILE_$(1)),$(PROFILE_$(1)_$(2)))))
