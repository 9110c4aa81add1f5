#!/usr/bin/env python3
"""manifest.py - build/<mcu>/manifest.json: what a firmware image holds.

mstool reads it next to the image: `mstool flash` for the MCU of a .hex,
`mstool provision` for the ESP suites the image runs (it refuses an SA
file whose suite the image lacks), pkg/fwimage documents the fields
(docs/flash.md, "Build manifest").

The options come from the image's own build: the macros the preprocessor
defines with the image's flags (`avr-gcc <flags> -dM -E tools/manifest.c`,
on standard input), so a CONFIG_* given on the make command line shows
here as it does in the image. The SHA-256 of the ELF and HEX files tie the
manifest to them: mstool refuses a manifest that describes other files.

Standard library only. Usage:
  avr-gcc -mmcu=atmega328p ... -dM -E tools/manifest.c | \\
      manifest.py --mcu atmega328p --elf build/atmega328p/mstool.elf \\
      --hex build/atmega328p/mstool.hex > build/atmega328p/manifest.json
"""

import argparse
import hashlib
import json
import os
import re
import sys

# ESP suites by config option: the SUITE_* number of store.h (the
# esp.Suite numbers) and mstool's name for it (docs/eeprom.md).
SUITES = [
    ("CONFIG_ESP_CCM8", "SUITE_CCM8", "aes128-ccm8"),
    ("CONFIG_ESP_CTR_SHA256", "SUITE_CTR_SHA256", "aes128-ctr-hmac-sha256-128"),
    ("CONFIG_ESP_CBC_MD5", "SUITE_CBC_MD5", "aes128-cbc-hmac-md5-96"),
]
# The stack an image needs at its deepest, in bytes, interrupt frame
# included. Figures per configuration, measured by `make stack` (mssim's
# MSSIM_STACK: the main program's deepest point plus the deepest
# interrupt handler, 16 B: UART RX) on the profiles that have them, not on
# each image: `mstool flash` adds the figure to the static RAM of the
# image's size-report.json and refuses an image that does not fit the
# MCU's RAM (docs/PERFORMANCE.md, "Device library: profiles and sizes").
# - MSSL with RSA: the RSA-2048 grant verification (grant_signature ->
#   verify, the modulus copy in its frame -> Montgomery multiplication):
#   reference-328p measures 458 + 16, but verify() refuses to start
#   (internal_error) unless 200 bytes are free below its frame, which
#   sits 115 bytes above that deepest point: 458 - 115 + 200 = 543. An
#   image within 474 and not 543 would pass `mstool flash` and refuse
#   every RSA grant (found by a new-user walkthrough).
# - MSSL seal-only: the record path (record -> seal_out -> rec_crypt ->
#   aes128_ccm_crypt -> AES), 188 + 16 on esp-mssl (ATmega328P); with
#   serial provisioning, its authenticated BEGIN (op_begin -> key ->
#   CMAC -> AES), 194 + 16 on esp-mssl-prov and esp-mssl-boot.
#   With AES round keys computed on the fly (CONFIG_AES_KEY_ONTHEFLY, the
#   ATmega168's default; AES derives them in its output block, with three
#   more saved registers) and CCM's counter block rebuilt per block
#   (CONFIG_CCM_CTR_REBUILD, its default there) the record path is
#   175 + 16 (esp-mssl and esp-mssl-prov on the atmega168).
# `make size-doc-check` (make test) fails when a profile's measured stack
# is above its manifest's figure.
# - Otherwise the deepest ESP path: with HMAC-SHA-256 (suite-ctr-sha256:
#   esp_open -> HMAC -> SHA-256), 340 + 16; else HMAC-MD5 (suite-cbc-md5),
#   198 + 16, deeper than ESP CCM-8 and provisioning (esp, reference-168:
#   162 + 16).
# An image takes the largest figure of what it has.
STACK_MSSL = 543
STACK_SEAL = 210
STACK_SEAL_ONTHEFLY = 191
STACK_ESP_SHA256 = 356
STACK_ESP = 214
NUMBER = re.compile(r"^\(?\s*(0[xX][0-9a-fA-F]+|[0-9]+)[uUlL]*\s*\)?$")


def macros(text):
    defs = {}
    for line in text.splitlines():
        m = re.match(r"#define\s+(\w+)\s+(.*)$", line)
        if m:
            defs[m.group(1)] = m.group(2).strip()
    return defs


def value(defs, name, seen=()):
    """The integer a macro expands to: a number, or a macro naming one."""
    if name not in defs:
        sys.exit(f"manifest.py: {name} is not defined by the build")
    v = defs[name]
    m = NUMBER.match(v)
    if m:
        return int(m.group(1), 0)
    if v in defs and v not in seen:
        return value(defs, v, seen + (name,))
    sys.exit(f"manifest.py: {name} is {v!r}, not a number")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mcu", required=True)
    ap.add_argument("--elf", required=True)
    ap.add_argument("--hex", required=True)
    args = ap.parse_args()
    d = macros(sys.stdin.read())
    suites = []
    for opt, num, name in SUITES:
        if value(d, opt):
            suites.append({"id": value(d, num), "name": name})
    suites.sort(key=lambda s: s["id"])
    mssl = bool(value(d, "CONFIG_MSSL"))
    engineering = bool(value(d, "CONFIG_MGMT_CRYPTO"))
    seal_only = mssl and not value(d, "CONFIG_MSSL_RSA")
    rsa = value(d, "CONFIG_RSA") and ((mssl and not seal_only) or engineering)
    version = "%d.%d.%d" % (value(d, "FW_VERSION_MAJOR"), value(d, "FW_VERSION_MINOR"), value(d, "FW_VERSION_PATCH"))
    out = {
        "mcu": args.mcu,
        "f_cpu": value(d, "F_CPU"),
        "firmware": version,
        "esp_suites": [s["name"] for s in suites],
        "mssl": mssl,
        "mssl_seal_only": seal_only,
        "rsa_max_bits": value(d, "CONFIG_RSA_MAX_BYTES") * 8 if rsa else 0,
        "engineering": engineering,
        "coap": bool(value(d, "CONFIG_COAP")),
        "bootstrap": bool(value(d, "CONFIG_BOOTSTRAP")),
        "eeprom": value(d, "E2END") + 1,
        "frame_max": value(d, "CONFIG_FRAME_MAX"),
        "stack": max(STACK_ESP_SHA256 if value(d, "CONFIG_ESP_CTR_SHA256") else STACK_ESP,
                     ((STACK_SEAL_ONTHEFLY if value(d, "CONFIG_AES_KEY_ONTHEFLY") else STACK_SEAL)
                      if seal_only else STACK_MSSL) if mssl else 0),
        "sha256": {
            os.path.basename(args.elf): sha256(args.elf),
            os.path.basename(args.hex): sha256(args.hex),
        },
    }
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
