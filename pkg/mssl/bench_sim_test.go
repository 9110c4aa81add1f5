package mssl_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/mssl"
	"github.com/mstool/mstool/pkg/tasks"
)

// hookTransport runs a function before it sends a message of a given
// type: the test acts on the device between two handshake steps.
type hookTransport struct {
	mssl.Transport
	mu     sync.Mutex
	before map[byte]func()
}

func (h *hookTransport) Send(m []byte) error {
	h.mu.Lock()
	f := h.before[m[0]]
	h.mu.Unlock()
	if f != nil {
		f()
	}
	return h.Transport.Send(m)
}

func (h *hookTransport) on(typ byte, f func()) {
	h.mu.Lock()
	h.before[typ] = f
	h.mu.Unlock()
}

// TestDeviceBenchKeyLeavesMSSLAlone: the management RSA bench's KEY (an
// unauthenticated frame) never ends MSSL state. Its key buffer is MSSL's
// state RAM when MSSL holds nothing; while MSSL holds a pending
// handshake (waiting for the Finished, or for the GrantSignature), a
// session, a floor statement waiting for its signature or a cached
// grant, KEY is refused (error 7, refused in this state) and MSSL goes
// on: the handshake completes, the session runs tasks and takes the
// floor statement, the next handshake resumes from the cache. Once MSSL
// holds nothing again (after a reset), the bench works again.
func TestDeviceBenchKeyLeavesMSSLAlone(t *testing.T) {
	s := startSimMSSL(t, 1024)
	f := &fixture{t: t, issuer: testKey(t, 1024)}
	g, hk := f.sign(request())
	ctx := context.Background()

	bk := otherKey(t)
	bn := bk.N.FillBytes(make([]byte, bk.Size()))
	bh := sha256.Sum256([]byte("bench"))
	bsig, err := rsa.SignPKCS1v15(rand.Reader, bk, crypto.SHA256, bh[:])
	if err != nil {
		t.Fatal(err)
	}
	benchWorks := func(when string) {
		t.Helper()
		if err := s.mgmt.RSALoadKey(ctx, bn); err != nil {
			t.Fatalf("%s: bench key: %v", when, err)
		}
		if res, err := s.mgmt.RSAVerify(ctx, bh[:], bsig); err != nil || !res.Valid {
			t.Fatalf("%s: bench verify: %v %+v", when, err, res)
		}
	}
	refused := func(when string) {
		t.Helper()
		var re *device.RemoteError
		err := s.mgmt.RSALoadKey(ctx, bn)
		if !errors.As(err, &re) || re.Code != device.ErrCodeState || !errors.Is(err, device.ErrRSABusy) {
			t.Errorf("%s: bench KEY: %v, want refused in this state (code %d, ErrRSABusy)", when, err, device.ErrCodeState)
		}
	}
	// Each session on a transport of its own (Close closes it), with
	// hooks set before the dial.
	dial := func(hooks map[byte]func()) (*mssl.Session, *hookTransport) {
		t.Helper()
		tr := &hookTransport{Transport: mssl.NewLink(s.mux.view(hostAddr), hostAddr, deviceAddr), before: hooks}
		sess, err := mssl.Dial(ctx, mssl.Config{Grant: g, HostKey: hk, Transport: tr, Timeout: simTimeout, Retries: -1})
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		for typ := range hooks {
			tr.on(typ, nil)
		}
		return sess, tr
	}
	adc := func(sess *mssl.Session, when string) {
		t.Helper()
		if r, err := sess.Task(ctx, tasks.TaskADC, []byte{3}); err != nil || r.Status != tasks.StatusOK {
			t.Fatalf("%s: adc: %v %+v", when, err, r)
		}
	}

	// MSSL holds nothing yet: the bench has the RAM.
	benchWorks("fresh device")

	// A full handshake, with a bench KEY while it waits for the Finished
	// and while it waits for the GrantSignature.
	sess, _ := dial(map[byte]func(){
		mssl.RecordFinished:     func() { refused("handshake waiting for the Finished") },
		mssl.TypeGrantSignature: func() { refused("handshake waiting for the GrantSignature") },
	})
	if sess.Cached() {
		t.Fatal("first handshake resumed from a cache")
	}
	if _, err := s.mgmt.RSAVerify(ctx, bh[:], bsig); err == nil {
		t.Fatal("bench VERIFY with a key MSSL has since taken the RAM of")
	}

	// In the session.
	refused("session established")
	adc(sess, "after a bench KEY in the session")
	if err := sess.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}

	// The cache holds the grant: the next handshake resumes.
	refused("grant cached")
	sess, tr := dial(map[byte]func(){})
	if !sess.Cached() {
		t.Fatal("handshake after a bench KEY did not resume from the cache")
	}

	// A floor statement waiting for its signature (serial floor 3: this
	// grant's 10 stays valid).
	st, err := mssl.SignFloor(f.issuer, mssl.FloorRequest{Target: 0x2a, SerialFloor: 3, IssuedAt: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	tr.on(mssl.TypeFloorSignature, func() { refused("floor statement waiting for its signature") })
	if fl, err := sess.RaiseFloor(ctx, st); err != nil || fl.SerialFloor != 3 || fl.Ended != 0 {
		t.Fatalf("raise floor after a bench KEY: %+v, %v", fl, err)
	}
	tr.on(mssl.TypeFloorSignature, nil)
	adc(sess, "after the floor statement")
	refused("session established, grant cached")
	adc(sess, "after a bench KEY in the session")
	if err := sess.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	refused("session closed, grant cached")

	// After a reset MSSL holds nothing: the bench works, and the next
	// handshake (a full one) takes the RAM back.
	s.stop()
	s = bootSim(t, 1024, s.eep, nil)
	benchWorks("after a reset")
	sess, _ = dial(map[byte]func(){})
	if sess.Cached() {
		t.Fatal("handshake after a reset resumed from a cache")
	}
	adc(sess, "after the bench")
	sess.Close(ctx)
}
