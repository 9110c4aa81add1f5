package device

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mstool/mstool/pkg/cmac"
	"github.com/mstool/mstool/pkg/provision"
)

// Serial provisioning through the firmware (firmware/lib/prov.c, PROV 0x06;
// protocol, threat model and limits: docs/provisioning.md). A device in
// factory state (whole EEPROM erased) accepts one unauthenticated
// provisioning; a provisioned device accepts a new configuration only
// under keys derived from its current master key and a fresh challenge.
// Either way the host then verifies the write with a read-back: the
// configuration with its secret fields zeroed, and a CMAC of the whole
// configuration under a key derived from the new master key.

// ProvisioningVersion is the version of the authenticated re-provisioning
// header ("MSPV") this package writes.
const ProvisioningVersion = 2

const (
	cmdProv = 0x06

	provOpInfo    = 0x01
	provOpFactory = 0x02
	provOpBegin   = 0x03
	provOpData    = 0x04
	provOpEnd     = 0x05
	provOpRead    = 0x06
	provOpDigest  = 0x07

	provHeaderLen = 48
	provVersion   = ProvisioningVersion
	masterKeyOff  = 20
	provTagLen    = cmac.Size
	// provWriteTime bounds the EEPROM writes of one request on a board
	// (3.4 ms per byte: a 272-byte chunk, or a commit of a 448-byte
	// config plus the journal and two state slots).
	provWriteTime = 5 * time.Second
)

// Remote error codes of PROV (firmware/lib/mgmt.h).
const (
	ErrCodeState  = 7  // refused in this state
	ErrCodeAuth   = 8  // authentication failed
	ErrCodeStale  = 9  // not the device's current challenge
	ErrCodeRoom   = 10 // no room to stage the new config
	ErrCodeConfig = 11 // the device's checks reject the new config
	ErrCodeEEPROM = 12 // an EEPROM write did not take
)

// Provisioning errors callers can branch on (errors.Is). A wrong current
// master key is ErrAuth.
var (
	// ErrNotFactory: the device is provisioned and no current master key
	// was given, so it refuses (only a blank device accepts an
	// unauthenticated provisioning).
	ErrNotFactory = errors.New("device: provision: the device is already provisioned and refuses an unauthenticated provisioning")
	// ErrLocked: the EEPROM is neither blank nor a valid configuration
	// (corrupt, or a provisioning cut by a power loss): the device accepts
	// no provisioning over serial; erase its EEPROM through ISP.
	ErrLocked = errors.New("device: provision: the device's EEPROM is neither blank nor a valid configuration")
	// ErrNoRoom: the device's EEPROM has no room to stage the new
	// configuration next to the current one (ATmega168; RSA-2048 issuer
	// keys that change).
	ErrNoRoom = errors.New("device: provision: no room in the device's EEPROM to stage the new configuration")
	// ErrRejected: the device's own checks reject the configuration
	// (suite not built into its firmware, bad field); nothing changed.
	ErrRejected = errors.New("device: provision: the device rejected the configuration")
	// ErrEEPROMWrite: the device could not write its EEPROM.
	ErrEEPROMWrite = errors.New("device: provision: EEPROM write failed on the device")
	// ErrStale: the challenge changed under us (another host provisioning
	// at the same time); nothing changed.
	ErrStale = errors.New("device: provision: the device's challenge changed")
	// ErrReadBack: the read-back does not match what was written.
	ErrReadBack = errors.New("device: provision: read-back does not match the configuration written")
	// ErrNotProvisioned: the device holds no valid configuration to read.
	ErrNotProvisioned = errors.New("device: provision: the device is not provisioned")
	// ErrNoSession: the device has no provisioning session (it reset).
	ErrNoSession = errors.New("device: provision: no provisioning session on the device (did it reset?)")
	// ErrImage: the image cannot be provisioned into this device.
	ErrImage = errors.New("device: provision: unusable image")
)

// ProvState is the device's provisioning state (INFO).
type ProvState byte

// Provisioning states.
const (
	ProvFactory     ProvState = 0 // whole EEPROM blank: first provisioning accepted
	ProvProvisioned ProvState = 1 // re-provisioning under the current master key
	ProvLocked      ProvState = 2 // neither: serial provisioning refused
)

func (s ProvState) String() string {
	switch s {
	case ProvFactory:
		return "factory"
	case ProvProvisioned:
		return "provisioned"
	case ProvLocked:
		return "locked"
	}
	return fmt.Sprintf("state %d", byte(s))
}

// ProvChallenge is a device's provisioning challenge: its persisted
// nonce counter (4 bytes, big-endian) and the epoch it drew at boot (12
// bytes), so that no challenge repeats even after the device's EEPROM goes
// back to an older image (docs/provisioning.md).
type ProvChallenge [16]byte

// ProvFloors are the revocation floors a provisioning sets: the device
// takes them as they are for a new issuer key, and raises its own to
// them for the same issuer (it never lowers them).
type ProvFloors struct {
	Serial uint32 // grant serial floor
	Time   uint32 // grant time floor (unix seconds)
}

// ProvInfo is the device's answer to PROV INFO.
type ProvInfo struct {
	State      ProvState     `json:"state"`
	Reason     byte          `json:"reason"` // STATUS reason (0 when provisioned)
	ReasonText string        `json:"reason_text"`
	DeviceID   uint32        `json:"device_id"`
	Challenge  ProvChallenge `json:"-"`
	ConfigLen  int           `json:"config_length"`
	StageEnd   int           `json:"stage_end"` // 0: the device cannot stage (no re-provisioning)
	EEPROM     int           `json:"eeprom"`
}

// ProvisionInfo asks the device for its provisioning state.
func (d *Device) ProvisionInfo(ctx context.Context) (*ProvInfo, error) {
	p, err := d.request(ctx, cmdProv, []byte{provOpInfo}, 0)
	if err != nil {
		return nil, provError(err)
	}
	c := cursor{b: p, ok: true}
	op := c.u8()
	in := &ProvInfo{State: ProvState(c.u8()), Reason: c.u8(), DeviceID: c.u32()}
	copy(in.Challenge[:], c.bytes(len(in.Challenge)))
	in.ConfigLen, in.StageEnd, in.EEPROM = int(c.u16()), int(c.u16()), int(c.u16())
	if !c.ok || len(c.b) != 0 || op != provOpInfo {
		return nil, fmt.Errorf("device: malformed provision info reply (%d bytes)", len(p))
	}
	in.ReasonText = StatusReasons[in.Reason]
	return in, nil
}

// ProvisionRequest is what Provision writes.
type ProvisionRequest struct {
	// Image is the whole EEPROM image from provision.Build: its config
	// area is written, its first state slot gives the serial floor.
	Image []byte
	// CurrentMasterKey is the master key the device holds now (from its
	// current identity file); nil for a device in factory state.
	CurrentMasterKey *[16]byte
}

// ProvisionResult says what Provision did.
type ProvisionResult struct {
	Mode      string `json:"mode"` // "factory" or "reprovision"
	DeviceID  uint32 `json:"device_id"`
	ConfigLen int    `json:"config_length"`
	Staged    int    `json:"staged_bytes"` // bytes sent (re-provisioning: the unchanged issuer key is not)
	Verified  bool   `json:"verified"`
}

// Provision writes the image's configuration into the device over its
// management channel and verifies it by read-back. A device in factory
// state is provisioned in clear; a provisioned one needs
// CurrentMasterKey (else ErrNotFactory) and gets the configuration
// encrypted and authenticated under keys derived from it.
func (d *Device) Provision(ctx context.Context, req *ProvisionRequest) (*ProvisionResult, error) {
	info, err := d.ensureInfo(ctx)
	if err != nil {
		return nil, err
	}
	cfg, floors, err := configOf(req.Image, info.EEPROM)
	if err != nil {
		return nil, err
	}
	pi, err := d.ProvisionInfo(ctx)
	if err != nil {
		return nil, err
	}
	res := &ProvisionResult{DeviceID: binary.BigEndian.Uint32(cfg[8:]), ConfigLen: len(cfg)}
	chunk := (info.PayloadMax - 3) &^ 15
	if chunk < 16 {
		return nil, fmt.Errorf("%w: the device's frame is too small", ErrImage)
	}
	switch pi.State {
	case ProvFactory:
		res.Mode, res.Staged = "factory", len(cfg)
		err = d.provisionFactory(ctx, cfg, floors, chunk)
	case ProvProvisioned:
		if req.CurrentMasterKey == nil {
			return nil, ErrNotFactory
		}
		res.Mode = "reprovision"
		res.Staged, err = d.reprovision(ctx, pi, cfg, floors, *req.CurrentMasterKey, chunk)
	default:
		return nil, fmt.Errorf("%w (%s)", ErrLocked, pi.ReasonText)
	}
	if err != nil {
		return nil, err
	}
	if err := d.VerifyConfig(ctx, cfg); err != nil {
		return nil, err
	}
	res.Verified = true
	return res, nil
}

func (d *Device) ensureInfo(ctx context.Context) (*Info, error) {
	d.mu.Lock()
	in := d.info
	d.mu.Unlock()
	if in != nil {
		return in, nil
	}
	return d.Identify(ctx)
}

// configOf checks an image as the firmware will and returns its config
// area and floors.
func configOf(img []byte, eeprom int) ([]byte, ProvFloors, error) {
	if len(img) != eeprom {
		return nil, ProvFloors{}, fmt.Errorf("%w: the image is for a %d-byte EEPROM, the device has %d bytes (wrong --mcu?)", ErrImage, len(img), eeprom)
	}
	_, st, err := provision.Parse(img)
	if err != nil {
		return nil, ProvFloors{}, fmt.Errorf("%w: %v", ErrImage, err)
	}
	n := int(binary.BigEndian.Uint16(img[4:]))
	return bytes.Clone(img[:n]), ProvFloors{Serial: st.SerialFloor, Time: st.TimeFloor}, nil
}

func (d *Device) prov(ctx context.Context, payload []byte, extra time.Duration) ([]byte, error) {
	p, err := d.request(ctx, cmdProv, payload, extra)
	if err != nil {
		var re *RemoteError
		if errors.As(err, &re) && re.Code == ErrCodeState {
			switch payload[0] {
			case provOpFactory:
				return nil, ErrNotFactory
			case provOpBegin:
				return nil, ErrLocked
			case provOpRead, provOpDigest:
				return nil, ErrNotProvisioned
			default:
				return nil, ErrNoSession
			}
		}
		return nil, provError(err)
	}
	if len(p) < 1 || p[0] != payload[0] {
		return nil, fmt.Errorf("device: malformed provision reply %x", p)
	}
	return p, nil
}

// provError maps PROV error replies to the package's errors.
func provError(err error) error {
	var re *RemoteError
	if !errors.As(err, &re) || re.Command != cmdProv {
		return err
	}
	switch re.Code {
	case ErrCodeState:
		return ErrNoSession
	case ErrCodeAuth:
		return ErrAuth
	case ErrCodeStale:
		return ErrStale
	case ErrCodeRoom:
		return ErrNoRoom
	case ErrCodeConfig:
		return ErrRejected
	case ErrCodeEEPROM:
		return ErrEEPROMWrite
	}
	return err
}

func (d *Device) provisionFactory(ctx context.Context, cfg []byte, floors ProvFloors, chunk int) error {
	p := make([]byte, 11)
	p[0] = provOpFactory
	binary.BigEndian.PutUint16(p[1:], uint16(len(cfg)))
	binary.BigEndian.PutUint32(p[3:], floors.Serial)
	binary.BigEndian.PutUint32(p[7:], floors.Time)
	if _, err := d.prov(ctx, p, 0); err != nil {
		if errors.Is(err, ErrNotFactory) {
			return fmt.Errorf("%w: the device left factory state", ErrNotFactory)
		}
		return err
	}
	if err := d.sendData(ctx, cfg, chunk); err != nil {
		return err
	}
	_, err := d.prov(ctx, []byte{provOpEnd}, provWriteTime)
	return err
}

func (d *Device) sendData(ctx context.Context, data []byte, chunk int) error {
	for off := 0; off < len(data); off += chunk {
		k := min(chunk, len(data)-off)
		p := make([]byte, 3, 3+k)
		p[0] = provOpData
		binary.BigEndian.PutUint16(p[1:], uint16(off))
		p = append(p, data[off:off+k]...)
		if _, err := d.prov(ctx, p, provWriteTime); err != nil {
			return err
		}
	}
	return nil
}

// provKeyBytes derives a key from the master key (SP 800-108 counter
// mode, PRF AES-CMAC: CMAC(MK, 01 || label(8) || 00 || device id ||
// context || 0080); docs/provisioning.md "Keys").
func provKeyBytes(mk [16]byte, label string, deviceID uint32, context ProvChallenge) []byte {
	b, _ := aes.NewCipher(mk[:])
	m, _ := cmac.New(b)
	var in [32]byte
	in[0] = 1
	copy(in[1:9], label)
	binary.BigEndian.PutUint32(in[10:], deviceID)
	copy(in[14:30], context[:])
	in[31] = 0x80
	return m.Sum(nil, in[:])
}

// provKey is a CMAC under a derived key.
func provKey(mk [16]byte, label string, deviceID uint32, context ProvChallenge) *cmac.MAC {
	k := provKeyBytes(mk, label, deviceID, context)
	b, _ := aes.NewCipher(k)
	clear(k)
	m, _ := cmac.New(b)
	return m
}

func provHeader(phase byte, length, staged int, floors ProvFloors, deviceID uint32, chal ProvChallenge) []byte {
	h := make([]byte, provHeaderLen)
	copy(h, "MSPV")
	h[4] = provVersion
	h[5] = phase
	binary.BigEndian.PutUint16(h[6:], uint16(length))
	binary.BigEndian.PutUint16(h[8:], uint16(staged))
	binary.BigEndian.PutUint32(h[10:], floors.Serial)
	binary.BigEndian.PutUint32(h[14:], floors.Time)
	binary.BigEndian.PutUint32(h[18:], deviceID)
	copy(h[22:], chal[:])
	return h
}

// ProvTranscript is one authenticated re-provisioning as it goes on the
// wire (exported for tests of replay and tampering).
type ProvTranscript struct {
	Begin []byte   // BEGIN payload after the op byte
	Data  [][]byte // DATA payloads after the op byte (offset, ciphertext)
	End   []byte   // END payload after the op byte (the tag)
}

// NewProvTranscript builds the messages that re-provision a device whose
// current master key is mk and id deviceID, bound to challenge chal: the
// first staged bytes of cfg are sent (the rest must be on the device
// already), in chunks of chunk bytes.
func NewProvTranscript(mk [16]byte, deviceID uint32, chal ProvChallenge, cfg []byte, staged int, floors ProvFloors, chunk int) *ProvTranscript {
	mac := provKey(mk, "prov-mac", deviceID, chal)
	t := &ProvTranscript{}
	t.Begin = make([]byte, 28, 28+provTagLen)
	copy(t.Begin, chal[:])
	binary.BigEndian.PutUint16(t.Begin[16:], uint16(len(cfg)))
	binary.BigEndian.PutUint16(t.Begin[18:], uint16(staged))
	binary.BigEndian.PutUint32(t.Begin[20:], floors.Serial)
	binary.BigEndian.PutUint32(t.Begin[24:], floors.Time)
	t.Begin = mac.Sum(t.Begin, provHeader(1, len(cfg), staged, floors, deviceID, chal))
	t.End = mac.Sum(nil, append(provHeader(2, len(cfg), staged, floors, deviceID, chal), cfg...))

	ek := provKeyBytes(mk, "prov-enc", deviceID, chal)
	eb, _ := aes.NewCipher(ek)
	clear(ek)
	ct := make([]byte, staged)
	cipher.NewCTR(eb, make([]byte, aes.BlockSize)).XORKeyStream(ct, cfg[:staged])
	for off := 0; off < staged; off += chunk {
		k := min(chunk, staged-off)
		p := make([]byte, 2, 2+k)
		binary.BigEndian.PutUint16(p, uint16(off))
		t.Data = append(t.Data, append(p, ct[off:off+k]...))
	}
	return t
}

// RunProvTranscript sends a transcript as it is (tests: replay, tampering).
func (d *Device) RunProvTranscript(ctx context.Context, t *ProvTranscript) error {
	if _, err := d.prov(ctx, append([]byte{provOpBegin}, t.Begin...), provWriteTime); err != nil {
		return err
	}
	for _, p := range t.Data {
		if _, err := d.prov(ctx, append([]byte{provOpData}, p...), provWriteTime); err != nil {
			return err
		}
	}
	_, err := d.prov(ctx, append([]byte{provOpEnd}, t.End...), provWriteTime)
	return err
}

// ProvChunk is the DATA chunk size Provision uses with this device.
func (d *Device) ProvChunk(ctx context.Context) (int, error) {
	info, err := d.ensureInfo(ctx)
	if err != nil {
		return 0, err
	}
	return (info.PayloadMax - 3) &^ 15, nil
}

func (d *Device) reprovision(ctx context.Context, pi *ProvInfo, cfg []byte, floors ProvFloors, mk [16]byte, chunk int) (int, error) {
	if pi.StageEnd == 0 {
		return 0, fmt.Errorf("%w (this device cannot stage a configuration at all)", ErrNoRoom)
	}
	// Send only the fixed part when the issuer key is already there.
	staged := len(cfg)
	if pi.ConfigLen == len(cfg) && len(cfg) > provision.ConfigFixedSize {
		old, err := d.ReadConfig(ctx)
		if err != nil {
			return 0, err
		}
		if bytes.Equal(old[provision.ConfigFixedSize:], cfg[provision.ConfigFixedSize:]) {
			staged = provision.ConfigFixedSize
		}
	}
	if pi.StageEnd-staged < max(pi.ConfigLen, len(cfg)) {
		return 0, fmt.Errorf("%w (%d bytes to stage, %d-byte config now, %d-byte EEPROM)", ErrNoRoom, staged, pi.ConfigLen, pi.EEPROM)
	}
	t := NewProvTranscript(mk, pi.DeviceID, pi.Challenge, cfg, staged, floors, chunk)
	if err := d.RunProvTranscript(ctx, t); err != nil {
		return 0, err
	}
	return staged, nil
}

// ReadConfig reads the device's configuration area with its secret
// fields (master key, group key, SA keys) zeroed.
func (d *Device) ReadConfig(ctx context.Context) ([]byte, error) {
	info, err := d.ensureInfo(ctx)
	if err != nil {
		return nil, err
	}
	chunk := min(255, info.PayloadMax-5)
	var out []byte
	for off, total := 0, -1; total < 0 || off < total; {
		n := chunk
		if total >= 0 {
			n = min(chunk, total-off)
		}
		if total < 0 {
			n = 0 // the first request learns the length
		}
		p, err := d.prov(ctx, []byte{provOpRead, byte(off >> 8), byte(off), byte(n)}, 0)
		if err != nil {
			return nil, err
		}
		if len(p) != 5+n || int(binary.BigEndian.Uint16(p[3:])) != off {
			return nil, fmt.Errorf("device: malformed config read reply (%d bytes)", len(p))
		}
		total = int(binary.BigEndian.Uint16(p[1:]))
		out = append(out, p[5:]...)
		off += n
	}
	return out, nil
}

// Redact zeroes a config area's secret fields, as ReadConfig returns it.
func Redact(cfg []byte) []byte {
	r := bytes.Clone(cfg)
	zero := func(from, to int) {
		if to > len(r) {
			to = len(r)
		}
		for i := from; i < to; i++ {
			r[i] = 0
		}
	}
	zero(20, 36) // master key
	zero(40, 56) // group key
	for _, sa := range []int{64, 128} {
		zero(sa+8, sa+60) // encryption and authentication keys
	}
	return r
}

// ConfigDigest asks the device for the CMAC of its whole configuration
// (length-prefixed, after nonce) under the read-back key derived from
// its master key.
func (d *Device) ConfigDigest(ctx context.Context, nonce [16]byte) (int, []byte, error) {
	p, err := d.prov(ctx, append([]byte{provOpDigest}, nonce[:]...), 0)
	if err != nil {
		return 0, nil, err
	}
	if len(p) != 3+provTagLen {
		return 0, nil, fmt.Errorf("device: malformed config digest reply (%d bytes)", len(p))
	}
	return int(binary.BigEndian.Uint16(p[1:])), p[3:], nil
}

// VerifyConfig checks that the device holds exactly cfg: its public
// fields by reading them back, every byte (keys included) by the CMAC
// under the read-back key of cfg's own master key over a fresh nonce.
func (d *Device) VerifyConfig(ctx context.Context, cfg []byte) error {
	if len(cfg) < provision.ConfigFixedSize {
		return fmt.Errorf("%w: config too short", ErrImage)
	}
	got, err := d.ReadConfig(ctx)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, Redact(cfg)) {
		return fmt.Errorf("%w (public fields differ)", ErrReadBack)
	}
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return fmt.Errorf("device: %w", err)
	}
	n, tag, err := d.ConfigDigest(ctx, nonce)
	if err != nil {
		return err
	}
	var mk [16]byte
	copy(mk[:], cfg[masterKeyOff:])
	id := binary.BigEndian.Uint32(cfg[8:])
	msg := append(append(nonce[:], byte(len(cfg)>>8), byte(len(cfg))), cfg...)
	want := provKey(mk, "readback", id, ProvChallenge{}).Sum(nil, msg)
	if n != len(cfg) || subtle.ConstantTimeCompare(want, tag) != 1 {
		return fmt.Errorf("%w (keys differ)", ErrReadBack)
	}
	return nil
}
