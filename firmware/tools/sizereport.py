#!/usr/bin/env python3
"""sizereport.py - flash and static RAM per firmware module.

Reads the GNU ld map file of the linked image (-Wl,-Map): every input
section that survived --gc-sections is listed there with its size and the
object it came from, so the figures are what each object contributes to the
final ELF, after garbage collection. The totals are cross-checked against
the ELF section headers of the image (.text, .data, .bss, .noinit).

  flash = .text + .data   (initialised data is stored in flash too)
  ram   = .data + .bss + .noinit   (static RAM; the stack is not included)

A module is an object file relative to the build directory without ".o"
(crypto/aes, mgmt, ...); archive members are grouped by archive (libc,
libgcc) and the C runtime start-up files as "crt". The "crypto" group sums
crypto/*; "library" the modules built from firmware/lib/ (whose names
drop that prefix); "crypto_core" sums the modules given with --core (the primitives
of the crypto core and its 5 KB target; the Makefile passes them).

Standard library only. Usage:
  sizereport.py --mcu atmega328p --map build/atmega328p/mstool.map \
      --elf build/atmega328p/mstool.elf --txt size-report.txt \
      --json size-report.json
"""

import argparse
import json
import os
import re
import struct
import sys

FLASH_SECTIONS = {".text", ".data"}
RAM_SECTIONS = {".data", ".bss", ".noinit"}
KNOWN_SECTIONS = FLASH_SECTIONS | RAM_SECTIONS

# Device capacities (bytes): flash, SRAM.
CAPACITY = {
    "atmega328p": (32768, 2048),
    "atmega328": (32768, 2048),
    "atmega168": (16384, 1024),
    "atmega168p": (16384, 1024),
}

# Targets from issue 4 (flash bytes).
CRYPTO_FLASH_TARGET = 5 * 1024

OUT_RE = re.compile(r"^(\.[A-Za-z0-9_.]+)\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)")
IN_FULL_RE = re.compile(
    r"^ (\S+)\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S.*)$")
IN_NAME_RE = re.compile(r"^ (\S+)$")
IN_CONT_RE = re.compile(r"^\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S.*)$")
FILL_RE = re.compile(r"^ \*fill\*\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)")


# Modules whose objects come from the library (firmware/lib/).
LIBRARY = set()


def module_name(obj, build_dir):
    """Map an object path from the map file to a module name."""
    obj = obj.strip()
    m = re.match(r"^(.*?)([^/]+)\.a\(([^)]+)\)$", obj)
    if m:
        return m.group(2)  # libc, libgcc, libm ...
    base = os.path.basename(obj)
    if base.startswith("crt") and base.endswith(".o"):
        return "crt"
    if obj == "linker stubs":
        return "linker"
    rel = obj
    if build_dir and obj.startswith(build_dir.rstrip("/") + "/"):
        rel = obj[len(build_dir.rstrip("/")) + 1:]
    if rel.endswith(".o"):
        rel = rel[:-2]
    if rel.startswith("lib/"):
        # The library's modules keep their names (crypto/aes, esp, ...);
        # LIBRARY records which they are for the "library" group.
        rel = rel[len("lib/"):]
        LIBRARY.add(rel)
    return rel


def parse_map(path, build_dir):
    """Return {module: {section: bytes}} from a GNU ld map file."""
    sizes = {}
    in_memory_map = False
    out_sec = None
    pending = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not in_memory_map:
                if line.startswith("Linker script and memory map"):
                    in_memory_map = True
                continue
            m = OUT_RE.match(line)
            if m:
                out_sec = m.group(1)
                pending = None
                continue
            if line and not line.startswith(" "):
                # Another top-level entry (e.g. a zero-size output section
                # split over lines, or LOAD lines).
                name = line.split()[0]
                out_sec = name if name.startswith(".") else None
                pending = None
                continue
            if out_sec not in KNOWN_SECTIONS:
                continue
            m = FILL_RE.match(line)
            if m:
                add(sizes, "(padding)", out_sec, int(m.group(2), 16))
                pending = None
                continue
            m = IN_FULL_RE.match(line)
            if m and not m.group(1).startswith("*"):
                add(sizes, module_name(m.group(4), build_dir), out_sec,
                    int(m.group(3), 16))
                pending = None
                continue
            m = IN_NAME_RE.match(line)
            if m and not m.group(1).startswith("*"):
                pending = m.group(1)
                continue
            m = IN_CONT_RE.match(line)
            if m and pending is not None:
                add(sizes, module_name(m.group(3), build_dir), out_sec,
                    int(m.group(2), 16))
                pending = None
                continue
            pending = None
    return sizes


def add(sizes, module, section, n):
    if n == 0:
        return
    sec = sizes.setdefault(module, {})
    sec[section] = sec.get(section, 0) + n


def elf_sections(path):
    """Return {section name: size} from an ELF32 little-endian file."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        raise ValueError("%s: not a 32-bit little-endian ELF" % path)
    (e_shoff,) = struct.unpack_from("<I", data, 0x20)
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 0x2E)
    headers = []
    for i in range(e_shnum):
        off = e_shoff + i * e_shentsize
        name, _typ, _flags, _addr, offset, size = struct.unpack_from(
            "<IIIIII", data, off)
        headers.append((name, offset, size))
    _, str_off, _ = headers[e_shstrndx]
    out = {}
    for name, _offset, size in headers:
        end = data.index(b"\0", str_off + name)
        out[data[str_off + name:end].decode()] = size
    return out


def totals(secs):
    flash = sum(v for k, v in secs.items() if k in FLASH_SECTIONS)
    ram = sum(v for k, v in secs.items() if k in RAM_SECTIONS)
    return {
        "flash": flash,
        "ram": ram,
        "text": secs.get(".text", 0),
        "data": secs.get(".data", 0),
        "bss": secs.get(".bss", 0) + secs.get(".noinit", 0),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mcu", required=True)
    ap.add_argument("--map", required=True)
    ap.add_argument("--elf", required=True)
    ap.add_argument("--txt", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--core", default="",
                    help="space-separated modules of the crypto core "
                    "(the issue-4 primitives, target <= 5 KB)")
    args = ap.parse_args()

    build_dir = os.path.dirname(args.map)
    sizes = parse_map(args.map, build_dir)
    modules = {name: totals(secs) for name, secs in sizes.items()}

    sum_secs = {}
    for secs in sizes.values():
        for k, v in secs.items():
            sum_secs[k] = sum_secs.get(k, 0) + v
    total = totals(sum_secs)

    elf = elf_sections(args.elf)
    elf_total = totals({k: elf.get(k, 0) for k in KNOWN_SECTIONS})
    if (elf_total["flash"], elf_total["ram"]) != (total["flash"], total["ram"]):
        sys.stderr.write(
            "sizereport: map totals (flash %d, ram %d) differ from ELF "
            "(flash %d, ram %d)\n" % (total["flash"], total["ram"],
                                      elf_total["flash"], elf_total["ram"]))
        return 1

    crypto_secs = {}
    for name, secs in sizes.items():
        if name.startswith("crypto/"):
            for k, v in secs.items():
                crypto_secs[k] = crypto_secs.get(k, 0) + v
    crypto = totals(crypto_secs)
    lib_secs = {}
    for name, secs in sizes.items():
        if name in LIBRARY:
            for k, v in secs.items():
                lib_secs[k] = lib_secs.get(k, 0) + v
    library = totals(lib_secs)
    core_names = [n[len("lib/"):] if n.startswith("lib/") else n
                  for n in args.core.split()]
    core_secs = {}
    for name in core_names:
        for k, v in sizes.get(name, {}).items():
            core_secs[k] = core_secs.get(k, 0) + v
    core = totals(core_secs)
    flash_cap, ram_cap = CAPACITY.get(args.mcu, (0, 0))

    report = {
        "mcu": args.mcu,
        "elf": os.path.basename(args.elf),
        "capacity": {"flash": flash_cap, "ram": ram_cap},
        "total": total,
        "groups": {"crypto": crypto, "crypto_core": core, "library": library},
        "targets": {"crypto_flash": CRYPTO_FLASH_TARGET},
        "modules": {k: modules[k] for k in sorted(modules)},
    }
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, sort_keys=False)
        f.write("\n")

    lines = []
    lines.append("size report: %s (%s)" % (args.elf, args.mcu))
    lines.append("%-22s %7s %7s   %6s %6s %6s" %
                 ("module", "flash", "ram", "text", "data", "bss"))
    for name in sorted(modules, key=lambda n: (-modules[n]["flash"], n)):
        t = modules[name]
        lines.append("%-22s %7d %7d   %6d %6d %6d" %
                     (name, t["flash"], t["ram"], t["text"], t["data"],
                      t["bss"]))
    lines.append("-" * 62)
    lines.append("%-22s %7d %7d" %
                 ("crypto (crypto/*)", crypto["flash"], crypto["ram"]))
    lines.append("%-22s %7d %7d" %
                 ("library (lib/)", library["flash"], library["ram"]))
    if core_names:
        lines.append("%-22s %7d %7d   (target flash <= %d: %s)" %
                     ("crypto core", core["flash"], core["ram"],
                      CRYPTO_FLASH_TARGET,
                      "met" if core["flash"] <= CRYPTO_FLASH_TARGET
                      else "NOT MET"))
    cap = ""
    if flash_cap:
        cap = "   (%.1f%% of %d flash, %.1f%% of %d RAM)" % (
            100.0 * total["flash"] / flash_cap, flash_cap,
            100.0 * total["ram"] / ram_cap, ram_cap)
    lines.append("%-22s %7d %7d%s" %
                 ("total", total["flash"], total["ram"], cap))
    with open(args.txt, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
