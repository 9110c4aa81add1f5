#!/usr/bin/env bash
# install-test.sh - the installed layout works outside a source checkout.
#
# Runs 'make install' into a temporary DESTDIR, then, from a temporary
# directory outside the checkout and with the installed mstool only (no
# $MSTOOL_MSSIM, no --harness/--elf), the README tour's steps that need
# the simulated device: keygen, esp sa new, provision (checked against the
# installed reference firmware's manifest), mstool sim --eeprom in the
# background, identify, esp ping, esp exec, decrypt, provision inspect,
# and flash --dry-run of the installed reference image.
#
#   scripts/install-test.sh         (make test-install runs it after make)
#
# Without the built harness or firmware (no simavr, no avr-gcc) it skips,
# except in CI (CI=true), where that fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

skip() {
	if [ "${CI:-}" = true ]; then
		echo "install-test: FAIL: $*" >&2
		exit 1
	fi
	echo "install-test: SKIP: $*" >&2
	exit 0
}
for f in bin/mstool firmware/build/mssim firmware/build/atmega328p/mstool.elf firmware/build/atmega168/mstool.elf; do
	[ -f "$f" ] || skip "$f not built (make all; the harness needs libsimavr-dev, the firmware gcc-avr)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mstool-install-test.XXXXXX")
case "$tmp/" in "$root"/*) echo "install-test: $tmp is inside the checkout" >&2; exit 1 ;; esac
simpid=
cleanup() {
	status=$?
	if [ -n "$simpid" ]; then
		kill -TERM "$simpid" 2>/dev/null || true
		wait "$simpid" 2>/dev/null || true
	fi
	if [ $status -ne 0 ]; then
		echo "install-test: FAILED (status $status); files in $tmp" >&2
		[ -s "$tmp/work/sim.log" ] && sed 's/^/  sim: /' "$tmp/work/sim.log" >&2
	else
		rm -rf "$tmp"
	fi
	exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "install-test: $*" >&2
	exit 1
}
show() {
	printf '$ %s\n' "$*"
	"$@"
}

prefix=/usr/local
make -s install DESTDIR="$tmp/dest" PREFIX="$prefix"
inst=$tmp/dest$prefix
for f in bin/mstool lib/mstool/mssim share/man/man1/mstool.1 \
	share/bash-completion/completions/mstool share/zsh/site-functions/_mstool \
	share/fish/vendor_completions.d/mstool.fish; do
	[ -f "$inst/$f" ] || fail "make install did not install $prefix/$f"
done
for m in atmega328p atmega168; do
	for f in mstool.elf mstool.hex manifest.json size-report.json; do
		[ -f "$inst/share/mstool/firmware/$m/$f" ] || fail "make install did not install $prefix/share/mstool/firmware/$m/$f"
	done
done

# From here on: the installed mstool, outside the checkout, with nothing
# pointing at the build tree.
unset MSTOOL_MSSIM
mstool=$inst/bin/mstool
mkdir "$tmp/work"
cd "$tmp/work"

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
	kill -0 "$simpid" 2>/dev/null || { cat sim.log >&2; simpid=; fail "mstool sim exited"; }
	sleep 0.1
done
[ -s port ] || fail "mstool sim printed no port"
port=$(cat port)
grep -q "running firmware $prefix/share/mstool/firmware/atmega328p/mstool.elf" sim.log ||
	grep -q "running firmware $inst/share/mstool/firmware/atmega328p/mstool.elf" sim.log ||
	fail "mstool sim did not run the installed reference firmware"

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
	echo "install-test: avrdude not found: flash --dry-run not checked" >&2
fi

kill -TERM "$simpid"
wait "$simpid" || fail "mstool sim did not stop cleanly"
simpid=
echo "install-test: ok (installed mstool, sim, provision, esp from $tmp/work)"
