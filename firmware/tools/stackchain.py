#!/usr/bin/env python3
"""stackchain.py - the call chain at a measured stack high-water mark.

    stackchain.py ELF STACK.TXT

STACK.TXT is what sim/mssim.c writes with MSSIM_STACK=FILE: the depth
(stack= main + isr), the main program's lowest SP, the PC there and the
chain of frames live at that moment (chain=: depth after each call or interrupt entry @ the entry PC,
outermost first). Prints one line per frame: its depth below RAMEND, the
bytes it added (return address, saved registers, locals) and its function;
the last line is the function running at the deepest point.
"""
import bisect
import subprocess
import sys


def main():
    elf, path = sys.argv[1], sys.argv[2]
    kv = dict(l.strip().split("=", 1) for l in open(path) if "=" in l)
    ramend = int(kv["ramend"], 16)
    syms = []
    out = subprocess.run(["avr-nm", "-n", "-S", elf], capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "tTwW":
            syms.append((int(f[0], 16), int(f[1], 16), f[3]))
    starts = [s[0] for s in syms]

    def func(a):
        i = bisect.bisect_right(starts, a) - 1
        if i >= 0 and a < syms[i][0] + max(syms[i][1], 2):
            return "%s+0x%x" % (syms[i][2], a - syms[i][0]) if a != syms[i][0] else syms[i][2]
        return "0x%x" % a

    frames = [f.split("@") for f in kv.get("chain", "").split()]
    print("stack=%s: main %s (its deepest point: pc in %s) + interrupt %s (vector 0x%x)" % (
        kv["stack"], kv.get("main", "?"), func(int(kv["min_pc"], 16)), kv.get("isr", "?"),
        int(kv.get("isr_vector", "0"), 16)))
    prev = 0
    for d, pc in frames:
        d = int(d)
        print("  %4d  +%-4d %s" % (d, d - prev, func(int(pc, 16))))
        prev = d
    total = ramend - int(kv["min_sp"], 16)
    print("  %4d  +%-4d (the frame of the last, at the deepest point)" % (total, total - prev))


main()
