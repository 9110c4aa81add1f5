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

// Advance only ever moves an outbound reservation forward, writes it
// before it returns, and the next session starts above it.
func TestAdvance(t *testing.T) {
	sa := newSA(t)
	const spi, other = 0x1234, 0x99
	s, err := Open(sa)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Begin(spi); err != nil { // reserves 1..1024
		t.Fatal(err)
	}
	s.Received(other, 5)
	s.Close()

	// Up to N: the numbers up to N count as used.
	ch, err := Advance(sa, spi, Move{UpTo: 6145})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Before.Reserved != 1025 || ch.After.Reserved != 6146 || ch.After.NextSession != 6146+DeviceBlock || ch.Path != PathFor(sa) {
		t.Fatalf("advance to 6145: %+v", ch)
	}
	st, err := Load(PathFor(sa))
	if err != nil || st.Reserved(spi) != 6146 || st.InboundFloor(other) != 5 {
		t.Fatalf("written: reserved %d, inbound %d, %v", st.Reserved(spi), st.InboundFloor(other), err)
	}
	// The same point again changes nothing; below it is refused.
	if ch, err = Advance(sa, spi, Move{UpTo: 6145}); err != nil || ch.Changed() {
		t.Fatalf("advance to the same number: %+v, %v", ch, err)
	}
	_, err = Advance(sa, spi, Move{UpTo: 100})
	var be *BackwardsError
	if !errors.As(err, &be) || !errors.Is(err, ErrBackwards) || be.Reserved != 6146 {
		t.Fatalf("advance backwards: %v, want a *BackwardsError", err)
	}
	// By N: skip N more numbers.
	if ch, err = Advance(sa, spi, Move{By: 1000}); err != nil || ch.After.Reserved != 7146 {
		t.Fatalf("skip 1000: %+v, %v", ch, err)
	}
	// A fresh SA: its first session would start at 1.
	if ch, err = Advance(sa, other+1, Move{By: 10}); err != nil || ch.Before.NextSession != 1 || ch.After.Reserved != 10 {
		t.Fatalf("skip on a fresh SA: %+v, %v", ch, err)
	}
	// Beyond what the SA can number: refused, nothing written.
	if _, err = Advance(sa, spi, Move{UpTo: 1<<32 - 10, Limit: 1<<32 - 1}); !errors.Is(err, ErrExhausted) {
		t.Fatalf("advance past the limit: %v, want ErrExhausted", err)
	}
	if _, err = Advance(sa, spi, Move{By: ^uint64(0)}); !errors.Is(err, ErrExhausted) {
		t.Fatalf("skip overflowing 64 bits: %v, want ErrExhausted", err)
	}
	for _, m := range []Move{{}, {UpTo: 5, By: 5}} {
		if _, err = Advance(sa, spi, m); err == nil {
			t.Errorf("move %+v accepted", m)
		}
	}
	if st, _ = Load(PathFor(sa)); st.Reserved(spi) != 7146 {
		t.Fatalf("refused moves changed the file: reserved %d", st.Reserved(spi))
	}

	// Under the lock: not while a session holds the SA file.
	s, err = Open(sa)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Advance(sa, spi, Move{By: 1}); !errors.Is(err, ErrInUse) {
		t.Fatalf("advance during a session: %v, want ErrInUse", err)
	}
	s.Close()
}

// Inspect reports the SA file's SPIs (unused ones too) and any other line
// of the state file, without locking or writing anything.
func TestInspect(t *testing.T) {
	sa := newSA(t)
	r, err := Inspect(sa, []uint32{0x10}, []uint32{0x20})
	if err != nil {
		t.Fatal(err)
	}
	if r.Exists || r.Path != PathFor(sa) || len(r.Outbound) != 1 || r.Outbound[0] != (Outbound{SPI: 0x10, NextSession: 1, InSAFile: true}) ||
		len(r.Inbound) != 1 || r.Inbound[0] != (Inbound{SPI: 0x20, InSAFile: true}) {
		t.Fatalf("fresh: %+v", r)
	}
	if _, err := os.Stat(PathFor(sa)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Inspect wrote the state file: %v", err)
	}
	os.WriteFile(PathFor(sa), []byte(Magic+"\noutbound 0x10 3073\noutbound 0x11 5\ninbound 0x20 7\n"), 0o600)
	s, err := Open(sa) // a running session does not stop Inspect
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err = Inspect(sa, []uint32{0x10}, []uint32{0x20})
	if err != nil {
		t.Fatal(err)
	}
	want := []Outbound{{SPI: 0x10, Reserved: 3073, NextSession: 3073 + DeviceBlock, InSAFile: true}, {SPI: 0x11, Reserved: 5, NextSession: 5 + DeviceBlock}}
	if !r.Exists || len(r.Outbound) != 2 || r.Outbound[0] != want[0] || r.Outbound[1] != want[1] || r.Inbound[0] != (Inbound{SPI: 0x20, Highest: 7, InSAFile: true}) {
		t.Fatalf("with a state file: %+v", r)
	}
}

// A refused move on an SA file never used writes no state file.
func TestAdvanceRefusedWritesNothing(t *testing.T) {
	sa := newSA(t)
	if _, err := Advance(sa, 1, Move{UpTo: 1 << 40, Limit: 1<<32 - 1}); !errors.Is(err, ErrExhausted) {
		t.Fatalf("advance past the limit: %v", err)
	}
	if _, err := os.Stat(PathFor(sa)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused move wrote the state file: %v", err)
	}
}
