package grant_test

import (
	"bytes"
	"crypto/rsa"
	"encoding/binary"
	"flag"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mstool/mstool/internal/vectors"
	"github.com/mstool/mstool/pkg/devkey"
	"github.com/mstool/mstool/pkg/grant"
	"github.com/mstool/mstool/pkg/signkey"
	"github.com/mstool/mstool/pkg/tasks"
)

// go test ./pkg/grant -run TestVectors -update rewrites vectors/grant.txt.
// The file is then checked by an independent reading of it (TestVectors),
// by openssl (TestOpenSSLVerifiesVectors) and, later, by the firmware.
var update = flag.Bool("update", false, "rewrite vectors/grant.txt from the fixed keys and inputs")

const vectorsHeader = `# MSSL grant vectors (alg = grant). Our own: source = mstool.
# Format: vectors/README.md. The grant layout: docs/grant.md.
#
# Every value is hex; integers are big-endian of the width the grant uses.
#
# Fields of every record (the device that checks the grant):
#   n             issuer RSA modulus (e = 65537); the private keys are the
#                 TEST-ONLY keys in vectors/keys/ (match by modulus)
#   key_id        first 8 bytes of SHA-256(n)
#   device_id     the checking device's id (4 bytes)
#   master_key    its master key (16)
#   group_id      its group id (4) and group_key (16), when it has a group
#   serial_floor  its revocation floor (4): serials below it are revoked
#   time_floor    its time floor (4, unix seconds): not_after below it expired
#   grant         the grant as sent: body || signature
# Positive records (no result field) also give the signing inputs and every
# intermediate value; a device accepting the grant must produce host_key and
# move its time floor to next_time_floor:
#   flags serial target host_ip host_mac tasks issued_at not_after
#                 body fields (host_ip/host_mac zero when not bound)
#   host_key      the random host key (the first 16 random bytes Sign reads)
#   nonce         the random seal nonce (the next 13 random bytes)
#   seal_key      AES-128-Encrypt(master_key or group_key, "MSSL-grant-seal1")
#   sealed        AES-128-CCM(seal_key, nonce, aad = body[0:42], host_key):
#                 16 bytes of ciphertext then the 8-byte tag
#   body          the 79 signed bytes
#   signature     RSASSA-PKCS1-v1_5 SHA-256 over body
#   next_time_floor  max(time_floor, issued_at)
# Negative records (result = fail) must be rejected by a device with the
# given state; name is "<reason>/<what>", reason as in docs/grant.md.
`

type vectorCase struct {
	name, note string
	bits       int
	req        grant.Request
	device     *devkey.Identity // nil: testDevice()
	serialFlr  uint32
	timeFlr    uint32
	mutate     func(g []byte) // negative: change the grant
	truncate   bool           // negative: drop the last byte
	fail       bool
}

func vectorCases() []vectorCase {
	ip1024 := baseRequest()
	ip1024.HostMAC = nil
	ip1024.Tasks = 1<<tasks.TaskID | 1<<tasks.TaskUptime | 1<<tasks.TaskCounters
	ip1024.Serial = 0x0102
	ip1024.NotAfter = t0.Add(365 * 24 * time.Hour)

	group := baseRequest()
	group.Group = true
	group.HostIP = netip.Addr{}
	group.Tasks = tasks.AllBuiltin
	group.Serial = 9

	other := testDevice()
	other.ID = 0x2b
	wrongKey := testDevice()
	wrongKey.MasterKey[15] ^= 1
	noGroup := &devkey.Identity{ID: 0x2a, MasterKey: testDevice().MasterKey}

	base := baseRequest()
	return []vectorCase{
		{name: "device-rsa2048", note: "device grant, IPv4 and MAC bound, tasks led,adc, 30 days", bits: 2048, req: base, timeFlr: uint32(t0.Unix()) - 86400},
		{name: "device-rsa1024", note: "device grant, IPv4 bound only, tasks id,uptime,counters, one year", bits: 1024, req: ip1024, serialFlr: 0x0102},
		{name: "group-rsa2048", note: "group grant for group 7, MAC bound only, all tasks", bits: 2048, req: group},
		{name: "bad-signature/flip-body-serial", note: "device-rsa2048 with the last serial byte flipped", bits: 2048, req: base, fail: true,
			mutate: func(g []byte) { g[grant.OffSerial+3] ^= 0x01 }},
		{name: "bad-signature/flip-signature", note: "device-rsa2048 with the last signature byte flipped", bits: 2048, req: base, fail: true,
			mutate: func(g []byte) { g[len(g)-1] ^= 0x80 }},
		{name: "bad-signature/flip-sealed", note: "device-rsa2048 with a sealed host key byte flipped", bits: 2048, req: base, fail: true,
			mutate: func(g []byte) { g[grant.OffSealed] ^= 0x01 }},
		{name: "wrong-issuer/flip-key-id", note: "device-rsa1024 with a key id byte flipped", bits: 1024, req: ip1024, fail: true,
			mutate: func(g []byte) { g[grant.OffKeyID] ^= 0x01 }},
		{name: "malformed/truncated", note: "device-rsa1024 without its last byte", bits: 1024, req: ip1024, fail: true,
			truncate: true},
		{name: "revoked/serial-below-floor", note: "device-rsa2048 on a device whose revocation floor is 2", bits: 2048, req: base, serialFlr: 2, fail: true},
		{name: "expired/time-floor", note: "device-rsa2048 on a device that has seen a grant issued after its not_after", bits: 2048, req: base,
			timeFlr: uint32(base.NotAfter.Unix()) + 1, fail: true},
		{name: "wrong-device/other-id", note: "device-rsa2048 presented to device 0x2b", bits: 2048, req: base, device: other, fail: true},
		{name: "bad-seal/wrong-master-key", note: "device-rsa2048 on a device 0x2a whose master key differs (last bit)", bits: 2048, req: base, device: wrongKey, fail: true},
		{name: "wrong-device/not-in-group", note: "group-rsa2048 presented to device 0x2a without a group", bits: 2048, req: group, device: noGroup, fail: true},
	}
}

func keyByBits(t testing.TB, bits int) *rsa.PrivateKey { return testKey(t, bits) }

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

type recordWriter struct{ b strings.Builder }

func (w *recordWriter) text(name, v string) { fmt.Fprintf(&w.b, "%s = %s\n", name, v) }
func (w *recordWriter) hex(name string, v []byte) {
	h := fmt.Sprintf("%x", v)
	const width = 64
	if len(h) <= width {
		fmt.Fprintf(&w.b, "%s = %s\n", name, h)
		return
	}
	fmt.Fprintf(&w.b, "%s =\n", name)
	for len(h) > 0 {
		n := min(width, len(h))
		fmt.Fprintf(&w.b, "    %s\n", h[:n])
		h = h[n:]
	}
}

func generateVectors(t *testing.T) []byte {
	var out bytes.Buffer
	out.WriteString(vectorsHeader)
	for _, c := range vectorCases() {
		key := keyByBits(t, c.bits)
		g, hk := mustSign(t, key, c.req)
		dev := c.device
		if dev == nil {
			dev = testDevice()
		}
		var w recordWriter
		w.text("alg", "grant")
		w.text("source", "mstool (pkg/grant Sign with the fixed inputs of pkg/grant/vectors_test.go)")
		w.text("name", c.name)
		w.text("note", c.note)
		if c.fail {
			w.text("result", "fail")
		}
		w.hex("n", signkey.ModulusBytes(&key.PublicKey))
		id := signkey.KeyID(&key.PublicKey)
		w.hex("key_id", id[:])
		w.hex("device_id", u32(dev.ID))
		w.hex("master_key", dev.MasterKey[:])
		if dev.HasGroup {
			w.hex("group_id", u32(dev.GroupID))
			w.hex("group_key", dev.GroupKey[:])
		}
		w.hex("serial_floor", u32(c.serialFlr))
		w.hex("time_floor", u32(c.timeFlr))
		if c.fail {
			if c.mutate != nil {
				c.mutate(g)
			}
			if c.truncate {
				g = g[:len(g)-1]
			}
			w.hex("grant", g)
			out.WriteString("\n" + w.b.String())
			continue
		}
		p, err := grant.Parse(g)
		if err != nil {
			t.Fatal(err)
		}
		w.hex("flags", g[grant.OffFlags:grant.OffFlags+1])
		w.hex("serial", u32(p.Serial))
		w.hex("target", u32(p.Target))
		w.hex("host_ip", g[grant.OffHostIP:grant.OffHostIP+4])
		w.hex("host_mac", g[grant.OffHostMAC:grant.OffHostMAC+6])
		w.hex("tasks", u32(uint32(p.Tasks)))
		w.hex("issued_at", u32(p.IssuedAt))
		w.hex("not_after", u32(p.NotAfter))
		w.hex("host_key", hk[:])
		w.hex("nonce", p.Nonce[:])
		sk := dev.MasterKey
		if c.req.Group {
			sk = dev.GroupKey
		}
		sealKey := grant.SealKey(sk)
		w.hex("seal_key", sealKey[:])
		w.hex("sealed", p.Sealed[:])
		w.hex("body", g[:grant.BodySize])
		w.hex("signature", g[grant.BodySize:])
		w.hex("grant", g)
		w.hex("next_time_floor", u32(max(c.timeFlr, p.IssuedAt)))
		out.WriteString("\n" + w.b.String())
	}
	return out.Bytes()
}

func vectorFile(t testing.TB) string {
	p, err := vectors.Path("grant.txt")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestVectorsReproduce signs every positive vector again from its inputs
// and compares the whole file byte for byte (or rewrites it with -update).
func TestVectorsReproduce(t *testing.T) {
	want := generateVectors(t)
	path := vectorFile(t)
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from what Sign produces now (a format change must be deliberate: rerun with -update and review the diff)", path)
	}
}

// TestVectors checks every record of vectors/grant.txt from its fields
// alone, as the firmware will: the device state comes from the record, the
// issuer key is rebuilt from n, and positive records are re-derived field
// by field.
func TestVectors(t *testing.T) {
	recs, err := vectors.Load(vectorFile(t))
	if err != nil {
		t.Fatal(err)
	}
	var pos, neg int
	keysDir := filepath.Join(filepath.Dir(vectorFile(t)), "keys")
	for _, r := range recs {
		if r.Alg != "grant" {
			t.Fatalf("%s: alg %q in grant.txt", r.Pos(), r.Alg)
		}
		t.Run(r.Text("name"), func(t *testing.T) {
			if err := r.Require("n", "key_id", "device_id", "master_key", "serial_floor", "time_floor", "grant"); err != nil {
				t.Fatal(err)
			}
			pub := &rsa.PublicKey{N: newInt(r.Hex("n")), E: 65537}
			if id := signkey.KeyID(pub); !bytes.Equal(id[:], r.Hex("key_id")) {
				t.Fatalf("key_id %x, want %x", r.Hex("key_id"), id)
			}
			dev := &devkey.Identity{ID: be32(t, r.Hex("device_id"))}
			copy(dev.MasterKey[:], r.Hex("master_key"))
			if r.Has("group_id") {
				var gk [16]byte
				copy(gk[:], r.Hex("group_key"))
				dev.SetGroup(be32(t, r.Hex("group_id")), gk)
			}
			opts := grant.VerifyOptions{
				Issuer: pub, Device: dev,
				SerialFloor: be32(t, r.Hex("serial_floor")),
				TimeFloor:   be32(t, r.Hex("time_floor")),
			}
			g := r.Hex("grant")
			res, err := grant.Verify(g, opts)
			if r.ExpectFail() {
				neg++
				if err == nil {
					t.Fatal("negative vector verified")
				}
				want, _, _ := strings.Cut(r.Text("name"), "/")
				if got := grant.ReasonOf(err); string(got) != want {
					t.Fatalf("rejected with %q (%v), want %q", got, err, want)
				}
				return
			}
			pos++
			if err != nil {
				t.Fatal(err)
			}
			checkPositive(t, r, g, res, dev, keysDir)
		})
	}
	if pos < 3 || neg < 8 {
		t.Fatalf("only %d positive and %d negative grant vectors", pos, neg)
	}
}

func checkPositive(t *testing.T, r vectors.Record, g []byte, res *grant.Result, dev *devkey.Identity, keysDir string) {
	if err := r.Require("flags", "serial", "target", "host_ip", "host_mac", "tasks", "issued_at", "not_after",
		"host_key", "nonce", "seal_key", "sealed", "body", "signature", "next_time_floor"); err != nil {
		t.Fatal(err)
	}
	// The body, field by field at the documented offsets.
	body := r.Hex("body")
	if len(body) != grant.BodySize || !bytes.Equal(g, append(body, r.Hex("signature")...)) {
		t.Fatal("grant is not body || signature")
	}
	fields := []struct {
		name string
		off  int
	}{{"flags", grant.OffFlags}, {"key_id", grant.OffKeyID}, {"serial", grant.OffSerial}, {"target", grant.OffTarget},
		{"host_ip", grant.OffHostIP}, {"host_mac", grant.OffHostMAC}, {"tasks", grant.OffTasks}, {"issued_at", grant.OffIssuedAt},
		{"not_after", grant.OffNotAfter}, {"nonce", grant.OffNonce}, {"sealed", grant.OffSealed}}
	for _, f := range fields {
		v := r.Hex(f.name)
		if !bytes.Equal(body[f.off:f.off+len(v)], v) {
			t.Errorf("body[%d:] = %x, want %s %x", f.off, body[f.off:f.off+len(v)], f.name, v)
		}
	}
	if string(body[:2]) != "MG" || body[2] != 1 {
		t.Errorf("magic/version %x", body[:3])
	}
	// The seal key derivation and the opened host key.
	key := dev.MasterKey
	if r.Hex("flags")[0]&grant.FlagGroup != 0 {
		key = dev.GroupKey
	}
	if sk := grant.SealKey(key); !bytes.Equal(sk[:], r.Hex("seal_key")) {
		t.Errorf("seal_key %x, want %x", r.Hex("seal_key"), sk)
	}
	if !res.SealChecked || !bytes.Equal(res.HostKey[:], r.Hex("host_key")) {
		t.Errorf("opened host key %x, want %x", res.HostKey, r.Hex("host_key"))
	}
	if be32(t, r.Hex("next_time_floor")) != res.NextTimeFloor {
		t.Errorf("next_time_floor %x, want %d", r.Hex("next_time_floor"), res.NextTimeFloor)
	}
	// Signing the same inputs with the committed private key reproduces
	// the grant byte for byte (PKCS#1 v1.5 is deterministic).
	priv := keyWithModulus(t, keysDir, r.Hex("n"))
	p := res.Grant
	req := grant.Request{Device: dev, Group: p.Group, HostIP: p.HostIP, HostMAC: p.HostMAC, Tasks: p.Tasks, Serial: p.Serial,
		IssuedAt: time.Unix(int64(be32(t, r.Hex("issued_at"))), 0), NotAfter: time.Unix(int64(be32(t, r.Hex("not_after"))), 0)}
	rnd := bytes.NewReader(append(r.Hex("host_key"), r.Hex("nonce")...))
	again, hk, err := grant.Sign(rnd, priv, req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, g) || !bytes.Equal(hk[:], r.Hex("host_key")) {
		t.Errorf("signing the record's inputs gives\n%x\nwant\n%x", again, g)
	}
}

func keyWithModulus(t *testing.T, dir string, n []byte) *rsa.PrivateKey {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.pem"))
	for _, f := range m {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		k, err := signkey.ParsePrivatePEM(data)
		if err != nil {
			continue // public keys
		}
		if bytes.Equal(signkey.ModulusBytes(&k.PublicKey), n) {
			return k
		}
	}
	t.Fatalf("no key in %s has modulus %x...", dir, n[:8])
	return nil
}

func be32(t *testing.T, b []byte) uint32 {
	t.Helper()
	if len(b) != 4 {
		t.Fatalf("want 4 bytes, got %x", b)
	}
	return binary.BigEndian.Uint32(b)
}

func newInt(b []byte) *big.Int { return new(big.Int).SetBytes(b) }
