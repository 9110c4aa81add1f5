package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/sim"
)

// TestESPSimNotAnswered: a request the device takes and cannot answer (an
// echo whose request fits the 296-byte frame and whose reply, sealed with
// CBC-MD5's longer trailer, does not) ends with that cause (exit 1, the
// counter not_answered), not "other SAs". Then a stale state file on the
// same device, whose not_answered counter is now non-zero, still gets
// the stale-state diagnosis (exit 4, --advance-to), not "took the request
// and sent no reply" (an attacker-minded review found that confusion).
func TestESPSimNotAnswered(t *testing.T) {
	dir := t.TempDir()
	s := &simDevice{mcu: "atmega328p", dir: dir,
		elf:     testenv.Artifact(t, "firmware/build/atmega328p/mstool.elf", "firmware"),
		harness: testenv.Artifact(t, "firmware/build/mssim", "firmware")}
	s.key = filepath.Join(dir, "dev.key")
	s.sa = filepath.Join(dir, "host.sa")
	s.hex = filepath.Join(dir, "dev.hex")
	ccm, cbc := filepath.Join(dir, "ccm.sa"), filepath.Join(dir, "cbc.sa")
	mustRun(t, "keygen", "device", "-o", s.key)
	mustRun(t, "esp", "sa", "new", "-o", ccm, "--suite", "aes128-ccm8", "--src", simHost, "--dst", simDevA)
	mustRun(t, "esp", "sa", "new", "-o", cbc, "--suite", "aes128-cbc-hmac-md5-96", "--src", simHost, "--dst", simDevA)
	// inbound (device -> host) CBC-MD5, outbound (host -> device) CCM-8,
	// as the golden image has: a reply costs more than its request
	a, _ := os.ReadFile(ccm)
	b, _ := os.ReadFile(cbc)
	in := string(b)[strings.Index(string(b), "[inbound]"):strings.Index(string(b), "[outbound]")]
	out := string(a)[strings.Index(string(a), "[outbound]"):]
	hdr := string(a)[:strings.Index(string(a), "[inbound]")]
	if err := os.WriteFile(s.sa, []byte(hdr+in+out), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "--quiet", "provision", "-d", s.key, "--ip", simDevA, "--sa", s.sa, "--mcu", s.mcu, "-o", s.hex)
	var err error
	if s.eep, _, err = sim.PrepareEEPROM(s.hex, s.mcu); err != nil {
		t.Fatal(err)
	}
	s.start(t)

	state, backup := staleStateBackup(t, s)
	// one echo whose request fits the frame and whose CBC reply does not:
	// the device counts not_answered
	_, errs, code := mstoolRun(t, "esp", "ping", "-p", s.port(), "--sa", s.sa, "-c", "1", "--size", "230", "--timeout", "500ms")
	if code != 1 || !strings.Contains(errs, "took the request and sent no reply") || !strings.Contains(errs, "not_answered") {
		t.Errorf("an echo whose reply does not fit: exit %d, want 1 and the not_answered cause\n%s", code, errs)
	}
	if err := os.WriteFile(state, backup, 0o600); err != nil {
		t.Fatal(err)
	}
	_, errs, code = mstoolRun(t, "esp", "exec", "-p", s.port(), "--sa", s.sa, "--timeout", "500ms", "id")
	if code != exitAuth || !strings.Contains(errs, "behind") || !strings.Contains(errs, "--advance-to") {
		t.Errorf("stale state after a not_answered: exit %d, want %d and the stale-state diagnosis\n%s", code, exitAuth, errs)
	}
}
