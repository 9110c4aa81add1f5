//go:build unix

package seqstate

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// A session run as root (sudo mstool esp tunnel) leaves the state file to
// the SA file's owner, who can then run the next session without sudo.
func TestRootSessionKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a root session's state file") // (CI runs as root)
	}
	const uid, gid = 4242, 4343
	sa := newSA(t)
	if err := os.Chown(sa, uid, gid); err != nil {
		t.Fatal(err)
	}
	s, err := Open(sa)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Begin(9); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(PathFor(sa), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != uid || st.Gid != gid || st.Mode&0o777 != 0o600 {
		t.Errorf("state file owner %d:%d mode %o, want %d:%d 600", st.Uid, st.Gid, st.Mode&0o777, uid, gid)
	}
}
