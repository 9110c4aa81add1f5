package bootstrap

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRestartRefusesReplayedFlight2: the server's memory of answered
// transactions is in the repository, not only in RAM. A flight 2 replayed
// to a server that restarted within the window must not be answered again:
// its flight 3 would go out under the first one's nonce (03 ‖ controller
// id ‖ TID) with other keys, and whoever knows the first one's plaintext
// (the installer knows IK) would read the committed PSK from the second.
func TestRestartRefusesReplayedFlight2(t *testing.T) {
	f := newFixture(t, 5)
	e := f.enr[5]
	tr := f.join(testCtl, e.Label(), f.devices[5], true)
	if !tr.committed(testCtl) {
		t.Fatal("setup: first join did not commit")
	}
	psk1 := f.inSync(5)

	// The server restarts (same repository, same controllers) 5 s later.
	restarted := &Server{Repo: f.srv.Repo, Controllers: f.srv.Controllers, Now: func() time.Time { return f.now.Add(5 * time.Second) }}
	if f3b := restarted.Handle(tr.f2); f3b != nil {
		// Show what the attack gets, then fail.
		p1 := make([]byte, f3Head+KeySize)
		binary.BigEndian.PutUint64(p1[0:], tr.j.TS)
		binary.BigEndian.PutUint32(p1[8:], 5)
		p1[12] = 1
		copy(p1[f3Head:], e.IK[:])
		var got [KeySize]byte
		for i := range got {
			got[i] = f3b[HeaderSize+f3Head+i] ^ tr.f3[HeaderSize+f3Head+i] ^ p1[f3Head+i]
		}
		t.Fatalf("a replayed flight 2 was answered after a restart (same nonce: %v; PSK recovered: %v)",
			bytes.Equal(f3b[:HeaderSize], tr.f3[:HeaderSize]), got == psk1)
	}
	if restarted.Stats.DropReplay.Load() != 1 {
		t.Errorf("replay counted %d times as a replay, want 1", restarted.Stats.DropReplay.Load())
	}

	// The restarted server still answers fresh joins, and the record of
	// the old transaction is forgotten once its TS is out of the window.
	f.srv = restarted
	if tr2 := f.join(testCtl, e.Label(), f.devices[5], true); !tr2.committed(testCtl) {
		t.Fatal("a fresh join after the restart did not commit")
	}
	data, err := os.ReadFile(f.srv.Repo.Path())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\nanswered "); n != 2 {
		t.Errorf("repository records %d answered transactions, want 2:\n%s", n, data)
	}
	later := &Server{Repo: f.srv.Repo, Controllers: f.srv.Controllers, Now: func() time.Time { return f.now.Add(2 * DefaultWindow) }}
	j := &JoinRequest{Controller: testCtl.ID, TS: uint64(f.now.Add(2 * DefaultWindow).Unix()), Device: 5, RNi: e.RNi}
	rand.Read(j.TID[:])
	rand.Read(j.RNc[:])
	if later.Handle(MarshalJoin(testCtl.SKcs, j)) == nil {
		t.Fatal("no answer to a fresh flight 2")
	}
	if data, _ = os.ReadFile(f.srv.Repo.Path()); strings.Count(string(data), "\nanswered ") != 1 {
		t.Errorf("records older than the window were not dropped:\n%s", data)
	}
}

// TestRepositoryFailureIsLogged: when the repository cannot be read or
// written, a flight 2 gets no answer (its transaction could not be
// recorded) and the cause reaches the server's log.
func TestRepositoryFailureIsLogged(t *testing.T) {
	f := newFixture(t, 5)
	var logged []error
	f.srv.LogError = func(device, ctl uint32, err error) {
		if device != 5 || ctl != testCtl.ID {
			t.Errorf("logged device 0x%x controller 0x%x", device, ctl)
		}
		logged = append(logged, err)
	}
	if err := os.Chmod(f.srv.Repo.Path(), 0o644); err != nil { // refused: others may read it
		t.Fatal(err)
	}
	j := &JoinRequest{Controller: testCtl.ID, TS: uint64(f.now.Unix()), Device: 5, RNi: f.enr[5].RNi}
	rand.Read(j.TID[:])
	rand.Read(j.RNc[:])
	if r := f.srv.Handle(MarshalJoin(testCtl.SKcs, j)); r != nil {
		t.Errorf("flight 2 answered (%d bytes) without its transaction recorded", len(r))
	}
	if len(logged) != 1 || !strings.Contains(logged[0].Error(), f.srv.Repo.Path()) {
		t.Errorf("logged %v, want the repository's error naming its file", logged)
	}
}

// TestWiderWindowRefusesForgottenFlight2: a server drops the records of
// flights 2 older than its window. Restarted with a wider --window (or
// with its clock set back), it must not take a replay of a flight 2 whose
// record was dropped: it would answer it again under the first flight 3's
// nonce with the committed key where IK was, and the installer, who knows
// IK, would read that key.
func TestWiderWindowRefusesForgottenFlight2(t *testing.T) {
	f := newFixture(t, 5)
	e := f.enr[5]
	tr := f.join(testCtl, e.Label(), f.devices[5], true)
	if !tr.committed(testCtl) {
		t.Fatal("setup: first join did not commit")
	}
	// 62 s later a fresh join makes the server drop the first record.
	at := f.now.Add(DefaultWindow + 2*time.Second)
	s2 := &Server{Repo: f.srv.Repo, Controllers: f.srv.Controllers, Now: func() time.Time { return at }}
	j := &JoinRequest{Controller: testCtl.ID, TS: uint64(at.Unix()), Device: 5, RNi: e.RNi}
	rand.Read(j.TID[:])
	rand.Read(j.RNc[:])
	if s2.Handle(MarshalJoin(testCtl.SKcs, j)) == nil {
		t.Fatal("no answer to a fresh flight 2")
	}
	// Restarted with --window 10m, the first flight 2 is inside the window.
	wide := &Server{Repo: f.srv.Repo, Controllers: f.srv.Controllers, Window: 10 * time.Minute,
		Now: func() time.Time { return f.now.Add(100 * time.Second) }}
	if f3b := wide.Handle(tr.f2); f3b != nil {
		t.Fatalf("a replayed flight 2 whose record was dropped was answered again (same nonce: %v)",
			bytes.Equal(f3b[:HeaderSize], tr.f3[:HeaderSize]))
	}
	// A fresh flight 2 is still answered by it.
	j.TS = uint64(f.now.Add(100 * time.Second).Unix())
	rand.Read(j.TID[:])
	if wide.Handle(MarshalJoin(testCtl.SKcs, j)) == nil {
		t.Fatal("no answer to a fresh flight 2 after the restart")
	}
	// The horizon survives a read and write of the repository.
	if _, err := OpenRepository(f.srv.Repo.Path()); err != nil {
		t.Fatal(err)
	}
}
