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

// keepOwner gives the new state file f the owner of the SA file (sa, the
// locked SA file, else the file at saPath) when a root session writes it
// (sudo mstool esp tunnel): the state belongs with its SA file, and a
// root-owned one, mode 0600, would lock the SA file's owner out of every
// later session on it. Best effort: a file system that refuses chown
// (NFS with root_squash) keeps the file root's, as before.
func keepOwner(f, sa *os.File, saPath string) {
	if os.Geteuid() != 0 {
		return
	}
	var st unix.Stat_t
	var err error
	if sa != nil {
		err = unix.Fstat(int(sa.Fd()), &st)
	} else {
		err = unix.Stat(saPath, &st) // (Load: inspection and tests)
	}
	if err != nil || st.Uid == 0 {
		return
	}
	f.Chown(int(st.Uid), int(st.Gid))
}
