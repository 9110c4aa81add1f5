/*
 * config.h - build options and fixed buffer sizes for the mstool reference
 * firmware, in ONE place.
 *
 * Every option can be overridden from the command line (make CONFIG_X=...
 * passes -DCONFIG_X=...). Options are 0/1 switches or sizes in bytes; the
 * device reports them over the management channel (identify).
 *
 * The same header is used by the AVR build and by the host build of the
 * sources (tests, sanitizers); nothing here depends on the target except
 * where marked.
 */
#ifndef MS_CONFIG_H
#define MS_CONFIG_H

/* ---------------------------------------------------------------------
 * Crypto core options
 * ------------------------------------------------------------------- */

/*
 * CONFIG_AES_DECRYPT: 1 builds aes128_decrypt() (the inverse cipher) and
 * CBC decryption. CTR and CCM need only the forward cipher, so a device
 * that speaks only AES-CCM / AES-CTR suites can set it to 0: that saves
 * the inverse S-box and the inverse cipher (732 bytes with the assembly)
 * and lets encryption inline MixColumns (63 cycles per block faster).
 * Default 1, except on the 16 KB ATmega168, whose ESP build is CCM-8 only
 * (CONFIG_ESP_CBC_MD5 below needs it).
 */
#ifndef CONFIG_AES_DECRYPT
#if defined(__AVR_ATmega168__)
#define CONFIG_AES_DECRYPT 0
#else
#define CONFIG_AES_DECRYPT 1
#endif
#endif

/*
 * CONFIG_AES_KEY_ONTHEFLY: 1 keeps only the 16-byte key in an aes128_ctx
 * and computes each round key during encryption (in a 16-byte copy on
 * the stack, wiped before returning) instead of holding the expanded
 * 176-byte schedule. That saves 160 bytes in every context, which on the
 * 1 KB ATmega168 is the difference between an application having RAM or
 * not (fw_work shrinks from 208 to 48 bytes), for about 1,300 cycles more
 * per block (2,222 -> 3,526; docs/firmware.md) while aes128_init becomes
 * a copy.
 * Encryption only (CTR, CCM, CMAC): needs CONFIG_AES_DECRYPT 0, since the
 * inverse cipher wants the last round key first.
 * Default 1 on the ATmega168, 0 elsewhere (the ATmega328P's cycle tables
 * are measured with the expanded schedule).
 */
#ifndef CONFIG_AES_KEY_ONTHEFLY
#if defined(__AVR_ATmega168__) && !CONFIG_AES_DECRYPT
#define CONFIG_AES_KEY_ONTHEFLY 1
#else
#define CONFIG_AES_KEY_ONTHEFLY 0
#endif
#endif
#if CONFIG_AES_KEY_ONTHEFLY && CONFIG_AES_DECRYPT
#error "CONFIG_AES_KEY_ONTHEFLY needs CONFIG_AES_DECRYPT 0 (encryption only)"
#endif

/*
 * CONFIG_AES_ASM: 1 (default) uses the hand-written AVR assembly for AES
 * key expansion, encryption and decryption (crypto/aes_avr.S); 0 uses the
 * C reference in crypto/aes.c. Ignored (forced to 0) on the host build:
 * the host always runs the C reference.
 * `make avr-test` checks the assembly against the C on simavr.
 */
#ifndef CONFIG_AES_ASM
#define CONFIG_AES_ASM 1
#endif
#if !defined(__AVR__)
#undef CONFIG_AES_ASM
#define CONFIG_AES_ASM 0
#endif

/*
 * CONFIG_CCM_ASM: 1 (default) uses the AVR assembly AES-128-CCM
 * (crypto/ccm_avr.S, on top of aes_avr.S: needs CONFIG_AES_ASM); 0 the
 * C reference in crypto/ccm.c. Forced to 0 on the host and without
 * CONFIG_AES_ASM. `make avr-test` checks the assembly against the C.
 */
#ifndef CONFIG_CCM_ASM
#define CONFIG_CCM_ASM 1
#endif
#if !defined(__AVR__) || !CONFIG_AES_ASM
#undef CONFIG_CCM_ASM
#define CONFIG_CCM_ASM 0
#endif

/*
 * CONFIG_CCM_CTR_REBUILD: 1 makes the assembly CCM build each counter
 * block A_i from the nonce instead of keeping it in its frame: 14 bytes
 * less stack (on the record path's deepest point) for about 125 cycles
 * a block (+1.7 % of a 256-byte message with the 168's AES). Default: with CONFIG_AES_KEY_ONTHEFLY (the ATmega168, which
 * trades cycles for RAM); 0 elsewhere, where the cycle tables hold.
 */
#ifndef CONFIG_CCM_CTR_REBUILD
#define CONFIG_CCM_CTR_REBUILD CONFIG_AES_KEY_ONTHEFLY
#endif

/*
 * CONFIG_MD5_ASM: 1 (default) uses the AVR assembly MD5 compression
 * function (crypto/md5_avr.S); 0 the C reference in crypto/md5.c. Forced
 * to 0 on the host. `make avr-test` checks the assembly against the C.
 */
#ifndef CONFIG_MD5_ASM
#define CONFIG_MD5_ASM 1
#endif
#if !defined(__AVR__)
#undef CONFIG_MD5_ASM
#define CONFIG_MD5_ASM 0
#endif

/*
 * CONFIG_SHA256_ASM: 1 (default) uses the AVR assembly SHA-256
 * compression function (crypto/sha256_avr.S); 0 the C reference in
 * crypto/sha256.c. Forced to 0 on the host. Checked by `make avr-test`.
 */
#ifndef CONFIG_SHA256_ASM
#define CONFIG_SHA256_ASM 1
#endif
#if !defined(__AVR__)
#undef CONFIG_SHA256_ASM
#define CONFIG_SHA256_ASM 0
#endif

/* CONFIG_MD5, CONFIG_SHA256: 1 builds the hash (and its HMAC). */
#ifndef CONFIG_MD5
#define CONFIG_MD5 1
#endif
#ifndef CONFIG_SHA256
#define CONFIG_SHA256 1
#endif

/* --- RSA (ENGINEER RSA) --- */
/*
 * CONFIG_RSA: 1 builds RSASSA-PKCS1-v1_5 / SHA-256 verification with
 * e = 65537 (crypto/rsa.h) and its management commands (mgmt_rsa.c).
 * CONFIG_RSA_MAX_BYTES: the largest modulus in bytes (256: RSA-2048; the
 * ATmega168 stores at most an RSA-1024 issuer key, docs/eeprom.md).
 * CONFIG_RSA_ASM: 1 (default) uses the AVR assembly multiply-accumulate
 * kernel (crypto/bignum_avr.S); 0 the C reference in crypto/rsa.c. Forced
 * to 0 on the host.
 */
#ifndef CONFIG_RSA
#define CONFIG_RSA 1
#endif
#ifndef CONFIG_RSA_MAX_BYTES
#if defined(__AVR_ATmega168__)
#define CONFIG_RSA_MAX_BYTES 128
#else
#define CONFIG_RSA_MAX_BYTES 256
#endif
#endif
#ifndef CONFIG_RSA_ASM
#define CONFIG_RSA_ASM 1
#endif
#if !defined(__AVR__)
#undef CONFIG_RSA_ASM
#define CONFIG_RSA_ASM 0
#endif
/* --- end RSA --- */

/* ---------------------------------------------------------------------
 * Fixed buffer sizes (bytes). RAM is 2048 bytes on the ATmega328P and
 * 1024 on the ATmega168: every buffer in the firmware is sized here.
 * ------------------------------------------------------------------- */

/*
 * CONFIG_COUNTER16: 1 keeps the packet and management counters
 * (ms_base.h: STATUS task 2, STATS) in 16 bits that stop at 65,535
 * instead of 32 bits, 52 bytes less RAM; they are still reported as
 * 32-bit values. lwIP's statistics are 16-bit by default for the same
 * reason; these saturate rather than wrap, so a count never reads lower
 * than it was. Default: 1 on the ATmega168 (1 KB of RAM), 0 elsewhere.
 */
#ifndef CONFIG_COUNTER16
#if defined(__AVR_ATmega168__)
#define CONFIG_COUNTER16 1
#else
#define CONFIG_COUNTER16 0
#endif
#endif

/*
 * UART ring buffers (interrupt-driven); must be powers of two <= 256,
 * or TX 0: no transmit ring, uart_putc waits for the data register.
 * RX holds what arrives while the main loop is busy with a frame; TX
 * only smooths output: uart_putc waits while it is full (the UDRE
 * interrupt drains it), so a short TX ring costs nothing but waiting in
 * slip_send. TX 16 on the ATmega328P: its default image (MSSL, three
 * ESP suites, the RSA-2048 bench) needs those 48 bytes for the stack:
 * MSSL's RSA-2048 verification holds the modulus copy in its frame
 * (docs/PERFORMANCE.md, "Device: MSSL").
 */
#ifndef CONFIG_UART_RX_SIZE
#define CONFIG_UART_RX_SIZE 64
#endif
#ifndef CONFIG_UART_TX_SIZE
#if defined(__AVR_ATmega168__)
#define CONFIG_UART_TX_SIZE 64
#else
#define CONFIG_UART_TX_SIZE 16
#endif
#endif

/*
 * Largest decoded frame on the UART (management frame or SLIP-framed IPv4
 * datagram), excluding framing. Longer frames are dropped and counted.
 */
#ifndef CONFIG_FRAME_MAX
#if defined(__AVR_ATmega168__)
#define CONFIG_FRAME_MAX 160
#else
#define CONFIG_FRAME_MAX 296
#endif
#endif

/* STATUS writes 58 bytes whatever the room and the services inside ESP
 * count on at least 77 (the counters task) after the worst-case headers. */
#if CONFIG_FRAME_MAX < 137
#error "CONFIG_FRAME_MAX: at least 137 bytes"
#endif

/* Largest input of a management-channel "compute" or "bench" request. */
#ifndef CONFIG_MGMT_DATA_MAX
#define CONFIG_MGMT_DATA_MAX (CONFIG_FRAME_MAX - 16)
#endif

/* --- network and ESP (FW-LINK) --- */
/*
 * See docs/firmware-net.md. The IPv4 MTU is CONFIG_FRAME_MAX (above): one
 * buffer holds a packet and its reply, processed in place.
 *
 * CONFIG_ESP_CCM8        suite 1 aes128-ccm8 (AES only; the default)
 * CONFIG_ESP_CTR_SHA256  suite 4 aes128-ctr-hmac-sha256-128 (needs CONFIG_SHA256)
 * CONFIG_ESP_CBC_MD5     suite 5 aes128-cbc-hmac-md5-96, the seed paper's
 *                        (needs CONFIG_MD5 and CONFIG_AES_DECRYPT)
 * All three on the ATmega328P; CCM-8 only on the ATmega168.
 */
#ifndef CONFIG_ESP_CCM8
#define CONFIG_ESP_CCM8 1
#endif
#ifndef CONFIG_ESP_CTR_SHA256
#if defined(__AVR_ATmega168__)
#define CONFIG_ESP_CTR_SHA256 0
#else
#define CONFIG_ESP_CTR_SHA256 1
#endif
#endif
#ifndef CONFIG_ESP_CBC_MD5
#if defined(__AVR_ATmega168__)
#define CONFIG_ESP_CBC_MD5 0
#else
#define CONFIG_ESP_CBC_MD5 1
#endif
#endif
#if CONFIG_ESP_CTR_SHA256 && !CONFIG_SHA256
#error "CONFIG_ESP_CTR_SHA256 needs CONFIG_SHA256"
#endif
#if CONFIG_ESP_CBC_MD5 && !(CONFIG_MD5 && CONFIG_AES_DECRYPT)
#error "CONFIG_ESP_CBC_MD5 needs CONFIG_MD5 and CONFIG_AES_DECRYPT"
#endif
#define CONFIG_ESP_HMAC (CONFIG_ESP_CTR_SHA256 || CONFIG_ESP_CBC_MD5)

/*
 * CONFIG_RESERVE_BLOCK: sequence numbers reserved (outbound) or kept ahead
 * (inbound floor) per EEPROM state write (docs/eeprom.md). Fixed by the
 * host's session rule (docs/sa-file.md): do not change casually.
 */
#ifndef CONFIG_RESERVE_BLOCK
#define CONFIG_RESERVE_BLOCK 1024UL
#endif

/* UDP port of the task service inside ESP (docs/tasks.md). */
#ifndef CONFIG_TASK_PORT
#define CONFIG_TASK_PORT 7411
#endif

/*
 * CONFIG_MGMT_CRYPTO: 1 builds the management channel's engineering
 * commands: BENCH, COMPUTE and, with CONFIG_RSA, RSA (mgmt_rsa.c). None
 * is authenticated: anyone on the serial line can keep the device busy
 * with them (up to about a second a frame, docs/management.md "Work
 * caps") and, while MSSL holds no state, have it verify RSA-2048
 * signatures. 0 leaves them out entirely (IDENTIFY, STATS, STATUS and
 * PROV stay; IDENTIFY's option bit 6 says which): the configuration for
 * a device in service, built by `make nobench` for the ATmega328P.
 * Default 1 on the ATmega328P for now, 0 on the ATmega168.
 */
#ifndef CONFIG_MGMT_CRYPTO
#if defined(__AVR_ATmega168__)
#define CONFIG_MGMT_CRYPTO 0 /* 16 KB: the ESP device, not the bench */
#else
#define CONFIG_MGMT_CRYPTO 1
#endif
#endif
#if CONFIG_MGMT_CRYPTO && CONFIG_AES_KEY_ONTHEFLY
#error "COMPUTE's AES key expansion (CONFIG_MGMT_CRYPTO) returns the expanded schedule: needs CONFIG_AES_KEY_ONTHEFLY 0"
#endif

/*
 * CONFIG_PACKET_CYCLES: 1 measures every IPv4 packet's processing in
 * Timer1 cycles (STATUS reports the last one; timer.c). It takes Timer1:
 * 0 leaves it to the application (Arduino's analogWrite on pins 9 and 10,
 * Servo). The engineering commands (CONFIG_MGMT_CRYPTO) use Timer1 too,
 * only while they run. Default 1.
 */
#ifndef CONFIG_PACKET_CYCLES
#define CONFIG_PACKET_CYCLES 1
#endif

/*
 * CONFIG_WORK_RSA: 1 puts the RSA verification work area
 * (RSA_WORK_SIZE(CONFIG_RSA_MAX_BYTES) = 2k + 5 bytes: 517 for RSA-2048,
 * 261 for RSA-1024) into the shared static work area fw_work (esp.h),
 * which ESP and the management channel use too, one owner at a time
 * (esp.h says how that is guaranteed). Static, so the linker map shows it
 * and the stack keeps its room: RSA-2048 verification then needs only
 * its call frames on the stack (mgmt_rsa.c measures them). Default: when
 * the firmware verifies RSA (today the management command, so
 * CONFIG_RSA && CONFIG_MGMT_CRYPTO; MSSL adds itself here). The 168's
 * default image has no RSA user, so its 1 KB of RAM does not pay for it.
 */
#ifndef CONFIG_WORK_RSA
#define CONFIG_WORK_RSA (CONFIG_RSA && (CONFIG_MGMT_CRYPTO || (CONFIG_MSSL && CONFIG_MSSL_RSA)))
#endif

/*
 * CONFIG_TEST_FAULT: 1 builds the management command FAULT (0x7D), which
 * hangs the device on request (payload 0x00: spin with interrupts
 * enabled; 0x01: with interrupts disabled), so that a test can watch the
 * watchdog reset it (`make fault`, pkg/device). Test images only:
 * default 0, and never in an image meant for a device.
 */
#ifndef CONFIG_TEST_FAULT
#define CONFIG_TEST_FAULT 0
#endif

/* EEPROM size for the host build (the AVR build uses E2END + 1). */
#ifndef CONFIG_HOST_EEPROM_SIZE
#define CONFIG_HOST_EEPROM_SIZE 1024
#endif
/* --- end network and ESP (FW-LINK) --- */

/* --- MSSL (FW-MSSL) --- */
/*
 * CONFIG_MSSL: 1 builds MSSL (mssl.c, docs/mssl.md) on UDP port
 * CONFIG_MSSL_PORT in clear: the grant handshake (needs CONFIG_RSA and
 * CONFIG_SHA256, and puts the RSA work area into fw_work), records and
 * task authorisation.
 * Default 1 on the ATmega328P (and the host build): the default image
 * (`make`, build/atmega328p/) is the MSSL device with RSA-2048 issuers
 * next to the three ESP suites and the management bench (RSA-2048
 * included). RAM, docs/PERFORMANCE.md "Device: MSSL": MSSL keeps only
 * what must survive between messages (254 bytes: the issuer key id and
 * nonce key; the pending handshake's peer, PRK, Kh, the grant body's
 * SHA-256, seal tag and fields; the session's peer, PRK, sequence
 * numbers, grant fields and a floor statement's hash and floors; the
 * grant cache by SHA-256 of the body); record keys and salts are derived
 * from the PRK per record, in fw_work. That state shares 256 bytes with
 * the management RSA bench's key (mssl_lend / mgmt_rsa_forget: one owner
 * at a time; a bench KEY is refused while MSSL holds a session, handshake,
 * floor statement or cached grant). RSA runs in
 * fw_work with the issuer modulus copied from the EEPROM into the
 * verifying frame (stack, not static RAM).
 * OFF in the ATmega168's default image; `make mssl168` builds its MSSL
 * profile (build/mssl168/atmega168/): MSSL seal-only (CONFIG_MSSL_RSA 0,
 * below) without serial provisioning (CONFIG_PROV_SERIAL 0: provisioned
 * by an EEPROM image), because seal-only MSSL (about 3.7 KB with
 * AES-CMAC) and serial provisioning (2.9 KB) do not both fit its 16 KB.
 * CONFIG_MSSL_CACHE: verified grants kept in RAM (48 bytes each: SHA-256
 * of the body and the host key).
 * MSSL_MAX_MESSAGE: the largest message accepted, 268 bytes or what the
 * frame buffer leaves after IPv4 and UDP headers.
 */
#ifndef CONFIG_MSSL
#if defined(__AVR_ATmega168__)
#define CONFIG_MSSL 0 /* the seal-only profile: `make mssl168` */
#else
#define CONFIG_MSSL 1
#endif
#endif
/*
 * CONFIG_MSSL_RSA: 1 (the ATmega328P) verifies grant and floor statement
 * signatures (RSA, SHA-256, the verified-grant cache). 0 is MSSL
 * "seal-only" (docs/mssl.md): no RSA, bignum or SHA-256 linked for MSSL;
 * a device-bound grant is taken on its seal when the provisioned policy
 * allows it (CFG_SEAL_OK, docs/eeprom.md), every other grant is refused
 * (bad_signature), floor statements carry a MAC under a key derived from
 * the master key, and the issuer key id is not checked (no SHA-256).
 * Default 0 on the ATmega168: there MSSL fits only this way.
 */
#ifndef CONFIG_MSSL_RSA
#if defined(__AVR_ATmega168__)
#define CONFIG_MSSL_RSA 0
#else
#define CONFIG_MSSL_RSA 1
#endif
#endif
/*
 * CONFIG_PROV_SERIAL: 1 (default) answers the management channel's PROV
 * command (prov.c, serial provisioning, docs/provisioning.md); 0 leaves
 * it out: the device is provisioned by writing its EEPROM image
 * (`mstool provision -o`, `mstool flash --eeprom`).
 */
#ifndef CONFIG_PROV_SERIAL
#define CONFIG_PROV_SERIAL 1
#endif
/*
 * CONFIG_BOOTSTRAP: 1 answers flight 4 of Kang's secure bootstrapping
 * (bootstrap.c, docs/bootstrap.md): the management channel's BOOTSTRAP
 * command and, when the application lists it, the UDP port
 * CONFIG_BOOTSTRAP_PORT in clear. A config with CFG_BOOTSTRAP (store.h)
 * has its ESP SAs derived from the master key (esp_init; 38 bytes of RAM
 * hold their keys), and a join replaces the master key through the
 * journal (it stages the config's first 36 bytes).
 * Default 0 on the AVR: the reference images have no room for it (docs/
 * bootstrap.md "Device side"); the profile esp-mssl-boot (profiles.mk)
 * builds it. 1 on the host (tests).
 */
#ifndef CONFIG_BOOTSTRAP
#if defined(__AVR__)
#define CONFIG_BOOTSTRAP 0
#else
#define CONFIG_BOOTSTRAP 1
#endif
#endif
#ifndef CONFIG_BOOTSTRAP_PORT
#define CONFIG_BOOTSTRAP_PORT 7448
#endif
/*
 * CONFIG_COAP: 1 serves the application's tasks as CoAP resources (coap.c,
 * docs/coap.md) on CONFIG_COAP_PORT inside ESP, when the application lists
 * MS_PORT_COAP. Default 0 on the AVR (the reference images have no room
 * left; the profile esp-coap builds it), 1 on the host (tests).
 * CONFIG_COAP_CACHE: bytes of the last Confirmable response kept for its
 * duplicates (RAM; coap.h), 0..72.
 */
#ifndef CONFIG_COAP
#if defined(__AVR__)
#define CONFIG_COAP 0
#else
#define CONFIG_COAP 1
#endif
#endif
#ifndef CONFIG_COAP_PORT
#define CONFIG_COAP_PORT 5683
#endif
#ifndef CONFIG_COAP_CACHE
#define CONFIG_COAP_CACHE 32
#endif
#if CONFIG_COAP_CACHE > 72
#error "CONFIG_COAP_CACHE: at most 72 bytes (a response must fit the room the server requires)"
#endif
/* CONFIG_ENTROPY_SAMPLES: watchdog periods (16 ms each) sampled at boot
 * for the boot epoch (entropy.h), 1..255. */
#ifndef CONFIG_ENTROPY_SAMPLES
#define CONFIG_ENTROPY_SAMPLES 32
#endif
#ifndef CONFIG_MSSL_CACHE
#define CONFIG_MSSL_CACHE 1
#endif
#ifndef CONFIG_MSSL_PORT
#define CONFIG_MSSL_PORT 7412
#endif
#define MSSL_MAX_MESSAGE (CONFIG_FRAME_MAX - 28 < 268 ? CONFIG_FRAME_MAX - 28 : 268)
#if CONFIG_MSSL && CONFIG_MSSL_RSA && !(CONFIG_RSA && CONFIG_SHA256)
#error "CONFIG_MSSL_RSA needs CONFIG_RSA and CONFIG_SHA256"
#endif
/* --- end MSSL (FW-MSSL) --- */

/* ---------------------------------------------------------------------
 * Target
 * ------------------------------------------------------------------- */
#ifndef F_CPU
#define F_CPU 16000000UL
#endif

#endif /* MS_CONFIG_H */
