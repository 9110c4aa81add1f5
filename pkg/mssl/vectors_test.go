package mssl_test

import (
	"bytes"
	"crypto/aes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mstool/mstool/internal/vectors"
	"github.com/mstool/mstool/pkg/cmac"
	"github.com/mstool/mstool/pkg/grant"
	"github.com/mstool/mstool/pkg/mssl"
	"github.com/mstool/mstool/pkg/mssl/mssltest"
	"github.com/mstool/mstool/pkg/tasks"
)

var update = flag.Bool("update", false, "rewrite vectors/mssl.txt")

// fixedReader returns its bytes in order (grant.Sign's host key and nonce).
func fixedGrant(t *testing.T) ([]byte, [16]byte) {
	t.Helper()
	var b []byte
	for i := 0; i < grant.HostKeySize; i++ {
		b = append(b, 0xa0+byte(i))
	}
	for i := 0; i < grant.NonceSize; i++ {
		b = append(b, 0xb0+byte(i))
	}
	g, hk, err := grant.Sign(bytes.NewReader(b), testKey(t, 1024), request())
	if err != nil {
		t.Fatal(err)
	}
	return g, hk
}

type vbuf struct{ strings.Builder }

func (v *vbuf) rec(name, note string, fields ...any) {
	fmt.Fprintf(v, "\nalg = mssl\nsource = mstool: docs/mssl.md, computed by pkg/mssl (vectors_test.go)\nname = %s\n", name)
	if note != "" {
		fmt.Fprintf(v, "note = %s\n", note)
	}
	for i := 0; i < len(fields); i += 2 {
		b := fields[i+1].([]byte)
		h := fmt.Sprintf("%x", b)
		fmt.Fprintf(v, "%s =", fields[i])
		for len(h) > 64 {
			fmt.Fprintf(v, " %s\n ", h[:64])
			h = h[64:]
		}
		fmt.Fprintf(v, " %s\n", h)
	}
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// makeVectors computes every vector of vectors/mssl.txt from fixed inputs:
// the grant vectors' device (0x2a, master key 00..0f), host key a0..af,
// the TEST-ONLY RSA-1024 key, Nh = 00 01 .. 0f xor 0x55, nonce counters 0
// and 1025, and a recorded session with the reference server.
func makeVectors(t *testing.T) string {
	var v vbuf
	v.WriteString(`# MSSL known-answer vectors (docs/mssl.md). Our own: computed by pkg/mssl from
# fixed inputs; regenerate with 'go test ./pkg/mssl -run TestVectors -update'
# only for a deliberate protocol change. Every record has alg = mssl and a name:
#   nonce      master knonce counter nd           Knonce = AES(master, "MSSL-nonce-key-1"), Nd = AES(Knonce, counter || epoch), epoch 0^12 here
#   kdf        hk nh nd prk client_key client_salt server_key server_salt
#                                                 PRK = AES-CMAC(hk, nh || nd), keys = AES(PRK, label), salts = AES(PRK, "MSSL1 nonce salt")
#   record     key salt dir type seq extra_aad pt record
#                                                 record = type || seq || AES-CCM-8(key, salt || dir || seq, aad = type || seq || extra_aad, pt)
#   handshake  master grant nh counter client_hello server_hello client_finished grant_signature_message server_finished
#              data_request data_reply            one whole session with the reference server (an uncached grant),
#                                                 then the task adc 3 (request id 1) and its reply
`)
	var master [16]byte
	for i := range master {
		master[i] = byte(i)
	}
	kn := mssl.NonceKey(master)
	for _, c := range []uint32{0, 1025} {
		nd := mssl.DeviceNonce(kn, c, [12]byte{})
		v.rec("nonce", "", "master", master[:], "knonce", kn[:], "counter", u32(c), "nd", nd[:])
	}
	g, hk := fixedGrant(t)
	var nh [16]byte
	for i := range nh {
		nh[i] = byte(i) ^ 0x55
	}
	nd := mssl.DeviceNonce(kn, 0, [12]byte{})
	b, _ := aes.NewCipher(hk[:])
	m, _ := cmac.New(b)
	prk := m.Sum(nil, append(nh[:], nd[:]...))
	k := mssl.DeriveKeys(hk, nh, nd)
	v.rec("kdf", "", "hk", hk[:], "nh", nh[:], "nd", nd[:], "prk", prk, "client_key", k.ClientKey[:], "client_salt", k.ClientSalt[:],
		"server_key", k.ServerKey[:], "server_salt", k.ServerSalt[:])
	fin := mssl.SealRecordForTest(k.ClientKey, k.ClientSalt, 1, mssl.RecordFinished, 0, nil, append([]byte{0}, g[grant.OffTag:grant.BodySize]...))
	v.rec("record", "client Finished: empty plaintext, extra_aad = ServerHello flags || grant seal tag",
		"key", k.ClientKey[:], "salt", k.ClientSalt[:], "dir", []byte{1}, "type", []byte{mssl.RecordFinished}, "seq", u32(0),
		"extra_aad", append([]byte{0}, g[grant.OffTag:grant.BodySize]...), "pt", []byte{}, "record", fin)
	req := tasks.AppendRequest(nil, tasks.TaskLED, 7, []byte{1})
	rec := mssl.SealRecordForTest(k.ClientKey, k.ClientSalt, 1, mssl.RecordData, 1, req, nil)
	v.rec("record", "task request led on, request id 7", "key", k.ClientKey[:], "salt", k.ClientSalt[:], "dir", []byte{1},
		"type", []byte{mssl.RecordData}, "seq", u32(1), "extra_aad", []byte{}, "pt", req, "record", rec)
	rep := tasks.AppendReply(nil, tasks.TaskLED, 7, tasks.StatusOK, []byte{1})
	rec = mssl.SealRecordForTest(k.ServerKey, k.ServerSalt, 2, mssl.RecordData, 1, rep, nil)
	v.rec("record", "task reply, device to host", "key", k.ServerKey[:], "salt", k.ServerSalt[:], "dir", []byte{2},
		"type", []byte{mssl.RecordData}, "seq", u32(1), "extra_aad", []byte{}, "pt", rep, "record", rec)

	// A whole session with the reference server, from a fresh device.
	srv, err := mssl.NewServer(mssl.ServerConfig{Device: testDevice(), Issuer: &testKey(t, 1024).PublicKey, Store: &mssl.MemStore{}, Tasks: (&mssltest.Tasks{DeviceID: 0x2a}).Run, Epoch: &[mssl.EpochSize]byte{}})
	if err != nil {
		t.Fatal(err)
	}
	ch := mssl.ClientHello{Nh: nh}
	copy(ch.Body[:], g)
	one := func(msg []byte) []byte {
		out := srv.Handle(hostAddr, msg)
		if len(out) != 1 {
			t.Fatalf("%d answers to %x", len(out), msg)
		}
		return out[0]
	}
	sh := one(ch.Marshal())
	cf := fin
	sreq := one(cf)
	sigMsg := append([]byte{mssl.TypeGrantSignature}, g[grant.BodySize:]...)
	sf := one(sigMsg)
	dreq := mssl.SealRecordForTest(k.ClientKey, k.ClientSalt, 1, mssl.RecordData, 1, tasks.AppendRequest(nil, tasks.TaskADC, 1, []byte{3}), nil)
	drep := one(dreq)
	if !bytes.Equal(sreq, []byte{mssl.TypeSignatureRequest}) {
		t.Fatalf("answer to Finished: %x", sreq)
	}
	v.rec("handshake", "host 10.0.0.2, device 0x2a with an empty cache and counter 0; grant: vectors' inputs, serial 10, led+adc, RSA-1024",
		"master", master[:], "grant", g, "nh", nh[:], "counter", u32(0), "client_hello", ch.Marshal(), "server_hello", sh,
		"client_finished", cf, "grant_signature_message", sigMsg, "server_finished", sf, "data_request", dreq, "data_reply", drep)
	return v.String()
}

// TestVectors regenerates vectors/mssl.txt and compares it byte for byte,
// and checks that the file parses with the shared vector parser.
func TestVectors(t *testing.T) {
	got := makeVectors(t)
	path, err := vectors.Path("mssl.txt")
	if *update {
		dir, derr := vectors.Dir()
		if derr != nil {
			t.Fatal(derr)
		}
		if err := os.WriteFile(dir+"/mssl.txt", []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Fatal("vectors/mssl.txt differs from what pkg/mssl computes (run with -update only for a deliberate change)")
	}
	recs, err := vectors.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 7 {
		t.Fatalf("%d records", len(recs))
	}
	// The record vectors open with their own fields alone.
	for _, r := range recs {
		if r.Text("name") != "record" {
			continue
		}
		pt, err := mssl.OpenRecordForTest([16]byte(r.Hex("key")), [8]byte(r.Hex("salt")), r.Hex("dir")[0], r.Hex("record"), r.Hex("extra_aad"))
		if err != nil || !bytes.Equal(pt, r.Hex("pt")) {
			t.Errorf("%s: %v", r.Pos(), err)
		}
		bad := r.Hex("record")
		bad[len(bad)-1] ^= 1
		if _, err := mssl.OpenRecordForTest([16]byte(r.Hex("key")), [8]byte(r.Hex("salt")), r.Hex("dir")[0], bad, r.Hex("extra_aad")); err == nil {
			t.Errorf("%s: a changed tag opens", r.Pos())
		}
	}
}
