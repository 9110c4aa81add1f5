package provision

import (
	"crypto/rand"
	"errors"
	"net/netip"
	"testing"

	"github.com/mstool/mstool/pkg/safile"
)

func TestSetSAs(t *testing.T) {
	host, dev := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	f, err := safile.New(rand.Reader, safile.Options{Local: host, Remote: dev})
	if err != nil {
		t.Fatal(err)
	}

	// The device gets the mirror: it receives with the host's outbound SA,
	// and learns the host's address as its peer.
	cfg := &Config{Addr: dev}
	if err := cfg.SetSAs(f); err != nil {
		t.Fatal(err)
	}
	if cfg.Inbound.SPI != f.Outbound[0].SPI || cfg.Outbound.SPI != f.Inbound[0].SPI {
		t.Errorf("SPIs in %d out %d, want the mirror of the host's (in %d out %d)",
			cfg.Inbound.SPI, cfg.Outbound.SPI, f.Inbound[0].SPI, f.Outbound[0].SPI)
	}
	if cfg.Inbound == f.Outbound[0] || &cfg.Inbound.EncKey[0] == &f.Outbound[0].EncKey[0] {
		t.Error("the device's SAs share memory with the file's")
	}
	if cfg.Peer != host {
		t.Errorf("Peer = %v, want %v", cfg.Peer, host)
	}

	var ae *AddrError
	other := netip.MustParseAddr("10.0.0.9")
	cfg = &Config{Addr: other}
	if err := cfg.SetSAs(f); !errors.As(err, &ae) || ae.Peer || ae.SA != dev || ae.Config != other {
		t.Errorf("wrong device address: err = %v", err)
	}
	if cfg.Inbound != nil || cfg.Peer.IsValid() {
		t.Error("config changed on error")
	}
	cfg = &Config{Addr: dev, Peer: other}
	if err := cfg.SetSAs(f); !errors.As(err, &ae) || !ae.Peer || ae.SA != host || ae.Config != other {
		t.Errorf("wrong peer: err = %v", err)
	}

	two := &safile.File{Inbound: f.Inbound, Outbound: append(f.Outbound, f.Outbound[0])}
	if err := (&Config{Addr: dev}).SetSAs(two); !errors.Is(err, ErrSACount) {
		t.Errorf("two outbound SAs: err = %v, want ErrSACount", err)
	}

	// SAs without addresses fit any device and any peer.
	bare, err := safile.New(rand.Reader, safile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg = &Config{Addr: dev, Peer: other}
	if err := cfg.SetSAs(bare); err != nil || cfg.Peer != other {
		t.Errorf("SAs without addresses: err = %v, Peer = %v", err, cfg.Peer)
	}
}
