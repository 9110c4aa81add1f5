package bootstrap

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

func TestJoinCommits(t *testing.T) {
	f := newFixture(t, 0x2a)
	e := f.enr[0x2a]
	tr := f.join(testCtl, e.Label(), f.devices[0x2a], true)
	if !tr.committed(testCtl) {
		t.Fatal("not committed")
	}
	k := f.inSync(0x2a)
	if k != tr.psk || k != DerivePSK(e.IK, e.RNi, tr.j.RNc) {
		t.Fatal("the committed key is not PSK = AES_IK(RN_i xor RN_c)")
	}
	if en, _ := f.srv.Repo.Get(0x2a); en.Gen != 1 || len(en.Pending) != 0 {
		t.Fatalf("entry after commit: gen %d pending %d", en.Gen, len(en.Pending))
	}
	if _, gen := f.devices[0x2a].Key(); gen != 1 {
		t.Fatalf("device gen %d", gen)
	}
}

// A second bootstrap: the new PSK works, the old one stops working, on
// both sides.
func TestSecondBootstrap(t *testing.T) {
	f := newFixture(t, 7)
	e := f.enr[7]
	tr1 := f.join(testCtl, e.Label(), f.devices[7], true)
	f.now = f.now.Add(time.Minute)
	tr2 := f.join(testCtl, e.Label(), f.devices[7], true)
	if !tr1.committed(testCtl) || !tr2.committed(testCtl) {
		t.Fatal("a join did not commit")
	}
	if tr2.keys.Keys[0] != tr1.psk {
		t.Fatal("the second join's base is not the first PSK")
	}
	k := f.inSync(7)
	if k != DerivePSK(tr1.psk, e.RNi, tr2.j.RNc) || k == tr1.psk {
		t.Fatal("second PSK wrong")
	}
	// The old key (and IK) no longer move the device.
	for _, old := range [][KeySize]byte{e.IK, tr1.psk} {
		r := f.devices[7].Handle(MarshalRekey(old, 7, TID{9}, e.RNi, [RNSize]byte{1}))
		if _, code, err := ParseNAK(r); err != nil || code != NAKAuth {
			t.Fatalf("flight 4 under an old key: %x", r)
		}
	}
	f.inSync(7)
}

// Replays: an identical flight 2 gets the identical flight 3 (nothing
// new to learn); flight 2 content under a used TID is dropped; a flight 2
// older than the window is dropped; an old flight 4 does nothing to the
// device; an old flight 3 is refused by the controller (TID).
func TestReplays(t *testing.T) {
	f := newFixture(t, 5)
	e := f.enr[5]
	tr := f.join(testCtl, e.Label(), f.devices[5], true)
	key := f.inSync(5)

	if r := f.srv.Handle(tr.f2); !bytes.Equal(r, tr.f3) {
		t.Fatal("retransmitted flight 2: not the cached flight 3")
	}
	j2 := *tr.j
	j2.RNc[0] ^= 1
	if r := f.srv.Handle(MarshalJoin(testSK, &j2)); r != nil || f.srv.Stats.DropReplay.Load() != 1 {
		t.Fatal("flight 2 with a used TID was answered")
	}
	if r := f.srv.Handle(tr.f6); !bytes.Equal(r, tr.f7) {
		t.Fatal("retransmitted flight 6: not the cached flight 7")
	}
	// Past the window, the same flight 2 is stale.
	f.now = f.now.Add(3 * DefaultWindow)
	if r := f.srv.Handle(tr.f2); r != nil || f.srv.Stats.DropStale.Load() != 1 {
		t.Fatal("stale flight 2 answered")
	}
	// A flight 6 whose flight 2 is forgotten is dropped.
	if r := f.srv.Handle(tr.f6); r != nil || f.srv.Stats.DropUnknownTID.Load() != 1 {
		t.Fatal("flight 6 without a live transaction answered")
	}
	// Flight 4 replayed to the device: the identical retransmission gets
	// the same flight 5 and changes nothing.
	if r := f.devices[5].Handle(tr.f4); !bytes.Equal(r, tr.f5) {
		t.Fatal("retransmitted flight 4: not the same flight 5")
	}
	if k, _ := f.devices[5].Key(); k != key {
		t.Fatal("replayed flight 4 changed the device key")
	}
	// After another join the old flight 4 is a wrong-key flight.
	f.join(testCtl, e.Label(), f.devices[5], true)
	if _, code, err := ParseNAK(f.devices[5].Handle(tr.f4)); err != nil || code != NAKAuth {
		t.Fatal("old flight 4 after a new join was not refused")
	}
	f.inSync(5)
	// A flight 3 of the first transaction does not answer a new flight 2:
	// the controller checks TID and TS.
	if k, err := OpenKeys(testSK, tr.f3); err != nil || k.TID == (TID{}) {
		t.Fatal("setup")
	}
}

func TestWrongControllerKey(t *testing.T) {
	f := newFixture(t, 5)
	bad := Controller{ID: testCtl.ID, SKcs: [KeySize]byte{1}}
	tr := f.join(bad, f.enr[5].Label(), f.devices[5], true)
	if tr.f3 != nil || f.srv.Stats.DropAuth.Load() != 1 {
		t.Fatal("flight 2 under a wrong SK_cs was answered")
	}
	unknown := Controller{ID: 99, SKcs: testSK}
	if tr := f.join(unknown, f.enr[5].Label(), f.devices[5], true); tr.f3 != nil || f.srv.Stats.DropUnknownCtl.Load() != 1 {
		t.Fatal("unknown controller answered")
	}
	// A flight 3 opened with a wrong SK_cs fails.
	good := f.join(testCtl, f.enr[5].Label(), f.devices[5], false)
	if _, err := OpenKeys(bad.SKcs, good.f3); !errors.Is(err, ErrAuth) {
		t.Fatal("flight 3 opened under a wrong SK_cs")
	}
}

// A device enrolled with another IK than the server's refuses flight 4;
// nothing is committed.
func TestWrongIK(t *testing.T) {
	f := newFixture(t, 5)
	e := f.enr[5]
	d := NewDevice(5, [KeySize]byte{0xee}, e.RNi)
	tr := f.join(testCtl, e.Label(), d, true)
	if tr.psk != ([KeySize]byte{}) || tr.f6 != nil {
		t.Fatal("a device with another IK accepted flight 4")
	}
	if _, code, err := ParseNAK(tr.f5); err != nil || code != NAKAuth {
		t.Fatal("no wrong-key NAK")
	}
	if k, gen := d.Key(); k != [KeySize]byte{0xee} || gen != 0 {
		t.Fatal("device state changed")
	}
}

// The label of another device: flight 4 names that device and is under
// its key; this device refuses it and keeps its key. Flight 4 sent to
// another device is the same case.
func TestLabelOfAnotherDevice(t *testing.T) {
	f := newFixture(t, 5, 6)
	tr := f.join(testCtl, f.enr[6].Label(), f.devices[5], true)
	if _, code, err := ParseNAK(tr.f5); err != nil || code != NAKNotMine {
		t.Fatalf("flight 4 for device 6 at device 5: %x", tr.f5)
	}
	if k, gen := f.devices[5].Key(); k != f.enr[5].IK || gen != 0 {
		t.Fatal("device 5 changed")
	}
	// Right id, right key but another RN_i (a forged label).
	l := f.enr[5].Label()
	l.RNi[0] ^= 1
	tr = f.join(testCtl, l, f.devices[5], true)
	if _, code, err := ParseNAK(tr.f5); err != nil || code != NAKLabel {
		t.Fatalf("forged RN_i: %x", tr.f5)
	}
	f.inSync(5)
	f.inSync(6)
}

// Flight 6 lost: the device holds the new key, the server keeps it as
// pending and offers it at the next join, which then commits.
func TestLostConfirmRecovers(t *testing.T) {
	f := newFixture(t, 5)
	e := f.enr[5]
	tr := f.join(testCtl, e.Label(), f.devices[5], false)
	if tr.psk == ([KeySize]byte{}) {
		t.Fatal("device did not re-key")
	}
	if en, _ := f.srv.Repo.Get(5); en.Key != e.IK || len(en.Pending) != 1 || en.Pending[0] != tr.psk {
		t.Fatal("server state after a lost flight 6")
	}
	f.now = f.now.Add(time.Second)
	tr2 := f.join(testCtl, e.Label(), f.devices[5], true)
	if !tr2.committed(testCtl) || len(tr2.keys.Keys) != 2 {
		t.Fatalf("recovery join: committed %v, %d bases", tr2.committed(testCtl), len(tr2.keys.Keys))
	}
	f.inSync(5)
}

// A power cut before the commit, or after it: after the reboot the device
// holds the old key or the new one, and a join afterwards brings server
// and device back in sync. (The firmware's host test cuts every EEPROM
// write of its journalled commit, firmware/tests/bootstrap_test.c.)
func TestPowerCut(t *testing.T) {
	for _, before := range []bool{true, false} {
		t.Run(fmt.Sprint("before=", before), func(t *testing.T) {
			f := newFixture(t, 5)
			e := f.enr[5]
			d := f.devices[5]
			if before {
				d.CommitHook = func() error { return ErrPowerCut }
			}
			tr := f.join(testCtl, e.Label(), d, true)
			if !before && !tr.committed(testCtl) {
				t.Fatal("join did not commit")
			}
			rebooted := d.Reboot()
			k, _ := rebooted.Key()
			newKey := DerivePSK(e.IK, e.RNi, tr.j.RNc)
			if (before && k != e.IK) || (!before && k != newKey) {
				t.Fatal("the reboot holds the wrong key")
			}
			f.devices[5] = rebooted
			f.now = f.now.Add(time.Second)
			if tr := f.join(testCtl, e.Label(), rebooted, true); !tr.committed(testCtl) {
				t.Fatal("join after the reboot did not commit")
			}
			f.inSync(5)
		})
	}
}

func TestUnknownDevice(t *testing.T) {
	f := newFixture(t, 5)
	tr := f.join(testCtl, Label{Device: 77}, f.devices[5], true)
	_, se, err := OpenError(testSK, tr.f3)
	if err != nil || se.Code != CodeUnknownDevice {
		t.Fatalf("unknown device: %v %v", se, err)
	}
}

func TestRepositoryFile(t *testing.T) {
	f := newFixture(t, 1, 2, 3)
	fi, err := os.Stat(f.srv.Repo.Path())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("repository mode %v %v", fi.Mode(), err)
	}
	if err := f.srv.Repo.Add(Entry{Device: 2}); err == nil {
		t.Fatal("duplicate enrolment accepted")
	}
	all, err := f.srv.Repo.All()
	if err != nil || len(all) != 3 {
		t.Fatalf("%d entries %v", len(all), err)
	}
	os.Chmod(f.srv.Repo.Path(), 0o644)
	if _, err := OpenRepository(f.srv.Repo.Path()); err == nil {
		t.Fatal("world-readable repository opened")
	}
}

// TestDelayedConfirmDoesNotLoseTheDevice: a network attacker on the
// controller–server link holds back join A's flight 6 (the device holds
// pA), lets the operator's next join B move the device on to pB (derived
// from pA, offered as pending) and holds back B's flight 6 too, then
// delivers A's. Committing pA would clear pB from pending and leave server
// and device on different keys for good; only the device's latest join
// commits, so A's flight 6 gets error 2 and B's commits pB.
func TestDelayedConfirmDoesNotLoseTheDevice(t *testing.T) {
	f := newFixture(t, 5)
	e := f.enr[5]
	dev := f.devices[5]
	a := f.join(testCtl, e.Label(), dev, false) // flight 6 held back
	b := f.join(testCtl, e.Label(), dev, false) // flight 6 held back
	if a.psk == ([KeySize]byte{}) || b.psk == ([KeySize]byte{}) {
		t.Fatal("setup: joins A and B did not re-key the device")
	}
	a6 := MarshalConfirm(testSK, &Confirm{Controller: testCtl.ID, TID: a.j.TID, Device: 5, RNc: a.j.RNc, Proof: a.f5})
	b6 := MarshalConfirm(testSK, &Confirm{Controller: testCtl.ID, TID: b.j.TID, Device: 5, RNc: b.j.RNc, Proof: b.f5})
	if _, e, err := OpenError(testSK, f.srv.Handle(a6)); err != nil || e.Code != CodeNotCommitted {
		t.Fatalf("the delayed flight 6 of the earlier join: want error %d, got %v %v", CodeNotCommitted, e, err)
	}
	if _, _, _, err := OpenDone(testSK, f.srv.Handle(b6)); err != nil {
		t.Fatalf("the latest join's flight 6 did not commit: %v", err)
	}
	if got := f.inSync(5); got != b.psk {
		t.Fatal("server and device do not hold the latest join's key")
	}
	if c := f.join(testCtl, e.Label(), dev, true); !c.committed(testCtl) {
		t.Error("a third join does not commit")
	}
}

// TestErrorNonceOncePerTID: a flight 2 for a device that is not enrolled
// gets an error reply under nonce 0f ‖ controller ‖ TID. A flight 6 under
// the same TID must not get a second, different error reply under that
// nonce (CCM would see it twice under SK_cs).
func TestErrorNonceOncePerTID(t *testing.T) {
	f := newFixture(t, 5)
	j := &JoinRequest{Controller: testCtl.ID, TS: uint64(f.now.Unix()), Device: 9, RNi: f.enr[5].RNi}
	rand.Read(j.TID[:])
	rand.Read(j.RNc[:])
	e1 := f.srv.Handle(MarshalJoin(testSK, j))
	if _, se, err := OpenError(testSK, e1); err != nil || se.Code != CodeUnknownDevice {
		t.Fatalf("flight 2 for a device not enrolled: %v %v", se, err)
	}
	proof := MarshalProof([KeySize]byte{1}, 9, j.TID, j.RNc)
	e2 := f.srv.Handle(MarshalConfirm(testSK, &Confirm{Controller: testCtl.ID, TID: j.TID, Device: 9, RNc: j.RNc, Proof: proof}))
	if e2 != nil && !bytes.Equal(e1, e2) {
		t.Fatalf("a second error reply under the nonce of the first (same header: %v)", bytes.Equal(e1[:HeaderSize], e2[:HeaderSize]))
	}
}
