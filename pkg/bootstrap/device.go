package bootstrap

import (
	"errors"
	"fmt"
	"sync"
)

// The device's bootstrap area in EEPROM (docs/bootstrap.md, "Device
// state"): RN_i, written once at enrolment and never changed. The
// device's key is not in it: it is the config's master key (docs/eeprom.md
// offset 20; IK after enrolment), which a join replaces through the
// provisioning journal, together with the ESP counters, in one commit.
// The config flag provision.FlagBootstrap marks a device enrolled so.
const AreaSize = RNSize // 16

// AreaOffset is where the bootstrap area sits in a device's EEPROM of
// eepromSize bytes (docs/eeprom.md; firmware/lib/store.h EE_BOOT): just
// below the 32-byte journal record and the 192-byte state area, so 784 on
// the ATmega328P (1 KB) and 272 on the ATmega168 (512 bytes).
func AreaOffset(eepromSize int) int { return eepromSize - 192 - 32 - AreaSize }

// NAK codes: the device's unauthenticated "not done" reply to a flight 4
// (a hint for the controller, which moves on to its next base key).
const (
	NAKNotMine = 1 // flight 4 names another device
	NAKAuth    = 2 // flight 4 does not open under the device's key
	NAKLabel   = 3 // flight 4 opens but carries another RN_i
	NAKStore   = 4 // the new key could not be committed (EEPROM)
	NAKNoKey   = 5 // the device holds no valid key
	TypeNAK    = 0x0e
	NAKSize    = HeaderSize + 1
	nakOffCode = HeaderSize
)

// ErrPowerCut is what a device's CommitHook returns to cut the power in a
// test: the commit does not happen and the device stops.
var ErrPowerCut = errors.New("bootstrap: power cut")

// NAKError is a device's NAK, as the controller sees it.
type NAKError struct {
	Code   byte
	Device uint32 // the id of the device that sent it
}

func (e *NAKError) Error() string {
	switch e.Code {
	case NAKNotMine:
		return fmt.Sprintf("bootstrap: device: the label is for another device (this is device 0x%08x)", e.Device)
	case NAKAuth:
		return "bootstrap: device: wrong key (flight 4 does not authenticate)"
	case NAKLabel:
		return "bootstrap: device: the label's RN does not match the device's"
	case NAKStore:
		return "bootstrap: device: could not store the new key"
	case NAKNoKey:
		return "bootstrap: device: holds no valid key"
	}
	return "bootstrap: device: refused"
}

// ParseNAK reads a device NAK.
func ParseNAK(msg []byte) (Header, byte, error) {
	h, err := ParseHeader(msg)
	if err != nil || h.Type != TypeNAK || len(msg) != NAKSize {
		return h, 0, ErrFormat
	}
	return h, msg[nakOffCode], nil
}

func marshalNAK(device uint32, tid TID, code byte) []byte {
	b := make([]byte, NAKSize)
	Header{Type: TypeNAK, ID: device, TID: tid}.put(b)
	b[nakOffCode] = code
	return b
}

// EnrolArea returns the bootstrap area as enrolment writes it: RN_i.
func EnrolArea(rni [RNSize]byte) []byte { return append([]byte(nil), rni[:]...) }

// Device is the reference implementation of the device side (the paper's
// SBI) that the firmware library reproduces byte for byte: it holds RN_i
// and its key, answers flight 4 with flight 5 and commits the new key.
// The firmware's commit is one journalled EEPROM transaction (old key or
// new, never neither: its host tests cut the power at every write); here
// it is one step that CommitHook can stop. It is safe for concurrent use.
type Device struct {
	mu  sync.Mutex
	id  uint32
	rni [RNSize]byte
	key [KeySize]byte // the master key: IK, then the last join's PSK
	gen uint32        // joins committed (the model's count, not in EEPROM)

	// CommitHook, when set, is called before a key commit; an error stops
	// it (a power cut in tests) and the device answers nothing more.
	CommitHook func() error

	dead bool
	last []byte // RAM: the last flight 5 ‖ the tag of the flight 4 it answered
}

// NewDevice boots a device enrolled with key (IK) and RN_i.
func NewDevice(id uint32, key [KeySize]byte, rni [RNSize]byte) *Device {
	return &Device{id: id, key: key, rni: rni}
}

// ID is the device id.
func (d *Device) ID() uint32 { return d.id }

// Key returns the device's current key and the number of joins it
// committed.
func (d *Device) Key() (key [KeySize]byte, gen uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.key, d.gen
}

// Reboot is the device after a reset or a power cut: what its EEPROM
// holds, and nothing of its RAM.
func (d *Device) Reboot() *Device {
	d.mu.Lock()
	defer d.mu.Unlock()
	return &Device{id: d.id, key: d.key, rni: d.rni, gen: d.gen}
}

// Handle processes one message from the device link and returns the reply
// to send, or nil to send nothing (not a bootstrap flight, or the device
// lost power). A flight 4 with the tag of the last one accepted (the
// controller retransmits; the device's key has moved on) gets the same
// reply again: the tag authenticates the flight under the key it was sent
// for, and the reply is public.
func (d *Device) Handle(msg []byte) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		return nil
	}
	h, err := ParseHeader(msg)
	if err != nil || h.Type != TypeRekey || len(msg) != Flight4Size {
		return nil
	}
	tag := msg[Flight4Size-TagSize:]
	if d.last != nil && equal(tag, d.last[Flight5Size:]) {
		return append([]byte(nil), d.last[:Flight5Size]...)
	}
	if h.ID != d.id {
		return marshalNAK(d.id, h.TID, NAKNotMine)
	}
	_, body, err := open(d.key, msg, TypeRekey, Flight4Size)
	if err != nil {
		return marshalNAK(d.id, h.TID, NAKAuth)
	}
	rni := [RNSize]byte(body[:RNSize])
	rnc := [RNSize]byte(body[RNSize:])
	clear(body)
	if !equal(rni[:], d.rni[:]) {
		return marshalNAK(d.id, h.TID, NAKLabel)
	}
	psk := DerivePSK(d.key, rni, rnc)
	if d.CommitHook != nil {
		if err := d.CommitHook(); err != nil {
			clear(psk[:])
			if errors.Is(err, ErrPowerCut) {
				d.dead = true
				return nil
			}
			return marshalNAK(d.id, h.TID, NAKStore)
		}
	}
	d.key = psk
	d.gen++
	reply := MarshalProof(psk, d.id, h.TID, rnc)
	clear(psk[:])
	d.last = append(append(d.last[:0], reply...), tag...)
	return reply
}
