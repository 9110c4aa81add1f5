package flash

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/mstool/mstool/pkg/avrdude"
	"github.com/mstool/mstool/pkg/board"
	"github.com/mstool/mstool/pkg/floorbook"
	"github.com/mstool/mstool/pkg/fwimage"
)

// Config says what to write where: what 'mstool flash' reads from its
// flags.
type Config struct {
	Target board.Target
	Images Images
	// Port is the serial port; "": detected among the USB serial adapters
	// of known boards (board.Detect) for a serial target, "usb" for an ISP
	// programmer.
	Port string
	// Avrdude is avrdude's path ("": avrdude.Find's default).
	Avrdude string
	// NoVerify, Verbose and SyncAttempts as in avrdude.Job.
	NoVerify     bool
	Verbose      bool
	SyncAttempts int
	// AllowRAMOverflow flashes an image whose static RAM plus stack need
	// exceeds the MCU's RAM (Warn gets the *fwimage.RAMError instead).
	AllowRAMOverflow bool
	// AllowOlderFloors writes an EEPROM image whose revocation floors are
	// below the floor record (undoing revocations).
	AllowOlderFloors bool
	// Floors is the host's floor record the EEPROM image is checked
	// against (nil: floorbook.Open(), the record mstool keeps).
	Floors *floorbook.Book
	// DryRun plans without a board: no port detection or check (an
	// unknown serial port is "PORT"), and an avrdude that is not found
	// is named "avrdude".
	DryRun bool

	// Warn, when set, is told of a check that could not be made or a
	// refusal overridden: an *UnknownMCUError, a *RAMCheckError, or the
	// *fwimage.RAMError of AllowRAMOverflow.
	Warn func(err error)
	// Log, when set, is told the details (RAM need, HEX conversion):
	// mstool -v.
	Log func(msg string)
	// Detected, when set, is told of the port detection found.
	Detected func(p board.Port)
}

func (c *Config) logf(format string, a ...any) {
	if c.Log != nil {
		c.Log(fmt.Sprintf(format, a...))
	}
}

func (c *Config) warn(err error) {
	if c.Warn != nil {
		c.Warn(err)
	}
}

// Job is a checked flash job, ready to run: Prepare's result. Close
// removes the converted image.
type Job struct {
	// Job is avrdude's job, its Port set.
	avrdude.Job
	// Plan is the checked images.
	Plan *Plan
	// Avrdude is the avrdude to run.
	Avrdude string
	// Detected is the port detection chose (nil: the port was given, or
	// not needed).
	Detected *board.Port
	// RAM is the firmware's RAM need (nil: not known).
	RAM *fwimage.RAMNeed
	dir string
}

// EEPROMNeedsISPError refuses an EEPROM image for a target whose
// programmer is a bootloader, which cannot write EEPROM.
type EEPROMNeedsISPError struct {
	Board, Programmer string
}

func (e *EEPROMNeedsISPError) Error() string {
	return fmt.Sprintf("flash: an EEPROM image needs an ISP programmer: the %s bootloader (programmer %s) cannot write EEPROM", e.Board, e.Programmer)
}

// UnknownMCUError (a warning) says the firmware does not tell which MCU
// it was built for: avrdude's signature check is the only guard.
type UnknownMCUError struct{ Path string }

func (e *UnknownMCUError) Error() string {
	return fmt.Sprintf("cannot tell which MCU %s was built for (no device note, no %s next to it); avrdude's signature check is the only guard", e.Path, fwimage.ManifestName)
}

// RAMCheckError (a warning) says the firmware's RAM need could not be
// read.
type RAMCheckError struct {
	Path string
	Err  error
}

func (e *RAMCheckError) Error() string {
	return fmt.Sprintf("cannot check the RAM %s needs: %v", e.Path, e.Err)
}
func (e *RAMCheckError) Unwrap() error { return e.Err }

// FloorsError refuses an EEPROM image whose revocation floors are below
// the host's record (Err wraps floorbook.ErrOlderFloors), or says the
// record could not be read (Open: not even opened).
type FloorsError struct {
	Open bool
	Err  error
}

func (e *FloorsError) Error() string { return e.Err.Error() }
func (e *FloorsError) Unwrap() error { return e.Err }

// DetectError says no port could be chosen: Err is board.ErrNoPort, a
// *board.ManyPortsError (the caller chooses), or why the ports could not
// be listed.
type DetectError struct{ Err error }

func (e *DetectError) Error() string {
	if errors.Is(e.Err, board.ErrNoPort) {
		return "flash: no board found (no USB serial adapter of a known board is plugged in)"
	}
	return "flash: " + e.Err.Error()
}
func (e *DetectError) Unwrap() error { return e.Err }

// PortError says the serial port is missing (Missing) or this user may
// not use it; found without opening it (opening resets an Arduino).
type PortError struct {
	Port    string
	Missing bool
	Err     error
}

func (e *PortError) Error() string {
	if e.Missing {
		return fmt.Sprintf("flash: serial port %s does not exist", e.Port)
	}
	return fmt.Sprintf("flash: permission denied on serial port %s", e.Port)
}
func (e *PortError) Unwrap() error { return e.Err }

// Prepare checks everything before avrdude touches a board, in this
// order: the EEPROM image needs an ISP programmer; the images (NewPlan:
// *LoadError, *NotFirmwareError, *MCUError, *SizeError); the firmware's
// RAM need (*fwimage.RAMError unless AllowRAMOverflow); the EEPROM
// image's floors (*FloorsError unless AllowOlderFloors); the port
// (*DetectError, *PortError); avrdude (avrdude.Find's *avrdude.Error).
// The caller closes the job.
func Prepare(cfg Config) (*Job, error) {
	t, im := cfg.Target, cfg.Images
	if im.Firmware == "" && im.EEPROM == "" {
		return nil, errors.New("flash: no image to write")
	}
	if im.EEPROM != "" && !t.ISP {
		return nil, &EEPROMNeedsISPError{Board: t.Board, Programmer: t.Programmer}
	}
	dir, err := os.MkdirTemp("", "mstool-flash-")
	if err != nil {
		return nil, fmt.Errorf("flash: %w", err)
	}
	j := &Job{dir: dir}
	ok := false
	defer func() {
		if !ok {
			j.Close()
		}
	}()
	if j.Plan, err = NewPlan(t, im, dir); err != nil {
		return nil, err
	}
	j.Job = j.Plan.Job
	j.NoVerify, j.Verbose, j.SyncAttempts = cfg.NoVerify, cfg.Verbose, cfg.SyncAttempts
	if fw := im.Firmware; fw != "" {
		if j.Plan.FirmwareMCU == "" {
			cfg.warn(&UnknownMCUError{Path: fw})
		}
		need, err := fwimage.CheckRAM(fw, t.MCU.Name, t.MCU.RAM)
		var re *fwimage.RAMError
		switch {
		case errors.As(err, &re) && cfg.AllowRAMOverflow:
			cfg.warn(re)
		case errors.As(err, &re):
			return nil, re
		case err != nil:
			cfg.warn(&RAMCheckError{Path: fw, Err: err})
		case need == nil:
			cfg.logf("no %s tied to %s: its RAM need is not checked", fwimage.SizeReportName, fw)
		default:
			cfg.logf("%s needs %d bytes of RAM (%d static + %d of stack) of %d", fw, need.Total(), need.Static, need.Stack, t.MCU.RAM)
		}
		j.RAM = need
		if j.Plan.Converted {
			cfg.logf("converted %s to Intel HEX (%d bytes of flash) in %s", fw, j.Plan.FlashBytes, j.Flash)
		}
	}
	if im.EEPROM != "" {
		if err := checkFloors(cfg.Floors, j.Plan.EEPROMImage, cfg.AllowOlderFloors); err != nil {
			return nil, err
		}
	}

	j.Port = cfg.Port
	switch {
	case j.Port != "":
	case !t.Serial:
		j.Port = "usb"
	case cfg.DryRun:
		j.Port = "PORT"
	default:
		p, err := board.Detect()
		if err != nil {
			return nil, &DetectError{Err: err}
		}
		if cfg.Detected != nil {
			cfg.Detected(p)
		}
		j.Port, j.Detected = p.Name, &p
	}
	if t.Serial && !cfg.DryRun {
		if err := CheckPort(j.Port); err != nil {
			return nil, err
		}
	}
	if j.Avrdude, err = avrdude.Find(cfg.Avrdude); err != nil {
		if !cfg.DryRun {
			return nil, err
		}
		j.Avrdude = "avrdude"
	}
	ok = true
	return j, nil
}

// checkFloors refuses an EEPROM image whose floors are below the record
// (flashing it would undo revocations) unless allowed.
func checkFloors(book *floorbook.Book, img []byte, allow bool) error {
	if book == nil {
		var err error
		if book, err = floorbook.Open(); err != nil {
			return &FloorsError{Open: true, Err: err}
		}
	}
	err := book.CheckImage(img)
	if errors.Is(err, floorbook.ErrOlderFloors) && allow {
		return nil
	}
	if err != nil {
		return &FloorsError{Err: err}
	}
	return nil
}

// CheckPort catches a missing or forbidden serial port before avrdude
// runs, without opening it (opening would reset an Arduino): a
// *PortError.
func CheckPort(port string) error {
	if _, err := os.Stat(port); err != nil {
		return &PortError{Port: port, Missing: true, Err: err}
	}
	if err := canReadWrite(port); err != nil {
		return &PortError{Port: port, Err: err}
	}
	return nil
}

// Command is the avrdude command line the job runs.
func (j *Job) Command() []string {
	return append([]string{j.Avrdude}, j.Args()...)
}

// Run runs avrdude: its failures are *avrdude.Error (the kind says which),
// or ctx's error when interrupted.
func (j *Job) Run(ctx context.Context, o avrdude.Options) (*avrdude.Result, error) {
	return avrdude.Run(ctx, j.Avrdude, j.Job, o)
}

// Close removes the files the job made (the converted image).
func (j *Job) Close() error {
	if j.dir == "" {
		return nil
	}
	return os.RemoveAll(j.dir)
}

// Run prepares the job (Prepare's checks and refusals), runs avrdude and
// removes what it made: what 'mstool flash' does without its messages.
func Run(ctx context.Context, cfg Config, o avrdude.Options) (*avrdude.Result, error) {
	if cfg.DryRun {
		return nil, errors.New("flash: Run does not dry-run: use Prepare and Job.Command")
	}
	j, err := Prepare(cfg)
	if err != nil {
		return nil, err
	}
	defer j.Close()
	return j.Run(ctx, o)
}
