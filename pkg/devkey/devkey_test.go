package devkey

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, group := range []bool{false, true} {
		id, err := Generate(rand.Reader, 0)
		if err != nil {
			t.Fatal(err)
		}
		if id.ID == 0 {
			t.Fatal("random id is 0")
		}
		if group {
			id.SetGroup(7, [16]byte{1, 2, 3})
		}
		back, err := Parse(id.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if !back.Equal(id) {
			t.Fatalf("round trip changed identity: %+v vs %+v", back, id)
		}
	}
}

func TestGenerateFixedID(t *testing.T) {
	id, err := Generate(bytes.NewReader(make([]byte, 16)), 42)
	if err != nil || id.ID != 42 {
		t.Fatalf("id %v err %v", id, err)
	}
	if _, err := Generate(bytes.NewReader(nil), 0); err == nil {
		t.Fatal("short rand reader accepted")
	}
}

func TestParseErrors(t *testing.T) {
	const ok = "mstool-device v1\ndevice-id: 0x2a\nmaster-key: 000102030405060708090a0b0c0d0e0f\n"
	cases := map[string]string{
		"empty":        "",
		"no header":    "device-id: 1\n",
		"wrong header": "mstool-device v2\n",
		"missing key":  "mstool-device v1\ndevice-id: 1\n",
		"short key":    "mstool-device v1\ndevice-id: 1\nmaster-key: 0001\n",
		"bad hex":      "mstool-device v1\ndevice-id: 1\nmaster-key: zz0102030405060708090a0b0c0d0e0f\n",
		"id zero":      "mstool-device v1\ndevice-id: 0\nmaster-key: 000102030405060708090a0b0c0d0e0f\n",
		"id too big":   "mstool-device v1\ndevice-id: 0x100000000\nmaster-key: 000102030405060708090a0b0c0d0e0f\n",
		"duplicate":    ok + "device-id: 3\n",
		"unknown":      ok + "colour: blue\n",
		"no colon":     ok + "garbage\n",
		"group no key": ok + "group-id: 3\n",
		"key no group": ok + "group-key: 000102030405060708090a0b0c0d0e0f\n",
	}
	for name, in := range cases {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "devkey: ") {
			t.Errorf("%s: error %q lacks package prefix", name, err)
		}
	}
	if id, err := Parse([]byte("# comment\n" + ok)); err != nil || id.ID != 0x2a {
		t.Fatalf("valid file: %v %v", id, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("mstool-device v1\ndevice-id: 0x2a\nmaster-key: 000102030405060708090a0b0c0d0e0f\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := Parse(data)
		if err != nil {
			return
		}
		back, err := Parse(id.Marshal())
		if err != nil || !back.Equal(id) {
			t.Fatalf("re-parse of marshalled identity failed: %v", err)
		}
	})
}
