package grant

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"time"

	"github.com/mstool/mstool/pkg/devkey"
	"github.com/mstool/mstool/pkg/signkey"
	"github.com/mstool/mstool/pkg/tasks"
)

// Request is what to grant.
type Request struct {
	// Device is the identity of the device the grant is for. Its master key
	// seals the host key; with Group, its group id and group key are used
	// instead, and the grant is valid on every device of the group.
	Device *devkey.Identity
	Group  bool

	HostIP  netip.Addr       // the host's IPv4 address; zero Addr: not bound
	HostMAC net.HardwareAddr // the host's MAC address (6 bytes); nil: not bound
	Tasks   tasks.Set        // at least one task
	Serial  uint32           // the issuer's serial number for this grant

	IssuedAt time.Time // when the grant is signed (the device's time floor moves to it)
	NotAfter time.Time // last second of validity, not before IssuedAt
}

// Sign makes a grant. rand supplies the host key and then the seal nonce,
// in that order (16 + 13 bytes); pass crypto/rand.Reader except in tests.
// It returns the encoded grant (public) and the clear host key (secret,
// for the grant's host only).
func Sign(rand io.Reader, issuer *rsa.PrivateKey, req Request) (grant []byte, hostKey [HostKeySize]byte, err error) {
	g, sealKey, err := req.grant()
	if err != nil {
		return nil, hostKey, err
	}
	if issuer == nil {
		return nil, hostKey, errors.New("grant: no issuer key")
	}
	if err := signkey.Check(&issuer.PublicKey); err != nil {
		return nil, hostKey, err
	}
	g.IssuerKeyID = signkey.KeyID(&issuer.PublicKey)
	if _, err := io.ReadFull(rand, hostKey[:]); err != nil {
		return nil, hostKey, fmt.Errorf("grant: reading random host key: %w", err)
	}
	if _, err := io.ReadFull(rand, g.Nonce[:]); err != nil {
		return nil, hostKey, fmt.Errorf("grant: reading random nonce: %w", err)
	}
	body := g.Body()
	seal(body, sealKey, hostKey)
	digest := sha256.Sum256(body)
	sig, err := rsa.SignPKCS1v15(nil, issuer, crypto.SHA256, digest[:])
	if err != nil {
		return nil, hostKey, fmt.Errorf("grant: signing: %w", err)
	}
	return append(body, sig...), hostKey, nil
}

// grant checks the request and fills in the fields it determines.
func (req *Request) grant() (*Grant, [16]byte, error) {
	var key [16]byte
	d := req.Device
	if d == nil {
		return nil, key, errors.New("grant: no device identity")
	}
	g := &Grant{Group: req.Group, Serial: req.Serial, Tasks: req.Tasks}
	if req.Group {
		if !d.HasGroup {
			return nil, key, fmt.Errorf("grant: device 0x%08x belongs to no group (its identity file has no group-id and group-key)", d.ID)
		}
		g.Target, key = d.GroupID, d.GroupKey
	} else {
		g.Target, key = d.ID, d.MasterKey
	}
	if req.HostIP.IsValid() {
		ip := req.HostIP.Unmap()
		if !ip.Is4() {
			return nil, key, fmt.Errorf("grant: host address %s is not IPv4", req.HostIP)
		}
		if ip.IsUnspecified() {
			return nil, key, errors.New("grant: host address 0.0.0.0 is not a host")
		}
		g.HostIP = ip
	}
	if req.HostMAC != nil {
		if len(req.HostMAC) != 6 {
			return nil, key, fmt.Errorf("grant: host MAC %s is not a 6-byte (EUI-48) address", req.HostMAC)
		}
		if allZero(req.HostMAC) {
			return nil, key, errors.New("grant: host MAC 00:00:00:00:00:00 is not a host")
		}
		g.HostMAC = append(net.HardwareAddr(nil), req.HostMAC...)
	}
	if !g.HostIP.IsValid() && g.HostMAC == nil {
		return nil, key, errors.New("grant: bind the grant to the host's IPv4 address, its MAC address, or both")
	}
	if req.Tasks == 0 {
		return nil, key, errors.New("grant: no tasks")
	}
	if u := req.Tasks.Unknown(); u != 0 {
		return nil, key, fmt.Errorf("grant: tasks %s are reserved for built-in tasks and name none", u)
	}
	issued, err := unixSeconds("issued_at", req.IssuedAt)
	if err != nil {
		return nil, key, err
	}
	notAfter, err := unixSeconds("not_after", req.NotAfter)
	if err != nil {
		return nil, key, err
	}
	if notAfter < issued {
		return nil, key, fmt.Errorf("grant: not_after %s is before issued_at %s", req.NotAfter.UTC().Format(time.RFC3339), req.IssuedAt.UTC().Format(time.RFC3339))
	}
	g.IssuedAt, g.NotAfter = issued, notAfter
	return g, key, nil
}

func unixSeconds(name string, t time.Time) (uint32, error) {
	if t.IsZero() {
		return 0, fmt.Errorf("grant: %s not set", name)
	}
	s := t.Unix()
	if s < 0 || s > math.MaxUint32 {
		return 0, fmt.Errorf("grant: %s %s is outside 1970..2106 (32-bit unix seconds)", name, t.UTC().Format(time.RFC3339))
	}
	return uint32(s), nil
}
