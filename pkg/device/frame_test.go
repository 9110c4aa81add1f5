package device

import (
	"bytes"
	"testing"
)

func TestParseFrame(t *testing.T) {
	good := marshalFrame(cmdIdentify|typeReply, 9, []byte{1, 2, 3})
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-1] ^= 1
	badLen := bytes.Clone(good)
	badLen[4] = 4
	notMgmt := bytes.Clone(good)
	notMgmt[0] = 0x45
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"good", good, true},
		{"bad crc", badCRC, false},
		{"bad length field", badLen, false},
		{"ipv4", notMgmt, false},
		{"short", good[:6], false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, seq, p, err := parseFrame(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && (typ != cmdIdentify|typeReply || seq != 9 || !bytes.Equal(p, []byte{1, 2, 3})) {
				t.Fatalf("got %x %d %x", typ, seq, p)
			}
		})
	}
}
