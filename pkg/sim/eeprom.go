package sim

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/mstool/mstool/pkg/ihex"
	"github.com/mstool/mstool/pkg/provision"
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
// its path. The raw file is the device's persistent EEPROM: when it
// already exists and holds the same configuration area as the image, it
// is kept as it is, so the counters and floors the device stored survive
// restarts (reusing them is what keeps sequence numbers unique). When the
// image's configuration differs (the device was provisioned again) or the
// raw file does not exist, the raw file is written from the image; fresh
// says which happened.
func PrepareEEPROM(hexPath, mcu string) (raw string, fresh bool, err error) {
	size, err := provision.EEPROMSize(mcu)
	if err != nil {
		return "", false, fmt.Errorf("sim: %w", err)
	}
	data, err := os.ReadFile(hexPath)
	if err != nil {
		return "", false, fmt.Errorf("sim: %w", err)
	}
	segs, err := ihex.Decode(bytes.NewReader(data))
	if err != nil {
		return "", false, fmt.Errorf("sim: %s: %w", hexPath, err)
	}
	img, err := ihex.Flatten(segs, size, 0xFF)
	if err != nil {
		return "", false, fmt.Errorf("sim: %s: %w (is the image for %s?)", hexPath, err, mcu)
	}
	raw = RawPathFor(hexPath)
	cfgEnd := size - provision.StateSize
	old, err := os.ReadFile(raw)
	switch {
	case err == nil && len(old) == size && bytes.Equal(old[:cfgEnd], img[:cfgEnd]):
		return raw, false, nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return "", false, fmt.Errorf("sim: %w", err)
	}
	tmp := raw + ".tmp"
	if err := os.WriteFile(tmp, img, 0o600); err != nil {
		return "", false, fmt.Errorf("sim: %w", err)
	}
	if err := os.Rename(tmp, raw); err != nil {
		os.Remove(tmp)
		return "", false, fmt.Errorf("sim: %w", err)
	}
	return raw, true, nil
}
