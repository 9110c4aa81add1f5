package fwimage_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
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
