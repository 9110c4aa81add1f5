package bootstrap

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mstool/mstool/pkg/keyfile"
)

// MaxPending bounds the unconfirmed candidate keys kept per device.
const MaxPending = 8

// RepositoryMagic is the first line of a repository file.
const RepositoryMagic = "mstool-bootstrap-repository v1"

// Entry is one device in the repository. Key is the key the server last
// saw the device prove (IK until the first confirmed join, then the PSK);
// Pending are the PSKs of joins whose proof has not reached the server yet
// (the device may hold one of them), newest first.
type Entry struct {
	Device  uint32
	Key     [KeySize]byte
	Gen     uint32 // confirmed joins so far
	Pending [][KeySize]byte
	// SAsIssued: the ESP SAs derived from Key were handed out (ClaimSAs).
	// A confirmed join clears it: the next SAs derive from a new key.
	SAsIssued bool
}

// ErrSAsIssued reports a second request for the SAs of one join: both SA
// files would hold the same keys with their sequence numbers starting
// over, and AES-CCM would see its nonces again.
var ErrSAsIssued = errors.New("bootstrap: the SAs of this join were already issued")

// ErrUnknownDevice reports a device id that is not in the repository.
var ErrUnknownDevice = errors.New("bootstrap: device not in the repository")

// DuplicateError reports an enrolment of a device id that is already in
// the repository.
type DuplicateError struct{ Device uint32 }

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("bootstrap: device 0x%08x is already in the repository", e.Device)
}

// Repository is the server's file of device keys (device id → IK, later
// PSK). Every change is a read-modify-write of the whole file under a
// lock (a mutex in the process and an advisory lock on PATH.lock between
// processes), written to a temporary file in the same directory, synced,
// and renamed over the old one, then the directory is synced: a crash
// leaves the old file or the new one, and no change that was reported
// done is ever lost. The file is mode 0600 and is refused when other users
// can read it.
type Repository struct {
	path string
	mu   sync.Mutex
}

// CreateRepository makes a new, empty repository file (never over an
// existing file).
func CreateRepository(path string) (*Repository, error) {
	if err := keyfile.WriteNew(path, formatRepo(nil), 0o600); err != nil {
		return nil, err
	}
	return &Repository{path: path}, nil
}

// OpenRepository opens an existing repository file, checking that it
// parses.
func OpenRepository(path string) (*Repository, error) {
	r := &Repository{path: path}
	if _, err := r.read(); err != nil {
		return nil, err
	}
	return r, nil
}

// Path is the repository's file.
func (r *Repository) Path() string { return r.path }

// Get returns a copy of a device's entry (ErrUnknownDevice when absent).
func (r *Repository) Get(device uint32) (Entry, error) {
	var e Entry
	err := r.locked(func() error {
		f, err := r.read()
		if err != nil {
			return err
		}
		p, ok := f.dev[device]
		if !ok {
			return ErrUnknownDevice
		}
		e = clone(p)
		return nil
	})
	return e, err
}

// All returns every entry, ordered by device id.
func (r *Repository) All() ([]Entry, error) {
	var out []Entry
	err := r.locked(func() error {
		f, err := r.read()
		if err != nil {
			return err
		}
		for _, e := range f.dev {
			out = append(out, clone(e))
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Entry) int { return cmpU32(a.Device, b.Device) })
	return out, err
}

// Add enrols devices in one write; an id already present (or given twice)
// is a *DuplicateError and nothing is written.
func (r *Repository) Add(entries ...Entry) error {
	return r.locked(func() error {
		f, err := r.read()
		if err != nil {
			return err
		}
		for _, e := range entries {
			if _, ok := f.dev[e.Device]; ok || e.Device == 0 {
				return &DuplicateError{Device: e.Device}
			}
			c := clone(&e)
			f.dev[e.Device] = &c
		}
		return r.write(f)
	})
}

// Update changes one device's entry with f and writes the repository when
// f returns nil. f sees the current state, read under the lock.
func (r *Repository) Update(device uint32, f func(e *Entry) error) error {
	return r.locked(func() error {
		rf, err := r.read()
		if err != nil {
			return err
		}
		e, ok := rf.dev[device]
		if !ok {
			return ErrUnknownDevice
		}
		if err := change(e, f); err != nil {
			return err
		}
		return r.write(rf)
	})
}

// change applies f to e and keeps the MaxPending newest pending keys.
func change(e *Entry, f func(e *Entry) error) error {
	if err := f(e); err != nil {
		return err
	}
	if len(e.Pending) > MaxPending {
		e.Pending = e.Pending[:MaxPending]
	}
	return nil
}

// ErrAnswered reports a flight 2 whose transaction the repository records
// as answered, by this server or by one before a restart.
var ErrAnswered = errors.New("bootstrap: transaction already answered")

// Answer records that the server answers controller ctl's transaction tid
// (a flight 2 with timestamp ts) and, when the device is enrolled, changes
// its entry with f, in one write. The record is what keeps a server that
// restarted from answering a replayed flight 2 a second time: its reply's
// nonce is fixed by the controller and the TID, and a second reply with
// other keys under it would give those keys away. Records of flights 2
// older than forget (TS, Unix seconds) are dropped: the server's window
// refuses their replays anyway. The repository keeps the highest forget
// that dropped one (the horizon), and a flight 2 with a TS below it is
// refused as ErrAnswered: it may have been answered, and only the window
// of the server that dropped its record kept its replays out (a server
// restarted with a wider --window, or a clock set back, would take them).
// ErrAnswered, with nothing written, when the transaction is recorded or
// its TS is below the horizon; ErrUnknownDevice, after recording it, when
// the device is not enrolled.
func (r *Repository) Answer(ctl uint32, tid TID, ts, forget uint64, device uint32, f func(e *Entry) error) error {
	return r.locked(func() error {
		rf, err := r.read()
		if err != nil {
			return err
		}
		k := txKey{ctl, tid}
		if _, ok := rf.answered[k]; ok || ts < rf.horizon {
			return ErrAnswered
		}
		for key, at := range rf.answered {
			if at < forget {
				delete(rf.answered, key)
				rf.horizon = max(rf.horizon, forget)
			}
		}
		rf.answered[k] = ts
		e, known := rf.dev[device]
		if known {
			if err := change(e, f); err != nil {
				return err
			}
		}
		if err := r.write(rf); err != nil {
			return err
		}
		if !known {
			return ErrUnknownDevice
		}
		return nil
	})
}

// ClaimSAs marks the SAs derived from device's current key as handed out
// and returns the entry; a second claim before the next confirmed join is
// ErrSAsIssued. Claim before writing the SA file: a failure after the
// claim costs a join, never a nonce.
func (r *Repository) ClaimSAs(device uint32) (Entry, error) {
	var out Entry
	err := r.Update(device, func(e *Entry) error {
		if e.SAsIssued {
			return ErrSAsIssued
		}
		e.SAsIssued = true
		out = clone(e)
		return nil
	})
	return out, err
}

func (r *Repository) locked(f func() error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	unlock, err := lockFile(r.path + ".lock")
	if err != nil {
		return fmt.Errorf("bootstrap: repository lock: %w", err)
	}
	defer unlock()
	return f()
}

// repoFile is the repository's content: the devices, and the flights 2
// the server answered (Answer).
type repoFile struct {
	dev      map[uint32]*Entry
	answered map[txKey]uint64 // the flight 2's TS
	// horizon: records of flights 2 with a TS below it were dropped
	// (Answer); such a flight 2 is refused
	horizon uint64
}

func (r *Repository) read() (*repoFile, error) {
	data, err := keyfile.ReadPrivate(r.path)
	if err != nil {
		return nil, err
	}
	f, err := parseRepo(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.path, err)
	}
	return f, nil
}

func (r *Repository) write(f *repoFile) error {
	data := formatRepo(f)
	defer clear(data)
	dir := filepath.Dir(r.path)
	tmp, err := os.CreateTemp(dir, ".mstool-repo-*.tmp")
	if err != nil {
		return fmt.Errorf("bootstrap: repository: %w", err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("bootstrap: repository: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("bootstrap: repository: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("bootstrap: repository: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("bootstrap: repository: %w", err)
	}
	if fi, err := os.Lstat(r.path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("bootstrap: repository %s is a symbolic link", r.path)
	}
	if err := os.Rename(name, r.path); err != nil {
		return fmt.Errorf("bootstrap: repository: %w", err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func cmpU32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func clone(e *Entry) Entry {
	c := *e
	c.Pending = slices.Clone(e.Pending)
	return c
}

// formatRepo writes the file: the magic line, then one line per device
// and one per answered flight 2 (controller, TID, TS):
//
//	device 0x0000002a key <hex> gen 0 [sas-issued] [pending <hex>[,<hex>...]]
//	answered 0x00000001 <tid hex> 1764748800
//	forgotten-before 1764748700
func formatRepo(f *repoFile) []byte {
	var es []*Entry
	if f != nil {
		for _, e := range f.dev {
			es = append(es, e)
		}
	}
	slices.SortFunc(es, func(a, b *Entry) int { return cmpU32(a.Device, b.Device) })
	var b bytes.Buffer
	b.WriteString(RepositoryMagic + "\n# secret: device keys; keep this file private (mode 0600)\n")
	for _, e := range es {
		fmt.Fprintf(&b, "device 0x%08x key %x gen %d", e.Device, e.Key[:], e.Gen)
		if e.SAsIssued {
			b.WriteString(" sas-issued")
		}
		if len(e.Pending) > 0 {
			b.WriteString(" pending ")
			for i, p := range e.Pending {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(hex.EncodeToString(p[:]))
			}
		}
		b.WriteByte('\n')
	}
	if f != nil {
		ks := make([]txKey, 0, len(f.answered))
		for k := range f.answered {
			ks = append(ks, k)
		}
		slices.SortFunc(ks, func(a, b txKey) int {
			if c := cmpU32(a.ctl, b.ctl); c != 0 {
				return c
			}
			return bytes.Compare(a.tid[:], b.tid[:])
		})
		for _, k := range ks {
			fmt.Fprintf(&b, "answered 0x%08x %x %d\n", k.ctl, k.tid[:], f.answered[k])
		}
		if f.horizon > 0 {
			fmt.Fprintf(&b, "forgotten-before %d\n", f.horizon)
		}
	}
	return b.Bytes()
}

func parseRepo(data []byte) (*repoFile, error) {
	m := map[uint32]*Entry{}
	answered := map[txKey]uint64{}
	var horizon uint64
	sc := bufio.NewScanner(bytes.NewReader(data))
	line, header := 0, false
	bad := func(format string, a ...any) error {
		return fmt.Errorf("bootstrap: repository line %d: %s", line, fmt.Sprintf(format, a...))
	}
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if !header {
			if text != RepositoryMagic {
				return nil, bad("not a bootstrap repository (want %q first)", RepositoryMagic)
			}
			header = true
			continue
		}
		f := strings.Fields(text)
		if len(f) > 0 && f[0] == "forgotten-before" {
			var err error
			if len(f) != 2 {
				err = errors.New("fields")
			} else {
				horizon, err = strconv.ParseUint(f[1], 10, 64)
			}
			if err != nil {
				return nil, bad("want 'forgotten-before TS'")
			}
			continue
		}
		if len(f) > 0 && f[0] == "answered" {
			if len(f) != 4 {
				return nil, bad("want 'answered CONTROLLER TID-HEX TS'")
			}
			var k txKey
			ctl, err := strconv.ParseUint(f[1], 0, 32)
			tid, herr := hex.DecodeString(f[2])
			ts, terr := strconv.ParseUint(f[3], 10, 64)
			if err != nil || herr != nil || len(tid) != TIDSize || terr != nil {
				return nil, bad("want 'answered CONTROLLER TID-HEX TS'")
			}
			k.ctl = uint32(ctl)
			copy(k.tid[:], tid)
			answered[k] = ts
			continue
		}
		issued := len(f) > 6 && f[6] == "sas-issued"
		if issued {
			f = append(f[:6], f[7:]...)
		}
		if (len(f) != 6 && len(f) != 8) || f[0] != "device" || f[2] != "key" || f[4] != "gen" || (len(f) == 8 && f[6] != "pending") {
			return nil, bad("want 'device ID key HEX gen N [sas-issued] [pending HEX,...]'")
		}
		id, err := strconv.ParseUint(f[1], 0, 32)
		if err != nil || id == 0 {
			return nil, bad("bad device id %q", f[1])
		}
		e := &Entry{Device: uint32(id), SAsIssued: issued}
		if err := parseKey(f[3], &e.Key); err != nil {
			return nil, bad("key: %v", err)
		}
		gen, err := strconv.ParseUint(f[5], 10, 32)
		if err != nil {
			return nil, bad("bad gen %q", f[5])
		}
		e.Gen = uint32(gen)
		if len(f) == 8 {
			ps := strings.Split(f[7], ",")
			if len(ps) > MaxPending {
				return nil, bad("more than %d pending keys", MaxPending)
			}
			for _, p := range ps {
				var k [KeySize]byte
				if err := parseKey(p, &k); err != nil {
					return nil, bad("pending: %v", err)
				}
				e.Pending = append(e.Pending, k)
			}
		}
		if _, dup := m[e.Device]; dup {
			return nil, bad("device 0x%08x given twice", e.Device)
		}
		m[e.Device] = e
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("bootstrap: repository: %w", err)
	}
	if !header {
		return nil, errors.New("bootstrap: repository: empty file")
	}
	return &repoFile{dev: m, answered: answered, horizon: horizon}, nil
}

func parseKey(s string, k *[KeySize]byte) error {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != KeySize {
		return fmt.Errorf("want %d bytes of hex", KeySize)
	}
	copy(k[:], b)
	return nil
}
