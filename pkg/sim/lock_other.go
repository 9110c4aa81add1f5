//go:build !unix

package sim

import (
	"fmt"
	"os"
)

// lockEEPROM opens the EEPROM file; the simulator runs on Linux only, so
// there is no simulator to lock out here.
func lockEEPROM(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	return f, nil
}

func lockFile(*os.File) error { return nil }
