#!/usr/bin/env python3
"""sizesuites.py - the issue-5 flash targets, measured per build configuration.

Reads the size-report.json (tools/sizereport.py) of several images and
sums, per target, the modules it is about. `make size-suites` builds the
images and calls this. Definitions (docs/PERFORMANCE.md, "Device: link
and ESP"):

  link    SLIP + IPv4 + ICMP + UDP: modules net/slip, net/ipv4, net/icmp,
          net/udp (the whole IPv4 path, ESP-in-UDP encapsulation and the
          reply's headers included; the frame buffer and UART driver not).
  esp     ESP processing excluding the crypto core: module esp (SPI
          check, lengths, anti-replay window, key loading, nonces/IVs,
          padding, trailer, sequence reservation calls).
  suite   a suite complete: esp + the crypto modules that suite needs
          (SUITE_CRYPTO below: AES, the mode, the hash and HMAC, ct), as
          linked into that suite's image (CONFIG_MGMT_CRYPTO=0, only that
          suite's primitives built). A module another user also calls
          (serial provisioning uses AES) counts in full.
The EEPROM store (module store: config check, state slots, reservation
rule) is shown but counted in no target: every suite and MSSL share it.

Usage: sizesuites.py --txt OUT.txt --json OUT.json NAME=size-report.json...
Images named ccm8, cbc-md5, ctr-sha256 are the single-suite builds;
others (all, atmega168) are listed for reference. Standard library only.
"""

import argparse
import json

KB = 1024
TARGETS = {
    # name: (limit in bytes, text)
    "link": (int(1.2 * KB), "SLIP + IPv4 + ICMP + UDP <= 1.2 KB"),
    "esp": (int(0.8 * KB), "ESP processing excl. crypto core <= 0.8 KB"),
    "suite-cbc-md5": (int(3.5 * KB), "seed suite complete (AES-CBC + HMAC-MD5-96 + ESP) <= 3.5 KB"),
    "suite-ccm8": (int(2.5 * KB), "CCM-8 suite complete <= 2.5 KB"),
}
LINK_MODULES = ["net/slip", "net/ipv4", "net/icmp", "net/udp"]
SUITES = ["ccm8", "cbc-md5", "ctr-sha256"]
AES = ["crypto/aes", "crypto/aes_avr", "crypto/ct"]
SUITE_CRYPTO = {
    "ccm8": AES + ["crypto/ccm", "crypto/ccm_avr"],
    "cbc-md5": AES + ["crypto/cbc", "crypto/hmac", "crypto/md", "crypto/md5", "crypto/md5_avr"],
    "ctr-sha256": AES + ["crypto/ctr", "crypto/hmac", "crypto/md", "crypto/sha256",
                         "crypto/sha256_avr"],
}


def flash(mods, name):
    return mods.get(name, {}).get("flash", 0)




def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--txt", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("images", nargs="+", metavar="NAME=REPORT")
    args = ap.parse_args()

    images = {}
    for arg in args.images:
        name, _, path = arg.partition("=")
        with open(path, encoding="utf-8") as f:
            images[name] = json.load(f)

    rows = []  # (image, measure, bytes, detail, target key or None)
    for name, rep in images.items():
        mods = rep["modules"]
        link = sum(flash(mods, m) for m in LINK_MODULES)
        detail = " + ".join("%s %d" % (m, flash(mods, m)) for m in LINK_MODULES)
        rows.append((name, "link", link, detail, "link" if name in SUITES else None))
        esp = flash(mods, "esp")
        rows.append((name, "esp", esp, "esp", "esp" if name in SUITES else None))
        if name in SUITES:
            cm = sorted(m for m in SUITE_CRYPTO[name] if flash(mods, m))
            crypto = sum(flash(mods, m) for m in cm)
            detail = "esp %d + crypto %d (%s)" % (
                esp, crypto, ", ".join("%s %d" % (m[7:], flash(mods, m)) for m in cm))
            key = "suite-" + name
            rows.append((name, "suite", esp + crypto, detail,
                         key if key in TARGETS else None))
        rows.append((name, "store", flash(mods, "store"), "not in any target", None))
        rows.append((name, "image", rep["total"]["flash"],
                     "static RAM %d of %d" % (rep["total"]["ram"], rep["capacity"]["ram"]),
                     None))

    out = []
    js = []
    out.append("issue-5 flash targets per build configuration (bytes; docs/PERFORMANCE.md)")
    out.append("%-11s %-6s %6s  %-28s %s" % ("image", "what", "flash", "target", "modules"))
    for image, what, n, detail, key in rows:
        tgt = ""
        met = None
        if key:
            limit, _ = TARGETS[key]
            met = n <= limit
            tgt = "<= %d: %s" % (limit, "met" if met else "NOT MET")
        out.append("%-11s %-6s %6d  %-28s %s" % (image, what, n, tgt, detail))
        js.append({"image": image, "measure": what, "flash": n, "detail": detail,
                   "target": TARGETS[key][0] if key else None, "met": met})
    text = "\n".join(out) + "\n"
    with open(args.txt, "w", encoding="utf-8") as f:
        f.write(text)
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump({"targets": {k: {"limit": v[0], "text": v[1]} for k, v in TARGETS.items()},
                   "rows": js}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
