#!/usr/bin/env bash
# perf-esp.sh - measure, per ESP suite, the device cycles to answer one
# ESP-protected ICMP echo with a 64-byte payload, on the simulated
# ATmega328P running the real firmware, and rewrite the subsection
# "### ESP ping cycles (measured by the host)" of docs/PERFORMANCE.md
# (between the esp-ping-cycles markers).
#
# The device reports, in its management STATUS reply, the Timer1 cycles
# from the end of the last IPv4 packet's SLIP frame to its reply being
# queued (docs/firmware-net.md); 'mstool esp ping --cycles' reads it after
# every echo. The table shows the minimum over the pings (the maximum
# adds interrupts that fell inside the measurement). Run from anywhere; make perf may call it.
set -euo pipefail
cd "$(dirname "$0")/.."
MCU=${MCU:-atmega328p}
COUNT=${COUNT:-16}
tmp=$(mktemp -d)
simpid=
trap 'if [ -n "$simpid" ]; then kill "$simpid" 2>/dev/null || true; wait "$simpid" 2>/dev/null || true; fi; rm -rf "$tmp"' EXIT
if [ -z "${SKIP_MAKE:-}" ]; then
	make -s -C firmware MCUS="$MCU" >"$tmp/make.log" 2>&1 || { cat "$tmp/make.log" >&2; exit 1; }
fi
go build -o "$tmp/mstool" ./cmd/mstool
m="$tmp/mstool"
rows=()
for suite in aes128-ccm8 aes128-cbc-hmac-md5-96 aes128-ctr-hmac-sha256-128; do
	d="$tmp/$suite"
	mkdir -p "$d"
	"$m" -q keygen device -o "$d/dev.key" >/dev/null
	"$m" -q esp sa new -o "$d/host.sa" --suite "$suite" --src 10.0.0.1 --dst 10.0.0.2
	"$m" -q provision -d "$d/dev.key" --ip 10.0.0.2 --sa "$d/host.sa" --mcu "$MCU" -o "$d/dev.hex" >/dev/null
	"$m" -q sim --mcu "$MCU" --eeprom "$d/dev.hex" >"$d/port" 2>"$d/sim.log" &
	simpid=$!
	for _ in $(seq 100); do [ -s "$d/port" ] && break; sleep 0.1; done
	[ -s "$d/port" ] || { echo "perf-esp: the simulator did not start" >&2; cat "$d/sim.log" >&2; exit 1; }
	"$m" --json esp ping --port "$(cat "$d/port")" --sa "$d/host.sa" -c "$COUNT" --interval 0 --size 64 --cycles >"$d/ping.json"
	kill -TERM "$simpid"
	wait "$simpid" || true
	simpid=
	rows+=("$(python3 - "$d/ping.json" "$suite" <<'PY'
import json, sys
# esp ping --json: one line per reply, then the summary ("type": "summary")
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
r = next(l for l in reversed(lines) if l.get("type") == "summary")
c = r["device_cycles"]
mn = c["min"]
print(f"| {sys.argv[2]} | {r['received']}/{r['transmitted']} | {mn:,} | {mn/16000:.2f} ms | {c['max']:,} | {r['rtt_ms']['min']:.1f} ms |")
PY
)")
done
table="$tmp/table.md"
{
	echo "<!-- esp-ping-cycles:begin (scripts/perf-esp.sh writes this table) -->"
	echo "$MCU at 16 MHz on simavr (mssim), repository commit $(git rev-parse --short HEAD 2>/dev/null || echo "?") (plus working tree), $(date -u +%Y-%m-%d);"
	echo "one ICMP echo request with a 64-byte payload inside ESP (transport mode), answered"
	echo "through ESP; $COUNT pings per suite. Device cycles: Timer1 count from the end of the"
	echo "request's SLIP frame to the reply queued (IPv4 + ESP open + ICMP + ESP seal), read"
	echo "with \`mstool esp ping --cycles\` (management STATUS). Min is the figure; max adds the"
	echo "interrupts that fell inside (4 ms tick, UART). RTT is measured by the host and adds"
	echo "the UART transmission of both frames at 115200 baud and the simulator's pacing."
	echo
	echo "| suite | answered | device cycles (min) | at 16 MHz | cycles (max) | RTT min |"
	echo "|---|---:|---:|---:|---:|---:|"
	printf '%s\n' "${rows[@]}"
	echo "<!-- esp-ping-cycles:end -->"
} >"$table"
python3 - docs/PERFORMANCE.md "$table" <<'PY'
import re, sys
doc, table = sys.argv[1], open(sys.argv[2]).read().rstrip("\n")
s = open(doc).read()
head = "### ESP ping cycles (measured by the host)"
begin, end = "<!-- esp-ping-cycles:begin", "<!-- esp-ping-cycles:end -->"
if begin in s:
    i = s.index(begin); j = s.index(end) + len(end)
    s = s[:i] + table + s[j:]
else:
    block = "\n" + head + "\n\n" + table + "\n"
    sec = "## Device: link and ESP"
    if sec in s:
        # At the end of that section (before the next "## ").
        i = s.index(sec) + len(sec)
        m = re.search(r"\n## ", s[i:])
        j = i + m.start() if m else len(s)
        s = s[:j].rstrip("\n") + "\n" + block + s[j:]
    else:
        s = s.rstrip("\n") + "\n\n" + sec + "\n" + block
open(doc, "w").write(s)
PY
cat "$table"
