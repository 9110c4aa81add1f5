package main

// Commands that open a serial port against the simulated Arduino Uno that
// resets when its port opens (mssim -R with optiboot, as on a real Uno or
// Nano through DTR): the first bytes reach the bootloader, so mstool waits
// for the firmware to answer IDENTIFY before its first packet (issue 13,
// point 3; docs/cli.md, "Serial ports and board reset").

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mstool/mstool/pkg/sim"
)

// provisionedUno starts the auto-reset Uno running the mstool firmware,
// provisioned with a fresh identity and SA pair; it returns the board and
// the host's SA file.
func provisionedUno(t *testing.T, noReset bool) (*simBoard, string) {
	t.Helper()
	elf := firmwareELF(t, "atmega328p")
	dir := t.TempDir()
	key, sa, hex := filepath.Join(dir, "dev.key"), filepath.Join(dir, "host.sa"), filepath.Join(dir, "dev.hex")
	mustRun(t, "-q", "keygen", "device", "-o", key)
	mustRun(t, "-q", "esp", "sa", "new", "-o", sa, "--src", simHost, "--dst", simDevA)
	mustRun(t, "-q", "provision", "-d", key, "--ip", simDevA, "--sa", sa, "--mcu", "atmega328p", "-o", hex)
	eep, _, err := sim.PrepareEEPROM(hex, "atmega328p")
	if err != nil {
		t.Fatal(err)
	}
	return startUnoWith(t, noReset, elf, eep), sa
}

// Before the readiness wait, 'esp ping -c 1' on this board always failed:
// its one echo request went to optiboot and was lost ("no reply for
// icmp_seq=1", exit 3 ... or the misleading "answers its management
// channel but not ESP").
func TestAutoResetBoardFirstTry(t *testing.T) {
	b, sa := provisionedUno(t, false)

	for _, args := range [][]string{
		{"esp", "ping", "--port", b.port, "--sa", sa, "-c", "1"},
		{"esp", "exec", "--port", b.port, "--sa", sa, "--retries", "0", "id"},
		{"identify", "--port", b.port},
		{"esp", "ping", "--port", b.port, "--sa", sa, "-c", "1", "--reset", "auto"},
	} {
		start := time.Now()
		out, errs, code := mstoolRun(t, args...)
		if code != 0 {
			t.Errorf("mstool %s: exit %d on a board that resets when the port opens\nstdout: %s\nstderr: %s",
				strings.Join(args, " "), code, out, errs)
			continue
		}
		t.Logf("mstool %s: %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	}
	if !strings.Contains(b.log.String(), "external reset") {
		t.Errorf("the harness saw no auto-reset")
	}

	// --no-reset says the port does not reset the board: mstool sends at
	// once, and on this board the echo request is lost to the bootloader.
	out, errs, code := mstoolRun(t, "esp", "ping", "--port", b.port, "--sa", sa, "-c", "1", "--timeout", "1s", "--no-reset")
	if code == 0 {
		t.Errorf("esp ping --no-reset on an auto-reset board succeeded; the bootloader should have lost its request\n%s", out)
	}
	t.Logf("--no-reset: exit %d\n%s%s", code, out, errs)
}

// On a board that does not reset, the wait costs one IDENTIFY round trip,
// and --no-reset skips it.
func TestNoResetBoard(t *testing.T) {
	b, sa := provisionedUno(t, true)
	for _, extra := range [][]string{nil, {"--no-reset"}, {"--reset", "never"}} {
		args := append([]string{"esp", "ping", "--port", b.port, "--sa", sa, "-c", "1"}, extra...)
		start := time.Now()
		out, errs, code := mstoolRun(t, args...)
		if code != 0 {
			t.Fatalf("mstool %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("mstool %s took %v on a board that answers at once", strings.Join(args, " "), d)
		}
	}
}
