package ihex

import (
	"bytes"
	"math/rand"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, tc := range []struct {
		addr uint32
		n    int
	}{{0, 0}, {0, 1}, {0, 16}, {0, 17}, {0, 1024}, {0xFFF8, 32}, {0x810000, 512}} {
		data := make([]byte, tc.n)
		rng.Read(data)
		var b bytes.Buffer
		if err := Encode(&b, tc.addr, data); err != nil {
			t.Fatal(err)
		}
		segs, err := Decode(&b)
		if err != nil {
			t.Fatalf("addr %x n %d: %v", tc.addr, tc.n, err)
		}
		if tc.n == 0 {
			if len(segs) != 0 {
				t.Fatalf("empty image decoded to %d segments", len(segs))
			}
			continue
		}
		if len(segs) != 1 || segs[0].Addr != tc.addr || !bytes.Equal(segs[0].Data, data) {
			t.Fatalf("addr %x n %d: round trip mismatch", tc.addr, tc.n)
		}
	}
}

// A record as avr-objcopy writes it (checked by hand against the spec).
func TestKnownRecord(t *testing.T) {
	var b bytes.Buffer
	Encode(&b, 0x0100, []byte{0x21, 0x46, 0x01, 0x36, 0x01, 0x21, 0x47, 0x01, 0x36, 0x00, 0x7E, 0xFE, 0x09, 0xD2, 0x19, 0x01})
	want := ":10010000214601360121470136007EFE09D2190140\n:00000001FF\n"
	if b.String() != want {
		t.Fatalf("got\n%swant\n%s", b.String(), want)
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := map[string]string{
		"no eof":       ":0100000000FF\n",
		"bad checksum": ":0100000000FE\n:00000001FF\n",
		"no colon":     "0100000000FF\n:00000001FF\n",
		"short":        ":00\n:00000001FF\n",
		"length lies":  ":0200000000FE\n:00000001FF\n",
		"bad hex":      ":01000000ZZFF\n:00000001FF\n",
		"unknown type": ":00000009F7\n:00000001FF\n",
		"after eof":    ":00000001FF\n:0100000000FF\n",
		"overlap":      ":020000000000FE\n:0100010000FE\n:00000001FF\n",
		"duplicate":    ":0100000000FF\n:0100000000FF\n:00000001FF\n",
		"huge address": ":020000040100F9\n:0100000000FF\n:00000001FF\n",
		"bad ext len":  ":0100000400FB\n:00000001FF\n",
	}
	for name, in := range cases {
		if _, err := Decode(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestFlatten(t *testing.T) {
	img, err := Flatten([]Segment{{Addr: 2, Data: []byte{1, 2}}}, 6, 0xFF)
	if err != nil || !bytes.Equal(img, []byte{0xFF, 0xFF, 1, 2, 0xFF, 0xFF}) {
		t.Fatalf("%x %v", img, err)
	}
	if _, err := Flatten([]Segment{{Addr: 5, Data: []byte{1, 2}}}, 6, 0xFF); err == nil {
		t.Fatal("overflow accepted")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(":10010000214601360121470136007EFE09D2190140\n:00000001FF\n"))
	f.Add([]byte(":020000040081790000\n:0100000000FF\n:00000001FF\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		segs, err := Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, s := range segs {
			var b bytes.Buffer
			if err := Encode(&b, s.Addr, s.Data); err != nil {
				t.Fatal(err)
			}
			back, err := Decode(&b)
			if err != nil || len(back) != 1 || !bytes.Equal(back[0].Data, s.Data) {
				t.Fatalf("re-encode failed: %v", err)
			}
		}
	})
}
