// Package mssl implements MSSL, the Micro Secure Socket Layer of mstool
// (docs/mssl.md): a handshake in which the host presents an RSA-signed
// access grant (pkg/grant) and proves that it holds the grant's sealed host
// key, followed by AES-128-CCM-8 records that carry task requests
// (docs/tasks.md) the grant permits.
//
// The package has both ends: the client (Dial, Session) that mstool uses,
// and Server, a reference implementation of exactly what the device
// firmware does (checks and their order, alerts, the nonce counter
// reservation in persistent state, the verified-grant cache, the floors),
// so that every attack of the protocol's threat model is tested against
// it, and the firmware is tested against the same expectations.
//
// Messages travel one per UDP datagram (device port Port) or, on a stream
// (TCP, a serial line without IP), each behind a 2-byte big-endian length
// (Stream).
package mssl

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mstool/mstool/pkg/grant"
)

// Port is the device's UDP port for MSSL.
const Port = 7412

// Version is the protocol version this package speaks.
const Version = 1

// Message types: the first byte of every message.
const (
	TypeClientHello      = 0x01 // host → device: version, Nh, grant body
	TypeServerHello      = 0x02 // device → host: version, flags, Nd
	TypeGrantSignature   = 0x03 // host → device: the grant's RSA signature
	TypeSignatureRequest = 0x04 // device → host: Finished verified, send the signature
	TypeAlert            = 0x05 // either way, in clear: alert code
	TypeFloorSignature   = 0x06 // host → device: the RSA signature of a pending floor statement

	RecordFinished = 0x14 // record: handshake Finished (empty plaintext)
	RecordAlert    = 0x15 // record: alert code (1 byte)
	RecordData     = 0x17 // record: one task request or reply
	RecordFloor    = 0x18 // record: floor statement body, or the device's answer
)

// Sizes and offsets, in bytes.
const (
	NonceSize = 16 // Nh and Nd
	KeySize   = 16 // AES-128 keys
	SaltSize  = 8  // per-direction nonce salt
	TagSize   = 8  // CCM tag of every record (M = 8)

	ClientHelloSize = 2 + NonceSize + grant.BodySize // 97
	ServerHelloSize = 3 + NonceSize                  // 19
	AlertSize       = 2

	RecordHeaderSize   = 5 // type, 32-bit sequence number
	RecordOverhead     = RecordHeaderSize + TagSize
	MaxMessage         = 268 // largest message: fits a 296-byte IPv4 frame of an ATmega328P with IPv4 and UDP headers
	MaxRecordPlaintext = MaxMessage - RecordOverhead

	// ServerHello flags.
	FlagCached = 0x01 // no signature needed: the device has this grant verified, or takes it on its seal
	FlagNoRSA  = 0x02 // the device verifies no RSA (seal-only): floor statements need the device MAC
)

// CCM nonce of a record: salt (8) ‖ direction (1) ‖ sequence number (4).
const (
	dirC2S = 0x01 // host → device
	dirS2C = 0x02 // device → host
)

// ErrDecode: a message that does not follow docs/mssl.md.
var ErrDecode = errors.New("mssl: malformed message")

// ClientHello is the first handshake message.
type ClientHello struct {
	Nh   [NonceSize]byte
	Body [grant.BodySize]byte
}

// Marshal encodes the message.
func (m *ClientHello) Marshal() []byte {
	b := make([]byte, 0, ClientHelloSize)
	b = append(b, TypeClientHello, Version)
	b = append(b, m.Nh[:]...)
	return append(b, m.Body[:]...)
}

// ParseClientHello decodes a ClientHello. A wrong version is reported as
// an *AlertError with AlertProtocolVersion, any other defect as
// AlertDecodeError.
func ParseClientHello(b []byte) (*ClientHello, error) {
	if len(b) != ClientHelloSize || b[0] != TypeClientHello {
		return nil, alertErr(AlertDecodeError, "client hello of %d bytes", len(b))
	}
	if b[1] != Version {
		return nil, alertErr(AlertProtocolVersion, "version %d", b[1])
	}
	m := &ClientHello{}
	copy(m.Nh[:], b[2:])
	copy(m.Body[:], b[2+NonceSize:])
	return m, nil
}

// ServerHello is the device's answer to a ClientHello.
type ServerHello struct {
	Flags byte
	Nd    [NonceSize]byte
}

// Marshal encodes the message.
func (m *ServerHello) Marshal() []byte {
	b := make([]byte, 0, ServerHelloSize)
	b = append(b, TypeServerHello, Version, m.Flags)
	return append(b, m.Nd[:]...)
}

// ParseServerHello decodes a ServerHello.
func ParseServerHello(b []byte) (*ServerHello, error) {
	if len(b) != ServerHelloSize || b[0] != TypeServerHello {
		return nil, fmt.Errorf("%w: server hello of %d bytes", ErrDecode, len(b))
	}
	if b[1] != Version {
		return nil, fmt.Errorf("%w: server hello version %d", ErrDecode, b[1])
	}
	if b[2]&^(FlagCached|FlagNoRSA) != 0 {
		return nil, fmt.Errorf("%w: server hello flags %#02x", ErrDecode, b[2])
	}
	m := &ServerHello{Flags: b[2]}
	copy(m.Nd[:], b[3:])
	return m, nil
}

// Record is a parsed record: header fields, and the ciphertext with its
// tag (aliasing the message).
type Record struct {
	Type   byte
	Seq    uint32
	Sealed []byte // ciphertext ‖ tag
}

// IsRecordType reports whether t is the type of a record.
func IsRecordType(t byte) bool {
	return t == RecordFinished || t == RecordAlert || t == RecordData || t == RecordFloor
}

// ParseRecord splits a record into its header fields and sealed part.
func ParseRecord(b []byte) (Record, error) {
	if len(b) < RecordOverhead {
		return Record{}, alertErr(AlertDecodeError, "record of %d bytes", len(b))
	}
	if !IsRecordType(b[0]) {
		return Record{}, alertErr(AlertDecodeError, "record type %#02x", b[0])
	}
	if len(b) > MaxMessage {
		return Record{}, alertErr(AlertRecordOverflow, "record of %d bytes", len(b))
	}
	return Record{Type: b[0], Seq: binary.BigEndian.Uint32(b[1:]), Sealed: b[RecordHeaderSize:]}, nil
}

// appendRecordHeader appends type ‖ seq.
func appendRecordHeader(dst []byte, typ byte, seq uint32) []byte {
	return binary.BigEndian.AppendUint32(append(dst, typ), seq)
}

// alertMessage is a cleartext alert.
func alertMessage(code Alert) []byte { return []byte{TypeAlert, byte(code)} }

// ParseAlert decodes a cleartext alert message.
func ParseAlert(b []byte) (Alert, error) {
	if len(b) != AlertSize || b[0] != TypeAlert {
		return 0, fmt.Errorf("%w: alert of %d bytes", ErrDecode, len(b))
	}
	return Alert(b[1]), nil
}
