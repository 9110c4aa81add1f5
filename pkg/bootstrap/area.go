package bootstrap

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

// AreaInfo is what a bootstrap area holds: what `provision inspect` shows
// (by its fingerprint).
type AreaInfo struct {
	RNi [RNSize]byte
}

// ErrAreaSize reports an area that is not AreaSize bytes.
var ErrAreaSize = errors.New("bootstrap: a bootstrap area is 16 bytes")

// ParseArea reads a bootstrap area (docs/bootstrap.md, "Device state").
func ParseArea(area []byte) (*AreaInfo, error) {
	if len(area) != AreaSize {
		return nil, ErrAreaSize
	}
	return &AreaInfo{RNi: [RNSize]byte(area)}, nil
}

// RNFingerprint names RN_i without giving it away: the first 4 bytes of
// SHA-256(RN_i), in hex. Compare it with Label.RNFingerprint of the
// device's label.
func RNFingerprint(rni [RNSize]byte) string {
	h := sha256.Sum256(rni[:])
	return hex.EncodeToString(h[:4])
}
