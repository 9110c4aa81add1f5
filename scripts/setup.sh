#!/usr/bin/env bash
# Installs what mstool's build, demo and tests need on Debian 12 (run as root).
# Idempotent: installs only what is missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# Every package the tests use. A missing tool in CI is a failure, so this
# list is the contract between the tests and the machine. Packages are
# installed without their recommendations, so what a test needs from a
# Recommends is named here (libc6-dev for gcc, libclang-rt-14-dev for
# libFuzzer and clang's sanitizers, python3-cryptography for scapy's ESP).
packages=(
  make gcc libc6-dev pkg-config
  clang libclang-rt-14-dev
  gcc-avr avr-libc binutils-avr
  simavr libsimavr-dev libelf-dev
  avrdude arduino-core-avr arduino-builder
  tshark python3-scapy python3-cryptography
  openssl iproute2 iputils-ping libcoap3-bin curl chromium
  zbar-tools qrencode
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: need root to install: ${missing[*]} (run: sudo $0)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  # tshark asks whether non-root users may capture; answer it non-interactively.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v go >/dev/null || { echo "setup: Go 1.26 or newer is needed (https://go.dev/dl/)" >&2; exit 1; }
go mod download
