package device

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mstool/mstool/pkg/slip"
)

// identifyBoard answers every IDENTIFY with an ATmega328P's fixed fields
// and the given MCU name.
type identifyBoard struct {
	bootingBoard
	mcu string
}

func (b *identifyBoard) Write(p []byte) (int, error) {
	b.dec.Feed(p, func(f []byte) {
		typ, seq, _, err := parseFrame(f)
		if err != nil || typ != cmdIdentify {
			return
		}
		pl := []byte{protoVersion, 0, 2, 0, 0, 0xf4, 0x24, 0, 0x1e, 0x95, 0x0f, 0, 0,
			1, 0x28, 1, 0x21, 0, 64, 0, 16, 8, 0, 0, 32, 4, 0, byte(len(b.mcu))}
		b.out <- slip.Encode(marshalFrame(cmdIdentify|typeReply, seq, append(pl, b.mcu...)))
	})
	return len(p), nil
}

// TestIdentifyMCUName: the MCU name a device reports is printed in
// messages and tables, so control bytes (a terminal escape sequence)
// make the reply malformed.
func TestIdentifyMCUName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"atmega328p", true},
		{"atmega168", true},
		{"atmega\x1b]0;pwned\x07", false},
		{"atmega 328p", false},
		{"\r\nmstool: device ok", false},
	} {
		b := &identifyBoard{bootingBoard: bootingBoard{dec: slip.NewDecoder(2048), out: make(chan []byte, 4), timeout: 50 * time.Millisecond}, mcu: tc.name}
		d, err := New(b, &Options{Timeout: time.Second, Retries: -1})
		if err != nil {
			t.Fatal(err)
		}
		info, err := d.Identify(context.Background())
		if tc.ok && (err != nil || info.MCU != tc.name || info.FrameMax != 296) {
			t.Errorf("%q: %v %+v", tc.name, err, info)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "malformed identify reply")) {
			t.Errorf("%q: accepted (%v)", tc.name, err)
		}
	}
}
