package bootstrap

import (
	"bytes"
	"errors"
	"testing"
)

// parsers lists every message parser with a valid message: each must
// refuse every truncation, every extension and every flipped bit.
func parsers(_ testing.TB) []struct {
	name  string
	msg   []byte
	parse func([]byte) error
} {
	key := [KeySize]byte{7}
	tid := TID{1, 2, 3, 4, 5, 6, 7, 8}
	rni, rnc := [RNSize]byte{0x11}, [RNSize]byte{0x22}
	f5 := MarshalProof(key, 42, tid, rnc)
	return []struct {
		name  string
		msg   []byte
		parse func([]byte) error
	}{
		{"flight2", MarshalJoin(key, &JoinRequest{Controller: 1, TID: tid, TS: 99, RNc: rnc, Device: 42, RNi: rni}), func(b []byte) error { _, err := OpenJoin(key, b); return err }},
		{"flight3/1", MarshalKeys(key, &Keys{Controller: 1, TID: tid, TS: 99, Device: 42, Keys: [][KeySize]byte{{1}}}), func(b []byte) error { _, err := OpenKeys(key, b); return err }},
		{"flight3/3", MarshalKeys(key, &Keys{Controller: 1, TID: tid, TS: 99, Device: 42, Keys: [][KeySize]byte{{1}, {2}, {3}}}), func(b []byte) error { _, err := OpenKeys(key, b); return err }},
		{"flight4", MarshalRekey(key, 42, tid, rni, rnc), func(b []byte) error { _, _, err := open(key, b, TypeRekey, Flight4Size); return err }},
		{"flight5", f5, func(b []byte) error { return OpenProof(key, b, 42, tid, rnc) }},
		{"flight6", MarshalConfirm(key, &Confirm{Controller: 1, TID: tid, Device: 42, RNc: rnc, Proof: f5}), func(b []byte) error { _, err := OpenConfirm(key, b); return err }},
		{"flight7", MarshalDone(key, 1, tid, 42, StatusCommitted), func(b []byte) error { _, _, _, err := OpenDone(key, b); return err }},
		{"error", MarshalError(key, 1, tid, CodeUnknownDevice), func(b []byte) error { _, _, err := OpenError(key, b); return err }},
	}
}

func TestParsersRejectDamage(t *testing.T) {
	for _, p := range parsers(t) {
		t.Run(p.name, func(t *testing.T) {
			if err := p.parse(p.msg); err != nil {
				t.Fatalf("valid message refused: %v", err)
			}
			for n := range len(p.msg) {
				if err := p.parse(p.msg[:n]); err == nil {
					t.Fatalf("truncated to %d accepted", n)
				}
			}
			if err := p.parse(append(bytes.Clone(p.msg), 0)); err == nil {
				t.Fatal("extended message accepted")
			}
			for i := range len(p.msg) {
				for bit := range 8 {
					m := bytes.Clone(p.msg)
					m[i] ^= 1 << bit
					err := p.parse(m)
					if err == nil {
						t.Fatalf("byte %d bit %d flipped: accepted", i, bit)
					}
					if i >= HeaderSize && !errors.Is(err, ErrAuth) {
						t.Fatalf("byte %d flipped: %v, want ErrAuth", i, err)
					}
				}
			}
		})
	}
}

func TestSizes(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"flight2", Flight2Size, 76}, {"flight4", Flight4Size, 64}, {"flight5", Flight5Size, 48},
		{"flight6", Flight6Size, 100}, {"flight7", Flight7Size, 37}, {"error", ErrorSize, 33},
		{"nak", NAKSize, 17}, {"area", AreaSize, 16}, {"label", LabelSize, 51},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d bytes, want %d (docs/bootstrap.md)", c.name, c.got, c.want)
		}
	}
}

// The device answers anything damaged with nothing or a NAK, and keeps
// its key.
func TestDeviceRejectsDamagedFlight4(t *testing.T) {
	ik, rni := [KeySize]byte{1}, [RNSize]byte{2}
	good := MarshalRekey(ik, 9, TID{3}, rni, [RNSize]byte{4})
	for i := range len(good) {
		d := NewDevice(9, ik, rni)
		m := bytes.Clone(good)
		m[i] ^= 0x10
		r := d.Handle(m)
		if r != nil {
			if _, _, err := ParseNAK(r); err != nil {
				t.Fatalf("byte %d: reply is not a NAK", i)
			}
		}
		if k, gen := d.Key(); k != ik || gen != 0 {
			t.Fatalf("byte %d flipped: device key changed", i)
		}
	}
	d := NewDevice(9, ik, rni)
	for n := range len(good) {
		if d.Handle(good[:n]) != nil {
			t.Fatalf("truncated flight 4 (%d) answered", n)
		}
	}
}
