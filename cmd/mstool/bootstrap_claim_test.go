package main

import (
	"flag"
	"path/filepath"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/mstool/mstool/pkg/bootstrap"
)

// TestBootstrapClaimSAsKey: 'esp sa new --repo' read the device's key,
// then claimed the SAs in a second locked step. A join that committed in
// between had the claim mark the new key's SAs issued while the file got
// the old key's, issued already (a second file with their nonces). The
// claim now returns the key it is for, and the SAs derive from it.
func TestBootstrapClaimSAsKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "devices.repo")
	repo, err := bootstrap.CreateRepository(path)
	if err != nil {
		t.Fatal(err)
	}
	k1, k2 := [bootstrap.KeySize]byte{1}, [bootstrap.KeySize]byte{2}
	if err := repo.Add(bootstrap.Entry{Device: 5, Key: k1, Gen: 1, SAsIssued: true}); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("new", flag.ContinueOnError)
	fs.String("repo", path, "")
	c := cli.NewContext(cli.NewApp(), fs, nil)

	// what the command read first: k1, whose SAs are out already
	before, err := repo.Get(5)
	if err != nil || before.Key != k1 {
		t.Fatal(err)
	}
	// a join commits k2 before the claim
	if err := repo.Update(5, func(e *bootstrap.Entry) error {
		e.Key, e.Gen, e.SAsIssued = k2, 2, false
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	key, err := claimRepoSAs(c, 5)
	if err != nil {
		t.Fatal(err)
	}
	if key != k2 {
		t.Fatalf("claimed the SAs of key %x, want the committed %x", key[:1], k2[:1])
	}
	if _, err := claimRepoSAs(c, 5); err == nil {
		t.Fatal("a second claim for the same join succeeded")
	}
}
