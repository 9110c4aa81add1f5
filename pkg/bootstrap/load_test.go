package bootstrap

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestLoadJoinsUDP is the fleet load test (issue 12, "Fleets"): 1,000
// joins at once against Server.Serve on UDP loopback, each device a Go
// reference device on its own UDP socket with its own controller (its own
// pair of connected sockets). Every join must commit; no key may be lost
// (the repository's key for every device is the key the device holds and
// the controller was told) or duplicated (every PSK distinct), and the
// repository file must parse with every entry. With -short it runs 200
// joins; the full 1,000 run without -short.
func TestLoadJoinsUDP(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 200
	}
	dir := t.TempDir()
	repo, err := CreateRepository(filepath.Join(dir, "repo"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Repo: repo, Controllers: map[uint32][KeySize]byte{testCtl.ID: testCtl.SKcs}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sconn := listenUDP(t)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); srv.Serve(ctx, sconn) }()

	devs, labels, entries := enrolFleet(t, repo, 0x10000, n)
	results := make([]*JoinResult, n)
	errs := make([]error, n)
	start := time.Now()
	var jw sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		dconn := listenUDP(t)
		wg.Add(1)
		go func() { defer wg.Done(); ServeDevice(ctx, dconn, devs[i]) }()
		cfg := &JoinConfig{Controller: testCtl, Server: dialUDP(t, sconn.LocalAddr()), Device: dialUDP(t, dconn.LocalAddr()),
			Timeout: 3 * time.Second, Tries: 10}
		jw.Add(1)
		go func() {
			defer jw.Done()
			<-gate // all at once
			results[i], errs[i] = Join(ctx, cfg, labels[i])
		}()
	}
	close(gate)
	jw.Wait()
	elapsed := time.Since(start)
	cancel()
	wg.Wait()

	// The file itself, read afresh: it parses and holds every entry.
	data, err := os.ReadFile(repo.Path())
	if err != nil {
		t.Fatal(err)
	}
	rf, err := parseRepo(data)
	if err != nil {
		t.Fatalf("repository does not parse: %v", err)
	}
	m := rf.dev
	if len(m) != n {
		t.Fatalf("repository holds %d entries, want %d", len(m), n)
	}
	seen := make(map[[KeySize]byte]int, n)
	failed := 0
	for i := range n {
		if errs[i] != nil {
			failed++
			t.Errorf("join %d: %v", i, errs[i])
			continue
		}
		e := m[labels[i].Device]
		if e == nil {
			t.Fatalf("device 0x%x lost from the repository", labels[i].Device)
		}
		k, gen := devs[i].Key()
		switch {
		case k != results[i].PSK:
			t.Fatalf("device %d: holds another key than its controller committed", i)
		case k != e.Key || e.Gen != 1 || gen != 1 || len(e.Pending) != 0:
			t.Fatalf("device %d: repository out of sync (gen %d/%d, %d pending)", i, e.Gen, gen, len(e.Pending))
		case k == entries[i].Key:
			t.Fatalf("device %d: key not changed", i)
		}
		if j, dup := seen[k]; dup {
			t.Fatalf("devices %d and %d share a PSK", j, i)
		}
		seen[k] = i
	}
	st := srv.Stats.Snapshot()
	if st["commits"] != uint64(n) || st["joins"] != uint64(n) {
		t.Fatalf("stats %v, want %d joins and commits", st, n)
	}
	t.Logf("%d concurrent joins in %v (%d failed); server stats %v", n, elapsed.Round(time.Millisecond), failed, st)
}
