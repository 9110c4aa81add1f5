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

// keepOwner gives the new state file f the owner of the SA file saPath
// when a root session writes it (sudo mstool esp tunnel): the state
// belongs with its SA file, and a root-owned one, mode 0600, would lock
// the SA file's owner out of every later session on it.
func keepOwner(f *os.File, saPath string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Stat(saPath, &st); err != nil || st.Uid == 0 {
		return nil // (no SA file: Load's inspection or tests)
	}
	return f.Chown(int(st.Uid), int(st.Gid))
}
