package bootstrap

import (
	"context"
	"crypto/rand"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func listenUDP(t testing.TB) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func dialUDP(t testing.TB, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Many joins at once over UDP loopback, each device a Go reference device
// on its own socket: every join commits, no key is lost or duplicated,
// and the repository agrees with every device.
func TestConcurrentJoinsUDP(t *testing.T) {
	n := 100
	if testing.Short() {
		n = 20
	}
	repo, err := CreateRepository(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Repo: repo, Controllers: map[uint32][KeySize]byte{testCtl.ID: testCtl.SKcs}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sconn := listenUDP(t)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); srv.Serve(ctx, sconn) }()

	devs, labels, _ := enrolFleet(t, repo, 1000, n)
	results := make([]*JoinResult, n)
	errs := make([]error, n)
	var jw sync.WaitGroup
	for i := range n {
		dconn := listenUDP(t)
		wg.Add(1)
		go func() { defer wg.Done(); ServeDevice(ctx, dconn, devs[i]) }()
		jw.Add(1)
		go func() {
			defer jw.Done()
			cfg := &JoinConfig{Controller: testCtl, Server: dialUDP(t, sconn.LocalAddr()), Device: dialUDP(t, dconn.LocalAddr()), Timeout: 2 * time.Second}
			results[i], errs[i] = Join(ctx, cfg, labels[i])
		}()
	}
	jw.Wait()
	seen := map[[KeySize]byte]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("join %d: %v", i, errs[i])
		}
		e, err := repo.Get(labels[i].Device)
		if err != nil {
			t.Fatal(err)
		}
		k, gen := devs[i].Key()
		if k != e.Key || k != results[i].PSK || gen != 1 || e.Gen != 1 || len(e.Pending) != 0 {
			t.Fatalf("device %d: out of sync", i)
		}
		if seen[k] {
			t.Fatal("duplicate key")
		}
		seen[k] = true
	}
	if got := srv.Stats.Commits.Load(); got != uint64(n) {
		t.Fatalf("%d commits, want %d", got, n)
	}
	cancel()
	wg.Wait()
}

// Join reports the device's refusal (wrong key) and a server that does
// not answer (wrong SK_cs: the server drops the flight).
func TestJoinErrorsUDP(t *testing.T) {
	f := newFixture(t, 5)
	f.srv.Now = nil // the controller's clock
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sconn, dconn := listenUDP(t), listenUDP(t)
	go f.srv.Serve(ctx, sconn)
	wrong := NewDevice(5, [KeySize]byte{9}, f.enr[5].RNi)
	go ServeDevice(ctx, dconn, wrong)
	cfg := &JoinConfig{Controller: testCtl, Server: dialUDP(t, sconn.LocalAddr()), Device: dialUDP(t, dconn.LocalAddr()), Timeout: 200 * time.Millisecond, Tries: 2}
	_, err := Join(ctx, cfg, f.enr[5].Label())
	if ne, ok := err.(*NAKError); !ok || ne.Code != NAKAuth {
		t.Fatalf("wrong IK: %v", err)
	}
	cfg.Controller.SKcs[0] ^= 1
	_, err = Join(ctx, cfg, f.enr[5].Label())
	if te, ok := err.(*TimeoutError); !ok || te.Peer != "server" {
		t.Fatalf("wrong SK_cs: %v", err)
	}
}

// enrolFleet enrols n devices with random keys (ids first, first+1, ...)
// in repo and returns their reference devices, labels and repository
// entries (the initial keys).
func enrolFleet(t *testing.T, repo *Repository, first uint32, n int) ([]*Device, []Label, []Entry) {
	t.Helper()
	devs := make([]*Device, n)
	labels := make([]Label, n)
	entries := make([]Entry, n)
	for i := range n {
		e := Enrolled{Device: first + uint32(i)}
		rand.Read(e.IK[:])
		rand.Read(e.RNi[:])
		entries[i] = Entry{Device: e.Device, Key: e.IK}
		devs[i] = NewDevice(e.Device, e.IK, e.RNi)
		labels[i] = e.Label()
	}
	if err := repo.Add(entries...); err != nil {
		t.Fatal(err)
	}
	return devs, labels, entries
}
