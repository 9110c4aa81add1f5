package bootstrap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/mstool/mstool/internal/crc16"
)

// The device's bootstrap area in EEPROM (docs/bootstrap.md, "Device
// state"): RN_i, written once at enrolment, then two key slots. A slot is
// marker(1) ‖ gen(4, big-endian) ‖ key(16) ‖ CRC-16/CCITT-FALSE of gen ‖
// key (2); it is valid when the marker is SlotValid and the CRC matches.
// The device's key is the valid slot with the higher gen.
const (
	AreaSize = RNSize + 2*SlotSize // 62

	SlotSize  = 1 + 4 + KeySize + 2 // 23
	SlotValid = 0xA5

	areaOffRN    = 0
	areaOffSlot0 = RNSize
	slotOffMark  = 0
	slotOffGen   = 1
	slotOffKey   = 5
	slotOffCRC   = 21
)

// AreaOffset is where the bootstrap area sits in a device's EEPROM of
// eepromSize bytes (docs/eeprom.md; firmware/lib/store.h EE_BOOT): just
// below the 32-byte journal record and the 192-byte state area, so 738 on
// the ATmega328P (1 KB) and 226 on the ATmega168 (512 bytes).
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

// ErrPowerCut is what an EEPROM write hook returns to cut the power in a
// test: the write does not happen and the device stops.
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

// EnrolArea returns the bootstrap area as enrolment writes it: RN_i, slot
// 0 holding IK at gen 0, slot 1 erased (0xFF).
func EnrolArea(ik [KeySize]byte, rni [RNSize]byte) []byte {
	a := make([]byte, AreaSize)
	for i := range a {
		a[i] = 0xFF
	}
	copy(a[areaOffRN:], rni[:])
	putSlot(a[areaOffSlot0:areaOffSlot0+SlotSize], 0, ik)
	return a
}

func putSlot(s []byte, gen uint32, key [KeySize]byte) {
	s[slotOffMark] = SlotValid
	binary.BigEndian.PutUint32(s[slotOffGen:], gen)
	copy(s[slotOffKey:], key[:])
	binary.BigEndian.PutUint16(s[slotOffCRC:], crc16.Checksum(s[slotOffGen:slotOffCRC]))
}

func slotValid(s []byte) bool {
	return s[slotOffMark] == SlotValid && binary.BigEndian.Uint16(s[slotOffCRC:]) == crc16.Checksum(s[slotOffGen:slotOffCRC])
}

// Device is the reference implementation of the device side (the paper's
// SBI) that the firmware library reproduces byte for byte: it holds the
// bootstrap area of its EEPROM, answers flight 4 with flight 5 and commits
// the new key so that a power cut at any EEPROM write leaves the old key
// or the new one, never neither. It is safe for concurrent use.
type Device struct {
	mu  sync.Mutex
	id  uint32
	mem []byte // the bootstrap area, AreaSize bytes

	// WriteHook, when set, is called before every EEPROM byte write with
	// the offset in the area; an error stops the write there (a power
	// cut in tests) and the device answers nothing more.
	WriteHook func(off int) error

	dead           bool
	lastReq, lastR []byte // RAM: the last flight 4 and its reply
}

// NewDevice boots a device from its bootstrap area (copied).
func NewDevice(id uint32, area []byte) (*Device, error) {
	if len(area) != AreaSize {
		return nil, errors.New("bootstrap: the device area is AreaSize bytes")
	}
	return &Device{id: id, mem: append([]byte(nil), area...)}, nil
}

// ID is the device id.
func (d *Device) ID() uint32 { return d.id }

// Area returns a copy of the bootstrap area (what the EEPROM holds now).
func (d *Device) Area() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]byte(nil), d.mem...)
}

// Key returns the device's current key and its gen; ok is false when no
// slot is valid.
func (d *Device) Key() (key [KeySize]byte, gen uint32, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, ok := d.active()
	if !ok {
		return key, 0, false
	}
	s := d.slot(i)
	copy(key[:], s[slotOffKey:])
	return key, binary.BigEndian.Uint32(s[slotOffGen:]), true
}

func (d *Device) slot(i int) []byte {
	o := areaOffSlot0 + i*SlotSize
	return d.mem[o : o+SlotSize]
}

// active is the valid slot with the higher gen.
func (d *Device) active() (int, bool) {
	v0, v1 := slotValid(d.slot(0)), slotValid(d.slot(1))
	switch {
	case v0 && v1:
		if binary.BigEndian.Uint32(d.slot(1)[slotOffGen:]) > binary.BigEndian.Uint32(d.slot(0)[slotOffGen:]) {
			return 1, true
		}
		return 0, true
	case v0:
		return 0, true
	case v1:
		return 1, true
	}
	return 0, false
}

func (d *Device) write(off int, b byte) error {
	if d.WriteHook != nil {
		if err := d.WriteHook(off); err != nil {
			d.dead = true
			return err
		}
	}
	d.mem[off] = b
	return nil
}

// commit writes key at gen into the inactive slot: marker erased first,
// then gen, key and CRC, the marker last. Until the marker byte is
// written the slot is invalid and the old one stays the key.
func (d *Device) commit(i int, gen uint32, key [KeySize]byte) error {
	var s [SlotSize]byte
	putSlot(s[:], gen, key)
	base := areaOffSlot0 + i*SlotSize
	if err := d.write(base+slotOffMark, 0xFF); err != nil {
		return err
	}
	for o := slotOffGen; o < SlotSize; o++ {
		if err := d.write(base+o, s[o]); err != nil {
			return err
		}
	}
	err := d.write(base+slotOffMark, SlotValid)
	clear(s[:])
	return err
}

// Handle processes one message from the device link and returns the reply
// to send, or nil to send nothing (not a bootstrap flight, or the device
// lost power). A flight 4 byte-identical to the last one gets the same
// reply again (the controller retransmits; the device's key has moved on).
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
	if d.lastReq != nil && equal(msg, d.lastReq) {
		return append([]byte(nil), d.lastR...)
	}
	if h.ID != d.id {
		return marshalNAK(d.id, h.TID, NAKNotMine)
	}
	i, ok := d.active()
	if !ok {
		return marshalNAK(d.id, h.TID, NAKNoKey)
	}
	s := d.slot(i)
	key := [KeySize]byte(s[slotOffKey:])
	gen := binary.BigEndian.Uint32(s[slotOffGen:])
	_, body, err := open(key, msg, TypeRekey, Flight4Size)
	if err != nil {
		clear(key[:])
		return marshalNAK(d.id, h.TID, NAKAuth)
	}
	rni := [RNSize]byte(body[:RNSize])
	rnc := [RNSize]byte(body[RNSize:])
	clear(body)
	if !equal(rni[:], d.mem[areaOffRN:areaOffRN+RNSize]) {
		clear(key[:])
		return marshalNAK(d.id, h.TID, NAKLabel)
	}
	psk := DerivePSK(key, rni, rnc)
	clear(key[:])
	if err := d.commit(1-i, gen+1, psk); err != nil {
		clear(psk[:])
		if errors.Is(err, ErrPowerCut) {
			return nil
		}
		return marshalNAK(d.id, h.TID, NAKStore)
	}
	reply := MarshalProof(psk, d.id, h.TID, rnc)
	clear(psk[:])
	d.lastReq = append(d.lastReq[:0], msg...)
	d.lastR = append(d.lastR[:0], reply...)
	return reply
}
