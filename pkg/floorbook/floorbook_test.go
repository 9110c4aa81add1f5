package floorbook

import (
	"os"
	"path/filepath"
	"testing"
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
