package seqstate

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Errors of Advance (errors.Is).
var (
	// ErrBackwards: the move would lower a reservation (a *BackwardsError).
	ErrBackwards = errors.New("seqstate: a reservation only moves forward")
	// ErrExhausted: the move leaves the SA no sequence number to start a
	// session with.
	ErrExhausted = errors.New("seqstate: no sequence numbers left after the move")
)

// BackwardsError is a move that would lower an outbound reservation: the
// state file already counts more numbers as used than the move asks for.
type BackwardsError struct {
	SPI      uint32
	Reserved uint64 // the reservation now: numbers below it may have been used
	Want     uint64 // the reservation the move asked for
}

func (e *BackwardsError) Error() string {
	return fmt.Sprintf("seqstate: refusing to move outbound SA 0x%08x back: numbers up to %d already count as used, the move asks for up to %d",
		e.SPI, e.Reserved-1, e.Want-1)
}

func (e *BackwardsError) Is(target error) bool { return target == ErrBackwards }

// Outbound is the state of one outbound SA.
type Outbound struct {
	SPI uint32
	// Reserved: numbers below it may have been used, none at or above it
	// has been (0: the SA has not been used).
	Reserved uint64
	// NextSession is the first number the next session will use.
	NextSession uint64
	// InSAFile: the SPI is one of the SA file's (Inspect).
	InSAFile bool
}

// Inbound is the state of one inbound SA.
type Inbound struct {
	SPI uint32
	// Highest is the highest number that authenticated in any session
	// (0: none); a session drops every packet at or below it.
	Highest  uint64
	InSAFile bool // the SPI is one of the SA file's (Inspect)
}

// Report is the sequence state of an SA file.
type Report struct {
	Path     string // the state file
	Exists   bool   // false: no session has used the SA file yet
	Outbound []Outbound
	Inbound  []Inbound
}

// nextSessionLocked is where Begin would start a session on spi.
func (s *State) nextSessionLocked(spi uint32) uint64 {
	if r, ok := s.reserved[spi]; ok {
		return r + DeviceBlock
	}
	return 1
}

// Inspect reads the sequence state of the SA file saPath without locking or
// writing anything: the SA file's outbound and inbound SPIs (in the order
// given, unused ones too) and then any other SPI the state file holds.
func Inspect(saPath string, outSPIs, inSPIs []uint32) (*Report, error) {
	s, err := Load(PathFor(saPath))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &Report{Path: s.path, Exists: s.existed, Outbound: []Outbound{}, Inbound: []Inbound{}}
	for _, spi := range append(append([]uint32(nil), outSPIs...), others(s.reserved, outSPIs)...) {
		r.Outbound = append(r.Outbound, Outbound{SPI: spi, Reserved: s.reserved[spi], NextSession: s.nextSessionLocked(spi), InSAFile: contains(outSPIs, spi)})
	}
	for _, spi := range append(append([]uint32(nil), inSPIs...), others(s.highest, inSPIs)...) {
		r.Inbound = append(r.Inbound, Inbound{SPI: spi, Highest: s.highest[spi], InSAFile: contains(inSPIs, spi)})
	}
	return r, nil
}

// others returns the SPIs of m not in known, in order.
func others(m map[uint32]uint64, known []uint32) []uint32 {
	var o []uint32
	for spi := range m {
		if !contains(known, spi) {
			o = append(o, spi)
		}
	}
	sort.Slice(o, func(i, j int) bool { return o[i] < o[j] })
	return o
}

func contains(spis []uint32, spi uint32) bool {
	for _, x := range spis {
		if x == spi {
			return true
		}
	}
	return false
}

// Move says how far to move an outbound reservation forward: exactly one
// of UpTo and By.
type Move struct {
	// UpTo counts every number up to UpTo as used (the reservation becomes
	// UpTo+1): after a device has seen numbers up to UpTo from another
	// copy of the SA file, the next session starts above them.
	UpTo uint64
	// By moves the reservation By numbers forward.
	By uint64
	// Limit, when set, is the highest number the SA may use (2^32-1
	// without extended sequence numbers): a move after which the next
	// session would start above it is refused (ErrExhausted).
	Limit uint64
}

func (m Move) String() string {
	if m.By != 0 {
		return fmt.Sprintf("skip %d", m.By)
	}
	return fmt.Sprintf("up to %d", m.UpTo)
}

// Change is what Advance did.
type Change struct {
	Path          string // the state file
	Before, After Outbound
}

// Changed reports whether the reservation moved.
func (c Change) Changed() bool { return c.After.Reserved != c.Before.Reserved }

// Advance moves the outbound reservation of spi forward: never back (a
// *BackwardsError), and written to the file (atomically) before it returns.
// Moving to the current reservation changes nothing.
func (s *State) Advance(spi uint32, m Move) (Change, error) {
	if (m.UpTo == 0) == (m.By == 0) {
		return Change{}, errors.New("seqstate: a move needs exactly one of UpTo and By (not 0)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	before := Outbound{SPI: spi, Reserved: s.reserved[spi], NextSession: s.nextSessionLocked(spi)}
	var want uint64
	switch {
	case m.By != 0 && m.By > math.MaxUint64-DeviceBlock-before.Reserved,
		m.UpTo != 0 && m.UpTo > math.MaxUint64-DeviceBlock-1:
		return Change{}, fmt.Errorf("%w: %s overflows 64-bit sequence numbers", ErrExhausted, m)
	case m.By != 0:
		want = before.Reserved + m.By
	default:
		want = m.UpTo + 1
	}
	if want < before.Reserved {
		return Change{}, &BackwardsError{SPI: spi, Reserved: before.Reserved, Want: want}
	}
	if m.Limit != 0 && want+DeviceBlock > m.Limit {
		return Change{}, fmt.Errorf("%w: after %s the next session of outbound SA 0x%08x would start at %d, above the SA's last number %d",
			ErrExhausted, m, spi, want+DeviceBlock, m.Limit)
	}
	if want == before.Reserved {
		return Change{Path: s.path, Before: before, After: before}, nil
	}
	_, had := s.reserved[spi]
	s.reserved[spi] = want
	if err := s.saveLocked(); err != nil {
		if had {
			s.reserved[spi] = before.Reserved
		} else {
			delete(s.reserved, spi)
		}
		return Change{}, err
	}
	return Change{Path: s.path, Before: before, After: Outbound{SPI: spi, Reserved: want, NextSession: want + DeviceBlock}}, nil
}

// Advance moves the outbound reservation of spi in the state of the SA
// file saPath forward (State.Advance), holding the SA file's lock: it
// fails with ErrInUse while a session uses the SA file.
func Advance(saPath string, spi uint32, m Move) (Change, error) {
	s, err := Open(saPath)
	if err != nil {
		return Change{}, err
	}
	defer s.unlock() // Advance wrote what it changed; nothing else to save
	return s.Advance(spi, m)
}

// SAPathOf returns the SA file of a state file (the inverse of PathFor).
func SAPathOf(statePath string) string { return strings.TrimSuffix(statePath, Suffix) }
