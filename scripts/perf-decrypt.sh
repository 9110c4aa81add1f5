#!/bin/sh
# perf-decrypt.sh: time `mstool decrypt` against tshark decrypting the same
# large ESP capture (docs/PERFORMANCE.md, "mstool decrypt vs tshark").
#
#   scripts/perf-decrypt.sh [SIZE_MB]     (default 200; needs go and tshark)
#
# PERF_DIR (default: a new temporary directory) holds the capture, the SA
# file and the esp_sa table; it is removed at the end unless PERF_KEEP=1.
set -eu

size=${1:-200}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${PERF_DIR:-$(mktemp -d)}
keep=${PERF_KEEP:-0}
cleanup() { [ "$keep" = 1 ] || rm -rf "$dir"; }
trap cleanup EXIT

command -v tshark >/dev/null || { echo "perf-decrypt: tshark is missing (apt-get install tshark)" >&2; exit 1; }

cd "$root"
go build -o "$dir/mstool" ./cmd/mstool
go run ./internal/gencap -o "$dir" -size "$size"
ls -l "$dir/esp.pcap"

# tshark: decrypt and dissect every packet with the exported esp_sa records
# (a private configuration directory holds nothing else).
set -- -o esp.enable_encryption_decode:TRUE -o esp.enable_authentication_check:TRUE
while IFS= read -r line; do
	case $line in '#'*|'') continue ;; esac
	set -- "$@" -o "uat:esp_sa:$line"
done <"$dir/esp_sa"

echo "== mstool decrypt (GOMAXPROCS=$(nproc))"
/usr/bin/time -f '%e s elapsed, %U s user, %S s sys, %M KiB max RSS' \
	"$dir/mstool" decrypt "$dir/esp.pcap" -o "$dir/out.pcap" --sa "$dir/dev.sa" --force

echo "== tshark -r ... -T fields (decrypting ESP)"
XDG_CONFIG_HOME="$dir/xdg" HOME="$dir" /usr/bin/time -f '%e s elapsed, %U s user, %S s sys, %M KiB max RSS' \
	tshark -n -r "$dir/esp.pcap" "$@" -T fields -e frame.number -e icmp.seq -e udp.length >"$dir/tshark.txt"
echo "tshark printed $(wc -l <"$dir/tshark.txt") packets, $(awk -F'\t' '$2!=""||$3!=""' "$dir/tshark.txt" | wc -l) decrypted"
