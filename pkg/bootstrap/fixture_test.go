package bootstrap

import (
	"bytes"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"
)

var (
	testSK    = [KeySize]byte{0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f}
	testCtl   = Controller{ID: 1, SKcs: testSK}
	testEpoch = time.Unix(1700000000, 0)
)

// fixture is a server with a repository of enrolled devices, driven
// message by message (no sockets).
type fixture struct {
	t       *testing.T
	srv     *Server
	devices map[uint32]*Device
	enr     map[uint32]*Enrolled
	now     time.Time
}

func newFixture(t *testing.T, ids ...uint32) *fixture {
	t.Helper()
	repo, err := CreateRepository(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, devices: map[uint32]*Device{}, enr: map[uint32]*Enrolled{}, now: testEpoch}
	f.srv = &Server{Repo: repo, Controllers: map[uint32][KeySize]byte{testCtl.ID: testCtl.SKcs}, Now: func() time.Time { return f.now }}
	for _, id := range ids {
		e := &Enrolled{Device: id}
		rand.Read(e.IK[:])
		rand.Read(e.RNi[:])
		if err := repo.Add(Entry{Device: id, Key: e.IK}); err != nil {
			t.Fatal(err)
		}
		f.devices[id], f.enr[id] = NewDevice(id, e.IK, e.RNi), e
	}
	return f
}

// run is one join by hand: it returns every flight so that tests can
// replay or drop them. deliver6 false loses flight 6.
type transcript struct {
	j                  *JoinRequest
	f2, f3, f4, f5, f6 []byte
	f7                 []byte
	keys               *Keys
	psk                [KeySize]byte
}

func (f *fixture) join(ctl Controller, l Label, dev *Device, deliver6 bool) *transcript {
	f.t.Helper()
	tr := &transcript{j: &JoinRequest{Controller: ctl.ID, TS: uint64(f.now.Unix()), Device: l.Device, RNi: l.RNi}}
	rand.Read(tr.j.TID[:])
	rand.Read(tr.j.RNc[:])
	tr.f2 = MarshalJoin(ctl.SKcs, tr.j)
	tr.f3 = f.srv.Handle(tr.f2)
	if tr.f3 == nil {
		return tr
	}
	k, err := OpenKeys(ctl.SKcs, tr.f3)
	if err != nil {
		return tr
	}
	tr.keys = k
	for _, key := range k.Keys {
		tr.f4 = MarshalRekey(key, l.Device, tr.j.TID, l.RNi, tr.j.RNc)
		tr.f5 = dev.Handle(tr.f4)
		psk := DerivePSK(key, l.RNi, tr.j.RNc)
		if OpenProof(psk, tr.f5, l.Device, tr.j.TID, tr.j.RNc) == nil {
			tr.psk = psk
			break
		}
	}
	if !deliver6 || tr.psk == ([KeySize]byte{}) {
		return tr
	}
	tr.f6 = MarshalConfirm(ctl.SKcs, &Confirm{Controller: ctl.ID, TID: tr.j.TID, Device: l.Device, RNc: tr.j.RNc, Proof: tr.f5})
	tr.f7 = f.srv.Handle(tr.f6)
	return tr
}

func (tr *transcript) committed(ctl Controller) bool {
	_, dev, st, err := OpenDone(ctl.SKcs, tr.f7)
	return err == nil && dev == tr.j.Device && st == StatusCommitted
}

// inSync checks that server and device agree on the device's key.
func (f *fixture) inSync(id uint32) [KeySize]byte {
	f.t.Helper()
	e, err := f.srv.Repo.Get(id)
	if err != nil {
		f.t.Fatal(err)
	}
	k, _ := f.devices[id].Key()
	if !bytes.Equal(k[:], e.Key[:]) {
		f.t.Fatalf("device 0x%x: server and device keys differ", id)
	}
	return k
}
