package sim_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/sim"
)

// TestStartStopEEPROM starts the simulated device with an EEPROM file,
// stops it with SIGTERM, and checks the harness exited cleanly and saved
// the EEPROM (a fresh one is erased: all 0xFF), and that a second start
// loads the saved image.
func TestStartStopEEPROM(t *testing.T) {
	elf := testenv.Artifact(t, "firmware/build/atmega328p/mstool.elf", "firmware")
	harness := testenv.Artifact(t, "firmware/build/mssim", "firmware")
	ee := filepath.Join(t.TempDir(), "dev.eep")
	for run := range 2 {
		d, err := sim.Start(context.Background(), sim.Options{Harness: harness, Firmware: elf, EEPROM: ee})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(d.Port); err != nil {
			t.Fatalf("run %d: port %q: %v", run, d.Port, err)
		}
		if d.FCPU != 16000000 {
			t.Fatalf("f_cpu = %d", d.FCPU)
		}
		if err := d.Stop(); err != nil {
			t.Fatalf("run %d: stop: %v", run, err)
		}
		b, err := os.ReadFile(ee)
		if err != nil {
			t.Fatalf("run %d: EEPROM not saved: %v", run, err)
		}
		if len(b) != 1024 {
			t.Fatalf("EEPROM image has %d bytes, want 1024", len(b))
		}
		for i, v := range b {
			if v != 0xFF {
				t.Fatalf("EEPROM byte %d = %02x, want ff (erased)", i, v)
			}
		}
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := sim.Start(context.Background(), sim.Options{Harness: "/nonexistent/mssim"}); err == nil {
		t.Fatal("missing harness: no error")
	}
	if _, err := sim.Start(context.Background(), sim.Options{MCU: "atmega2560"}); err == nil {
		t.Fatal("unsupported MCU: no error")
	}
}
