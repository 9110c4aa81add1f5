#!/usr/bin/env python3
"""modgraph.py - fail on a dependency cycle between the library's modules.

A module is one source file of firmware/lib/ (crypto/aes, net/ipv4, esp...;
a .c and its .S kernel, e.g. crypto/aes and crypto/aes_avr, are one). Two
graphs are checked, and each must be acyclic:

  includes  module A -> B when A's .c or .h includes B's header
            (#include "..." lines, resolved against firmware/lib/)
  calls     module A -> B when A's object needs a symbol B's object
            defines (from `nm` on the built objects)

A cycle is printed with the edges that make it, and the exit status is 1.
`--dot` prints the call graph in Graphviz form instead.

Standard library only. Usage (the Makefile's `make modcheck`):
  modgraph.py --lib lib --objs build/atmega328p/lib --nm avr-nm
"""

import argparse
import os
import re
import subprocess
import sys

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_of(rel):
    """lib-relative path -> module name (extension and _avr dropped)."""
    base = os.path.splitext(rel)[0]
    if base.endswith("_avr"):
        base = base[:-len("_avr")]
    return base


def include_graph(lib):
    graph = {}
    for root, _, files in os.walk(lib):
        for f in files:
            if not f.endswith((".c", ".h", ".S")):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, lib)
            src = module_of(rel)
            deps = graph.setdefault(src, {})
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            for inc in INCLUDE_RE.findall(text):
                target = os.path.normpath(os.path.join(os.path.dirname(rel), inc))
                if not os.path.exists(os.path.join(lib, target)):
                    target = os.path.normpath(inc)
                if not os.path.exists(os.path.join(lib, target)):
                    continue  # a system or application header
                dst = module_of(target)
                if dst != src:
                    deps.setdefault(dst, "#include \"%s\" in %s" % (inc, rel))
    return graph


def call_graph(objs, nm):
    defined, needed = {}, {}
    for root, _, files in os.walk(objs):
        for f in files:
            if not f.endswith(".o"):
                continue
            path = os.path.join(root, f)
            mod = module_of(os.path.relpath(path, objs))
            out = subprocess.run([nm, path], check=True, capture_output=True,
                                 text=True).stdout
            for line in out.splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[0] == "U":
                    needed.setdefault(mod, set()).add(parts[1])
                elif len(parts) == 3 and parts[1] in "TDBRCVW":
                    defined[parts[2]] = mod
            needed.setdefault(mod, set())
    graph = {}
    for mod, syms in needed.items():
        deps = graph.setdefault(mod, {})
        for s in sorted(syms):
            dst = defined.get(s)
            if dst and dst != mod:
                deps.setdefault(dst, "calls %s" % s)
    return graph


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def report(kind, graph):
    bad = cycles(graph)
    for comp in bad:
        sys.stderr.write("modgraph: %s cycle between %s:\n" % (kind, ", ".join(comp)))
        for a in comp:
            for b, why in sorted(graph.get(a, {}).items()):
                if b in comp:
                    sys.stderr.write("  %s -> %s (%s)\n" % (a, b, why))
    return len(bad)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", required=True, help="the library's source directory")
    ap.add_argument("--objs", help="the library's objects (one MCU build)")
    ap.add_argument("--nm", default="nm")
    ap.add_argument("--dot", action="store_true")
    args = ap.parse_args()

    inc = include_graph(args.lib)
    calls = call_graph(args.objs, args.nm) if args.objs else {}
    if args.dot:
        print("digraph lib {")
        for a in sorted(calls):
            for b in sorted(calls[a]):
                print('  "%s" -> "%s";' % (a, b))
        print("}")
        return 0
    n = report("include", inc) + report("call", calls)
    if n:
        return 1
    print("modgraph: %d modules, no include or call cycle" % len(inc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
