# mstool: the Go tool, the reference firmware and the simulated device.
#
#   make            build mstool and the firmware (both MCUs) and the simulator
#   make test       the whole test suite (what CI runs)
#   make generate   regenerate completions/ and man/ (a test checks they are current)
#   make demo       the main job against the simulated device

GO      ?= go
BIN     := bin/mstool
export CGO_ENABLED ?= 0

.PHONY: cross all build firmware test test-go test-firmware generate vet fmt-check demo clean perf perf-decrypt

all: build firmware

build:
	$(GO) build -o $(BIN) ./cmd/mstool

firmware:
	$(MAKE) -C firmware all

# The whole suite. Firmware first: the Go tests run the real firmware in
# the simulator and read the host test results' vectors.
test: fmt-check vet cross firmware test-firmware test-go

# Host builds of the firmware sources under ASan/UBSan (crypto, RSA, network
# stack, EEPROM store, MSSL), the libFuzzer targets (MSSL messages, raw
# packets, packets sealed under the SA's keys: firmware/tests/fuzz_*.c) for a
# bounded run each over their committed corpora (clang required in CI), and
# the assembly checked against the C reference on the simulator.
test-firmware:
	$(MAKE) -C firmware host-test net-test avr-test
	$(MAKE) -C firmware fuzz FUZZ_ITERS=100000 FUZZ_ARGS=-max_total_time=20

test-go:
	$(GO) test -count=1 ./...

vet:
	$(GO) vet ./...

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

demo: build firmware
	./scripts/demo.sh

clean:
	rm -rf bin
	$(MAKE) -C firmware clean
