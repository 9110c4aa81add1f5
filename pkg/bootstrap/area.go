package bootstrap

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
)

// SlotInfo describes one key slot of a bootstrap area, without its key.
type SlotInfo struct {
	Valid  bool   // marker 0xA5 and the CRC matches
	Erased bool   // all 0xFF (never written, or the other slot of a fresh enrolment)
	Gen    uint32 // meaningful when Valid
}

// AreaInfo is what a bootstrap area holds, keys left out: what
// `provision inspect` shows.
type AreaInfo struct {
	RNi    [RNSize]byte
	Slots  [2]SlotInfo
	Active int // the slot whose key the device uses; -1: none is valid
}

// ErrAreaSize reports an area that is not AreaSize bytes.
var ErrAreaSize = errors.New("bootstrap: a bootstrap area is 62 bytes")

// ParseArea reads a bootstrap area (docs/bootstrap.md, "Device state") the
// way the device does: the active slot is the valid one with the higher gen.
func ParseArea(area []byte) (*AreaInfo, error) {
	if len(area) != AreaSize {
		return nil, ErrAreaSize
	}
	a := &AreaInfo{Active: -1}
	copy(a.RNi[:], area[areaOffRN:])
	for i := range a.Slots {
		s := area[areaOffSlot0+i*SlotSize : areaOffSlot0+(i+1)*SlotSize]
		erased := true
		for _, b := range s {
			erased = erased && b == 0xFF
		}
		a.Slots[i] = SlotInfo{Valid: slotValid(s), Erased: erased}
		if a.Slots[i].Valid {
			a.Slots[i].Gen = binary.BigEndian.Uint32(s[slotOffGen:])
		}
	}
	d := Device{mem: area}
	if i, ok := d.active(); ok {
		a.Active = i
	}
	return a, nil
}

// AreaKey is the key a device with this bootstrap area uses (the valid
// slot with the higher gen) and its gen; ok is false when no slot is valid.
func AreaKey(area []byte) (key [KeySize]byte, gen uint32, ok bool) {
	if len(area) != AreaSize {
		return key, 0, false
	}
	d := Device{mem: area}
	i, ok := d.active()
	if !ok {
		return key, 0, false
	}
	s := d.slot(i)
	copy(key[:], s[slotOffKey:])
	return key, binary.BigEndian.Uint32(s[slotOffGen:]), true
}

// RNFingerprint names RN_i without giving it away: the first 4 bytes of
// SHA-256(RN_i), in hex. Compare it with Label.RNFingerprint of the
// device's label.
func RNFingerprint(rni [RNSize]byte) string {
	h := sha256.Sum256(rni[:])
	return hex.EncodeToString(h[:4])
}
