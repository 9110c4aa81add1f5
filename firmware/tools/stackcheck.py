#!/usr/bin/env python3
"""stackcheck.py - fail when an image's stack can run into its static data.

    stackcheck.py [--margin N] NAME:MCU:DIR...

For each image it reads DIR/size-report.json (static RAM, RAM capacity) and
DIR/stack.txt (the measured stack high-water mark, written by
tools/stackmark.sh from mssim's MSSIM_STACK; sizetable.py reads the same
files) and checks

    static RAM + measured stack + margin <= RAM

The margin (32 B by default) covers what one run may not show: an
interrupt (UART RX/TX, the Timer2 tick, the watchdog) entered at the
deepest point rather than elsewhere. An image whose measurement is
missing, older than the image, or from a run with a failed step fails too.
On a failure the call chain at the deepest point is printed
(tools/stackchain.py). Exit status 1 if any image fails. Standard library
only (and avr-nm for the chain).
"""

import argparse
import os
import subprocess
import sys

import sizetable


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--margin", type=int, default=32)
    ap.add_argument("rows", nargs="+", metavar="NAME:MCU:DIR")
    a = ap.parse_args()
    bad = 0
    for spec in a.rows:
        r = sizetable.load(spec)
        d = spec.split(":", 2)[2]
        name = "%s/%s" % (r["profile"], r["mcu"])
        ram = r["capacity"]["ram"]
        if r["stack"] is None:
            print("stack-check: %s: no current measurement (%s)" % (name, os.path.join(d, "stack.txt")))
            bad = 1
            continue
        total = r["static_ram"] + r["stack"] + a.margin
        ok = total <= ram and not r["stack_run_failed"]
        print("stack-check: %s: static %d + stack %d + margin %d = %d %s %d%s" % (
            name, r["static_ram"], r["stack"], a.margin, total, "<=" if total <= ram else ">",
            ram, "" if ok else ": FAIL"))
        if r["stack_run_failed"]:
            print("stack-check: %s: a step failed: %s" % (name, r["stack_run_failed"]))
        if not ok:
            bad = 1
            here = os.path.dirname(os.path.abspath(__file__))
            subprocess.run([sys.executable, os.path.join(here, "stackchain.py"),
                            os.path.join(d, "mstool.elf"), os.path.join(d, "stack.txt")])
    return bad


if __name__ == "__main__":
    sys.exit(main())
