package grant

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/mstool/mstool/pkg/devkey"
	"github.com/mstool/mstool/pkg/signkey"
	"github.com/mstool/mstool/pkg/tasks"
)

// VerifyOptions say what to check a grant against. Only Issuer is
// required; every other check runs when its option is set.
type VerifyOptions struct {
	// Issuer is the owner's public key, the one the device stores.
	Issuer *rsa.PublicKey

	// Device is the identity of the device the grant is presented to.
	// When set, the grant must name this device (or its group) and the
	// sealed host key must open under its master key (or group key).
	Device *devkey.Identity
	// HostKey, when set, must equal the sealed host key. It needs Device.
	HostKey *[HostKeySize]byte

	// SerialFloor is the revocation floor: serials below it are revoked.
	SerialFloor uint32
	// TimeFloor is the device's clock substitute, in unix seconds: the
	// greatest issued_at of the grants it has accepted. Grants whose
	// not_after is below it have expired.
	TimeFloor uint32

	// Now, when not zero, is the verifier's real time: the grant has
	// expired after NotAfter, and is not yet valid before IssuedAt - Skew.
	Now  time.Time
	Skew time.Duration

	// HostIP and HostMAC, when set, are the address of the host presenting
	// the grant; a grant bound to an address must match it.
	HostIP  netip.Addr
	HostMAC net.HardwareAddr

	// Task, when not nil, must be permitted by the grant.
	Task *tasks.Task

	// TaskMap, when not nil, names application tasks in messages.
	TaskMap *tasks.Map
}

// Result is a grant that passed Verify.
type Result struct {
	Grant *Grant
	// HostKey is the opened host key; valid only when SealChecked.
	HostKey     [HostKeySize]byte
	SealChecked bool
	// NextTimeFloor is the time floor a device moves to after accepting
	// the grant: max(TimeFloor, IssuedAt).
	NextTimeFloor uint32
}

// Verify parses and checks a grant: issuer, signature, then (as asked by
// opts) target device, seal, host key, revocation and time floors, clock,
// host address and task. Every failure is an *Error whose Reason says why;
// the signature is checked before any signed field is trusted, so a grant
// changed in any byte fails with ErrBadSignature, ErrWrongIssuer or
// ErrMalformed.
func Verify(b []byte, opts VerifyOptions) (*Result, error) {
	if opts.Issuer == nil {
		return nil, errors.New("grant: no issuer key to verify with")
	}
	if opts.HostKey != nil && opts.Device == nil {
		return nil, errors.New("grant: checking a host key needs the device identity")
	}
	g, err := Parse(b)
	if err != nil {
		return nil, err
	}
	if err := signkey.Check(opts.Issuer); err != nil {
		return nil, err
	}
	if id := signkey.KeyID(opts.Issuer); id != g.IssuerKeyID {
		return nil, reject(ReasonWrongIssuer, fmt.Sprintf("grant names issuer key %x, the key given is %x", g.IssuerKeyID, id))
	}
	if len(g.Signature) != opts.Issuer.Size() {
		return nil, reject(ReasonWrongIssuer, fmt.Sprintf("RSA-%d signature, but the issuer key is RSA-%d", g.SignatureBits(), opts.Issuer.N.BitLen()))
	}
	digest := sha256.Sum256(b[:BodySize])
	if err := rsa.VerifyPKCS1v15(opts.Issuer, crypto.SHA256, digest[:], g.Signature); err != nil {
		return nil, reject(ReasonBadSignature, "the grant was changed or not signed by this issuer")
	}
	// From here on the fields are the issuer's.
	res := &Result{Grant: g, NextTimeFloor: max(opts.TimeFloor, g.IssuedAt)}
	if d := opts.Device; d != nil {
		key, err := deviceKey(g, d)
		if err != nil {
			return nil, err
		}
		hk, err := OpenHostKey(g, key)
		if err != nil {
			return nil, err
		}
		res.HostKey, res.SealChecked = hk, true
		if opts.HostKey != nil && !equalKeys(hk, *opts.HostKey) {
			return nil, reject(ReasonWrongHostKey, "the host key is not the one sealed in this grant")
		}
	}
	if g.Serial < opts.SerialFloor {
		return nil, reject(ReasonRevoked, fmt.Sprintf("serial %d is below the revocation floor %d", g.Serial, opts.SerialFloor))
	}
	if g.NotAfter < opts.TimeFloor {
		return nil, reject(ReasonExpired, fmt.Sprintf("not after %s, before the device's time floor %s",
			g.NotAfterTime().Format(time.RFC3339), time.Unix(int64(opts.TimeFloor), 0).UTC().Format(time.RFC3339)))
	}
	if !opts.Now.IsZero() {
		if err := g.CheckClock(opts.Now, opts.Skew); err != nil {
			return nil, err
		}
	}
	if opts.HostIP.IsValid() && g.HostIP.IsValid() && opts.HostIP.Unmap() != g.HostIP {
		return nil, reject(ReasonWrongHost, fmt.Sprintf("grant is bound to %s, the host is %s", g.HostIP, opts.HostIP))
	}
	if opts.HostMAC != nil && g.HostMAC != nil && !bytes.Equal(opts.HostMAC, g.HostMAC) {
		return nil, reject(ReasonWrongHost, fmt.Sprintf("grant is bound to MAC %s, the host is %s", g.HostMAC, opts.HostMAC))
	}
	if opts.Task != nil && !g.Tasks.Has(*opts.Task) {
		return nil, reject(ReasonTaskDenied, fmt.Sprintf("task %s is not granted (granted: %s)", opts.TaskMap.Name(*opts.Task), strings.Join(opts.TaskMap.TaskNames(g.Tasks), ",")))
	}
	return res, nil
}

// deviceKey picks the key the grant is sealed under for device d, checking
// that the grant is addressed to d or to its group.
func deviceKey(g *Grant, d *devkey.Identity) ([16]byte, error) {
	if g.Group {
		if !d.HasGroup {
			return [16]byte{}, reject(ReasonWrongDevice, fmt.Sprintf("grant is for group 0x%08x, device 0x%08x is in no group", g.Target, d.ID))
		}
		if g.Target != d.GroupID {
			return [16]byte{}, reject(ReasonWrongDevice, fmt.Sprintf("grant is for group 0x%08x, device 0x%08x is in group 0x%08x", g.Target, d.ID, d.GroupID))
		}
		return d.GroupKey, nil
	}
	if g.Target != d.ID {
		return [16]byte{}, reject(ReasonWrongDevice, fmt.Sprintf("grant is for device 0x%08x, not 0x%08x", g.Target, d.ID))
	}
	return d.MasterKey, nil
}

// CheckClock checks the grant's validity against a real clock: ErrExpired
// (an *Error) after NotAfter, ErrNotYetValid before IssuedAt - skew. A
// device has no clock and checks neither (only its time floor), so a host
// can use this to warn about a grant the device may still accept.
func (g *Grant) CheckClock(now time.Time, skew time.Duration) error {
	t := now.Unix()
	if t > int64(g.NotAfter) {
		return reject(ReasonExpired, "not after "+g.NotAfterTime().Format(time.RFC3339))
	}
	if t < int64(g.IssuedAt)-int64(skew/time.Second) {
		return reject(ReasonNotYetValid, "issued at "+g.IssuedTime().Format(time.RFC3339)+", in the future (check the clocks)")
	}
	return nil
}
