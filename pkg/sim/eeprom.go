package sim

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mstool/mstool/pkg/ihex"
	"github.com/mstool/mstool/pkg/keyfile"
	"github.com/mstool/mstool/pkg/provision"
)

// Errors about the device's EEPROM file that callers can branch on.
var (
	// ErrEEPROMMovedOn: the device's EEPROM file differs from the image
	// outside the state area (the device was provisioned again, over the
	// serial line or from another image, or holds a staged configuration).
	// Loading the image over it would bring back the image's keys with
	// counters and floors at their start: ResetEEPROM does that on
	// request only.
	ErrEEPROMMovedOn = errors.New("sim: the device's EEPROM has moved on from the image")
	// ErrEEPROMInUse: another simulator runs on the EEPROM file.
	ErrEEPROMInUse = errors.New("sim: the EEPROM file is in use by another simulator")
)

// IsHex reports whether the file at path is Intel HEX (its first
// non-blank byte is ':'), as `mstool provision` writes EEPROM images.
func IsHex(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && t[0] == ':'
}

// RawPathFor names the raw EEPROM file kept for an Intel HEX image:
// FILE.hex becomes FILE.eep (other names get .eep appended).
func RawPathFor(hexPath string) string {
	return strings.TrimSuffix(hexPath, ".hex") + ".eep"
}

// PrepareEEPROM turns the Intel HEX provisioning image hexPath into the
// raw EEPROM file the harness loads and saves (RawPathFor), and returns
// its path. The raw file is the device's persistent EEPROM and the image
// only creates it: when the raw file does not exist (or is empty) it is
// written from the image (fresh); when it holds the image's configuration
// area, it is kept as it is, so the counters and floors the device stored
// survive restarts (reusing them is what keeps sequence numbers unique).
// Anything else means the device moved on from the image, and the image
// is refused with an error wrapping ErrEEPROMMovedOn: ResetEEPROM loads it
// anyway. A symbolic link as the raw file is refused (keyfile.ErrSymlink).
func PrepareEEPROM(hexPath, mcu string) (raw string, fresh bool, err error) {
	img, err := readImage(hexPath, mcu)
	if err != nil {
		return "", false, err
	}
	raw = RawPathFor(hexPath)
	old, err := readRaw(raw)
	if err != nil {
		return "", false, err
	}
	cfgEnd := len(img) - provision.StateSize
	switch {
	case len(old) == 0:
		if err := writeRaw(raw, img, false); err != nil {
			return "", false, err
		}
		return raw, true, nil
	case len(old) == len(img) && bytes.Equal(old[:cfgEnd], img[:cfgEnd]):
		return raw, false, nil
	}
	return "", false, fmt.Errorf("%w: %s no longer holds the configuration of %s (the device was provisioned again, or the image is a new one)", ErrEEPROMMovedOn, raw, hexPath)
}

// ResetEEPROM writes the image hexPath over the device's raw EEPROM file
// (RawPathFor) whatever it holds, as flashing the image onto a board
// would: the device's counters and floors go back to the image's. It
// fails with ErrEEPROMInUse while a simulator runs on the file.
func ResetEEPROM(hexPath, mcu string) (raw string, err error) {
	img, err := readImage(hexPath, mcu)
	if err != nil {
		return "", err
	}
	raw = RawPathFor(hexPath)
	if _, err := readRaw(raw); err != nil {
		return "", err
	}
	if err := writeRaw(raw, img, true); err != nil {
		return "", err
	}
	return raw, nil
}

// readImage decodes an EEPROM image for mcu, padded with 0xFF to the
// EEPROM's size.
func readImage(hexPath, mcu string) ([]byte, error) {
	size, err := provision.EEPROMSize(mcu)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	data, err := os.ReadFile(hexPath)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	segs, err := ihex.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("sim: %s: %w", hexPath, err)
	}
	img, err := ihex.Flatten(segs, size, 0xFF)
	if err != nil {
		return nil, fmt.Errorf("sim: %s: %w (is the image for %s?)", hexPath, err, mcu)
	}
	return img, nil
}

// readRaw reads the raw EEPROM file; a missing file reads as empty, a
// symbolic link is refused.
func readRaw(raw string) ([]byte, error) {
	fi, err := os.Lstat(raw)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("sim: %w", err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, fmt.Errorf("sim: %s %w", raw, keyfile.ErrSymlink)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("sim: %s is not a regular file", raw)
	}
	b, err := os.ReadFile(raw)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	return b, nil
}

// writeRaw writes img as the raw EEPROM file under the simulators' lock
// (lockEEPROM): a new 0600 file next to it, synced, locked and renamed
// into place. Without replace the file must still be empty or missing.
func writeRaw(raw string, img []byte, replace bool) error {
	lk, err := lockEEPROM(raw)
	if err != nil {
		return err
	}
	defer lk.Close()
	if fi, err := lk.Stat(); err != nil {
		return fmt.Errorf("sim: %w", err)
	} else if !replace && fi.Size() != 0 {
		return fmt.Errorf("%w: %s was written meanwhile", ErrEEPROMMovedOn, raw)
	}
	tmp, err := os.CreateTemp(filepath.Dir(raw), "."+filepath.Base(raw)+".*.tmp")
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename: no such file
	defer tmp.Close()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	if _, err := tmp.Write(img); err != nil {
		return fmt.Errorf("sim: writing %s: %w", raw, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sim: writing %s: %w", raw, err)
	}
	if err := lockFile(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), raw); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	return nil
}
