package main

// `mstool provision --port` against the simulated device running the real
// firmware: factory provisioning with read-back, the refusals and their
// exit codes and hints, authenticated re-provisioning, and an ESP session
// with the new SAs (docs/provisioning.md). Needs 'make firmware'
// (testenv: fail in CI, skip elsewhere).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/safile"
	"github.com/mstool/mstool/pkg/sim"
)

func TestProvisionPortSim(t *testing.T) {
	dir := t.TempDir()
	elf := testenv.Artifact(t, "firmware/build/atmega328p/mstool.elf", "firmware")
	harness := testenv.Artifact(t, "firmware/build/mssim", "firmware")
	eep := filepath.Join(dir, "eeprom.bin") // absent: factory state
	d, err := sim.Start(context.Background(), sim.Options{Harness: harness, Firmware: elf, EEPROM: eep})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop() })
	f := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, "keygen", "device", "-o", f("a.key"), "--id", "0x51")
	mustRun(t, "keygen", "device", "-o", f("b.key"), "--id", "0x52")
	mustRun(t, "esp", "sa", "new", "-o", f("a.sa"), "--suite", "aes128-ccm8", "--src", simHost, "--dst", simDevA)
	mustRun(t, "esp", "sa", "new", "-o", f("b.sa"), "--suite", "aes128-ctr-hmac-sha256-128", "--src", simHost, "--dst", simDevA)
	mustRun(t, "esp", "sa", "new", "-o", f("ccm16.sa"), "--suite", "aes128-ccm16", "--src", simHost, "--dst", simDevA)
	// An SA file some device has already sent under (its state holds a
	// floor for the device's outbound SA).
	mustRun(t, "esp", "sa", "new", "-o", f("spent.sa"), "--suite", "aes128-ccm8", "--src", simHost, "--dst", simDevA)
	spent, err := safile.ReadFile(f("spent.sa"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f("spent.sa.state"), fmt.Appendf(nil, "mstool-sa-state v1\ninbound 0x%08x 9\n", spent.Inbound[0].SPI), 0o600); err != nil {
		t.Fatal(err)
	}

	type step struct {
		name string
		args []string
		code int
		want []string // in stderr (or stdout for JSON)
	}
	steps := []step{
		{"current-device needs port", []string{"provision", "-d", f("a.key"), "--ip", simDevA, "--current-device", f("a.key"), "-o", f("x.hex")},
			exitUsage, []string{"--current-device without --port"}},
		{"wrong mcu", []string{"provision", "-d", f("a.key"), "--ip", simDevA, "--sa", f("a.sa"), "--port", d.Port, "--mcu", "atmega168"},
			exitUsage, []string{"the device on", "is an atmega328p", "hint: leave out --mcu"}},
		// A suite the firmware lacks: refused before the device is
		// touched (it stays in factory state for the next step), against
		// the suites the device reports, or without --port those of the
		// built reference image's manifest.
		{"suite the device lacks", []string{"provision", "-d", f("a.key"), "--ip", simDevA, "--sa", f("ccm16.sa"), "--port", d.Port},
			exitFailure, []string{"the SAs use aes128-ccm16, which the firmware (the device on " + d.Port + ") does not run",
				"hint: that firmware runs aes128-ccm8, aes128-ctr-hmac-sha256-128, aes128-cbc-hmac-md5-96"}},
		{"suite the built image lacks", []string{"provision", "-d", f("a.key"), "--ip", simDevA, "--sa", f("ccm16.sa"), "-o", f("x.hex")},
			exitFailure, []string{"the SAs use aes128-ccm16, which the firmware (" + elf + ") does not run",
				"hint: that firmware runs aes128-ccm8, aes128-ctr-hmac-sha256-128, aes128-cbc-hmac-md5-96"}},
		// A device in factory state starts its counters at 0: with a
		// spent SA file it would reuse the nonces of the device before it.
		{"spent SA file", []string{"provision", "-d", f("a.key"), "--ip", simDevA, "--sa", f("spent.sa"), "--port", d.Port},
			exitFailure, []string{"refused: a device has already sent up to sequence number 9 under the SAs of " + f("spent.sa"),
				"a device in factory state would start its counters again", "hint: make fresh SAs"}},
		{"factory", []string{"provision", "-d", f("a.key"), "--ip", simDevA, "--sa", f("a.sa"), "--port", d.Port, "-o", f("a.hex")},
			0, []string{"factory state: its keys go over the serial line in clear", "provisioned (factory state), read-back verified", "wrote " + f("a.hex")}},
		{"second unauthenticated", []string{"provision", "-d", f("b.key"), "--ip", simDevA, "--sa", f("b.sa"), "--port", d.Port},
			exitAuth, []string{"refused: the device is already provisioned (not in factory state)", "hint: give the identity it was provisioned with: --current-device FILE"}},
		{"wrong current key", []string{"provision", "-d", f("b.key"), "--ip", simDevA, "--sa", f("b.sa"), "--port", d.Port, "--current-device", f("b.key")},
			exitAuth, []string{"does not hold the master key of --current-device", "hint: --current-device must be the identity the device was last provisioned with"}},
		{"authenticated", []string{"--json", "provision", "-d", f("b.key"), "--ip", simDevA, "--sa", f("b.sa"), "--port", d.Port, "--current-device", f("a.key")},
			0, []string{`"mode": "reprovision"`, `"verified": true`, `"device_id": "0x00000052"`}},
		{"link error", []string{"provision", "-d", f("b.key"), "--ip", simDevA, "--port", f("no-such-port")},
			exitLink, []string{"serial port not found"}},
	}
	for _, s := range steps {
		out, errs, code := mstoolRun(t, s.args...)
		if code != s.code {
			t.Fatalf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", s.name, code, s.code, out, errs)
		}
		for _, w := range s.want {
			if !strings.Contains(errs+out, w) {
				t.Errorf("%s: output lacks %q\nstdout: %s\nstderr: %s", s.name, w, out, errs)
			}
		}
	}
	if _, err := os.Stat(f("x.hex")); err == nil {
		t.Error("a usage error wrote an image")
	}

	// The device now answers ESP with the new SA file.
	out := mustRun(t, "--json", "esp", "ping", "--sa", f("b.sa"), "--port", d.Port, "-c", "1")
	if !strings.Contains(out, `"received":1`) {
		t.Errorf("esp ping with the new SA: %s", out)
	}
}
