#!/usr/bin/env python3
"""sizetable.py - the size table of the build profiles (`make size`).

For every profile and MCU given as NAME:MCU:DIR it reads DIR/size-report.json
(tools/sizereport.py) and, when present, DIR/stack.txt (the measured stack
high-water mark: a line "stack=N", written by `make stack` from mssim's
lowest stack pointer while the profile's heaviest path ran), and prints one
table:

  library   flash of the "library (lib/)" group: lib/ modules only, without
            the application (app/), the C runtime, libc and libgcc
  image     flash of the whole image (.text + .data)
  static    static RAM (.data + .bss + .noinit)
  stack     the measured stack high-water mark ("-" when not measured)
  free fl.  flash left for the application: capacity - image - 512 B
            (optiboot's boot section); negative: the image does not fit
  free RAM  RAM capacity - static RAM - stack

and the issue-11, issue-12 (bootstrap) and issue-14 (CoAP) budgets with MET / NOT MET (a budget whose figure is not
measured is NOT MET; a stack measured by a run that failed, "!", is
shown as it is). --txt and --json write the table; --check exits 1
when any budget is NOT MET (otherwise the exit status is 0: a measurement).
--doc FILE checks that FILE (docs/PERFORMANCE.md) holds this table in its
fenced block, byte for byte, and exits 1 if not; with --write-doc it puts
the table there instead (`make size-doc`). With --doc it also checks that
each image's manifest.json promises at least its measured stack (the main
program's deepest point + 16 B for an interrupt): `mstool flash` relies on
that figure.
Standard library only.
"""

import argparse
import json
import os
import sys

BOOT = 512  # optiboot's boot section

# (profile, mcu or None for each MCU, what, limit): the issue-11 targets.
LIB_ESP = 5632
LIB_MSSL_DELTA = 1536
LIB_PROV_DELTA = 1536
LIB_COAP_DELTA = 900  # issue 14: the device's CoAP server
FREE_FLASH_168 = 6144
FREE_RAM_168 = 300
REF_IMAGE_328P = 28672
BOOT_DELTA = 1024  # issue 12: the device side of bootstrapping (AES/CCM shared)


def load(spec):
    name, mcu, d = spec.split(":", 2)
    with open(os.path.join(d, "size-report.json"), encoding="utf-8") as f:
        rep = json.load(f)
    stack = None
    main_stack = None
    failed = None
    manifest_stack = None
    mp = os.path.join(d, "manifest.json")
    if os.path.exists(mp):
        with open(mp, encoding="utf-8") as f:
            manifest_stack = json.load(f).get("stack")
    sp = os.path.join(d, "stack.txt")
    elf = os.path.join(d, "mstool.elf")
    # A measurement older than the image is of another image: not used.
    if os.path.exists(sp) and os.path.getmtime(sp) >= os.path.getmtime(elf):
        with open(sp, encoding="utf-8") as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k == "stack":
                    stack = int(v)
                elif k == "main":
                    main_stack = int(v)
                elif k == "failed":
                    failed = v
    cap_flash = rep["capacity"]["flash"]
    cap_ram = rep["capacity"]["ram"]
    image = rep["total"]["flash"]
    static = rep["total"]["ram"]
    return {
        "profile": name,
        "mcu": mcu,
        "library_flash": rep["groups"]["library"]["flash"],
        "image_flash": image,
        "static_ram": static,
        "stack": stack,
        "stack_main": main_stack,
        "manifest_stack": manifest_stack,
        "stack_run_failed": failed,
        "free_flash": cap_flash - image - BOOT,
        "free_ram": None if stack is None else cap_ram - static - stack,
        "capacity": {"flash": cap_flash, "ram": cap_ram},
    }


def budgets(rows):
    """Return the list of budget results."""
    by = {(r["profile"], r["mcu"]): r for r in rows}
    out = []

    def add(profile, mcu, what, value, op, limit):
        if value is None:
            met = False
        elif op == "<=":
            met = value <= limit
        else:
            met = value >= limit
        out.append({"profile": profile, "mcu": mcu, "budget": what,
                    "value": value, "op": op, "limit": limit,
                    "status": "MET" if met else "NOT MET"})
        by[(profile, mcu)].setdefault("budgets", []).append(out[-1])

    for mcu in sorted({r["mcu"] for r in rows}):
        esp = by.get(("esp", mcu))
        coap = by.get(("esp-coap", mcu))
        mssl = by.get(("esp-mssl", mcu))
        prov = by.get(("esp-mssl-prov", mcu))
        if esp:
            add("esp", mcu, "library", esp["library_flash"], "<=", LIB_ESP)
        if esp and coap:
            add("esp-coap", mcu, "library - esp's",
                coap["library_flash"] - esp["library_flash"], "<=", LIB_COAP_DELTA)
        if esp and mssl:
            add("esp-mssl", mcu, "library - esp's",
                mssl["library_flash"] - esp["library_flash"], "<=", LIB_MSSL_DELTA)
        if mssl and prov:
            add("esp-mssl-prov", mcu, "library - esp-mssl's",
                prov["library_flash"] - mssl["library_flash"], "<=", LIB_PROV_DELTA)
        boot = by.get(("esp-mssl-boot", mcu))
        if prov and boot:
            add("esp-mssl-boot", mcu, "image - esp-mssl-prov's",
                boot["image_flash"] - prov["image_flash"], "<=", BOOT_DELTA)
    prov168 = by.get(("esp-mssl-prov", "atmega168"))
    if prov168:
        add("esp-mssl-prov", "atmega168", "free flash", prov168["free_flash"], ">=", FREE_FLASH_168)
        add("esp-mssl-prov", "atmega168", "free RAM", prov168["free_ram"], ">=", FREE_RAM_168)
    ref = by.get(("reference-328p", "atmega328p"))
    if ref:
        add("reference-328p", "atmega328p", "image", ref["image_flash"], "<=", REF_IMAGE_328P)
    return out


def fmt(v):
    return "-" if v is None else str(v)


def render(rows):
    head = ("profile", "MCU", "library", "image", "static", "stack",
            "free fl.", "free RAM", "budget")
    lines = []
    w = (15, 10, 8, 7, 7, 6, 9, 9)
    lines.append(" ".join(h.ljust(w[i]) if i < 2 else h.rjust(w[i])
                          for i, h in enumerate(head[:-1])) + "  " + head[-1])
    lines.append("-" * 100)
    for r in rows:
        st = fmt(r["stack"]) + ("!" if r.get("stack_run_failed") else "")
        cells = (r["profile"], r["mcu"], fmt(r["library_flash"]),
                 fmt(r["image_flash"]), fmt(r["static_ram"]), st,
                 fmt(r["free_flash"]), fmt(r["free_ram"]))
        b = "; ".join("%s %s %s %d: %s" % (x["budget"], fmt(x["value"]), x["op"],
                                            x["limit"], x["status"])
                      for x in r.get("budgets", []))
        lines.append(" ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i])
                              for i, c in enumerate(cells)) + "  " + b)
    lines.append("-" * 100)
    lines.append("bytes; library = lib/ modules only (size-report.json); free fl. = "
                 "capacity - image - %d (optiboot);" % BOOT)
    lines.append("free RAM = capacity - static - stack; stack = measured high-water "
                 "mark on the simulator (make stack), - = not measured")
    failed = [r for r in rows if r.get("stack_run_failed")]
    if failed:
        lines.append("! the measuring run failed (the stack ran into the static data?):")
        for r in failed:
            lines.append("  %s/%s: %s" % (r["profile"], r["mcu"], r["stack_run_failed"]))
    return "\n".join(lines) + "\n"


# The stack an image's manifest.json promises (tools/manifest.py: what
# `mstool flash` adds to the static RAM to refuse an image that does not
# fit) covers the main program's measured deepest point plus 16 bytes for
# an interrupt handler.
MANIFEST_IRQ = 16


def manifest_stacks(rows):
    """1 (and why on stderr) if a manifest promises less stack than measured."""
    bad = 0
    for r in rows:
        if r["stack_main"] is None or r["manifest_stack"] is None:
            continue
        need = r["stack_main"] + MANIFEST_IRQ
        if r["manifest_stack"] < need:
            sys.stderr.write("size-doc: %s/%s: manifest.json's stack %d < measured %d + %d "
                             "(tools/manifest.py's figures)\n" % (
                                 r["profile"], r["mcu"], r["manifest_stack"], r["stack_main"],
                                 MANIFEST_IRQ))
            bad = 1
    return bad


DOC_HEAD = "```\nprofile         MCU"


def doc_table(path, text, write):
    """Check (or, write: replace) the fenced block of path that starts
    with the table's header line."""
    with open(path, encoding="utf-8") as f:
        doc = f.read()
    start = doc.find(DOC_HEAD)
    end = doc.find("```\n", start + 4) if start >= 0 else -1
    if start < 0 or end < 0 or doc.find(DOC_HEAD, start + 1) >= 0:
        sys.stderr.write("size-doc: %s: no single fenced block starting with the "
                         "table's header\n" % path)
        return 1
    old = doc[start + 4:end]
    if old == text:
        return 0
    if write:
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write(doc[:start + 4] + text + doc[end:])
        os.replace(path + ".tmp", path)
        return 0
    sys.stderr.write("size-doc: the size table in %s is not the measured one "
                     "(make -C firmware size-doc writes it):\n" % path)
    for a, b in zip(old.splitlines(), text.splitlines()):
        if a != b:
            sys.stderr.write("  doc:      %s\n  measured: %s\n" % (a, b))
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--txt")
    ap.add_argument("--json")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 when a budget is NOT MET")
    ap.add_argument("--only", metavar="PROFILE,...",
                    help="with --check: only the budgets of these profiles, or single "
                         "budgets as PROFILE/MCU/BUDGET with '-' for spaces (e.g. "
                         "esp-mssl-prov/atmega168/free-RAM): a guard for the budgets "
                         "already met while others are not")
    ap.add_argument("--doc", metavar="FILE",
                    help="check that FILE's fenced size table is this one")
    ap.add_argument("--write-doc", action="store_true",
                    help="with --doc: write this table into FILE's fenced block")
    ap.add_argument("rows", nargs="+", metavar="NAME:MCU:DIR")
    args = ap.parse_args()
    rows = [load(s) for s in args.rows]
    res = budgets(rows)
    text = render(rows)
    if args.doc:
        return doc_table(args.doc, text, args.write_doc) | manifest_stacks(rows)
    if args.txt:
        with open(args.txt, "w", encoding="utf-8") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"rows": rows, "budgets": res}, f, indent=2)
            f.write("\n")
    sys.stdout.write(text)
    checked = res
    if args.only:
        names = set(args.only.split(","))
        checked = [b for b in res if b["profile"] in names or
                   "%s/%s/%s" % (b["profile"], b["mcu"], b["budget"].replace(" ", "-")) in names]
        if not checked:
            sys.stderr.write("size-check: no budget of %s in the table\n" % args.only)
            return 1
    missed = [b for b in checked if b["status"] != "MET"]
    if args.check and missed:
        for b in missed:
            sys.stderr.write("size-check: %s on %s: %s %s, budget %s %d\n" % (
                b["profile"], b["mcu"], b["budget"], fmt(b["value"]), b["op"], b["limit"]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
