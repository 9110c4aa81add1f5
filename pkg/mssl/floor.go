package mssl

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mstool/mstool/pkg/grant"
	"github.com/mstool/mstool/pkg/signkey"
)

// A floor statement is the owner's signed order "raise device D's serial
// floor to S (and its time floor to T)": `mstool grant revoke`. Its body
// is fixed-size like a grant's; its own magic keeps the two signatures
// apart. Floors only ever rise (the device takes the maximum), so a
// replayed statement changes nothing.
const (
	FloorMagic = "MF"

	floorOffMagic      = 0  // 2
	floorOffVersion    = 2  // 1
	floorOffFlags      = 3  // 1: FloorFlagGroup
	floorOffKeyID      = 4  // 8: issuer key id
	floorOffTarget     = 12 // 4: device id, or group id
	floorOffSerial     = 16 // 4: new serial floor
	floorOffTimeFloor  = 20 // 4: new time floor (0: unchanged)
	floorOffIssuedAt   = 24 // 4: when it was signed (informational)
	FloorBodySize      = 28
	FloorMACSize       = 16 // device MAC (AES-CMAC) after the signature
	FloorFlagGroup     = 0x01
	floorVersion       = 1
	floorReplySize     = 9 // status ‖ serial floor ‖ time floor
	floorStatusDone    = 0x00
	floorStatusSendSig = 0x01
)

// Floor is a parsed floor statement.
type Floor struct {
	Group       bool
	IssuerKeyID [grant.KeyIDSize]byte
	Target      uint32
	SerialFloor uint32
	TimeFloor   uint32 // 0: unchanged
	IssuedAt    uint32
	Signature   []byte
	// MAC is the device MAC (FloorMAC), nil when the statement has none;
	// only a device-bound statement carries one.
	MAC []byte
}

// Body returns the signed part.
func (f *Floor) Body() []byte {
	b := make([]byte, FloorBodySize)
	copy(b, FloorMagic)
	b[floorOffVersion] = floorVersion
	if f.Group {
		b[floorOffFlags] = FloorFlagGroup
	}
	copy(b[floorOffKeyID:], f.IssuerKeyID[:])
	binary.BigEndian.PutUint32(b[floorOffTarget:], f.Target)
	binary.BigEndian.PutUint32(b[floorOffSerial:], f.SerialFloor)
	binary.BigEndian.PutUint32(b[floorOffTimeFloor:], f.TimeFloor)
	binary.BigEndian.PutUint32(b[floorOffIssuedAt:], f.IssuedAt)
	return b
}

// Marshal returns body ‖ signature [‖ device MAC].
func (f *Floor) Marshal() []byte { return append(append(f.Body(), f.Signature...), f.MAC...) }

// AddFloorMAC appends the device MAC under the device's master key to a
// signed, device-bound floor statement, so that a device without RSA
// (seal-only) can take it too. The RSA signature stays.
func AddFloorMAC(statement []byte, master [KeySize]byte) ([]byte, error) {
	f, err := ParseFloor(statement)
	if err != nil {
		return nil, err
	}
	if f.Group {
		return nil, errors.New("mssl: a group floor statement has no device MAC (every member holds the group key)")
	}
	mac := FloorMAC(master, statement[:FloorBodySize])
	f.MAC = mac[:]
	return f.Marshal(), nil
}

// FloorRequest is what SignFloor signs.
type FloorRequest struct {
	Group       bool
	Target      uint32 // device id, or group id with Group
	SerialFloor uint32 // serials below it are revoked
	TimeFloor   time.Time
	IssuedAt    time.Time
}

// SignFloor makes a floor statement signed by issuer.
func SignFloor(issuer *rsa.PrivateKey, req FloorRequest) ([]byte, error) {
	if issuer == nil {
		return nil, errors.New("mssl: no issuer key")
	}
	if err := signkey.Check(&issuer.PublicKey); err != nil {
		return nil, err
	}
	f := &Floor{Group: req.Group, IssuerKeyID: signkey.KeyID(&issuer.PublicKey), Target: req.Target, SerialFloor: req.SerialFloor}
	var err error
	if !req.TimeFloor.IsZero() {
		if f.TimeFloor, err = unix32("time floor", req.TimeFloor); err != nil {
			return nil, err
		}
	}
	if f.IssuedAt, err = unix32("issued_at", req.IssuedAt); err != nil {
		return nil, err
	}
	body := f.Body()
	d := sha256.Sum256(body)
	sig, err := rsa.SignPKCS1v15(nil, issuer, crypto.SHA256, d[:])
	if err != nil {
		return nil, fmt.Errorf("mssl: signing: %w", err)
	}
	return append(body, sig...), nil
}

func unix32(what string, t time.Time) (uint32, error) {
	s := t.Unix()
	if s <= 0 || s > 0xffffffff {
		return 0, fmt.Errorf("mssl: %s %s is outside 1970..2106", what, t.UTC().Format(time.RFC3339))
	}
	return uint32(s), nil
}

// ParseFloorBody checks a floor statement body's layout.
func ParseFloorBody(b []byte) (*Floor, error) {
	if len(b) != FloorBodySize || string(b[:2]) != FloorMagic {
		return nil, alertErr(AlertDecodeError, "floor statement body of %d bytes", len(b))
	}
	if b[floorOffVersion] != floorVersion {
		return nil, alertErr(AlertDecodeError, "floor statement version %d", b[floorOffVersion])
	}
	if b[floorOffFlags]&^FloorFlagGroup != 0 {
		return nil, alertErr(AlertDecodeError, "floor statement flags %#02x", b[floorOffFlags])
	}
	f := &Floor{
		Group:       b[floorOffFlags]&FloorFlagGroup != 0,
		Target:      binary.BigEndian.Uint32(b[floorOffTarget:]),
		SerialFloor: binary.BigEndian.Uint32(b[floorOffSerial:]),
		TimeFloor:   binary.BigEndian.Uint32(b[floorOffTimeFloor:]),
		IssuedAt:    binary.BigEndian.Uint32(b[floorOffIssuedAt:]),
	}
	copy(f.IssuerKeyID[:], b[floorOffKeyID:])
	return f, nil
}

// ParseFloor decodes a whole floor statement (body ‖ 128- or 256-byte
// signature, optionally ‖ 16-byte device MAC) without verifying it.
func ParseFloor(b []byte) (*Floor, error) {
	n, mac := len(b)-FloorBodySize, 0
	if n != grant.SigSize1024 && n != grant.SigSize2048 {
		n, mac = n-FloorMACSize, FloorMACSize
	}
	if n != grant.SigSize1024 && n != grant.SigSize2048 {
		return nil, alertErr(AlertDecodeError, "floor statement of %d bytes, want %d or %d (+%d with a device MAC)",
			len(b), FloorBodySize+grant.SigSize1024, FloorBodySize+grant.SigSize2048, FloorMACSize)
	}
	f, err := ParseFloorBody(b[:FloorBodySize])
	if err != nil {
		return nil, err
	}
	if mac != 0 && f.Group {
		return nil, alertErr(AlertDecodeError, "group floor statement with a device MAC")
	}
	f.Signature = append([]byte(nil), b[FloorBodySize:FloorBodySize+n]...)
	if mac != 0 {
		f.MAC = append([]byte(nil), b[FloorBodySize+n:]...)
	}
	return f, nil
}

// VerifyFloor checks a whole floor statement against the issuer key.
func VerifyFloor(b []byte, issuer *rsa.PublicKey) (*Floor, error) {
	f, err := ParseFloor(b)
	if err != nil {
		return nil, err
	}
	if signkey.KeyID(issuer) != f.IssuerKeyID || len(f.Signature) != issuer.Size() {
		return nil, alertErr(AlertUnknownIssuer, "floor statement names issuer key %x", f.IssuerKeyID)
	}
	d := sha256.Sum256(b[:FloorBodySize])
	if rsa.VerifyPKCS1v15(issuer, crypto.SHA256, d[:], f.Signature) != nil {
		return nil, alertErr(AlertBadSignature, "floor statement signature does not verify")
	}
	return f, nil
}

// VerifyFloorMAC checks a floor statement's device MAC under the device's
// master key (AlertBadSignature when it has none or it does not verify).
func VerifyFloorMAC(f *Floor, master [KeySize]byte) error {
	want := FloorMAC(master, f.Body())
	if len(f.MAC) != FloorMACSize || subtle.ConstantTimeCompare(want[:], f.MAC) != 1 {
		return alertErr(AlertBadSignature, "floor statement device MAC does not verify")
	}
	return nil
}

// ReadFloor is ParseFloor on the whole of r.
func ReadFloor(r io.Reader) (*Floor, []byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, FloorBodySize+grant.SigSize2048+FloorMACSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("mssl: %w", err)
	}
	f, err := ParseFloor(b)
	return f, b, err
}
