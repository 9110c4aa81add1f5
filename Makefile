# mstool: the Go tool, the reference firmware and the simulated device.
#
#   make            build mstool and the firmware (both MCUs) and the simulator
#   make test       the whole test suite (what CI runs)
#   make generate   regenerate completions/ and man/ (a test checks they are current)
#   make demo       the main job against the simulated device
#   make comparison regenerate docs/COMPARISON.md's measured tables
#   make install    PREFIX=/usr/local DESTDIR=: mstool, the simulator harness,
#                   the reference firmware, man page and completions (after make)

GO      ?= go
BIN     := bin/mstool
export CGO_ENABLED ?= 0

.PHONY: cross all build firmware test test-go test-firmware test-install install generate vet fmt-check demo clean perf perf-decrypt comparison

all: build firmware

build:
	$(GO) build -o $(BIN) ./cmd/mstool

firmware:
	$(MAKE) -C firmware all

# The whole suite. Firmware first: the Go tests run the real firmware in
# the simulator and read the host test results' vectors.
test: fmt-check vet cross firmware test-firmware test-go test-install

# Host builds of the firmware sources under ASan/UBSan (crypto, RSA, network
# stack, EEPROM store, MSSL), the libFuzzer targets (MSSL messages, raw
# packets, packets sealed under the SA's keys: firmware/tests/fuzz_*.c) for a
# bounded run each over their committed corpora (clang required in CI), the
# assembly checked against the C reference on the simulator (on both MCUs:
# the ATmega168 computes AES round keys on the fly), the stack
# of the images `make all` builds measured against their free RAM
# (stack-check), and docs/PERFORMANCE.md's size table against the
# measured one (size-doc-check).
test-firmware:
	$(MAKE) -C firmware host-test net-test avr-test modcheck stack-check size-guard size-doc-check
	$(MAKE) -C firmware avr-test MCU=atmega168
	$(MAKE) -C firmware avr-test-rebuild
	$(MAKE) -C firmware fuzz FUZZ_ITERS=100000 FUZZ_ARGS=-max_total_time=20

test-go:
	$(GO) test -count=1 ./...

vet:
	$(GO) vet ./...

# The installed layout (docs/install.md). mstool finds the harness and the
# firmware relative to its own executable: PREFIX/bin/mstool looks in
# PREFIX/lib/mstool/ and PREFIX/share/mstool/firmware/<mcu>/. Installs what
# 'make' built and builds nothing (so 'sudo make install' needs no Go).
PREFIX       ?= /usr/local
DESTDIR      ?=
INSTALL      ?= install
INSTALL_MCUS := atmega328p atmega168
FW_FILES     := mstool.elf mstool.hex manifest.json size-report.json
INSTALL_SRCS := $(BIN) firmware/build/mssim \
	$(foreach m,$(INSTALL_MCUS),$(addprefix firmware/build/$(m)/,$(FW_FILES))) \
	man/mstool.1 completions/mstool.bash completions/_mstool completions/mstool.fish
install:
	@missing=; for f in $(INSTALL_SRCS); do [ -f "$$f" ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then echo "install: not built:$$missing (run 'make' first)" >&2; exit 1; fi
	$(INSTALL) -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/mstool \
		$(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	$(INSTALL) -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/mstool
	$(INSTALL) -m 0755 firmware/build/mssim $(DESTDIR)$(PREFIX)/lib/mstool/mssim
	set -e; for m in $(INSTALL_MCUS); do \
		$(INSTALL) -d $(DESTDIR)$(PREFIX)/share/mstool/firmware/$$m; \
		for f in $(FW_FILES); do $(INSTALL) -m 0644 firmware/build/$$m/$$f $(DESTDIR)$(PREFIX)/share/mstool/firmware/$$m/$$f; done; \
	done
	$(INSTALL) -m 0644 man/mstool.1 $(DESTDIR)$(PREFIX)/share/man/man1/mstool.1
	$(INSTALL) -m 0644 completions/mstool.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/mstool
	$(INSTALL) -m 0644 completions/_mstool $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_mstool
	$(INSTALL) -m 0644 completions/mstool.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/mstool.fish

# make install into a temporary DESTDIR, then the README tour with the
# installed mstool from a directory outside the checkout (scripts/install-test.sh);
# then the same with the release .deb and linux/amd64 archive of a goreleaser
# snapshot (scripts/package-test.sh; skipped without goreleaser, except in CI).
test-install: build firmware
	scripts/install-test.sh
	scripts/package-test.sh

# Every platform the release builds (.goreleaser.yaml), with cgo off as there.
RELEASE_TARGETS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
cross:
	@set -e; for t in $(RELEASE_TARGETS); do \
		echo "go build $$t"; \
		CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build -o /dev/null ./cmd/mstool; \
	done

fmt-check:
	@out=$$(gofmt -l cmd pkg internal); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

generate:
	mkdir -p completions man
	$(GO) run ./cmd/mstool completion bash > completions/mstool.bash
	$(GO) run ./cmd/mstool completion zsh > completions/_mstool
	$(GO) run ./cmd/mstool completion fish > completions/mstool.fish
	$(GO) run ./cmd/mstool man > man/mstool.1

# Regenerate the measured tables of docs/PERFORMANCE.md (device crypto on
# the simulator, ESP ping cycles), and the decrypt-vs-tshark comparison.
perf: build firmware
	$(MAKE) -C firmware perf
	SKIP_MAKE=1 scripts/perf-esp.sh

perf-decrypt: build
	scripts/perf-decrypt.sh 200

# Regenerate the measured part of docs/COMPARISON.md: ESP, MSSL and CoAP
# over DTLS (coap-client-openssl through mstool gateway) against the
# simulated device, bytes per layer, round trips, device cycles, flash/RAM.
comparison: build firmware
	scripts/comparison.sh

demo: build firmware
	./scripts/demo.sh

clean:
	rm -rf bin
	$(MAKE) -C firmware clean
