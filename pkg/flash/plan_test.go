package flash

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/board"
	"github.com/mstool/mstool/pkg/ihex"
)

func writeHex(t *testing.T, path string, data []byte) {
	t.Helper()
	var b bytes.Buffer
	if err := ihex.Encode(&b, 0, data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func target(t *testing.T, mcu string) board.Target {
	t.Helper()
	m, err := board.LookupMCU(mcu)
	if err != nil {
		t.Fatal(err)
	}
	return board.Target{Board: "test", Programmer: "usbasp", MCU: m, ISP: true}
}

func TestNewPlanHex(t *testing.T) {
	dir := t.TempDir()
	tgt := target(t, "atmega168")
	fw, ee := filepath.Join(dir, "fw.hex"), filepath.Join(dir, "ee.hex")
	writeHex(t, fw, make([]byte, 1000))
	writeHex(t, ee, []byte{1, 2, 3})
	p, err := NewPlan(tgt, Images{Firmware: fw, EEPROM: ee}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.Job.Flash != fw || p.Converted || p.Job.EEPROM != ee || p.FlashBytes != 1000 || !bytes.Equal(p.EEPROMImage, []byte{1, 2, 3}) {
		t.Errorf("plan %+v", p)
	}

	big := filepath.Join(dir, "big.hex")
	writeHex(t, big, make([]byte, tgt.MCU.FlashSize+1))
	var se *SizeError
	if _, err := NewPlan(tgt, Images{Firmware: big}, dir); !errors.As(err, &se) || se.Memory != "flash" || se.Limit != tgt.MCU.FlashSize {
		t.Errorf("oversized firmware: %v", err)
	}
	if _, err := NewPlan(tgt, Images{EEPROM: big}, dir); !errors.As(err, &se) || se.Memory != "EEPROM" || se.Limit != tgt.MCU.EEPROM {
		t.Errorf("oversized EEPROM image: %v", err)
	}
	var le *LoadError
	if _, err := NewPlan(tgt, Images{EEPROM: filepath.Join(dir, "missing.hex")}, dir); !errors.As(err, &le) || !le.EEPROM {
		t.Errorf("missing EEPROM image: %v", err)
	}
}

// The reference ELF (make -C firmware) says its MCU: it is converted for
// its own part and refused for another.
func TestNewPlanELF(t *testing.T) {
	elf := testenv.Artifact(t, "firmware/build/atmega168/mstool.elf", "-C firmware")
	dir := t.TempDir()
	p, err := NewPlan(target(t, "atmega168"), Images{Firmware: elf}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Converted || p.FirmwareMCU != "atmega168" || filepath.Dir(p.Job.Flash) != dir || !IsHexName(p.Job.Flash) {
		t.Errorf("plan %+v", p)
	}
	var me *MCUError
	if _, err := NewPlan(target(t, "atmega328p"), Images{Firmware: elf}, dir); !errors.As(err, &me) || me.Built != "atmega168" || me.Target != "atmega328p" {
		t.Errorf("atmega168 firmware for atmega328p: %v", err)
	}
}
