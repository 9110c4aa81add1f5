package device

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/mstool/mstool/internal/crc16"
)

// ProtocolVersion is the management protocol version this package speaks
// (IDENTIFY's first byte; docs/management.md).
const ProtocolVersion = 1

// Management frame layout (docs/management.md). A frame is one SLIP frame
// whose first byte is magic.
const (
	magic        = 0x00
	protoVersion = ProtocolVersion
	hdrLen       = 5 // magic, type, seq, len(2)
	crcLen       = 2
	overhead     = hdrLen + crcLen

	typeReply = 0x80
	typeError = 0xFF
)

// Commands.
const (
	cmdIdentify = 0x01
	cmdStats    = 0x02
	cmdBench    = 0x03
	cmdCompute  = 0x04
)

// marshalFrame builds a management frame (before SLIP encoding).
func marshalFrame(typ, seq byte, payload []byte) []byte {
	f := make([]byte, hdrLen, overhead+len(payload))
	f[0], f[1], f[2] = magic, typ, seq
	binary.BigEndian.PutUint16(f[3:], uint16(len(payload)))
	f = append(f, payload...)
	return binary.BigEndian.AppendUint16(f, crc16.Checksum(f))
}

var errNotFrame = errors.New("device: not a management frame")

// parseFrame checks a decoded SLIP frame and returns its type, sequence
// number and payload (aliasing f).
func parseFrame(f []byte) (typ, seq byte, payload []byte, err error) {
	if len(f) < overhead || f[0] != magic {
		return 0, 0, nil, errNotFrame
	}
	n := int(binary.BigEndian.Uint16(f[3:]))
	if n != len(f)-overhead {
		return 0, 0, nil, fmt.Errorf("device: frame length field %d, frame carries %d", n, len(f)-overhead)
	}
	if got, want := binary.BigEndian.Uint16(f[len(f)-crcLen:]), crc16.Checksum(f[:len(f)-crcLen]); got != want {
		return 0, 0, nil, fmt.Errorf("device: frame CRC %04x, want %04x", got, want)
	}
	return f[1], f[2], f[hdrLen : len(f)-crcLen], nil
}

// appendField appends a u16-length-prefixed field.
func appendField(dst, v []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(v)))
	return append(dst, v...)
}

// cursor reads u16-length-prefixed fields and fixed-size integers; ok
// turns false on the first short read and stays false.
type cursor struct {
	b  []byte
	ok bool
}

func (c *cursor) bytes(n int) []byte {
	if !c.ok || len(c.b) < n {
		c.ok = false
		return nil
	}
	v := c.b[:n]
	c.b = c.b[n:]
	return v
}

func (c *cursor) u8() byte {
	if v := c.bytes(1); v != nil {
		return v[0]
	}
	return 0
}

func (c *cursor) u16() uint16 {
	if v := c.bytes(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (c *cursor) u32() uint32 {
	if v := c.bytes(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (c *cursor) field() []byte {
	n := c.u16()
	return c.bytes(int(n))
}
