//go:build unix

package seqstate

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// lockFile takes an advisory exclusive lock (flock) on the SA file for the
// life of a session: two sessions on one SA would share its sequence
// numbers.
func lockFile(path string) (io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seqstate: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s)", ErrInUse, path)
		}
		return nil, fmt.Errorf("seqstate: lock %s: %w", path, err)
	}
	return f, nil
}
