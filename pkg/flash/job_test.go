package flash

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mstool/mstool/pkg/avrdude"
	"github.com/mstool/mstool/pkg/board"
	"github.com/mstool/mstool/pkg/floorbook"
	"github.com/mstool/mstool/pkg/fwimage"
)

// serialTarget is a bootloader target: it cannot write EEPROM, and its
// port is a serial one.
func serialTarget(t *testing.T) board.Target {
	tgt := target(t, "atmega328p")
	tgt.Programmer, tgt.ISP, tgt.Serial, tgt.Baud = "arduino", false, true, 115200
	return tgt
}

func TestPrepareRefusals(t *testing.T) {
	dir := t.TempDir()
	fw := filepath.Join(dir, "fw.hex")
	writeHex(t, fw, []byte{0x0c, 0x94, 0x34, 0x00})
	os.WriteFile(filepath.Join(dir, fwimage.ManifestName), []byte(`{"mcu": "atmega328p", "f_cpu": 16000000, "stack": 300}`), 0o644)
	os.WriteFile(filepath.Join(dir, fwimage.SizeReportName), []byte(`{"mcu": "atmega328p", "capacity": {"flash": 32768, "ram": 2048}, "total": {"flash": 4, "ram": 1800, "data": 0, "bss": 1800}}`), 0o644)
	tgt := serialTarget(t)
	t.Setenv(avrdude.Env, "")
	t.Setenv("PATH", dir) // no avrdude

	var isp *EEPROMNeedsISPError
	if _, err := Prepare(Config{Target: tgt, Images: Images{Firmware: fw, EEPROM: fw}, DryRun: true}); !errors.As(err, &isp) {
		t.Errorf("EEPROM on a bootloader: %v, want an *EEPROMNeedsISPError", err)
	}
	var re *fwimage.RAMError
	if _, err := Prepare(Config{Target: tgt, Images: Images{Firmware: fw}, DryRun: true}); !errors.As(err, &re) || re.Need.Total() != 2100 {
		t.Errorf("RAM overflow: %v, want a *fwimage.RAMError of 2100 bytes", err)
	}

	// Allowed, the overflow is a warning; a dry run needs no port and no
	// avrdude.
	var warned []error
	j, err := Prepare(Config{Target: tgt, Images: Images{Firmware: fw}, DryRun: true, AllowRAMOverflow: true,
		Warn: func(err error) { warned = append(warned, err) }})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if len(warned) != 1 || !errors.As(warned[0], &re) {
		t.Errorf("warnings %v, want the RAM overflow", warned)
	}
	if j.Port != "PORT" || j.Avrdude != "avrdude" || j.RAM == nil || j.RAM.Total() != 2100 {
		t.Errorf("dry-run job: port %q, avrdude %q, RAM %+v", j.Port, j.Avrdude, j.RAM)
	}
	if got := j.Command(); len(got) == 0 || got[0] != "avrdude" {
		t.Errorf("command %q", got)
	}

	// For real, a missing port is caught before avrdude is looked for.
	var pe *PortError
	missing := filepath.Join(dir, "no-such-tty")
	if _, err := Prepare(Config{Target: tgt, Images: Images{Firmware: fw}, AllowRAMOverflow: true, Port: missing}); !errors.As(err, &pe) || !pe.Missing || pe.Port != missing {
		t.Errorf("missing port: %v, want a *PortError", err)
	}
	// A port that is there, and no avrdude.
	var ae *avrdude.Error
	if _, err := Prepare(Config{Target: tgt, Images: Images{Firmware: fw}, AllowRAMOverflow: true, Port: fw}); !errors.As(err, &ae) || ae.Kind != avrdude.NotInstalled {
		t.Errorf("no avrdude: %v, want avrdude.NotInstalled", err)
	}
	if _, err := Run(t.Context(), Config{Target: tgt, Images: Images{Firmware: fw}, AllowRAMOverflow: true, Port: fw}, avrdude.Options{}); !errors.As(err, &ae) {
		t.Errorf("Run without avrdude: %v", err)
	}
}

func TestPrepareISPPortAndConversion(t *testing.T) {
	dir := t.TempDir()
	fw := filepath.Join(dir, "fw.hex")
	writeHex(t, fw, []byte{1, 2, 3, 4})
	var logs []string
	j, err := Prepare(Config{Target: target(t, "atmega168"), Images: Images{Firmware: fw, EEPROM: fw}, DryRun: true, Floors: &floorbook.Book{Dir: t.TempDir()},
		Log: func(m string) { logs = append(logs, m) }, Warn: func(error) {}})
	if err != nil {
		t.Fatal(err)
	}
	if j.Port != "usb" || j.Flash != fw || j.EEPROM != fw || j.Detected != nil {
		t.Errorf("ISP job %+v", j.Job)
	}
	if err := j.Close(); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(j.dir); !os.IsNotExist(err) {
		t.Errorf("Close left %s: %v", j.dir, err)
	}
}
