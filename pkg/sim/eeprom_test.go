package sim

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/mstool/mstool/pkg/ihex"
)

func TestPrepareEEPROM(t *testing.T) {
	dir := t.TempDir()
	img := bytes.Repeat([]byte{0x11}, 1024)
	write := func(img []byte) string {
		var b bytes.Buffer
		if err := ihex.Encode(&b, 0, img); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "dev.hex")
		os.WriteFile(p, b.Bytes(), 0o600)
		return p
	}
	hexPath := write(img)
	if !IsHex(hexPath) {
		t.Fatal("IsHex false for a HEX file")
	}
	raw, fresh, err := PrepareEEPROM(hexPath, "atmega328p")
	if err != nil || !fresh || raw != filepath.Join(dir, "dev.eep") {
		t.Fatalf("first: %s %v %v", raw, fresh, err)
	}
	if IsHex(raw) {
		t.Fatal("IsHex true for the raw file")
	}
	// The device changed its state area: kept on the next start.
	got, _ := os.ReadFile(raw)
	got[1023] = 0x22
	os.WriteFile(raw, got, 0o600)
	if _, fresh, err := PrepareEEPROM(hexPath, "atmega328p"); err != nil || fresh {
		t.Fatalf("second: %v %v", fresh, err)
	}
	if b, _ := os.ReadFile(raw); b[1023] != 0x22 {
		t.Fatal("state area overwritten")
	}
	// A new image (new configuration) replaces it.
	img[10] = 0x33
	write(img)
	if _, fresh, err := PrepareEEPROM(hexPath, "atmega328p"); err != nil || !fresh {
		t.Fatalf("reprovisioned: %v %v", fresh, err)
	}
	if b, _ := os.ReadFile(raw); !bytes.Equal(b, img) {
		t.Fatal("raw file is not the new image")
	}
	// An image too large for the MCU is refused.
	if _, _, err := PrepareEEPROM(hexPath, "atmega168"); err == nil {
		t.Fatal("1 KB image accepted for the ATmega168")
	}
}
