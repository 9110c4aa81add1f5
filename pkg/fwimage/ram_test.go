package fwimage_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mstool/mstool/pkg/fwimage"
)

func TestCheckRAM(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "fw.hex")
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("fw.hex", ":040000000C94340028\n:00000001FF\n")
	// No size report: nothing to check.
	if need, err := fwimage.CheckRAM(img, "atmega328p", 2048); need != nil || err != nil {
		t.Fatalf("no size report: %v, %v", need, err)
	}
	write(fwimage.SizeReportName, `{"total": {"ram": 1800}}`)
	write(fwimage.ManifestName, `{"mcu": "atmega328p", "stack": 300}`)
	need, err := fwimage.CheckRAM(img, "atmega328p", 2048)
	var re *fwimage.RAMError
	if !errors.As(err, &re) || need.Total() != 2100 || re.RAM != 2048 {
		t.Fatalf("1800 + 300 of 2048: %v, %v", need, err)
	}
	if _, err := fwimage.CheckRAM(img, "atmega328p", 4096); err != nil {
		t.Fatalf("1800 + 300 of 4096: %v", err)
	}
	// A manifest written for other files ties the report to another build.
	write(fwimage.ManifestName, `{"mcu": "atmega328p", "stack": 300, "sha256": {"mstool.hex": "00"}}`)
	if need, err := fwimage.CheckRAM(img, "atmega328p", 2048); need != nil || err != nil {
		t.Fatalf("other build's manifest: %v, %v", need, err)
	}
}
