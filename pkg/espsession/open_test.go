package espsession_test

import (
	"crypto/rand"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/mstool/mstool/pkg/espsession"
	"github.com/mstool/mstool/pkg/safile"
	"github.com/mstool/mstool/pkg/seqstate"
)

// A failed Open says which step failed and releases the sequence state.
func TestOpenFailure(t *testing.T) {
	sas, err := safile.New(rand.Reader, safile.Options{Local: netip.MustParseAddr("10.0.0.1"), Remote: netip.MustParseAddr("10.0.0.2")})
	if err != nil {
		t.Fatal(err)
	}
	saPath := filepath.Join(t.TempDir(), "host.sa") // locked, never read, by Open
	if err := os.WriteFile(saPath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := espsession.Open(espsession.OpenConfig{SAs: sas, SAPath: saPath}); err == nil {
		t.Fatal("Open with neither port nor UDP succeeded")
	}
	cfg := espsession.OpenConfig{SAs: sas, SAPath: saPath, Port: filepath.Join(t.TempDir(), "no-such-port")}
	var oe *espsession.OpenError
	if _, err := espsession.Open(cfg); !errors.As(err, &oe) || oe.Step != espsession.StepSerial {
		t.Fatalf("Open on a missing port: %v, want an OpenError at StepSerial", err)
	}
	st, err := seqstate.Open(saPath)
	if err != nil {
		t.Fatalf("sequence state still held after a failed Open: %v", err)
	}
	defer st.Close()
	if _, err := espsession.Open(cfg); !errors.As(err, &oe) || oe.Step != espsession.StepState || !errors.Is(err, seqstate.ErrInUse) {
		t.Errorf("Open while the state is held: %v, want ErrInUse at StepState", err)
	}
}
