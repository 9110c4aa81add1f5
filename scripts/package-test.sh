#!/usr/bin/env bash
# package-test.sh - the release packages work as installed, outside the checkout.
#
# Builds a goreleaser snapshot of .goreleaser.yaml limited to linux/amd64
# (the lines between '# >>> not linux/amd64' and '# <<< not linux/amd64'
# dropped, dist/ in a temporary directory, the before hooks skipped: they
# regenerate completions and man page (a Go test checks those are current)
# and build the firmware and harness, which make test-install has built;
# skipping them saves a cold compile of mstool), then
#   - the .deb: its Depends cover what the packaged harness links
#     (dpkg-shlibdeps), unpacked with dpkg-deb -x into a temporary root
#     (no system install), and the README tour's simulator steps
#     (scripts/installed-tour.sh) with ROOT/usr/bin/mstool;
#   - the linux/amd64 archive: unpacked into another temporary directory,
#     the same steps with its bin/mstool.
#
#   scripts/package-test.sh        (make test-install runs it after install-test.sh)
#
# goreleaser: $GORELEASER, else $(go env GOPATH)/bin/goreleaser, else on
# PATH (.ci/run installs the pinned one). Without it or dpkg-deb it skips,
# except in CI (CI=true), where that fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

skip() {
	if [ "${CI:-}" = true ]; then
		echo "package-test: FAIL: $*" >&2
		exit 1
	fi
	echo "package-test: SKIP: $*" >&2
	exit 0
}
fail() {
	echo "package-test: $*" >&2
	exit 1
}

goreleaser=${GORELEASER:-}
if [ -z "$goreleaser" ]; then
	goreleaser="$(go env GOPATH 2>/dev/null)/bin/goreleaser"
	[ -x "$goreleaser" ] || goreleaser=$(command -v goreleaser || true)
fi
[ -n "$goreleaser" ] && [ -x "$goreleaser" ] || skip "goreleaser not found (.ci/run installs it; or set GORELEASER)"
command -v dpkg-deb >/dev/null 2>&1 || skip "dpkg-deb not found"
[ "$(go env GOOS)/$(go env GOARCH)" = linux/amd64 ] || skip "the harness is packaged for linux/amd64 only"
for f in firmware/build/mssim firmware/build/atmega328p/mstool.elf firmware/build/atmega168/mstool.elf; do
	[ -f "$f" ] || skip "$f not built (make firmware; the harness needs libsimavr-dev, the firmware gcc-avr)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mstool-package-test.XXXXXX")
case "$tmp/" in "$root"/*) fail "$tmp is inside the checkout" ;; esac
cleanup() {
	status=$?
	if [ $status -ne 0 ]; then
		echo "package-test: FAILED (status $status); files in $tmp" >&2
	else
		rm -rf "$tmp"
	fi
	exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The release configuration, linux/amd64 only, dist/ outside the checkout.
grep -q '^ *# >>> not linux/amd64' .goreleaser.yaml || fail "no '# >>> not linux/amd64' section in .goreleaser.yaml"
{
	sed '/^ *# >>> not linux\/amd64/,/^ *# <<< not linux\/amd64/d' .goreleaser.yaml
	echo "dist: $tmp/dist"
} >"$tmp/goreleaser.yaml"
start=$(date +%s)
echo "\$ goreleaser release --snapshot --clean --skip=before,sign,sbom -f $tmp/goreleaser.yaml  (linux/amd64 only)"
if ! "$goreleaser" release --snapshot --clean --skip=before,sign,sbom -f "$tmp/goreleaser.yaml" >"$tmp/goreleaser.log" 2>&1; then
	tail -40 "$tmp/goreleaser.log" >&2
	fail "goreleaser release --snapshot failed"
fi
echo "package-test: snapshot built in $(($(date +%s) - start)) s"

shopt -s nullglob
debs=("$tmp"/dist/*_linux_amd64.deb)
tars=("$tmp"/dist/*_linux_amd64.tar.gz)
[ ${#debs[@]} -eq 1 ] || fail "expected one linux/amd64 .deb in $tmp/dist, found ${#debs[@]}"
[ ${#tars[@]} -eq 1 ] || fail "expected one linux/amd64 archive in $tmp/dist, found ${#tars[@]}"
deb=${debs[0]}
tarball=${tars[0]}

# The .deb, unpacked (not installed).
dpkg-deb -I "$deb" | sed -n '/^ Package:/,$p'
dpkg-deb -x "$deb" "$tmp/deb"
depends=$(dpkg-deb -f "$deb" Depends)
ldd "$tmp/deb/usr/lib/mstool/mssim" | grep -q 'not found' && { ldd "$tmp/deb/usr/lib/mstool/mssim" >&2; fail "the packaged harness misses shared libraries"; }
if command -v dpkg-shlibdeps >/dev/null 2>&1; then
	mkdir -p "$tmp/shlibdeps/debian"
	printf 'Source: mstool\n\nPackage: mstool\nArchitecture: any\n' >"$tmp/shlibdeps/debian/control"
	shlibs=$(cd "$tmp/shlibdeps" && dpkg-shlibdeps -O -e "$tmp/deb/usr/lib/mstool/mssim" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
	[ -n "$shlibs" ] || fail "dpkg-shlibdeps found nothing for the packaged harness"
	IFS=, read -ra need <<<"$shlibs"
	for d in "${need[@]}"; do
		pkg=$(echo "$d" | awk '{print $1}')
		case ", $depends," in *", $pkg "* | *", $pkg,"*) ;; *) fail "the .deb does not depend on $pkg (the harness needs: $shlibs; Depends: $depends)" ;; esac
	done
	echo "package-test: Depends ($depends) covers what mssim links ($shlibs)"
elif [ "${CI:-}" = true ]; then
	fail "dpkg-shlibdeps not found (dpkg-dev): the .deb's Depends are not checked"
fi
"$root/scripts/installed-tour.sh" "$tmp/deb/usr" "$tmp/work-deb" "package-test (.deb)"

# The linux/amd64 archive: one directory holding bin/, lib/mstool/, share/.
mkdir "$tmp/archive"
tar -C "$tmp/archive" -xzf "$tarball"
dirs=("$tmp"/archive/*/)
[ ${#dirs[@]} -eq 1 ] || fail "the archive does not hold one top directory"
"$root/scripts/installed-tour.sh" "${dirs[0]}" "$tmp/work-archive" "package-test (archive)"

echo "package-test: ok ($(basename "$deb"), $(basename "$tarball"); $(($(date +%s) - start)) s)"
