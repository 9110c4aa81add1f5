#!/usr/bin/env bash
# comparison.sh - measure the rows of docs/COMPARISON.md and rewrite its
# measured part (between the comparison markers). Run after 'make all'
# (make comparison does both); takes about a minute.
#
#   (a) ESP CCM-8: task 'adc 3' to the simulated device (mstool sim, the
#       reference ATmega328P image), the serial link recorded, the device's
#       cycles read with management STATUS after each request;
#   (b) MSSL: a first handshake (RSA-2048 grant), one 'adc 3', close; then
#       the same with the grant cached (resumed), cycles per message;
#   (c) CoAP over DTLS 1.2 PSK (TLS_PSK_WITH_AES_128_CCM_8): coap-client-openssl
#       -> a recording UDP relay -> mstool gateway -> ESP -> the device;
#   (d) CoAP over ESP to the device's own CoAP server: coap-client's own
#       request (captured on the loopback) sent through ESP like (a)'s, to a
#       second simulated device running the esp-coap profile's image when it
#       is built; with COAP_PCAP=FILE (a raw-IP recording of that exchange,
#       ESP under the SA in COAP_SA) that recording is accounted instead;
#       with neither, the request is only sealed by the host's ESP code and
#       the response is marked pending;
#   flash and RAM from the size reports of the reference image and of the
#   profiles esp, esp-mssl (and esp-coap when firmware/profiles.mk has it),
#   built here with 'make -C firmware profile' (incremental).
#
# Internal/comparison does the accounting; this script only sets up. The
# per-run JSON files stay in $KEEP when that is set.
set -euo pipefail
cd "$(dirname "$0")/.."
MCU=atmega328p
DEV_IP=10.0.0.2
HOST_IP=10.0.0.1
for tool in coap-client-openssl; do
	command -v "$tool" >/dev/null || { echo "comparison: $tool is needed (Debian libcoap3-bin)" >&2; exit 1; }
done
[ -f firmware/build/$MCU/mstool.elf ] && [ -x firmware/build/mssim ] ||
	{ echo "comparison: run 'make all' first (firmware/build/$MCU/mstool.elf, firmware/build/mssim)" >&2; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp -r "$tmp"/. "$KEEP"/; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
log() { printf 'comparison: %s\n' "$*" >&2; }

log "building mstool, the measuring program and the profile images"
go build -o "$tmp/mstool" ./cmd/mstool
go build -o "$tmp/comparison" ./internal/comparison/cmd/comparison
profiles="esp esp-mssl"
grep -q '^PROFILE_esp-coap *:=' firmware/profiles.mk && profiles="$profiles esp-coap"
for p in $profiles; do
	make -s -C firmware profile PROFILE="$p" MCU=$MCU >"$tmp/make-$p.log" 2>&1 ||
		{ cat "$tmp/make-$p.log" >&2; exit 1; }
done
m="$tmp/mstool"
c="$tmp/comparison"
w="$tmp/work"
mkdir -p "$w"

log "keys, SA, grant (RSA-2048 owner key), EEPROM image"
"$m" -q keygen device -o "$w/dev.key" >/dev/null
"$m" -q esp sa new -o "$w/host.sa" --suite aes128-ccm8 --src $HOST_IP --dst $DEV_IP
"$m" -q keygen owner -o "$w/owner.pem" --bits 2048 >"$w/owner.pub"
"$m" -q grant sign --key "$w/owner.pem" --device "$w/dev.key" --host-ip $HOST_IP --tasks adc,id \
	--serial 1 --valid-for 24h -o "$w/alice" >/dev/null
"$m" -q provision -d "$w/dev.key" --ip $DEV_IP --sa "$w/host.sa" --issuer "$w/owner.pub" --mcu $MCU -o "$w/dev.hex" >/dev/null

log "starting the simulated device"
"$m" -q sim --mcu $MCU --eeprom "$w/dev.hex" >"$w/port" 2>"$w/sim.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$w/port" ] && break; sleep 0.1; done
[ -s "$w/port" ] || { echo "comparison: the simulator did not start" >&2; cat "$w/sim.log" >&2; exit 1; }
port=$(cat "$w/port")

log "(a) ESP CCM-8: adc 3"
"$c" esp --port "$port" --sa "$w/host.sa" --count 5 --pcap "$w/esp.pcap" -o "$tmp/esp.json"
log "(b) MSSL: first and resumed handshake, adc 3"
"$c" mssl --port "$port" --grant "$w/alice.grant" --device-ip $DEV_IP --dir "$w" -o "$tmp/mssl.json"

log "(c) CoAP over DTLS: coap-client-openssl -> mstool gateway -> ESP -> device"
printf %s mstool-alice-key | od -An -tx1 | tr -d ' \n' >"$w/alice.psk"
echo >>"$w/alice.psk"
chmod 600 "$w/alice.psk"
cat >"$w/gw.conf" <<EOF
mstool-gateway 1
plain 127.0.0.1:0 identity=alice
device dev1 port=$port esp=host.sa timeout=3s
identity alice psk=alice.psk tasks=all
EOF
"$m" --json gateway --config "$w/gw.conf" --listen 127.0.0.1:0 --status-interval 0 >"$w/gw.out" 2>"$w/gw.log" &
gwpid=$!
pids+=($gwpid)
for _ in $(seq 100); do grep -q '"listening"' "$w/gw.out" 2>/dev/null && break; sleep 0.1; done
grep -q '"listening"' "$w/gw.out" || { echo "comparison: the gateway did not start" >&2; cat "$w/gw.log" >&2; exit 1; }
read -r dtls plain < <(python3 -c 'import json,sys
l=json.loads(open(sys.argv[1]).readline()); print(l["addr"], l["plain_addr"])' "$w/gw.out")
tsharkflag=
command -v tshark >/dev/null && tsharkflag=--tshark # cross-check the DTLS records with tshark's dissector
"$c" dtls --dtls "$dtls" --plain "$plain" --identity alice --key mstool-alice-key --path 'dev1/adc?ch=3' \
	--pcap "$w/dtls.pcap" $tsharkflag -o "$tmp/dtls.json"
kill -TERM "$gwpid"; wait "$gwpid" 2>/dev/null || true

log "(d) CoAP over ESP"
coap_elf=firmware/build/profile/esp-coap/$MCU/mstool.elf
if [ -n "${COAP_PCAP:-}" ]; then
	"$c" coap-esp --sa "${COAP_SA:?COAP_SA: the SA file of COAP_PCAP}" --pcap "$COAP_PCAP" -o "$tmp/coap-esp.json"
elif [ -f "$coap_elf" ]; then
	# The esp-coap image on a second simulated device, with SAs of its own.
	"$m" -q esp sa new -o "$w/coap.sa" --suite aes128-ccm8 --src $HOST_IP --dst $DEV_IP
	"$m" -q provision -d "$w/dev.key" --ip $DEV_IP --sa "$w/coap.sa" --mcu $MCU -o "$w/coap.hex" >/dev/null
	"$m" -q sim --mcu $MCU --elf "$coap_elf" --eeprom "$w/coap.hex" >"$w/coap.port" 2>"$w/coap-sim.log" &
	pids+=($!)
	for _ in $(seq 100); do [ -s "$w/coap.port" ] && break; sleep 0.1; done
	[ -s "$w/coap.port" ] || { echo "comparison: the esp-coap simulator did not start" >&2; cat "$w/coap-sim.log" >&2; exit 1; }
	"$c" coap-esp --port "$(cat "$w/coap.port")" --sa "$w/coap.sa" --path '4?3' --rec "$w/coap.pcap" -o "$tmp/coap-esp.json"
else
	"$c" coap-esp --sa "$w/host.sa" --path '4?3' -o "$tmp/coap-esp.json"
fi

stamp="on commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- 2>/dev/null || echo ' (plus working tree)'), $(date -u +%Y-%m-%d)"
"$c" report --dir "$tmp" --doc docs/COMPARISON.md --size firmware/build/$MCU/size-report.json \
	--profiles firmware/build/profile --stamp "$stamp"
log "docs/COMPARISON.md updated"
