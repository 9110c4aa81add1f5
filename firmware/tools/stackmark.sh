#!/bin/sh
# stackmark.sh - the measured stack high-water mark of each build profile
# (`make stack`; docs/PERFORMANCE.md "Device library: profiles and sizes").
#
#   MSTOOL=path/to/mstool MSSIM=path/to/mssim stackmark.sh NAME:MCU:DIR...
#
# For each image DIR/mstool.elf it starts the simulated device under
# `mstool sim` with MSSIM_STACK=DIR/stack.txt (sim/mssim.c: the lowest
# stack pointer seen on any instruction) and drives the heaviest paths the
# image has, through the real host tool:
#   serial provisioning (when PROV is linked: factory, then, where the
#   EEPROM can stage, an authenticated re-provisioning) or an EEPROM image;
#   ESP: echo requests of the largest payload the frame takes, tasks;
#   MSSL (when built): a grant handshake (RSA-2048 or seal-only) and tasks;
#   CoAP (when built): a Confirmable GET and a PUT with a payload;
#   the engineering commands (when built): `mstool bench`, RSA included.
# The simulator's report is the deepest of all of these. A step that fails
# ends that image's run; its stack.txt says which ("failed=", marked "!" in
# the table: a stack that runs into the static data corrupts them). An image
# that does not fit its MCU's flash is skipped (no stack.txt: "-").
set -eu
: "${MSTOOL:?MSTOOL: the mstool binary}"
: "${MSSIM:?MSSIM: the mssim harness}"
HOST_IP=10.0.0.1
DEV_IP=10.0.0.2
work=$(mktemp -d "${TMPDIR:-/tmp}/stackmark.XXXXXX")
simpid=
cleanup() {
	[ -n "$simpid" ] && kill "$simpid" 2>/dev/null && wait "$simpid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

# start_sim ELF MCU EEPROM STACKFILE: sets $port and $simpid.
start_sim() {
	rm -f "$work/port"
	MSSIM_STACK=$4 "$MSTOOL" sim --harness "$MSSIM" --elf "$1" --mcu "$2" --eeprom "$3" \
		>"$work/port" 2>"$work/sim.log" &
	simpid=$!
	i=0
	while ! grep -q '^/' "$work/port" 2>/dev/null; do
		kill -0 "$simpid" 2>/dev/null || { cat "$work/sim.log" >&2; echo "stackmark: the simulator exited" >&2; exit 1; }
		i=$((i + 1)); [ $i -lt 200 ] || { echo "stackmark: no port" >&2; exit 1; }
		sleep 0.05
	done
	port=$(head -n 1 "$work/port")
}
stop_sim() {
	kill "$simpid"; wait "$simpid" 2>/dev/null || true
	simpid=
}
# run CMD...: run a step; after a failed step the image's remaining steps
# are skipped and the failure is noted in its stack.txt ("failed=").
failed=
run() {
	[ -z "$failed" ] || return 0
	"$@" >>"$work/run.log" 2>&1 && return 0
	failed="$*"
	tail -n 3 "$work/run.log" >&2
	echo "stackmark: $name/$mcu: failed: $*" >&2
}

for row in "$@"; do
	name=${row%%:*}; rest=${row#*:}; mcu=${rest%%:*}; dir=${rest#*:}
	elf=$dir/mstool.elf
	out=$dir/stack.txt
	rm -f "$out"
	cap=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["capacity"]["flash"]-512-r["total"]["flash"])' "$dir/size-report.json")
	if [ "$cap" -lt -512 ]; then
		echo "stackmark: $name/$mcu does not fit the flash: not run" >&2
		continue
	fi
	man=$dir/manifest.json
	has() { python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(int(bool(m[sys.argv[2]])))' "$man" "$1"; }
	mssl=$(has mssl); eng=$(has engineering); coap=$(has coap)
	rsa_bits=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rsa_max_bits"])' "$man")
	suite=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["esp_suites"][-1])' "$man")
	frame=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["frame_max"])' "$man")
	prov=0; avr-nm "$elf" | grep -q ' prov_handle$' && prov=1
	d=$work/$name-$mcu; mkdir -p "$d"; cd "$d"
	: >"$work/run.log"
	failed=
	run "$MSTOOL" keygen device -o dev.key
	run "$MSTOOL" esp sa new -o host.sa --suite "$suite" --src "$HOST_IP" --dst "$DEV_IP"
	bits=2048; [ "$mcu" = atmega168 ] && bits=1024
	seal=; issuer=
	if [ "$mssl" = 1 ]; then
		"$MSTOOL" keygen owner -o owner.pem --bits $bits >owner.pub 2>>"$work/run.log"
		issuer="--issuer owner.pub"
		[ "$rsa_bits" = 0 ] && seal=--mssl-seal-only
	fi
	if [ "$prov" = 1 ]; then
		start_sim "$elf" "$mcu" "$d/ee.bin" "$out"
		# shellcheck disable=SC2086
		run "$MSTOOL" -q provision -d dev.key --ip "$DEV_IP" --sa host.sa $issuer $seal \
			--port "$port" --no-reset
		# then an authenticated re-provisioning (BEGIN, encrypted DATA,
		# END: the journalled commit) of the same configuration, where
		# the EEPROM can stage one (1 KB: not the ATmega168's 512 B)
		if [ "$mcu" != atmega168 ]; then
			# shellcheck disable=SC2086
			run "$MSTOOL" -q provision -d dev.key --current-device dev.key --ip "$DEV_IP" \
				--sa host.sa $issuer $seal --port "$port" --no-reset
		fi
	else
		# shellcheck disable=SC2086
		run "$MSTOOL" -q provision -d dev.key --ip "$DEV_IP" --sa host.sa $issuer $seal \
			--mcu "$mcu" --firmware "$elf" -o dev.hex
		start_sim "$elf" "$mcu" "$d/dev.hex" "$out"
	fi
	# ESP: the largest echo the frame takes in every suite (frame - IPv4 20
	# - ICMP 8 - ESP header 8, IV up to 16, ICV up to 16, trailer up to 17;
	# 1 spare), then tasks.
	size=$((frame - 86))
	run "$MSTOOL" esp ping --port "$port" --sa host.sa --no-reset -c 2 --interval 0.1 --size $size
	run "$MSTOOL" esp exec --port "$port" --sa host.sa --no-reset id
	run "$MSTOOL" esp exec --port "$port" --sa host.sa --no-reset counters
	if [ "$mssl" = 1 ]; then
		run "$MSTOOL" grant sign --key owner.pem --device dev.key --host-ip "$HOST_IP" \
			--tasks id,led,adc --serial 1 --valid-for 24h -o alice
		run "$MSTOOL" mssl exec --port "$port" --no-reset --device-ip "$DEV_IP" --grant alice.grant led on
		run "$MSTOOL" mssl exec --port "$port" --no-reset --device-ip "$DEV_IP" --grant alice.grant adc 3
	fi
	if [ "$coap" = 1 ]; then
		# CON GET /4?3 with an 8-byte token; CON PUT /6?1 payload beef
		# (settings-write: an EEPROM commit)
		run "$MSTOOL" esp send --port "$port" --sa host.sa --no-reset --to-port 5683 --reply --hex \
			4801c0010102030405060708b1344133
		run "$MSTOOL" esp send --port "$port" --sa host.sa --no-reset --to-port 5683 --reply --hex \
			4803c0020102030405060708b1364131ffbeef
	fi
	if [ "$eng" = 1 ]; then
		run "$MSTOOL" bench --port "$port" --no-reset --reps 1
	fi
	stop_sim
	cd - >/dev/null
	i=0; while [ ! -s "$out" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	[ -s "$out" ] || { echo "stackmark: $name/$mcu: no measurement in $out" >&2; exit 1; }
	[ -z "$failed" ] || echo "failed=${failed#"$MSTOOL" }" | sed 's#/dev/pts/[0-9]*#PORT#' >>"$out"
	echo "stackmark: $name/$mcu: $(sed -n 's/^stack=//p' "$out") bytes of stack" >&2
done
