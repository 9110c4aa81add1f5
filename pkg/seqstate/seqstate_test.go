package seqstate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newSA(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "host.sa")
	if err := os.WriteFile(p, []byte("mstool-sa v1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSessionsNeverOverlap(t *testing.T) {
	sa := newSA(t)
	const spi = 0x1234
	used := map[uint64]bool{}
	var last uint64
	for session := 0; session < 5; session++ {
		s, err := Open(sa)
		if err != nil {
			t.Fatal(err)
		}
		start, err := s.Begin(spi)
		if err != nil {
			t.Fatal(err)
		}
		if session == 0 && start != 1 {
			t.Fatalf("fresh SA starts at %d, want 1", start)
		}
		if session > 0 && start <= last+DeviceBlock {
			t.Fatalf("session %d starts at %d, not more than one device block above %d", session, start, last)
		}
		// Use a varying number of packets, crossing reservations.
		n := uint64(session*700 + 3)
		for seq := start; seq < start+n; seq++ {
			if err := s.Use(spi, seq); err != nil {
				t.Fatal(err)
			}
			if seq >= s.Reserved(spi) {
				t.Fatalf("seq %d used at or above the reservation %d", seq, s.Reserved(spi))
			}
			if used[seq] {
				t.Fatalf("seq %d used twice", seq)
			}
			used[seq] = true
			last = seq
		}
		// Simulate a crash: no Close, only the lock is dropped. What was
		// written by the reservations must be enough.
		s.lock.Close()
	}
	info, err := os.Stat(PathFor(sa))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v, want 0600", info.Mode().Perm())
	}
}

func TestInboundFloorPersists(t *testing.T) {
	sa := newSA(t)
	s, err := Open(sa)
	if err != nil {
		t.Fatal(err)
	}
	s.Received(7, 10)
	s.Received(7, 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(sa)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Existed() || s.InboundFloor(7) != 10 || s.InboundFloor(8) != 0 {
		t.Fatalf("floor %d existed %v", s.InboundFloor(7), s.Existed())
	}
}

func TestLocked(t *testing.T) {
	sa := newSA(t)
	s, err := Open(sa)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(sa); !errors.Is(err, ErrInUse) {
		t.Fatalf("second session: %v, want ErrInUse", err)
	}
	s.Close()
	s2, err := Open(sa)
	if err != nil {
		t.Fatalf("after close: %v", err)
	}
	s2.Close()
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"magic", "mstool-sa v1\n", "not a sequence state file"},
		{"empty", "", "empty"},
		{"fields", Magic + "\noutbound 0x1\n", "line 2"},
		{"spi", Magic + "\noutbound 12 3\n", "bad SPI"},
		{"zero spi", Magic + "\noutbound 0x0 3\n", "bad SPI"},
		{"number", Magic + "\ninbound 0x1 -3\n", "bad number"},
		{"dir", Magic + "\nsideways 0x1 3\n", "unknown direction"},
		{"dup", Magic + "\ninbound 0x1 3\ninbound 0x1 4\n", "twice"},
	} {
		p := filepath.Join(t.TempDir(), "x.state")
		os.WriteFile(p, []byte(tc.text), 0o600)
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	// The canonical form parses back.
	s := &State{path: filepath.Join(t.TempDir(), "y.state"), reserved: map[uint32]uint64{1: 2048, 0xffffffff: 7}, highest: map[uint32]uint64{5: 99}}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	s2, err := Load(s.path)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Reserved(1) != 2048 || s2.Reserved(0xffffffff) != 7 || s2.InboundFloor(5) != 99 {
		t.Fatalf("round trip: %s", s2.format())
	}
}
