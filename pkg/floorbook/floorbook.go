// Package floorbook keeps the host's record of the grant revocation floors
// (serial floor, time floor) each device has been given, so that they never
// go back: an EEPROM image carries the floors of the day it was made, and
// flashing it again after a revocation would otherwise undo the revocation
// (docs/provisioning.md, "Floor record").
//
// The record is kept per issuer key and target (one device, or a group):
// floors belong to an issuer, and a device provisioned with a new issuer
// starts from that issuer's floors. Floors only rise: Raise stores the
// maximum of what is recorded and what it is given. The book is a
// directory of small JSON files, one per target, each replaced atomically
// (temporary file, sync, rename) under an advisory lock.
package floorbook

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mstool/mstool/internal/statedir"
	"github.com/mstool/mstool/pkg/provision"
	"github.com/mstool/mstool/pkg/signkey"
)

// Floors are a target's serial floor and time floor (unix seconds).
type Floors struct {
	Serial uint32 `json:"serial_floor"`
	Time   uint32 `json:"time_floor"`
}

// Max returns the larger of each floor.
func (f Floors) Max(g Floors) Floors {
	return Floors{Serial: max(f.Serial, g.Serial), Time: max(f.Time, g.Time)}
}

// Below reports whether either floor of f is below that of g.
func (f Floors) Below(g Floors) bool { return f.Serial < g.Serial || f.Time < g.Time }

// Target names one record: an issuer key (its 8-byte key id) and a device
// or group id.
type Target struct {
	Issuer [8]byte
	Group  bool
	ID     uint32
}

func (t Target) name() string {
	kind := "device"
	if t.Group {
		kind = "group"
	}
	return fmt.Sprintf("%s-%s-%08x.json", hex.EncodeToString(t.Issuer[:]), kind, t.ID)
}

// Book is a directory of floor records.
type Book struct {
	Dir string
}

// EnvDir names the environment variable that overrides the book's
// directory.
const EnvDir = statedir.Env

// DefaultDir is where the book lives: "floors" in the state directory
// ($MSTOOL_STATE_DIR, else $XDG_STATE_HOME/mstool, else
// ~/.local/state/mstool; on Windows, %LocalAppData%\mstool).
func DefaultDir() (string, error) {
	d, err := statedir.Dir()
	if err != nil {
		return "", fmt.Errorf("floorbook: %w", err)
	}
	return filepath.Join(d, "floors"), nil
}

// Open returns the book in the default directory.
func Open() (*Book, error) {
	dir, err := DefaultDir()
	if err != nil {
		return nil, err
	}
	return &Book{Dir: dir}, nil
}

// Get returns the recorded floors of t (zero when there is no record).
func (b *Book) Get(t Target) (Floors, error) {
	var f Floors
	data, err := os.ReadFile(filepath.Join(b.Dir, t.name()))
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("floorbook: %w", err)
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("floorbook: %s: %w", filepath.Join(b.Dir, t.name()), err)
	}
	return f, nil
}

// Device returns the floors that hold for device id under issuer: the
// maximum of its own record and, when it is in a group, the group's.
func (b *Book) Device(issuer [8]byte, id uint32, group *uint32) (Floors, error) {
	f, err := b.Get(Target{Issuer: issuer, ID: id})
	if err != nil || group == nil {
		return f, err
	}
	g, err := b.Get(Target{Issuer: issuer, Group: true, ID: *group})
	return f.Max(g), err
}

// AnyIssuer returns the maximum of the records of a device (or, with
// group, a group) id under every issuer key. A device that takes grants
// on their seal alone may verify no RSA and then checks no issuer key id
// (docs/mssl.md, "Seal-only"): for it the floors of every issuer hold, or
// a new issuer key would bring back the grants the old one revoked.
func (b *Book) AnyIssuer(group bool, id uint32) (Floors, error) {
	var f Floors
	ents, err := os.ReadDir(b.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("floorbook: %w", err)
	}
	suffix := Target{Group: group, ID: id}.name()[2*8:] // "-device-0000002a.json"
	for _, e := range ents {
		n := e.Name()
		if len(n) != 2*8+len(suffix) || !strings.HasSuffix(n, suffix) {
			continue
		}
		var issuer [8]byte
		if _, err := hex.Decode(issuer[:], []byte(n[:2*8])); err != nil {
			continue
		}
		r, err := b.Get(Target{Issuer: issuer, Group: group, ID: id})
		if err != nil {
			return f, err
		}
		f = f.Max(r)
	}
	return f, nil
}

// deviceFloors is Device, and with anyIssuer the same under every issuer.
func (b *Book) deviceFloors(issuer [8]byte, id uint32, group *uint32, anyIssuer bool) (Floors, error) {
	if !anyIssuer {
		return b.Device(issuer, id, group)
	}
	f, err := b.AnyIssuer(false, id)
	if err != nil || group == nil {
		return f, err
	}
	g, err := b.AnyIssuer(true, *group)
	return f.Max(g), err
}

// Raise records max(recorded, f) for t and returns it.
func (b *Book) Raise(t Target, f Floors) (Floors, error) {
	if err := os.MkdirAll(b.Dir, 0o700); err != nil {
		return Floors{}, fmt.Errorf("floorbook: %w", err)
	}
	unlock, err := lock(filepath.Join(b.Dir, ".lock"))
	if err != nil {
		return Floors{}, err
	}
	defer unlock()
	old, err := b.Get(t)
	if err != nil {
		return Floors{}, err
	}
	nf := old.Max(f)
	if nf == old {
		return nf, nil
	}
	data, _ := json.Marshal(nf)
	if err := replace(filepath.Join(b.Dir, t.name()), append(data, '\n')); err != nil {
		return Floors{}, err
	}
	return nf, nil
}

// replace writes data to path through a new temporary file in the same
// directory (never following a symlink), synced, then renamed over path.
func replace(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".floors-*")
	if err != nil {
		return fmt.Errorf("floorbook: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("floorbook: %w", werr)
	}
	// The rename is durable only once the directory is: a power cut
	// must not take a raised floor back.
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// ErrOlderFloors is returned (wrapped) by CheckImage for an image whose
// floors are below the record: flashing it would undo revocations.
var ErrOlderFloors = errors.New("floorbook: the image's floors are below the recorded ones")

// configTarget is the record of the device cfg configures; ok is false
// for a config without an issuer key (no grants: floors mean nothing).
func configTarget(cfg *provision.Config) (t Target, group *uint32, ok bool) {
	if cfg.Issuer == nil {
		return t, nil, false
	}
	t = Target{Issuer: signkey.KeyID(cfg.Issuer), ID: cfg.DeviceID}
	if cfg.HasGroup {
		g := cfg.GroupID
		group = &g
	}
	return t, group, true
}

// Carry raises cfg's floors to what the book records for its device (and
// its group) under its issuer, and returns the floors cfg had. When cfg
// lets the device take grants on their seal (MSSLSealOK), the records of
// every issuer count: a seal-only device does not check the issuer key id.
func (b *Book) Carry(cfg *provision.Config) (Floors, error) {
	had := Floors{Serial: cfg.SerialFloor, Time: cfg.TimeFloor}
	t, group, ok := configTarget(cfg)
	if !ok {
		return had, nil
	}
	rec, err := b.deviceFloors(t.Issuer, t.ID, group, cfg.MSSLSealOK)
	if err != nil {
		return had, err
	}
	f := had.Max(rec)
	cfg.SerialFloor, cfg.TimeFloor = f.Serial, f.Time
	return had, nil
}

// Record raises the record of cfg's device to cfg's floors.
func (b *Book) Record(cfg *provision.Config) error {
	t, _, ok := configTarget(cfg)
	if !ok {
		return nil
	}
	_, err := b.Raise(t, Floors{Serial: cfg.SerialFloor, Time: cfg.TimeFloor})
	return err
}

// CheckImage refuses (ErrOlderFloors) an EEPROM image whose floors are
// below the book's record for its device (under every issuer when the
// image lets the device take grants on their seal, as Carry); an image the
// firmware would not accept is left to the firmware's checks.
func (b *Book) CheckImage(img []byte) error {
	cfg, st, err := provision.Parse(img)
	if err != nil {
		return nil
	}
	t, group, ok := configTarget(cfg)
	if !ok {
		return nil
	}
	rec, err := b.deviceFloors(t.Issuer, t.ID, group, cfg.MSSLSealOK)
	if err != nil {
		return err
	}
	if have := (Floors{Serial: st.SerialFloor, Time: st.TimeFloor}); have.Below(rec) {
		return fmt.Errorf("%w: device 0x%08x has serial floor %d and time floor %d on record, the image %d and %d",
			ErrOlderFloors, t.ID, rec.Serial, rec.Time, have.Serial, have.Time)
	}
	return nil
}
