package provision

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/mstool/mstool/pkg/safile"
)

// ErrSACount reports an SA file that is not the one pair a device holds:
// exactly one inbound and one outbound SA.
var ErrSACount = errors.New("provision: a device holds one inbound and one outbound SA")

// AddrError reports SAs made for other addresses than the configuration's.
type AddrError struct {
	Peer   bool       // the host's address (Config.Peer); false: the device's (Config.Addr)
	SA     netip.Addr // the address in the SAs
	Config netip.Addr // the configuration's address
}

func (e *AddrError) Error() string {
	if e.Peer {
		return fmt.Sprintf("provision: the SAs are with host %s, not %s", e.SA, e.Config)
	}
	return fmt.Sprintf("provision: the SAs are for device address %s, not %s", e.SA, e.Config)
}

// SetSAs gives the device the mirror of the host's SA file f: the host's
// outbound SA becomes the device's Inbound and the host's inbound SA its
// Outbound. f must hold one pair (else ErrSACount). Where the SAs carry
// addresses, the device's must be c.Addr, and the host's becomes c.Peer
// when c.Peer is unset and must equal it otherwise (else *AddrError).
// c is unchanged on error.
func (c *Config) SetSAs(f *safile.File) error {
	if len(f.Inbound) != 1 || len(f.Outbound) != 1 {
		return ErrSACount
	}
	dev := f.Mirror()
	in, out := dev.Inbound[0], dev.Outbound[0]
	// The device receives on its own address and sends from it.
	for _, a := range []netip.Addr{in.Dst, out.Src} {
		if a.IsValid() && a != c.Addr {
			return &AddrError{SA: a, Config: c.Addr}
		}
	}
	peer := c.Peer
	if !peer.IsValid() && in.Src.IsValid() {
		peer = in.Src
	}
	if in.Src.IsValid() && in.Src != peer {
		return &AddrError{Peer: true, SA: in.Src, Config: peer}
	}
	c.Peer, c.Inbound, c.Outbound = peer, in, out
	return nil
}
