#!/usr/bin/env bash
# demo.sh - mstool's main job against the simulated device, start to end:
# build mstool and the firmware, make a device identity and an ESP SA pair,
# provision an EEPROM image, start the simulated ATmega328P with it, ping it
# and run tasks through ESP while recording the link, decrypt the capture,
# benchmark the device's crypto; then sign an MSSL grant, run tasks over MSSL
# on the MSSL firmware image, and decrypt that capture with the key log. Every step is printed before it runs;
# the script stops with a non-zero status at the first failure and always
# stops the simulator.
#
#   ./scripts/demo.sh            (make demo runs it)
#   DEMO_DIR=out ./scripts/demo.sh   keep the files in ./out (default: a temp dir)
#   SUITE=aes128-cbc-hmac-md5-96 ./scripts/demo.sh   another ESP suite
#   SKIP_MAKE=1 ./scripts/demo.sh   use the firmware already in firmware/build
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

SUITE=${SUITE:-aes128-ccm8}
HOST_IP=10.0.0.1
DEV_IP=10.0.0.2
if [ -n "${DEMO_DIR:-}" ]; then
	mkdir -p "$DEMO_DIR"
	work=$(cd "$DEMO_DIR" && pwd)
	if [ -e "$work/host.sa" ]; then
		echo "demo: $work already holds a demo; choose an empty DEMO_DIR" >&2
		exit 1
	fi
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/mstool-demo.XXXXXX")
fi
simpid=
cleanup() {
	status=$?
	if [ -n "$simpid" ]; then
		kill -TERM "$simpid" 2>/dev/null || true
		wait "$simpid" 2>/dev/null || true
	fi
	if [ $status -ne 0 ]; then
		echo "demo: FAILED (status $status); files in $work" >&2
		[ -s "$work/sim.log" ] && sed 's/^/  sim: /' "$work/sim.log" >&2
	fi
	exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bold=$(tput bold 2>/dev/null || true)
plain=$(tput sgr0 2>/dev/null || true)
# Bold only on a terminal and never with NO_COLOR, as mstool itself (make demo > log).
if [ -n "${NO_COLOR:-}" ] || [ ! -t 1 ]; then bold= plain=; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
show() {
	printf '$ %s\n' "$*"
	"$@"
}

step "build mstool and the firmware (ATmega328P) and the simulator"
show go build -o "$work/mstool" ./cmd/mstool
if [ -z "${SKIP_MAKE:-}" ]; then
	show make -s -C firmware MCUS=atmega328p >"$work/make.log" 2>&1 || { cat "$work/make.log" >&2; exit 1; }
fi
mstool="$work/mstool"
cd "$work"

step "a device identity (id + master key) and an ESP SA pair ($SUITE)"
show "$mstool" keygen device -o dev.key
show "$mstool" esp sa new -o host.sa --suite "$SUITE" --host-ip "$HOST_IP" --device-ip "$DEV_IP"

step "provision the device's EEPROM image (Intel HEX)"
show "$mstool" -q provision -d dev.key --device-ip "$DEV_IP" --sa host.sa --firmware "$root/firmware/build/atmega328p/mstool.elf" -o dev.hex
show "$mstool" provision inspect dev.hex

# start_sim ELF EEPROM: start the simulated device, set $port and $simpid.
start_sim() {
	printf '$ mstool sim --elf %s --eeprom %s > port &\n' "$1" "$2"
	rm -f "$work/port"
	(cd "$root" && exec "$mstool" sim --elf "$1" --eeprom "$work/$2" >"$work/port" 2>"$work/sim.log") &
	simpid=$!
	for _ in $(seq 100); do
		[ -s "$work/port" ] && break
		kill -0 "$simpid" 2>/dev/null || { echo "demo: the simulator exited" >&2; exit 1; }
		sleep 0.1
	done
	[ -s "$work/port" ] || { echo "demo: the simulator printed no port" >&2; exit 1; }
	port=$(cat "$work/port")
}
stop_sim() {
	kill -TERM "$simpid"
	wait "$simpid"
	simpid=
}

step "start the simulated device (the real firmware on simavr) with that EEPROM"
start_sim firmware/build/atmega328p/mstool.elf dev.hex
echo "device on $port"

step "ping through ESP, recording the link"
show "$mstool" esp ping --port "$port" --sa host.sa -c 4 --interval 0.2 --pcap session.pcap

step "run tasks through ESP (the same capture would need --force: one file per session)"
show "$mstool" esp exec --port "$port" --sa host.sa id
show "$mstool" esp exec --port "$port" --sa host.sa led on
show "$mstool" esp exec --port "$port" --sa host.sa --pcap tasks.pcap uptime
show "$mstool" esp exec --port "$port" --sa host.sa counters

step "decrypt the captures with the SA file"
show "$mstool" decrypt session.pcap -o session.dec.pcap --sa host.sa
show "$mstool" decrypt tasks.pcap -o tasks.dec.pcap --sa host.sa
if command -v tshark >/dev/null 2>&1; then
	show tshark -n -r session.dec.pcap
	show tshark -n -r tasks.dec.pcap
fi

step "benchmark the device's crypto (cycles from the simulated Timer1)"
show "$mstool" bench --port "$port" --reps 1

step "stop the simulated device (its EEPROM, with the sequence counters, is kept in dev.eep)"
stop_sim

step "MSSL: the owner's signing key and a grant: this host may run id, led and adc"
# The default firmware image has MSSL and verifies RSA-2048 grants.
show "$mstool" keygen owner -o owner.pem --bits 2048 >owner.pub
show "$mstool" grant sign --key owner.pem --device dev.key --host-ip "$HOST_IP" --tasks id,led,adc --serial 1 --valid-for 24h -o alice
show "$mstool" grant inspect alice.grant

step "provision the device again with the issuer's key (fresh SAs: an SA file is provisioned once)"
show "$mstool" esp sa new -o mssl-host.sa --suite "$SUITE" --host-ip "$HOST_IP" --device-ip "$DEV_IP"
show "$mstool" -q provision -d dev.key --device-ip "$DEV_IP" --sa mssl-host.sa --issuer owner.pub --firmware "$root/firmware/build/atmega328p/mstool.elf" -o mssl-dev.hex

step "start the simulated device again, provisioned with the issuer's key"
start_sim firmware/build/atmega328p/mstool.elf mssl-dev.hex
echo "device on $port"

step "MSSL sessions: the first verifies the grant's RSA signature, the next resume from the device's cache"
show "$mstool" mssl exec --port "$port" --device-ip "$DEV_IP" --grant alice.grant --keylog mssl.keys --pcap mssl.pcap led on
show "$mstool" mssl exec --port "$port" --device-ip "$DEV_IP" --grant alice.grant --keylog mssl.keys adc 3
printf '$ mstool mssl exec ... uptime    # not in the grant: denied, exit 4\n'
if "$mstool" mssl exec --port "$port" --device-ip "$DEV_IP" --grant alice.grant uptime; then
	echo "demo: a task outside the grant was allowed" >&2
	exit 1
else
	status=$?
	[ $status -eq 4 ] || { echo "demo: denied task exited $status, want 4" >&2; exit 1; }
	echo "denied, as the grant says (exit 4)"
fi

step "decrypt the MSSL capture with the key log"
show "$mstool" decrypt mssl.pcap -o mssl.dec.pcap --mssl-keylog mssl.keys
if command -v tshark >/dev/null 2>&1; then
	show tshark -n -r mssl.dec.pcap
fi

step "stop the simulated device"
stop_sim
printf '\n%sdemo: OK%s - files in %s\n' "$bold" "$plain" "$work"
