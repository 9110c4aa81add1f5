package fwimage_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/fwimage"
	"github.com/mstool/mstool/pkg/ihex"
)

// The ELF conversion must give the same flash bytes as avr-objcopy -O ihex,
// and the MCU must come from the ELF's device-info note.
func TestELFMatchesObjcopy(t *testing.T) {
	objcopy := testenv.Tool(t, "avr-objcopy", "binutils-avr")
	for _, mcu := range []string{"atmega328p", "atmega168"} {
		elf := testenv.Artifact(t, "firmware/build/"+mcu+"/mstool.elf", "-C firmware")
		ref := filepath.Join(t.TempDir(), "ref.hex")
		if out, err := exec.Command(objcopy, "-O", "ihex", "-R", ".eeprom", elf, ref).CombinedOutput(); err != nil {
			t.Fatalf("avr-objcopy: %v\n%s", err, out)
		}
		im, err := fwimage.Load(elf)
		if err != nil {
			t.Fatal(err)
		}
		if im.MCU != mcu || im.MCUSource != "elf" {
			t.Errorf("%s: MCU %q from %q", mcu, im.MCU, im.MCUSource)
		}
		f, err := os.Open(ref)
		if err != nil {
			t.Fatal(err)
		}
		segs, err := ihex.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		want, err := ihex.Flatten(segs, len(im.Flash), 0xFF)
		if err != nil {
			t.Fatalf("objcopy's image is larger than ours: %v", err)
		}
		if !bytes.Equal(im.Flash, want) {
			t.Errorf("%s: converted flash differs from avr-objcopy's", mcu)
		}
		// And our HEX round-trips.
		var buf bytes.Buffer
		if err := im.WriteFlashHex(&buf); err != nil {
			t.Fatal(err)
		}
		back, err := fwimage.FromHex(&buf)
		if err != nil || !bytes.Equal(back.Flash, im.Flash) {
			t.Errorf("%s: HEX round trip: %v", mcu, err)
		}
	}
}

func TestHexWithManifest(t *testing.T) {
	dir := t.TempDir()
	hex := filepath.Join(dir, "fw.hex")
	var buf bytes.Buffer
	ihex.Encode(&buf, 0, []byte{0x0c, 0x94, 0x34, 0x00})
	if err := os.WriteFile(hex, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	im, err := fwimage.Load(hex)
	if err != nil || im.MCU != "" {
		t.Fatalf("no manifest: %+v, %v", im, err)
	}
	os.WriteFile(filepath.Join(dir, fwimage.ManifestName), []byte(`{"mcu": "atmega168", "f_cpu": 16000000}`), 0o644)
	im, err = fwimage.Load(hex)
	if err != nil || im.MCU != "atmega168" || im.MCUSource != "manifest" || len(im.Flash) != 4 {
		t.Fatalf("with manifest: %+v, %v", im, err)
	}
}

func TestRejects(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"garbage.hex": "not hex at all\n",
		"empty.hex":   ":00000001FF\n",
		"fake.elf":    "\x7fELF\x01\x01\x01",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o644)
		if _, err := fwimage.Load(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The build manifest describes the files whose SHA-256 it lists; one that
// lists other files is refused, and Load does not take its MCU.
func TestManifestFor(t *testing.T) {
	dir := t.TempDir()
	hex := filepath.Join(dir, "mstool.hex")
	var buf bytes.Buffer
	ihex.Encode(&buf, 0, []byte{0x0c, 0x94, 0x34, 0x00})
	os.WriteFile(hex, buf.Bytes(), 0o644)
	if _, err := fwimage.ManifestFor(hex); !errors.Is(err, fwimage.ErrNoManifest) {
		t.Fatalf("no manifest: %v", err)
	}
	sum := sha256.Sum256(buf.Bytes())
	write := func(m string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, fwimage.ManifestName), []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"mcu": "atmega168", "esp_suites": ["aes128-ccm8"], "mssl": false, "eeprom": 512,
		"sha256": {"mstool.elf": "00", "mstool.hex": "` + hexOf(sum[:]) + `"}}`)
	m, err := fwimage.ManifestFor(hex)
	if err != nil || m.MCU != "atmega168" || len(m.ESPSuites) != 1 || m.ESPSuites[0] != "aes128-ccm8" || m.EEPROM != 512 {
		t.Fatalf("manifest: %+v, %v", m, err)
	}
	if im, err := fwimage.Load(hex); err != nil || im.MCU != "atmega168" {
		t.Fatalf("load with a matching manifest: %+v, %v", im, err)
	}
	write(`{"mcu": "atmega168", "sha256": {"mstool.hex": "` + hexOf(make([]byte, 32)) + `"}}`)
	if _, err := fwimage.ManifestFor(hex); !errors.Is(err, fwimage.ErrManifestMismatch) {
		t.Fatalf("stale manifest: %v", err)
	}
	if im, err := fwimage.Load(hex); err != nil || im.MCU != "" {
		t.Fatalf("load with a stale manifest took its MCU: %+v, %v", im, err)
	}
	// Without suites the manifest says nothing about them (nil), with an
	// empty list the image has none.
	write(`{"mcu": "atmega328p"}`)
	if m, err := fwimage.ManifestFor(hex); err != nil || m.ESPSuites != nil {
		t.Fatalf("old manifest: %+v, %v", m, err)
	}
	write(`{"mcu": "atmega328p", "esp_suites": []}`)
	if m, err := fwimage.ManifestFor(hex); err != nil || m.ESPSuites == nil || len(m.ESPSuites) != 0 {
		t.Fatalf("no suites: %+v, %v", m, err)
	}
}

// make -C firmware writes a manifest next to each image that describes
// both its files and what config.h builds for the MCU.
func TestBuiltManifests(t *testing.T) {
	for _, c := range []struct {
		mcu         string
		suites      []string
		mssl, eng   bool
		rsa, eeprom int
	}{
		{"atmega328p", []string{"aes128-ccm8", "aes128-ctr-hmac-sha256-128", "aes128-cbc-hmac-md5-96"}, true, true, 2048, 1024},
		{"atmega168", []string{"aes128-ccm8"}, false, false, 0, 512},
	} {
		dir := filepath.Dir(testenv.Artifact(t, "firmware/build/"+c.mcu+"/manifest.json", "-C firmware"))
		for _, f := range []string{"mstool.elf", "mstool.hex"} {
			m, err := fwimage.ManifestFor(filepath.Join(dir, f))
			if err != nil {
				t.Fatalf("%s: %v", c.mcu, err)
			}
			if m.MCU != c.mcu || m.FCPU != 16000000 || m.Firmware == "" || !slices.Equal(m.ESPSuites, c.suites) ||
				m.MSSL != c.mssl || m.Engineering != c.eng || m.RSAMaxBits != c.rsa || m.EEPROM != c.eeprom || len(m.SHA256) != 2 {
				t.Errorf("%s: %+v", c.mcu, m)
			}
		}
	}
	nobench := testenv.Artifact(t, "firmware/build/nobench/atmega328p/mstool.elf", "-C firmware")
	if m, err := fwimage.ManifestFor(nobench); err != nil || m.Engineering || !m.MSSL {
		t.Errorf("nobench image: %+v, %v", m, err)
	}
}

func hexOf(b []byte) string { return fmt.Sprintf("%x", b) }
