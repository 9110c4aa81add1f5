package sim

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mstool/mstool/pkg/ihex"
	"github.com/mstool/mstool/pkg/keyfile"
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
	// A new image (new configuration) is refused: the device has moved on
	// from it (and it from the device). ResetEEPROM loads it.
	img[10] = 0x33
	write(img)
	if _, _, err := PrepareEEPROM(hexPath, "atmega328p"); !errors.Is(err, ErrEEPROMMovedOn) {
		t.Fatalf("new image: %v, want ErrEEPROMMovedOn", err)
	}
	if b, _ := os.ReadFile(raw); b[10] != 0x11 || b[1023] != 0x22 {
		t.Fatal("the refused image changed the raw file")
	}
	if _, err := ResetEEPROM(hexPath, "atmega328p"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(raw); !bytes.Equal(b, img) {
		t.Fatal("raw file is not the new image")
	}
	if fi, _ := os.Stat(raw); fi.Mode().Perm() != 0o600 {
		t.Fatalf("raw file mode %04o", fi.Mode().Perm())
	}
	// The device re-provisioned (its configuration area changed): refused.
	got, _ = os.ReadFile(raw)
	got[20] ^= 0xFF
	os.WriteFile(raw, got, 0o600)
	if _, _, err := PrepareEEPROM(hexPath, "atmega328p"); !errors.Is(err, ErrEEPROMMovedOn) {
		t.Fatalf("re-provisioned device: %v, want ErrEEPROMMovedOn", err)
	}
	// An image too large for the MCU is refused.
	if _, _, err := PrepareEEPROM(hexPath, "atmega168"); err == nil {
		t.Fatal("1 KB image accepted for the ATmega168")
	}
}

// The raw file is never written through a symbolic link: not one at the
// raw file's name, nor one planted at a temporary name.
func TestPrepareEEPROMNoSymlink(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	ihex.Encode(&b, 0, bytes.Repeat([]byte{0x11}, 1024))
	hexPath := filepath.Join(dir, "dev.hex")
	os.WriteFile(hexPath, b.Bytes(), 0o600)
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("victim"), 0o600)
	os.Symlink(victim, filepath.Join(dir, "dev.eep.tmp"))
	raw, fresh, err := PrepareEEPROM(hexPath, "atmega328p")
	if err != nil || !fresh {
		t.Fatalf("%v %v", fresh, err)
	}
	if fi, err := os.Lstat(raw); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("raw file: %v %v", fi.Mode(), err)
	}
	os.Remove(raw)
	os.Symlink(victim, raw)
	if _, _, err := PrepareEEPROM(hexPath, "atmega328p"); !errors.Is(err, keyfile.ErrSymlink) {
		t.Errorf("raw file a symbolic link: %v", err)
	}
	if _, err := ResetEEPROM(hexPath, "atmega328p"); !errors.Is(err, keyfile.ErrSymlink) {
		t.Errorf("reset, raw file a symbolic link: %v", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "victim" {
		t.Fatalf("victim written: %q", b)
	}
}
