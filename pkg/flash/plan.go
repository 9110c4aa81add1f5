// Package flash writes firmware and EEPROM images to a board with
// avrdude: what 'mstool flash' does, without its messages.
//
// Prepare checks everything before avrdude touches a board, and refuses
// with a typed error: an EEPROM image for a bootloader
// (*EEPROMNeedsISPError), images that cannot be read, are not firmware,
// were built for another MCU or do not fit (NewPlan's errors), firmware
// whose RAM need exceeds the MCU's (*fwimage.RAMError), an EEPROM image
// whose revocation floors are below the host's record (*FloorsError), no
// port or a port this user cannot use (*DetectError, *PortError), no
// avrdude (*avrdude.Error). The Job it returns runs avrdude (Job.Run) or
// shows what would run (Job.Command); Run does both steps.
//
// NewPlan is the image checks alone: it checks the images against the
// target, and puts them in the form avrdude reads (Intel HEX).
package flash

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mstool/mstool/pkg/avrdude"
	"github.com/mstool/mstool/pkg/board"
	"github.com/mstool/mstool/pkg/fwimage"
	"github.com/mstool/mstool/pkg/provision"
)

// Images are the files to write; either may be "", not both.
type Images struct {
	Firmware string // .elf or Intel HEX
	EEPROM   string // an EEPROM image from address 0 (what 'mstool provision' writes)
}

// Plan is a checked job.
type Plan struct {
	// Job has Target, Flash and EEPROM set; the port and options are the
	// caller's.
	Job avrdude.Job
	// FirmwareMCU is the MCU the firmware says it was built for ("": it
	// does not say, and avrdude's signature check is the only guard).
	FirmwareMCU string
	// FlashBytes is the size of the firmware's flash image.
	FlashBytes int
	// Converted: Job.Flash is an Intel HEX made from the firmware in dir.
	Converted bool
	// EEPROMImage is the EEPROM image's content, from address 0.
	EEPROMImage []byte
}

// LoadError reports an image that cannot be read.
type LoadError struct {
	EEPROM bool // the EEPROM image; false: the firmware
	Err    error
}

func (e *LoadError) Error() string { return e.Err.Error() }
func (e *LoadError) Unwrap() error { return e.Err }

// MCUError reports firmware built for another MCU than the target's.
type MCUError struct {
	Path, Built, Target string
}

func (e *MCUError) Error() string {
	return fmt.Sprintf("flash: %s was built for %s, not %s", e.Path, e.Built, e.Target)
}

// NotFirmwareError reports an mstool EEPROM image given as the firmware.
type NotFirmwareError struct {
	Path string
}

func (e *NotFirmwareError) Error() string {
	return fmt.Sprintf("flash: %s is an mstool EEPROM image (mstool provision), not firmware", e.Path)
}

// SizeError reports an image larger than the memory it is for.
type SizeError struct {
	Path   string
	Memory string // "flash" or "EEPROM"
	Size   int    // bytes in the image
	Limit  int    // bytes of Memory on the target's MCU
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("flash: %s holds %d bytes, more than %d bytes of %s", e.Path, e.Size, e.Limit, e.Memory)
}

// NewPlan loads the images and checks them against t: the firmware built
// for t's MCU (when it says), each image fitting its memory. Firmware that
// is not Intel HEX is converted into a file in dir, which the caller
// removes after flashing.
func NewPlan(t board.Target, im Images, dir string) (*Plan, error) {
	p := &Plan{Job: avrdude.Job{Target: t}}
	if fw := im.Firmware; fw != "" {
		img, err := fwimage.Load(fw)
		if err != nil {
			return nil, &LoadError{Err: err}
		}
		if provision.IsImage(img.Flash) && img.EEPROM == nil {
			return nil, &NotFirmwareError{Path: fw}
		}
		p.FirmwareMCU, p.FlashBytes = img.MCU, len(img.Flash)
		if img.MCU != "" && img.MCU != t.MCU.Name {
			return nil, &MCUError{Path: fw, Built: img.MCU, Target: t.MCU.Name}
		}
		if len(img.Flash) > t.MCU.FlashSize {
			return nil, &SizeError{Path: fw, Memory: "flash", Size: len(img.Flash), Limit: t.MCU.FlashSize}
		}
		p.Job.Flash = fw
		if !IsHexName(fw) {
			p.Job.Flash = filepath.Join(dir, strings.TrimSuffix(filepath.Base(fw), filepath.Ext(fw))+".hex")
			f, err := os.Create(p.Job.Flash)
			if err != nil {
				return nil, fmt.Errorf("flash: %w", err)
			}
			err = img.WriteFlashHex(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, fmt.Errorf("flash: writing %s: %w", p.Job.Flash, err)
			}
			p.Converted = true
		}
	}
	if ee := im.EEPROM; ee != "" {
		img, err := fwimage.Load(ee)
		if err != nil {
			return nil, &LoadError{EEPROM: true, Err: err}
		}
		// An EEPROM image from mstool provision starts at address 0.
		if len(img.Flash) > t.MCU.EEPROM {
			return nil, &SizeError{Path: ee, Memory: "EEPROM", Size: len(img.Flash), Limit: t.MCU.EEPROM}
		}
		p.Job.EEPROM, p.EEPROMImage = ee, img.Flash
	}
	return p, nil
}

// IsHexName reports whether path names an Intel HEX file by its extension.
func IsHexName(path string) bool {
	e := strings.ToLower(filepath.Ext(path))
	return e == ".hex" || e == ".ihex" || e == ".ihx"
}
