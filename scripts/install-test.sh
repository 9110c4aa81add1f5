#!/usr/bin/env bash
# install-test.sh - the installed layout works outside a source checkout.
#
# Runs 'make install' into a temporary DESTDIR, then, from a temporary
# directory outside the checkout and with the installed mstool only (no
# $MSTOOL_MSSIM, no --harness/--elf), the README tour's steps that need
# the simulated device: keygen, esp sa new, provision (checked against the
# installed reference firmware's manifest), mstool sim --eeprom in the
# background, identify, esp ping, esp exec, decrypt, provision inspect,
# and flash --dry-run of the installed reference image
# (scripts/installed-tour.sh). scripts/package-test.sh does the same with
# the release .deb and archive.
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
cleanup() {
	status=$?
	if [ $status -ne 0 ]; then
		echo "install-test: FAILED (status $status); files in $tmp" >&2
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
"$root/scripts/installed-tour.sh" "$inst" "$tmp/work" install-test
