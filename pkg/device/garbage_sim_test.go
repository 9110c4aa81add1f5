package device_test

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/mstool/mstool/internal/crc16"
	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/slip"
)

// mgmtFrame builds a management frame by hand (docs/management.md), so
// the test does not trust the client's encoder for what it corrupts. The
// CRC is internal/crc16's, whose independence is its published check value
// (CRC-16/CCITT-FALSE of "123456789" = 0x29B1, asserted in its tests).
func mgmtFrame(typ, seq byte, payload []byte) []byte {
	f := []byte{0x00, typ, seq, 0, 0}
	binary.BigEndian.PutUint16(f[3:], uint16(len(payload)))
	f = append(f, payload...)
	return binary.BigEndian.AppendUint16(f, crc16.Checksum(f))
}

// TestGarbage sends the device random bytes, oversized frames, truncated
// commands, bad CRCs, bad escapes and unknown commands, then checks that
// it still answers, did not reset, and counted each kind of drop.
func TestGarbage(t *testing.T) {
	t.Parallel()
	d, _ := startDevice(t)
	ctx := context.Background()
	info, err := d.Identify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before, err := d.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 4096)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	identify := mgmtFrame(0x01, 7, nil)
	badCRC := append([]byte(nil), identify...)
	badCRC[len(badCRC)-1] ^= 0xFF
	badLen := mgmtFrame(0x01, 7, nil)
	badLen[4] = 9 // length field says 9 payload bytes, frame has none
	oversized := make([]byte, info.FrameMax+100)
	for i := range oversized {
		oversized[i] = byte(i) | 1 // no End bytes... escaped anyway by slip
	}
	ipv4 := append([]byte{0x45, 0x00, 0x00, 0x14}, make([]byte, 16)...)

	steps := []struct {
		name string
		wire []byte
	}{
		{"random bytes", noise},
		{"oversized frame", slip.Encode(oversized)},
		{"truncated command", slip.Encode(identify[:4])},
		{"truncated by End", append(append([]byte{slip.End}, identify[:6]...), slip.End)},
		{"bad crc", slip.Encode(badCRC)},
		{"bad length field", slip.Encode(badLen)},
		{"bad escape", []byte{slip.End, 0x00, slip.Esc, 0x42, 0x01, slip.End}},
		{"ipv4 frame", slip.Encode(ipv4)},
		{"unknown first byte", slip.Encode([]byte{0x99, 1, 2, 3})},
		{"reply-type frame", slip.Encode(mgmtFrame(0x81, 1, nil))},
		{"more random bytes", noise[:1000]},
	}
	for _, s := range steps {
		if err := d.WriteRaw(s.wire); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}

	// The device still answers, and did not reset: its counters kept
	// counting from before the garbage.
	if _, err := d.Identify(ctx); err != nil {
		t.Fatalf("identify after garbage: %v", err)
	}
	after, err := d.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.FramesOK <= before.FramesOK {
		t.Errorf("frames_ok went from %d to %d: the device reset or lost frames", before.FramesOK, after.FramesOK)
	}
	for _, c := range []struct {
		name          string
		before, after uint32
	}{
		{"drop_crc", before.DropCRC, after.DropCRC},
		{"drop_length", before.DropLength, after.DropLength},
		{"drop_oversize", before.DropOversize, after.DropOversize},
		{"drop_escape", before.DropEscape, after.DropEscape},
		{"drop_other", before.DropOther, after.DropOther},
		{"ipv4", before.IPv4, after.IPv4},
	} {
		if c.after <= c.before {
			t.Errorf("%s did not count the garbage: %d -> %d", c.name, c.before, c.after)
		}
	}
	t.Logf("stats after garbage: %+v", *after)

	// Well-formed requests that make no sense get error replies.
	var re *device.RemoteError
	if _, err := d.Request(ctx, 0x42, nil); !errors.As(err, &re) || re.Code != device.ErrCodeCommand {
		t.Errorf("unknown command: got %v, want an unknown-command error reply", err)
	}
	if _, err := d.Request(ctx, 0x04, []byte{0x7F}); !errors.As(err, &re) || re.Code != device.ErrCodePrimitive {
		t.Errorf("unknown primitive: got %v, want an unknown-primitive error reply", err)
	}
	if _, err := d.Request(ctx, 0x04, []byte{byte(device.MD5), 0x00, 0x09, 0x01}); !errors.As(err, &re) || re.Code != device.ErrCodeFormat {
		t.Errorf("truncated field: got %v, want a malformed-request error reply", err)
	}
	if _, err := d.Compute(ctx, device.AESEncrypt, make([]byte, 15), make([]byte, 16)); !errors.As(err, &re) || re.Code != device.ErrCodeParam {
		t.Errorf("15-byte AES key: got %v, want a bad-parameter error reply", err)
	}

	// The largest frame the device takes still works, one byte more is
	// dropped (and the client refuses to send it).
	maxMsg := info.FrameMax - 7 - (1 + 2 + 2 + 4)
	msg := make([]byte, maxMsg)
	for i := range msg {
		msg[i] = byte(i)
	}
	got, err := d.MD5(ctx, msg, 1)
	if err != nil {
		t.Fatalf("largest frame (%d-byte message): %v", maxMsg, err)
	}
	if want := md5.Sum(msg); string(got) != string(want[:]) {
		t.Fatalf("md5 of the largest frame = %x, want %x", got, want)
	}
	if _, err := d.MD5(ctx, append(msg, 0), 1); !errors.Is(err, device.ErrTooLarge) {
		t.Fatalf("one byte over the frame: got %v, want ErrTooLarge", err)
	}
	if again, err := d.Stats(ctx); err != nil || again.ResetCause != before.ResetCause || again.FramesOK < after.FramesOK {
		t.Fatalf("after the boundary tests: stats %+v, %v", again, err)
	}
}
