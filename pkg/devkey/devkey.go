// Package devkey holds a device's identity: its 32-bit device id, its
// AES-128 master key, and optionally the id and key of a device group.
//
// The master key is the root of a device's secrets: grants seal per-host
// keys under it, and provisioning writes it into the device's EEPROM. The
// identity file is secret and is written with mode 0600 (see keyfile).
//
// File format (text, one field per line, '#' comments):
//
//	mstool-device v1
//	device-id: 0x0000002a
//	master-key: 000102030405060708090a0b0c0d0e0f
//	group-id: 0x00000007                           (optional, with group-key)
//	group-key: 101112131415161718191a1b1c1d1e1f
package devkey

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// KeySize is the size in bytes of master and group keys (AES-128).
const KeySize = 16

const header = "mstool-device v1"

// Identity is a device's id and keys.
type Identity struct {
	ID        uint32
	MasterKey [KeySize]byte
	HasGroup  bool
	GroupID   uint32
	GroupKey  [KeySize]byte
}

// Generate makes a new identity with a master key from rand. An id of 0
// asks for a random non-zero id.
func Generate(rand io.Reader, id uint32) (*Identity, error) {
	ident := &Identity{ID: id}
	for ident.ID == 0 {
		var b [4]byte
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return nil, fmt.Errorf("devkey: %w", err)
		}
		ident.ID = binary.BigEndian.Uint32(b[:])
	}
	if _, err := io.ReadFull(rand, ident.MasterKey[:]); err != nil {
		return nil, fmt.Errorf("devkey: %w", err)
	}
	return ident, nil
}

// SetGroup gives the identity a group id and a group key. Devices of one
// group share the group key so that one grant can address the group.
func (ident *Identity) SetGroup(id uint32, key [KeySize]byte) {
	ident.HasGroup, ident.GroupID, ident.GroupKey = true, id, key
}

// Marshal encodes the identity in the text format of the package doc.
func (ident *Identity) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n# secret: keep this file private (mode 0600)\n", header)
	fmt.Fprintf(&b, "device-id: 0x%08x\n", ident.ID)
	fmt.Fprintf(&b, "master-key: %x\n", ident.MasterKey[:])
	if ident.HasGroup {
		fmt.Fprintf(&b, "group-id: 0x%08x\n", ident.GroupID)
		fmt.Fprintf(&b, "group-key: %x\n", ident.GroupKey[:])
	}
	return b.Bytes()
}

// Public is the non-secret part of the identity, printable for piping.
func (ident *Identity) Public() string {
	s := fmt.Sprintf("device-id: 0x%08x\n", ident.ID)
	if ident.HasGroup {
		s += fmt.Sprintf("group-id: 0x%08x\n", ident.GroupID)
	}
	return s
}

// Equal reports whether two identities are the same, comparing keys in
// constant time.
func (ident *Identity) Equal(o *Identity) bool {
	keys := subtle.ConstantTimeCompare(ident.MasterKey[:], o.MasterKey[:]) &
		subtle.ConstantTimeCompare(ident.GroupKey[:], o.GroupKey[:])
	return keys == 1 && ident.ID == o.ID && ident.HasGroup == o.HasGroup && ident.GroupID == o.GroupID
}

// Parse decodes an identity file. It is strict: unknown fields, repeated
// fields, bad lengths and a group id without a group key are errors.
func Parse(data []byte) (*Identity, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	seen := map[string]bool{}
	ident := &Identity{}
	sawHeader := false
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if !sawHeader {
			if text != header {
				return nil, fmt.Errorf("devkey: line %d: not a device identity file (want %q first)", line, header)
			}
			sawHeader = true
			continue
		}
		name, value, ok := strings.Cut(text, ":")
		if !ok {
			return nil, fmt.Errorf("devkey: line %d: want 'name: value'", line)
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if seen[name] {
			return nil, fmt.Errorf("devkey: line %d: %s given twice", line, name)
		}
		seen[name] = true
		var err error
		switch name {
		case "device-id":
			ident.ID, err = parseID(value)
			if err == nil && ident.ID == 0 {
				err = errors.New("device id 0 is reserved")
			}
		case "group-id":
			ident.GroupID, err = parseID(value)
		case "master-key":
			err = parseKey(value, ident.MasterKey[:])
		case "group-key":
			err = parseKey(value, ident.GroupKey[:])
		default:
			err = fmt.Errorf("unknown field %q", name)
		}
		if err != nil {
			return nil, fmt.Errorf("devkey: line %d: %s: %w", line, name, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("devkey: %w", err)
	}
	if !sawHeader {
		return nil, errors.New("devkey: empty identity file")
	}
	for _, f := range []string{"device-id", "master-key"} {
		if !seen[f] {
			return nil, fmt.Errorf("devkey: %s missing", f)
		}
	}
	if seen["group-id"] != seen["group-key"] {
		return nil, errors.New("devkey: group-id and group-key go together")
	}
	ident.HasGroup = seen["group-id"]
	return ident, nil
}

// ParseID parses a device or group id: decimal or 0x-prefixed hex, 1..2^32-1.
func ParseID(s string) (uint32, error) {
	id, err := parseID(s)
	if err != nil {
		return 0, fmt.Errorf("devkey: %w", err)
	}
	return id, nil
}

func parseID(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		return 0, fmt.Errorf("bad id %q (want decimal or 0x-hex, 32 bits)", s)
	}
	return uint32(v), nil
}

func parseKey(s string, dst []byte) error {
	k, err := hex.DecodeString(s)
	if err != nil || len(k) != len(dst) {
		return fmt.Errorf("want %d bytes of hex", len(dst))
	}
	copy(dst, k)
	return nil
}
