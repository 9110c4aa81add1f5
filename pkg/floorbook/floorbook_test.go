package floorbook

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/mstool/mstool/pkg/provision"
	"github.com/mstool/mstool/pkg/signkey"
)

func TestRaiseOnlyRises(t *testing.T) {
	b := &Book{Dir: filepath.Join(t.TempDir(), "floors")}
	dev := Target{Issuer: [8]byte{1, 2, 3}, ID: 0x2a}
	grp := Target{Issuer: dev.Issuer, Group: true, ID: 7}
	other := Target{Issuer: [8]byte{9}, ID: 0x2a}
	steps := []struct {
		t    Target
		give Floors
		want Floors
	}{
		{dev, Floors{Serial: 5}, Floors{Serial: 5}},
		{dev, Floors{Serial: 3, Time: 100}, Floors{Serial: 5, Time: 100}},
		{dev, Floors{}, Floors{Serial: 5, Time: 100}},
		{grp, Floors{Serial: 9}, Floors{Serial: 9}},
		{other, Floors{Serial: 1}, Floors{Serial: 1}},
	}
	for i, s := range steps {
		got, err := b.Raise(s.t, s.give)
		if err != nil || got != s.want {
			t.Fatalf("step %d: Raise = %+v, %v; want %+v", i, got, err, s.want)
		}
		if got, err := b.Get(s.t); err != nil || got != s.want {
			t.Fatalf("step %d: Get = %+v, %v; want %+v", i, got, err, s.want)
		}
	}
	g := uint32(7)
	if f, err := b.Device(dev.Issuer, 0x2a, &g); err != nil || f != (Floors{Serial: 9, Time: 100}) {
		t.Fatalf("device in group 7: %+v, %v", f, err)
	}
	if f, err := b.Device([8]byte{4}, 0x2a, nil); err != nil || f != (Floors{}) {
		t.Fatalf("unknown issuer: %+v, %v", f, err)
	}
	fi, err := os.Stat(filepath.Join(b.Dir, dev.name()))
	if err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("record file: %v, %v", fi, err)
	}
}

func TestCorruptRecordIsAnError(t *testing.T) {
	b := &Book{Dir: t.TempDir()}
	dev := Target{ID: 1}
	if err := os.WriteFile(filepath.Join(b.Dir, dev.name()), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(dev); err == nil {
		t.Fatal("a corrupt record read as zero floors")
	}
	if _, err := b.Raise(dev, Floors{Serial: 1}); err == nil {
		t.Fatal("a corrupt record was overwritten")
	}
}

// TestSealOnlyFloorsSurviveANewIssuer: a device that takes grants on their
// seal may check no issuer key id (a device without RSA), so a new issuer
// key must not bring back its old floors: the grants the old issuer
// revoked, still sealed under the unchanged master key, would open again.
// Carry and CheckImage take the floors of every issuer for such a config.
func TestSealOnlyFloorsSurviveANewIssuer(t *testing.T) {
	b := &Book{Dir: filepath.Join(t.TempDir(), "floors")}
	oldKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	g := uint32(7)
	// the old issuer revoked serials below 9 on the device, and its group
	// got a time floor
	if _, err := b.Raise(Target{Issuer: signkey.KeyID(&oldKey.PublicKey), ID: 0x2a}, Floors{Serial: 9}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Raise(Target{Issuer: signkey.KeyID(&oldKey.PublicKey), Group: true, ID: g}, Floors{Time: 100}); err != nil {
		t.Fatal(err)
	}
	// another device's record does not count
	if _, err := b.Raise(Target{Issuer: signkey.KeyID(&oldKey.PublicKey), ID: 0x2b}, Floors{Serial: 50, Time: 500}); err != nil {
		t.Fatal(err)
	}
	cfg := func(sealOK bool) *provision.Config {
		return &provision.Config{DeviceID: 0x2a, Addr: netip.MustParseAddr("10.0.0.2"),
			HasGroup: true, GroupID: g, Issuer: &newKey.PublicKey, MSSLSealOK: sealOK}
	}
	for _, sealOK := range []bool{false, true} {
		want := Floors{}
		if sealOK {
			want = Floors{Serial: 9, Time: 100}
		}
		c := cfg(sealOK)
		if _, err := b.Carry(c); err != nil {
			t.Fatal(err)
		}
		if got := (Floors{Serial: c.SerialFloor, Time: c.TimeFloor}); got != want {
			t.Errorf("seal-only %v: Carry gave %+v, want %+v", sealOK, got, want)
		}
		img, err := provision.Build(cfg(sealOK), 1024) // floors 0
		if err != nil {
			t.Fatal(err)
		}
		err = b.CheckImage(img)
		if sealOK && !errors.Is(err, ErrOlderFloors) {
			t.Errorf("seal-only image of a new issuer with floors 0: %v, want ErrOlderFloors", err)
		}
		if !sealOK && err != nil {
			t.Errorf("RSA-checked image of a new issuer: %v", err)
		}
	}
}
