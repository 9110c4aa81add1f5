#!/usr/bin/env bash
# installed-tour.sh - the README tour's simulator steps with an installed mstool.
#
#   scripts/installed-tour.sh ROOT WORKDIR [LABEL]
#
# ROOT is an installed tree on disk: ROOT/bin/mstool, ROOT/lib/mstool/mssim,
# ROOT/share/mstool/firmware/<mcu>/ (make install's PREFIX under DESTDIR, a
# .deb unpacked with dpkg-deb -x (ROOT=.../usr), a release archive unpacked).
# From WORKDIR (created; outside the checkout) and with ROOT/bin/mstool only
# (no $MSTOOL_MSSIM, no --harness/--elf): keygen, esp sa new, provision
# (checked against the installed reference firmware's manifest), mstool sim
# --eeprom in the background (it must run the installed firmware), identify,
# esp ping, esp exec, decrypt, provision inspect, and flash --dry-run of the
# installed reference image. Used by install-test.sh and package-test.sh.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 ROOT WORKDIR [LABEL]" >&2; exit 2; }
inst=$(cd "$1" && pwd -P)
work=$2
label=${3:-installed-tour}

simpid=
cleanup() {
	status=$?
	if [ -n "$simpid" ]; then
		kill -TERM "$simpid" 2>/dev/null || true
		wait "$simpid" 2>/dev/null || true
	fi
	if [ $status -ne 0 ] && [ -s "$work/sim.log" ]; then
		sed 's/^/  sim: /' "$work/sim.log" >&2
	fi
	exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "$label: $*" >&2
	exit 1
}
show() {
	printf '$ %s\n' "$*"
	"$@"
}

for f in bin/mstool lib/mstool/mssim; do
	[ -x "$inst/$f" ] || fail "no $f in $inst"
done
for m in atmega328p atmega168; do
	for f in mstool.elf mstool.hex manifest.json size-report.json; do
		[ -f "$inst/share/mstool/firmware/$m/$f" ] || fail "no share/mstool/firmware/$m/$f in $inst"
	done
done

# Nothing pointing at the build tree.
unset MSTOOL_MSSIM
mstool=$inst/bin/mstool
mkdir -p "$work"
cd "$work"

show "$mstool" keygen owner -o owner.pem >owner.pub
show "$mstool" keygen device -o dev.key --id 42
show "$mstool" esp sa new -o host.sa --host-ip 10.0.0.1 --device-ip 10.0.0.2 --suite aes128-ctr-hmac-sha256-128
show "$mstool" provision --device dev.key --device-ip 10.0.0.2 --sa host.sa --issuer owner.pub -o dev.eeprom.hex 2>provision.err
cat provision.err >&2
# provision checks the suite against the reference firmware's manifest,
# found next to the installed mstool; without it, it warns.
if grep -q 'no firmware image found' provision.err; then
	fail "provision did not find the installed reference firmware"
fi
show "$mstool" provision inspect dev.eeprom.hex

printf '$ %s sim --eeprom dev.eeprom.hex > port &\n' "$mstool"
"$mstool" sim --eeprom dev.eeprom.hex >port 2>sim.log &
simpid=$!
for _ in $(seq 100); do
	[ -s port ] && break
	kill -0 "$simpid" 2>/dev/null || { simpid=; fail "mstool sim exited"; }
	sleep 0.1
done
[ -s port ] || fail "mstool sim printed no port"
port=$(cat port)
grep -q "running firmware $inst/share/mstool/firmware/atmega328p/mstool.elf" sim.log ||
	fail "mstool sim did not run the installed reference firmware ($inst/share/mstool/firmware/atmega328p/mstool.elf)"

show "$mstool" identify --port "$port"
show "$mstool" esp ping --port "$port" --sa host.sa -c 3 --interval 0.2 --pcap link.pcap
show "$mstool" esp exec --port "$port" --sa host.sa led on
show "$mstool" decrypt link.pcap --sa host.sa -o plain.pcap

# Flashing the installed reference image (the command only: no board here).
if command -v avrdude >/dev/null 2>&1; then
	show "$mstool" flash --dry-run --port /dev/null "$inst/share/mstool/firmware/atmega328p/mstool.hex"
elif [ "${CI:-}" = true ]; then
	fail "avrdude not found"
else
	echo "$label: avrdude not found: flash --dry-run not checked" >&2
fi

kill -TERM "$simpid"
wait "$simpid" || { simpid=; fail "mstool sim did not stop cleanly"; }
simpid=
echo "$label: ok ($mstool, sim, provision, esp from $work)"
