//go:build unix

package floorbook

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// lock takes an exclusive advisory lock on path (created 0600), waiting
// for another mstool that holds it.
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("floorbook: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("floorbook: lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
