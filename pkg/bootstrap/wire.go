// Package bootstrap implements Kang's secure PSK reconfiguration ("A First
// Step Towards Security for Internet of Small Things", section 4, figure 4)
// for mstool: a device enrolled with a temporary initial key IK is re-keyed,
// when it joins, to PSK = AES-128_IK(RN_i ⊕ RN_c), a key the installer who
// set IK cannot compute without the controller's nonce RN_c.
//
// Roles: the device (the paper's SBI, reference implementation [Device]),
// the controller (SBR, [Join]) and the server (SBS, [Server]) that keeps
// the [Repository] of device keys and shares a key SK_cs with every
// controller it trusts. Flight 1 travels on the device's printed [Label];
// flights 2, 3, 6 and 7 between controller and server under SK_cs; flights
// 4 and 5 between controller and device under the device's current key and
// the new PSK. Every flight is AES-128-CCM with a 16-byte tag and a 13-byte
// nonce (package ccm). The byte layouts, the freshness rules and the threat
// model are in docs/bootstrap.md; the vectors in vectors/bootstrap.txt.
//
// The package never prints: errors are returned, counters are reported.
package bootstrap

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mstool/mstool/pkg/ccm"
)

// Sizes, in bytes.
const (
	KeySize   = 16 // IK, PSK, SK_cs: AES-128
	RNSize    = 16 // RN_i and RN_c
	TIDSize   = 8  // transaction id
	TagSize   = 16 // CCM authentication value of every flight
	NonceSize = 13 // CCM nonce: type(1) ‖ sender id(4) ‖ TID(8)

	// HeaderSize is the clear header every flight starts with:
	// magic "MB"(2) ‖ version(1) ‖ type(1) ‖ id(4) ‖ TID(8). It is the
	// flight's CCM additional data.
	HeaderSize = 16

	offMagic   = 0
	offVersion = 2
	offType    = 3
	offID      = 4
	offTID     = 8

	// Plaintext sizes.
	f2Body = 8 + RNSize + 4 + RNSize // TS ‖ RN_c ‖ ID_i ‖ RN_i
	f3Head = 8 + 4 + 1               // TS ‖ ID_i ‖ n, then n keys
	f4Body = 2 * RNSize              // RN_i ‖ RN_c
	f5Body = RNSize                  // RN_c
	f6Body = 4 + RNSize + Flight5Size
	f7Body = 4 + 1 // ID_i ‖ status
	fEBody = 1     // code

	Flight2Size = HeaderSize + f2Body + TagSize // 76
	Flight4Size = HeaderSize + f4Body + TagSize // 64
	Flight5Size = HeaderSize + f5Body + TagSize // 48
	Flight6Size = HeaderSize + f6Body + TagSize // 100
	Flight7Size = HeaderSize + f7Body + TagSize // 37
	ErrorSize   = HeaderSize + fEBody + TagSize // 33

	// MaxBaseKeys bounds the keys flight 3 carries: the confirmed key
	// and the unconfirmed candidates (Repository, "pending").
	MaxBaseKeys = 1 + MaxPending
	// MaxFlight3Size is flight 3 with MaxBaseKeys keys.
	MaxFlight3Size = HeaderSize + f3Head + MaxBaseKeys*KeySize + TagSize

	// Version is the protocol version byte of every flight.
	Version = 1
)

// Flight types (byte 3 of the header). The number is the flight's number
// in docs/bootstrap.md; 0x0f is the server's error reply.
const (
	TypeJoin    = 0x02 // controller → server: TS, RN_c, ID_i, RN_i
	TypeKeys    = 0x03 // server → controller: TS, ID_i, base keys
	TypeRekey   = 0x04 // controller → device: AE(base key; RN_i ‖ RN_c)
	TypeProof   = 0x05 // device → controller: AE(PSK; RN_c)
	TypeConfirm = 0x06 // controller → server: ID_i, RN_c, flight 5
	TypeDone    = 0x07 // server → controller: ID_i, status
	TypeError   = 0x0f // server → controller: error code
)

var magic = [2]byte{'M', 'B'}

// ErrAuth is the one error for a flight that does not authenticate (wrong
// key, modified, truncated or replayed under another header).
var ErrAuth = errors.New("bootstrap: message authentication failed")

// ErrFormat reports a flight that is not well formed (length, magic,
// version or type). It is checked before any cryptography.
var ErrFormat = errors.New("bootstrap: malformed message")

// TID is a transaction id: chosen at random by the controller for each
// join, unique per controller (the server refuses a TID it has seen).
type TID [TIDSize]byte

// Header is a flight's clear header. ID is the controller id in flights
// 2, 3, 6, 7 and errors, the device id in flights 4 and 5.
type Header struct {
	Type byte
	ID   uint32
	TID  TID
}

func (h Header) put(b []byte) {
	copy(b[offMagic:], magic[:])
	b[offVersion] = Version
	b[offType] = h.Type
	binary.BigEndian.PutUint32(b[offID:], h.ID)
	copy(b[offTID:], h.TID[:])
}

func (h Header) nonce() [NonceSize]byte {
	var n [NonceSize]byte
	n[0] = h.Type
	binary.BigEndian.PutUint32(n[1:], h.ID)
	copy(n[5:], h.TID[:])
	return n
}

// ParseHeader reads a flight's clear header; it checks the magic and
// version, not the type or the length.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize || b[offMagic] != magic[0] || b[offMagic+1] != magic[1] || b[offVersion] != Version {
		return Header{}, ErrFormat
	}
	h := Header{Type: b[offType], ID: binary.BigEndian.Uint32(b[offID:])}
	copy(h.TID[:], b[offTID:offTID+TIDSize])
	return h, nil
}

func aead(key [KeySize]byte) cipher.AEAD {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic("bootstrap: " + err.Error()) // cannot happen: 16-byte key
	}
	a, err := ccm.New(b, TagSize, NonceSize)
	if err != nil {
		panic("bootstrap: " + err.Error()) // constant sizes RFC 3610 allows
	}
	return a
}

// seal builds header ‖ CCM(key, nonce(h), aad = header, body).
func seal(key [KeySize]byte, h Header, body []byte) []byte {
	out := make([]byte, HeaderSize, HeaderSize+len(body)+TagSize)
	h.put(out)
	n := h.nonce()
	return aead(key).Seal(out, n[:], body, out[:HeaderSize])
}

// open checks the header (type, exact length) and opens the body.
func open(key [KeySize]byte, msg []byte, typ byte, size int) (Header, []byte, error) {
	h, err := ParseHeader(msg)
	if err != nil {
		return h, nil, err
	}
	if h.Type != typ || len(msg) != size {
		return h, nil, ErrFormat
	}
	n := h.nonce()
	body, err := aead(key).Open(nil, n[:], msg[HeaderSize:], msg[:HeaderSize])
	if err != nil {
		return h, nil, ErrAuth
	}
	return h, body, nil
}

// Join is flight 2's content.
type JoinRequest struct {
	Controller uint32
	TID        TID
	TS         uint64 // unix seconds at the controller
	RNc        [RNSize]byte
	Device     uint32
	RNi        [RNSize]byte
}

// MarshalJoin seals flight 2 under SK_cs.
func MarshalJoin(skcs [KeySize]byte, j *JoinRequest) []byte {
	var body [f2Body]byte
	binary.BigEndian.PutUint64(body[0:], j.TS)
	copy(body[8:], j.RNc[:])
	binary.BigEndian.PutUint32(body[24:], j.Device)
	copy(body[28:], j.RNi[:])
	out := seal(skcs, Header{Type: TypeJoin, ID: j.Controller, TID: j.TID}, body[:])
	clear(body[:])
	return out
}

// OpenJoin opens flight 2. The caller finds skcs from the header's
// controller id (ParseHeader) first.
func OpenJoin(skcs [KeySize]byte, msg []byte) (*JoinRequest, error) {
	h, body, err := open(skcs, msg, TypeJoin, Flight2Size)
	if err != nil {
		return nil, err
	}
	j := &JoinRequest{Controller: h.ID, TID: h.TID}
	j.TS = binary.BigEndian.Uint64(body[0:])
	copy(j.RNc[:], body[8:])
	j.Device = binary.BigEndian.Uint32(body[24:])
	copy(j.RNi[:], body[28:])
	clear(body)
	return j, nil
}

// Keys is flight 3's content: the keys the device may hold, the confirmed
// one first (the paper's IK_i), then unconfirmed candidates.
type Keys struct {
	Controller uint32
	TID        TID
	TS         uint64 // flight 2's TS, echoed
	Device     uint32
	Keys       [][KeySize]byte
}

// MarshalKeys seals flight 3 under SK_cs.
func MarshalKeys(skcs [KeySize]byte, k *Keys) []byte {
	if len(k.Keys) == 0 || len(k.Keys) > MaxBaseKeys {
		panic("bootstrap: flight 3 carries 1 to MaxBaseKeys keys")
	}
	body := make([]byte, f3Head+len(k.Keys)*KeySize)
	binary.BigEndian.PutUint64(body[0:], k.TS)
	binary.BigEndian.PutUint32(body[8:], k.Device)
	body[12] = byte(len(k.Keys))
	for i, key := range k.Keys {
		copy(body[f3Head+i*KeySize:], key[:])
	}
	out := seal(skcs, Header{Type: TypeKeys, ID: k.Controller, TID: k.TID}, body)
	clear(body)
	return out
}

// OpenKeys opens flight 3.
func OpenKeys(skcs [KeySize]byte, msg []byte) (*Keys, error) {
	h, err := ParseHeader(msg)
	if err != nil {
		return nil, err
	}
	n := (len(msg) - HeaderSize - f3Head - TagSize) / KeySize
	if n < 1 || n > MaxBaseKeys {
		return nil, ErrFormat
	}
	h, body, err := open(skcs, msg, TypeKeys, HeaderSize+f3Head+n*KeySize+TagSize)
	if err != nil {
		return nil, err
	}
	defer clear(body)
	if int(body[12]) != n {
		return nil, ErrFormat
	}
	k := &Keys{Controller: h.ID, TID: h.TID, TS: binary.BigEndian.Uint64(body[0:]), Device: binary.BigEndian.Uint32(body[8:])}
	for i := range n {
		k.Keys = append(k.Keys, [KeySize]byte(body[f3Head+i*KeySize:]))
	}
	return k, nil
}

// MarshalRekey seals flight 4 under the device's current key.
func MarshalRekey(key [KeySize]byte, device uint32, tid TID, rni, rnc [RNSize]byte) []byte {
	var body [f4Body]byte
	copy(body[:], rni[:])
	copy(body[RNSize:], rnc[:])
	out := seal(key, Header{Type: TypeRekey, ID: device, TID: tid}, body[:])
	clear(body[:])
	return out
}

// MarshalProof seals flight 5 under the new PSK.
func MarshalProof(psk [KeySize]byte, device uint32, tid TID, rnc [RNSize]byte) []byte {
	return seal(psk, Header{Type: TypeProof, ID: device, TID: tid}, rnc[:])
}

// OpenProof opens flight 5 with psk and reports whether it carries rnc
// for this device and transaction.
func OpenProof(psk [KeySize]byte, msg []byte, device uint32, tid TID, rnc [RNSize]byte) error {
	h, body, err := open(psk, msg, TypeProof, Flight5Size)
	if err != nil {
		return err
	}
	defer clear(body)
	if h.ID != device || h.TID != tid || !equal(body, rnc[:]) {
		return ErrAuth
	}
	return nil
}

// Confirm is flight 6's content: the device's proof, relayed.
type Confirm struct {
	Controller uint32
	TID        TID
	Device     uint32
	RNc        [RNSize]byte
	Proof      []byte // flight 5, Flight5Size bytes
}

// MarshalConfirm seals flight 6 under SK_cs.
func MarshalConfirm(skcs [KeySize]byte, c *Confirm) []byte {
	if len(c.Proof) != Flight5Size {
		panic("bootstrap: flight 6 relays one flight 5")
	}
	var body [f6Body]byte
	binary.BigEndian.PutUint32(body[0:], c.Device)
	copy(body[4:], c.RNc[:])
	copy(body[4+RNSize:], c.Proof)
	out := seal(skcs, Header{Type: TypeConfirm, ID: c.Controller, TID: c.TID}, body[:])
	clear(body[:])
	return out
}

// OpenConfirm opens flight 6.
func OpenConfirm(skcs [KeySize]byte, msg []byte) (*Confirm, error) {
	h, body, err := open(skcs, msg, TypeConfirm, Flight6Size)
	if err != nil {
		return nil, err
	}
	c := &Confirm{Controller: h.ID, TID: h.TID, Device: binary.BigEndian.Uint32(body[0:])}
	copy(c.RNc[:], body[4:])
	c.Proof = append([]byte(nil), body[4+RNSize:]...)
	clear(body)
	return c, nil
}

// Done statuses (flight 7).
const (
	StatusCommitted = 1 // the server now holds the new PSK as the device's key
)

// MarshalDone seals flight 7 under SK_cs.
func MarshalDone(skcs [KeySize]byte, controller uint32, tid TID, device uint32, status byte) []byte {
	var body [f7Body]byte
	binary.BigEndian.PutUint32(body[0:], device)
	body[4] = status
	return seal(skcs, Header{Type: TypeDone, ID: controller, TID: tid}, body[:])
}

// OpenDone opens flight 7 and returns the device id and status.
func OpenDone(skcs [KeySize]byte, msg []byte) (Header, uint32, byte, error) {
	h, body, err := open(skcs, msg, TypeDone, Flight7Size)
	if err != nil {
		return h, 0, 0, err
	}
	return h, binary.BigEndian.Uint32(body[0:]), body[4], nil
}

// Error codes of the server's error reply.
const (
	CodeUnknownDevice = 1 // the device id is not in the repository
	CodeNotCommitted  = 2 // flight 6's proof opens under none of the device's candidate keys
	CodeRepository    = 3 // the server could not write its repository
)

// ServerError is an authenticated error reply from the server.
type ServerError struct{ Code byte }

func (e *ServerError) Error() string {
	switch e.Code {
	case CodeUnknownDevice:
		return "bootstrap: server: the device is not enrolled"
	case CodeNotCommitted:
		return "bootstrap: server: the device's proof matches no key the server expected"
	case CodeRepository:
		return "bootstrap: server: could not write its repository"
	}
	return fmt.Sprintf("bootstrap: server: error %d", e.Code)
}

// MarshalError seals an error reply under SK_cs.
func MarshalError(skcs [KeySize]byte, controller uint32, tid TID, code byte) []byte {
	return seal(skcs, Header{Type: TypeError, ID: controller, TID: tid}, []byte{code})
}

// OpenError opens an error reply.
func OpenError(skcs [KeySize]byte, msg []byte) (Header, *ServerError, error) {
	h, body, err := open(skcs, msg, TypeError, ErrorSize)
	if err != nil {
		return h, nil, err
	}
	return h, &ServerError{Code: body[0]}, nil
}
