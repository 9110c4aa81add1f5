//go:build unix

package sim

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/mstool/mstool/pkg/keyfile"
)

// lockEEPROM takes the lock a simulator holds on its EEPROM file for as
// long as it runs (firmware/sim/mssim.c, eeprom_open): an exclusive flock
// on the file, created empty with mode 0600 if missing, never opened
// through a symbolic link. The lock belongs to the file, not the name:
// whoever replaces the file locks the new one before renaming it into
// place, and whoever locked a file the name no longer points to tries
// again.
func lockEEPROM(path string) (*os.File, error) {
	for range 100 {
		f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0o600)
		if err != nil {
			if errors.Is(err, unix.ELOOP) {
				return nil, fmt.Errorf("sim: %s %w", path, keyfile.ErrSymlink)
			}
			return nil, fmt.Errorf("sim: %w", err)
		}
		a, err := f.Stat()
		if err == nil && !a.Mode().IsRegular() {
			err = fmt.Errorf("sim: %s is not a regular file", path)
		}
		if err == nil {
			err = lockFile(f)
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		if b, err := os.Lstat(path); err == nil && os.SameFile(a, b) {
			return f, nil
		}
		f.Close() // replaced meanwhile: lock the new file
	}
	return nil, fmt.Errorf("sim: %s keeps being replaced", path)
}

// lockFile takes the simulators' exclusive lock on an open file.
func lockFile(f *os.File) error {
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("%w (%s)", ErrEEPROMInUse, f.Name())
		}
		return fmt.Errorf("sim: lock %s: %w", f.Name(), err)
	}
	return nil
}
