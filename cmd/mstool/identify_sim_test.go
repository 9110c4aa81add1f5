package main

// `mstool identify --port P` against the simulated device running the real
// firmware: who is on the port, provisioned or not and why, with no key
// (a pty nobody answers: identify_pty_test.go). Needs 'make firmware'
// (testenv: fail in CI, skip elsewhere).

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/fwimage"
	"github.com/mstool/mstool/pkg/sim"
)

// identifyJSONReport is docs/json.md's identify object, as a script reads it.
type identifyJSONReport struct {
	Port         string   `json:"port"`
	MCU          string   `json:"mcu"`
	Signature    string   `json:"signature"`
	Firmware     string   `json:"firmware"`
	Protocol     int      `json:"protocol"`
	FCPU         uint32   `json:"f_cpu"`
	EEPROM       int      `json:"eeprom"`
	Options      []string `json:"options"`
	Engineering  bool     `json:"engineering"`
	MSSL         bool     `json:"mssl"`
	Suites       []string `json:"esp_suites"`
	Provisioned  bool     `json:"provisioned"`
	Reason       string   `json:"unprovisioned_reason"`
	Provisioning string   `json:"provisioning"`
	DeviceID     string   `json:"device_id"`
	Address      string   `json:"address"`
	Peer         string   `json:"peer"`
	InboundSA    *struct {
		SPI   string `json:"spi"`
		Suite string `json:"suite"`
	} `json:"inbound_sa"`
	IssuerKey  *bool    `json:"issuer_key"`
	BootCount  *int     `json:"boot_count"`
	ResetCause []string `json:"reset_cause"`
}

func identifyJSON(t *testing.T, port string) identifyJSONReport {
	t.Helper()
	out := mustRun(t, "--json", "identify", "--port", port)
	var r identifyJSONReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("identify --json: %v\n%s", err, out)
	}
	return r
}

func TestIdentifySim(t *testing.T) {
	dir := t.TempDir()
	elf := testenv.Artifact(t, "firmware/build/atmega328p/mstool.elf", "firmware")
	harness := testenv.Artifact(t, "firmware/build/mssim", "firmware")
	d, err := sim.Start(context.Background(), sim.Options{Harness: harness, Firmware: elf, EEPROM: filepath.Join(dir, "ee.bin")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop() })
	m, err := fwimage.ManifestFor(elf)
	if err != nil {
		t.Fatal(err)
	}

	// Factory state: who it is, and why it is not provisioned.
	out, errs, code := mstoolRun(t, "identify", "--port", d.Port)
	if code != 0 {
		t.Fatalf("identify: exit %d\n%s", code, errs)
	}
	for _, w := range []string{"atmega328p", "1e950f", m.Firmware, "16000000 Hz", "no: blank EEPROM",
		"factory state", "aes128-ccm8, aes128-ctr-hmac-sha256-128, aes128-cbc-hmac-md5-96",
		"BENCH, COMPUTE, RSA", "power-on"} {
		if !strings.Contains(out, w) {
			t.Errorf("identify lacks %q:\n%s", w, out)
		}
	}
	r := identifyJSON(t, d.Port)
	if r.Port != d.Port || r.MCU != "atmega328p" || r.Signature != "1e950f" || r.Firmware != m.Firmware || r.Protocol != 1 ||
		r.FCPU != 16000000 || r.EEPROM != 1024 || r.Provisioned || r.Reason != "blank EEPROM" || r.Provisioning != "factory" ||
		!r.Engineering || !r.MSSL || r.DeviceID != "" || r.InboundSA != nil || r.IssuerKey == nil || *r.IssuerKey ||
		r.BootCount != nil || !slices.Equal(r.ResetCause, []string{"power-on"}) || !slices.Contains(r.Options, "mssl") {
		t.Errorf("factory identify: %+v", r)
	}
	// The suites the device reports are those its build manifest lists.
	if !slices.Equal(r.Suites, m.ESPSuites) {
		t.Errorf("device suites %v, manifest %v", r.Suites, m.ESPSuites)
	}

	// Provisioned, with an issuer key: its id, address and SAs.
	f := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, "keygen", "device", "-o", f("a.key"), "--id", "0x51")
	mustRun(t, "keygen", "owner", "-o", f("owner.pem"), "--bits", "1024")
	pub := mustRun(t, "keygen", "-y", f("owner.pem"))
	if err := os.WriteFile(f("owner.pub"), []byte(pub), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "esp", "sa", "new", "-o", f("a.sa"), "--src", simHost, "--dst", simDevA)
	mustRun(t, "provision", "-d", f("a.key"), "--ip", simDevA, "--sa", f("a.sa"), "--issuer", f("owner.pub"), "--port", d.Port)
	r = identifyJSON(t, d.Port)
	if !r.Provisioned || r.Reason != "" || r.Provisioning != "provisioned" || r.DeviceID != "0x00000051" ||
		r.Address != simDevA || r.Peer != simHost || r.InboundSA == nil || r.InboundSA.Suite != "aes128-ccm8" ||
		r.IssuerKey == nil || !*r.IssuerKey || r.BootCount == nil {
		t.Errorf("provisioned identify: %+v", r)
	}
	out = mustRun(t, "identify", "-p", d.Port)
	for _, w := range []string{"provisioned", "0x00000051", simDevA, "built, issuer key present"} {
		if !strings.Contains(out, w) {
			t.Errorf("identify lacks %q:\n%s", w, out)
		}
	}
}

// The ATmega168 image: CCM-8 only, no MSSL, no engineering commands, as
// its manifest says.
func TestIdentifySimATmega168(t *testing.T) {
	elf := testenv.Artifact(t, "firmware/build/atmega168/mstool.elf", "firmware")
	harness := testenv.Artifact(t, "firmware/build/mssim", "firmware")
	d, err := sim.Start(context.Background(), sim.Options{Harness: harness, Firmware: elf, MCU: "atmega168"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop() })
	m, err := fwimage.ManifestFor(elf)
	if err != nil {
		t.Fatal(err)
	}
	r := identifyJSON(t, d.Port)
	if r.MCU != "atmega168" || r.EEPROM != m.EEPROM || r.MSSL != m.MSSL || r.MSSL || r.Engineering != m.Engineering ||
		!slices.Equal(r.Suites, m.ESPSuites) || !slices.Equal(r.Suites, []string{"aes128-ccm8"}) {
		t.Errorf("atmega168: %+v, manifest %+v", r, m)
	}
	out := mustRun(t, "identify", "--port", d.Port)
	for _, w := range []string{"MSSL", "not built"} {
		if !strings.Contains(out, w) {
			t.Errorf("identify lacks %q:\n%s", w, out)
		}
	}
}
