package device

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// RSA verification on the device (firmware/lib/mgmt_rsa.c, docs/management.md
// "RSA 0x20"): the host loads an issuer modulus in chunks, then asks the
// device to verify RSASSA-PKCS1-v1_5 SHA-256 signatures (e = 65537) on
// hashes it sends, and gets the verdict and the cycle counts back.

const (
	cmdRSA       = 0x20
	rsaOpKey     = 0x01
	rsaOpVerify  = 0x02
	rsaKeyHdr    = 1 + 2 + 2 // op, klen, offset
	rsaVerifyHdr = 1 + 32    // op, hash
)

// RSA modulus sizes the device accepts, in bytes.
const (
	RSA1024Bytes = 128
	RSA2048Bytes = 256
)

// ErrBadSignature is returned by RSAVerify when the device rejects the
// signature (one opaque error for every kind of invalid signature).
var ErrBadSignature = errors.New("device: rsa: signature rejected")

// ErrRSABusy is returned by RSALoadKey when the device refuses the key
// because its MSSL holds state (a session, a pending handshake, a floor
// statement waiting for its signature or a cached grant): the bench's key
// would take that RAM, and an unauthenticated request never ends MSSL
// state. A device that has served MSSL keeps a cached grant until it
// resets (or a floor raise empties the cache).
var ErrRSABusy = errors.New("device: rsa: the device's MSSL holds state (session, handshake or cached grant): bench key refused")

// ErrRSANoRAM is returned by RSAVerify when the firmware has too little
// free RAM for the work area of the loaded modulus (the device refuses
// instead of letting its stack run into its static data).
var ErrRSANoRAM = errors.New("device: rsa: not enough free RAM on the device for this modulus")

// RSAResult is the device's answer to one verification.
type RSAResult struct {
	Valid bool `json:"valid"`
	// R2Cycles: computing R^2 mod n from n (the Montgomery constant a
	// device may cache when it is provisioned).
	R2Cycles uint32 `json:"r2_cycles"`
	// VerifyCycles: the verification given R^2 (s < n check, s^65537
	// mod n, building and comparing the encoding).
	VerifyCycles uint32 `json:"verify_cycles"`
	// StackBytes: stack the RSA code used below its work area (measured
	// on the device by painting the free stack).
	StackBytes int `json:"stack_bytes"`
	// WorkBytes: the caller-owned work area (2k + 5).
	WorkBytes int `json:"work_bytes"`
	// FreeBytes: RAM left between the static data and the deepest stack
	// point of the verification (0: the stack may have run into the
	// static data).
	FreeBytes int `json:"free_bytes"`
}

// TotalCycles is a verification without a cached R^2.
func (r *RSAResult) TotalCycles() uint64 { return uint64(r.R2Cycles) + uint64(r.VerifyCycles) }

// RSALoadKey loads the modulus n (big-endian, 128 or 256 bytes, top bit
// set, odd) into the device, in as many frames as it takes. The device
// refuses a modulus it cannot verify with (a *RemoteError with
// ErrCodeParam; ErrCodeUnsupported for 2048 bits on a device built for
// 1024 only), and any key while its MSSL holds state (ErrRSABusy).
func (d *Device) RSALoadKey(ctx context.Context, n []byte) error {
	if len(n) != RSA1024Bytes && len(n) != RSA2048Bytes {
		return fmt.Errorf("device: rsa: modulus of %d bytes, want 128 or 256", len(n))
	}
	chunk := 128
	if info := d.cachedInfo(); info != nil {
		chunk = info.FrameMax - overhead - rsaKeyHdr
	}
	if chunk <= 0 {
		return ErrTooLarge
	}
	for off := 0; off < len(n); off += chunk {
		end := min(off+chunk, len(n))
		req := []byte{rsaOpKey}
		req = binary.BigEndian.AppendUint16(req, uint16(len(n)))
		req = binary.BigEndian.AppendUint16(req, uint16(off))
		req = append(req, n[off:end]...)
		r, err := d.request(ctx, cmdRSA, req, 0)
		var re *RemoteError
		if errors.As(err, &re) && re.Code == ErrCodeState {
			return fmt.Errorf("%w (%w)", ErrRSABusy, err)
		}
		if err != nil {
			return fmt.Errorf("device: rsa: loading the key: %w", err)
		}
		if len(r) != 2 || r[0] != rsaOpKey {
			return fmt.Errorf("device: rsa: malformed key reply %x", r)
		}
		if complete := r[1] == 1; complete != (end == len(n)) {
			return fmt.Errorf("device: rsa: key state %d after %d of %d bytes", r[1], end, len(n))
		}
	}
	return nil
}

// RSAVerify asks the device to verify sig (as long as the loaded modulus)
// on a message whose SHA-256 is hash. A rejected signature returns the
// result with Valid false and ErrBadSignature.
func (d *Device) RSAVerify(ctx context.Context, hash, sig []byte) (*RSAResult, error) {
	if len(hash) != 32 {
		return nil, fmt.Errorf("device: rsa: hash of %d bytes, want 32", len(hash))
	}
	req := append([]byte{rsaOpVerify}, hash...)
	req = append(req, sig...)
	// R^2 and the verification: about 20 M cycles for RSA-2048 (1.3 s on
	// a 16 MHz board); generous for a loaded simulator.
	r, err := d.request(ctx, cmdRSA, req, 30*time.Second)
	var re *RemoteError
	if errors.As(err, &re) && re.Code == ErrCodeTooBig {
		return nil, ErrRSANoRAM
	}
	if err != nil {
		return nil, fmt.Errorf("device: rsa: verify: %w", err)
	}
	c := cursor{b: r, ok: true}
	op, verdict := c.u8(), c.u8()
	res := &RSAResult{R2Cycles: c.u32(), VerifyCycles: c.u32(), StackBytes: int(c.u16()), WorkBytes: int(c.u16()), FreeBytes: int(c.u16())}
	if !c.ok || len(c.b) != 0 || op != rsaOpVerify || verdict > 1 {
		return nil, fmt.Errorf("device: rsa: malformed verify reply %x", r)
	}
	res.Valid = verdict == 0
	if !res.Valid {
		return res, ErrBadSignature
	}
	return res, nil
}

func (d *Device) cachedInfo() *Info {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.info
}
