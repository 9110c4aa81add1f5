// Package seqstate keeps the host's ESP sequence-number state next to its
// SA file, so that no outbound sequence number (and so no CCM/GCM/CTR
// nonce) is ever used twice with the same SA across mstool runs, and no
// old device reply can be replayed into a later session
// (docs/sa-file.md, "Sequence state").
//
// The rule is the device's reservation rule (docs/eeprom.md): a sequence
// number may be used only when it is below the reservation stored in the
// file; when the counter reaches the reservation, the file is first
// rewritten (atomically, synced) with the reservation one Block higher.
// Every new session starts one DeviceBlock above the stored reservation,
// which is above anything the device's inbound floor can hold, so the
// device accepts the first packet at once even after it reset mid-session.
package seqstate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Sizes of the reservations.
const (
	// Block is how far ahead the host reserves outbound sequence numbers
	// (one file write per Block packets).
	Block = 1024
	// DeviceBlock is the device's CONFIG_RESERVE_BLOCK: how far ahead of
	// the highest accepted number the device keeps its inbound floor.
	DeviceBlock = 1024
)

// Magic is the first line of a state file.
const Magic = "mstool-sa-state v1"

// Suffix is appended to the SA file's path to name its state file.
const Suffix = ".state"

// ErrInUse: another session holds the SA file.
var ErrInUse = errors.New("seqstate: the SA file is in use by another mstool session")

// PathFor returns the state file of an SA file: the same path plus Suffix.
func PathFor(saPath string) string { return saPath + Suffix }

// State is the sequence state of one SA file. Its methods are safe for
// concurrent use.
type State struct {
	mu       sync.Mutex
	path     string
	existed  bool
	reserved map[uint32]uint64 // outbound SPI -> numbers below it may have been used
	highest  map[uint32]uint64 // inbound SPI -> highest authenticated number received
	synced   map[uint32]uint64 // inbound SPI -> highest number the file holds
	lock     io.Closer
}

// Open reads the state file of the SA file saPath (a missing file is an
// empty state) and locks the SA file against other sessions until Close.
func Open(saPath string) (*State, error) {
	lock, err := lockFile(saPath)
	if err != nil {
		return nil, err
	}
	s, err := Load(PathFor(saPath))
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, err
	}
	s.lock = lock
	return s, nil
}

// Load reads a state file without locking anything (for inspection and
// tests). A missing file gives an empty state.
func Load(path string) (*State, error) {
	s := &State{path: path, reserved: map[uint32]uint64{}, highest: map[uint32]uint64{}, synced: map[uint32]uint64{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("seqstate: %w", err)
	}
	s.existed = true
	if err := s.parse(data); err != nil {
		return nil, fmt.Errorf("seqstate: %s: %w", path, err)
	}
	return s, nil
}

func (s *State) parse(data []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if line == 1 {
			if t != Magic {
				return fmt.Errorf("line 1: not a sequence state file (want %q)", Magic)
			}
			continue
		}
		if t == "" || t[0] == '#' {
			continue
		}
		f := strings.Fields(t)
		if len(f) != 3 {
			return fmt.Errorf("line %d: want 'outbound|inbound SPI NUMBER'", line)
		}
		spi, err := strconv.ParseUint(strings.TrimPrefix(f[1], "0x"), 16, 32)
		if err != nil || !strings.HasPrefix(f[1], "0x") || spi == 0 {
			return fmt.Errorf("line %d: bad SPI %q", line, f[1])
		}
		n, err := strconv.ParseUint(f[2], 10, 64)
		if err != nil {
			return fmt.Errorf("line %d: bad number %q", line, f[2])
		}
		var m map[uint32]uint64
		switch f[0] {
		case "outbound":
			m = s.reserved
		case "inbound":
			m = s.highest
		default:
			return fmt.Errorf("line %d: unknown direction %q", line, f[0])
		}
		if _, dup := m[uint32(spi)]; dup {
			return fmt.Errorf("line %d: SPI %s twice", line, f[1])
		}
		m[uint32(spi)] = n
		if f[0] == "inbound" {
			s.synced[uint32(spi)] = n
		}
	}
	if line == 0 {
		return errors.New("empty file")
	}
	return sc.Err()
}

// Existed reports whether the state file existed when it was read.
func (s *State) Existed() bool { return s.existed }

// Path returns the state file's path.
func (s *State) Path() string { return s.path }

// Begin starts a new outbound session on spi: it reserves the numbers the
// session will use first (written to the file before it returns) and
// returns the first one. A fresh SA starts at 1; an SA used before starts
// DeviceBlock above its last reservation.
func (s *State) Begin(spi uint32) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := uint64(1)
	if r, ok := s.reserved[spi]; ok {
		start = r + DeviceBlock
	}
	old, had := s.reserved[spi]
	s.reserved[spi] = start + Block
	if err := s.saveLocked(); err != nil {
		if had {
			s.reserved[spi] = old
		} else {
			delete(s.reserved, spi)
		}
		return 0, err
	}
	return start, nil
}

// Use must be called before sequence number seq is used on spi: if seq is
// not below the reservation, the reservation is raised past it (one Block
// ahead) and written first.
func (s *State) Use(spi uint32, seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reserved[spi]
	if seq < r {
		return nil
	}
	s.reserved[spi] = seq + Block
	if err := s.saveLocked(); err != nil {
		s.reserved[spi] = r
		return err
	}
	return nil
}

// Reserved returns the outbound reservation of spi (0: never used).
func (s *State) Reserved(spi uint32) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reserved[spi]
}

// Received records that seq authenticated on inbound spi. It is kept in
// memory and written with the next reservation or Save.
func (s *State) Received(spi uint32, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq > s.highest[spi] {
		s.highest[spi] = seq
	}
}

// ReceivedSync is Received, and writes the file before it returns when seq
// is above the highest number the file holds for spi: a session calls it
// before it hands a packet on, so that a crash (kill -9, power loss) cannot
// let the next session accept that packet again.
func (s *State) ReceivedSync(spi uint32, seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq > s.highest[spi] {
		s.highest[spi] = seq
	}
	if s.highest[spi] <= s.synced[spi] {
		return nil
	}
	return s.saveLocked()
}

// InboundFloor returns the highest number received on spi in any session
// so far: anything at or below it is a replay from an earlier session.
func (s *State) InboundFloor(spi uint32) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.highest[spi]
}

// Save writes the state file (atomically: a synced temporary file renamed
// into place, mode 0600).
func (s *State) Save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saveLocked()
}

// Close saves the state and releases the SA file's lock.
func (s *State) Close() error {
	err := s.Save()
	s.unlock()
	return err
}

// unlock releases the SA file's lock without saving.
func (s *State) unlock() {
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}

func (s *State) format() []byte {
	var b bytes.Buffer
	b.WriteString(Magic + "\n")
	b.WriteString("# ESP sequence state of the SA file next to it (docs/sa-file.md, \"Sequence state\").\n")
	b.WriteString("# Keep it with the SA file; deleting it lets mstool reuse sequence numbers and nonces.\n")
	for _, d := range []struct {
		name string
		m    map[uint32]uint64
	}{{"outbound", s.reserved}, {"inbound", s.highest}} {
		spis := make([]uint32, 0, len(d.m))
		for spi := range d.m {
			spis = append(spis, spi)
		}
		sort.Slice(spis, func(i, j int) bool { return spis[i] < spis[j] })
		for _, spi := range spis {
			fmt.Fprintf(&b, "%s 0x%08x %d\n", d.name, spi, d.m[spi])
		}
	}
	return b.Bytes()
}

func (s *State) saveLocked() error {
	data := s.format()
	dir := filepath.Dir(s.path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(s.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("seqstate: %w", err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("seqstate: writing %s: %w", s.path, err)
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	sa, _ := s.lock.(*os.File)
	keepOwner(f, sa, strings.TrimSuffix(s.path, Suffix))
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("seqstate: writing %s: %w", s.path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	s.existed = true
	if s.synced == nil {
		s.synced = map[uint32]uint64{}
	}
	for spi, h := range s.highest {
		s.synced[spi] = h
	}
	return nil
}
