package grant_test

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/mstool/mstool/pkg/devkey"
	"github.com/mstool/mstool/pkg/grant"
	"github.com/mstool/mstool/pkg/tasks"
)

func TestLayout(t *testing.T) {
	// The offsets are contiguous and the body is what docs/grant.md says.
	fields := []struct{ off, size int }{
		{grant.OffMagic, 2}, {grant.OffVersion, 1}, {grant.OffFlags, 1}, {grant.OffKeyID, grant.KeyIDSize},
		{grant.OffSerial, 4}, {grant.OffTarget, 4}, {grant.OffHostIP, 4}, {grant.OffHostMAC, 6},
		{grant.OffTasks, 4}, {grant.OffIssuedAt, 4}, {grant.OffNotAfter, 4}, {grant.OffNonce, grant.NonceSize},
		{grant.OffSealed, grant.HostKeySize}, {grant.OffTag, grant.TagSize},
	}
	next := 0
	for i, f := range fields {
		if f.off != next {
			t.Fatalf("field %d at offset %d, want %d", i, f.off, next)
		}
		next += f.size
	}
	if next != grant.BodySize || grant.BodySize != 79 || grant.Size1024 != 207 || grant.Size2048 != 335 {
		t.Fatalf("body %d (const %d), sizes %d %d", next, grant.BodySize, grant.Size1024, grant.Size2048)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, bits := range []int{1024, 2048} {
		key := testKey(t, bits)
		req := baseRequest()
		g, hk := mustSign(t, key, req)
		if len(g) != grant.BodySize+bits/8 {
			t.Fatalf("RSA-%d grant is %d bytes", bits, len(g))
		}
		p, err := grant.Parse(g)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p.Marshal(), g) {
			t.Fatal("Marshal(Parse(g)) != g")
		}
		if p.Group || p.Target != 0x2a || p.Serial != 1 || p.HostIP != hostIP || !bytes.Equal(p.HostMAC, hostMAC) ||
			p.Tasks != req.Tasks || !p.IssuedTime().Equal(t0) || !p.NotAfterTime().Equal(req.NotAfter) || p.SignatureBits() != bits {
			t.Fatalf("parsed %+v", p)
		}
		res, err := grant.Verify(g, grant.VerifyOptions{Issuer: &key.PublicKey, Device: testDevice(), HostKey: &hk, Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		if !res.SealChecked || res.HostKey != hk {
			t.Fatal("host key not opened")
		}
		// Parse does not keep the caller's buffer.
		g[grant.BodySize] ^= 1
		if bytes.Equal(p.Signature, g[grant.BodySize:]) {
			t.Fatal("Parse retained its input")
		}
	}
}

// TestEveryByteFlip flips every byte of a grant in several ways: the
// result must never verify, whatever the verifier checks.
func TestEveryByteFlip(t *testing.T) {
	for _, bits := range []int{1024, 2048} {
		key := testKey(t, bits)
		for _, req := range []grant.Request{baseRequest(), groupRequest()} {
			g, hk := mustSign(t, key, req)
			minimal := grant.VerifyOptions{Issuer: &key.PublicKey}
			full := grant.VerifyOptions{Issuer: &key.PublicKey, Device: testDevice(), HostKey: &hk, Now: t0}
			for _, opts := range []grant.VerifyOptions{minimal, full} {
				if _, err := grant.Verify(g, opts); err != nil {
					t.Fatalf("unchanged grant: %v", err)
				}
			}
			for i := range g {
				for _, mask := range []byte{0x01, 0x80, 0xff} {
					b := bytes.Clone(g)
					b[i] ^= mask
					for _, opts := range []grant.VerifyOptions{minimal, full} {
						_, err := grant.Verify(b, opts)
						if err == nil {
							t.Fatalf("RSA-%d: byte %d ^ %#x verifies", bits, i, mask)
						}
						if grant.ReasonOf(err) == "" {
							t.Fatalf("byte %d: error without a reason: %v", i, err)
						}
					}
				}
			}
		}
	}
}

func groupRequest() grant.Request {
	r := baseRequest()
	r.Group = true
	r.HostIP = netip.Addr{}
	return r
}

func TestVerifyReasons(t *testing.T) {
	k2048, k1024 := testKey(t, 2048), testKey(t, 1024)
	g, hk := mustSign(t, k2048, baseRequest())
	gg, _ := mustSign(t, k2048, groupRequest())
	g1024, _ := mustSign(t, k1024, baseRequest())
	other := testDevice()
	other.ID = 0x2b
	wrongKey := testDevice()
	wrongKey.MasterKey[0] ^= 1
	wrongGroupKey := testDevice()
	wrongGroupKey.GroupKey[0] ^= 1
	noGroup := &devkey.Identity{ID: 0x2a, MasterKey: testDevice().MasterKey}
	otherGroup := testDevice()
	otherGroup.GroupID = 8
	badHK := hk
	badHK[3] ^= 1
	led, idTask := tasks.TaskLED, tasks.TaskID
	notAfter := uint32(baseRequest().NotAfter.Unix())
	flipped := bytes.Clone(g)
	flipped[grant.OffTasks+3] ^= 0x01 // led,adc -> led,adc,id: still well formed
	sigFlip := bytes.Clone(g)
	sigFlip[grant.BodySize+5] ^= 0x40

	tests := []struct {
		name string
		g    []byte
		opts grant.VerifyOptions
		want error // nil: must verify
	}{
		{"valid", g, grant.VerifyOptions{Issuer: &k2048.PublicKey}, nil},
		{"valid full", g, grant.VerifyOptions{Issuer: &k2048.PublicKey, Device: testDevice(), HostKey: &hk, Now: t0, HostIP: hostIP, HostMAC: hostMAC, Task: &led, SerialFloor: 1, TimeFloor: notAfter}, nil},
		{"valid group", gg, grant.VerifyOptions{Issuer: &k2048.PublicKey, Device: other, Now: t0}, nil},
		{"valid on last second", g, grant.VerifyOptions{Issuer: &k2048.PublicKey, Now: time.Unix(int64(notAfter), 0)}, nil},
		{"valid within skew", g, grant.VerifyOptions{Issuer: &k2048.PublicKey, Now: t0.Add(-time.Minute), Skew: 5 * time.Minute}, nil},
		{"malformed", g[:len(g)-1], grant.VerifyOptions{Issuer: &k2048.PublicKey}, grant.ErrMalformed},
		{"empty", nil, grant.VerifyOptions{Issuer: &k2048.PublicKey}, grant.ErrMalformed},
		{"wrong issuer same size", g, grant.VerifyOptions{Issuer: &otherKey(t).PublicKey}, grant.ErrWrongIssuer},
		{"wrong issuer size", g1024, grant.VerifyOptions{Issuer: &k2048.PublicKey}, grant.ErrWrongIssuer},
		{"bad signature body", flipped, grant.VerifyOptions{Issuer: &k2048.PublicKey}, grant.ErrBadSignature},
		{"bad signature sig", sigFlip, grant.VerifyOptions{Issuer: &k2048.PublicKey}, grant.ErrBadSignature},
		{"wrong device", g, grant.VerifyOptions{Issuer: &k2048.PublicKey, Device: other}, grant.ErrWrongDevice},
		{"group not member", gg, grant.VerifyOptions{Issuer: &k2048.PublicKey, Device: noGroup}, grant.ErrWrongDevice},
		{"group other group", gg, grant.VerifyOptions{Issuer: &k2048.PublicKey, Device: otherGroup}, grant.ErrWrongDevice},
		{"seal wrong master key", g, grant.VerifyOptions{Issuer: &k2048.PublicKey, Device: wrongKey}, grant.ErrSeal},
		{"seal wrong group key", gg, grant.VerifyOptions{Issuer: &k2048.PublicKey, Device: wrongGroupKey}, grant.ErrSeal},
		{"wrong host key", g, grant.VerifyOptions{Issuer: &k2048.PublicKey, Device: testDevice(), HostKey: &badHK}, grant.ErrWrongHostKey},
		{"revoked", g, grant.VerifyOptions{Issuer: &k2048.PublicKey, SerialFloor: 2}, grant.ErrRevoked},
		{"expired time floor", g, grant.VerifyOptions{Issuer: &k2048.PublicKey, TimeFloor: notAfter + 1}, grant.ErrExpired},
		{"expired clock", g, grant.VerifyOptions{Issuer: &k2048.PublicKey, Now: time.Unix(int64(notAfter)+1, 0)}, grant.ErrExpired},
		{"not yet valid", g, grant.VerifyOptions{Issuer: &k2048.PublicKey, Now: t0.Add(-time.Second)}, grant.ErrNotYetValid},
		{"not yet valid beyond skew", g, grant.VerifyOptions{Issuer: &k2048.PublicKey, Now: t0.Add(-6 * time.Minute), Skew: 5 * time.Minute}, grant.ErrNotYetValid},
		{"wrong host ip", g, grant.VerifyOptions{Issuer: &k2048.PublicKey, HostIP: netip.MustParseAddr("10.0.0.3")}, grant.ErrWrongHost},
		{"wrong host mac", g, grant.VerifyOptions{Issuer: &k2048.PublicKey, HostMAC: net.HardwareAddr{2, 0, 0x5e, 0, 0, 2}}, grant.ErrWrongHost},
		{"task not granted", g, grant.VerifyOptions{Issuer: &k2048.PublicKey, Task: &idTask}, grant.ErrTaskDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := grant.Verify(tt.g, tt.opts)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if res.Grant == nil {
					t.Fatal("no grant in result")
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if res != nil {
				t.Fatal("result with an error")
			}
			if !strings.HasPrefix(err.Error(), "grant: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			var ge *grant.Error
			if !errors.As(err, &ge) || ge.Detail == "" {
				t.Fatalf("error %q has no detail", err)
			}
		})
	}
}

func TestVerifyMisuse(t *testing.T) {
	key := testKey(t, 1024)
	g, hk := mustSign(t, key, baseRequest())
	if _, err := grant.Verify(g, grant.VerifyOptions{}); err == nil || grant.ReasonOf(err) != "" {
		t.Fatalf("no issuer: %v", err)
	}
	if _, err := grant.Verify(g, grant.VerifyOptions{Issuer: &key.PublicKey, HostKey: &hk}); err == nil {
		t.Fatal("host key without device accepted")
	}
}

func TestNextTimeFloor(t *testing.T) {
	key := testKey(t, 1024)
	g, _ := mustSign(t, key, baseRequest())
	issued := uint32(t0.Unix())
	for _, floor := range []uint32{0, issued - 1, issued, issued + 10} {
		res, err := grant.Verify(g, grant.VerifyOptions{Issuer: &key.PublicKey, TimeFloor: floor})
		if err != nil {
			t.Fatal(err)
		}
		if want := max(floor, issued); res.NextTimeFloor != want {
			t.Fatalf("floor %d: next %d, want %d", floor, res.NextTimeFloor, want)
		}
	}
}

// CheckClock: valid from IssuedAt - skew to NotAfter inclusive.
func TestCheckClock(t *testing.T) {
	g := &grant.Grant{IssuedAt: 1_000_000, NotAfter: 2_000_000}
	at := func(s int64) time.Time { return time.Unix(s, 0) }
	for _, c := range []struct {
		now  int64
		skew time.Duration
		want error
	}{
		{1_000_000, 0, nil},
		{2_000_000, 0, nil},
		{2_000_001, 0, grant.ErrExpired},
		{999_999, 0, grant.ErrNotYetValid},
		{999_700, 5 * time.Minute, nil},
		{999_699, 5 * time.Minute, grant.ErrNotYetValid},
	} {
		err := g.CheckClock(at(c.now), c.skew)
		if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("now %d skew %v: %v, want %v", c.now, c.skew, err, c.want)
		}
	}
}

func TestSignErrors(t *testing.T) {
	key := testKey(t, 1024)
	tests := []struct {
		name string
		edit func(r *grant.Request)
		want string
	}{
		{"no device", func(r *grant.Request) { r.Device = nil }, "no device"},
		{"group without group", func(r *grant.Request) { r.Group = true; r.Device = &devkey.Identity{ID: 1} }, "no group"},
		{"unbound host", func(r *grant.Request) { r.HostIP = netip.Addr{}; r.HostMAC = nil }, "bind the grant"},
		{"ipv6 host", func(r *grant.Request) { r.HostIP = netip.MustParseAddr("fe80::1") }, "not IPv4"},
		{"zero ip", func(r *grant.Request) { r.HostIP = netip.MustParseAddr("0.0.0.0") }, "0.0.0.0"},
		{"short mac", func(r *grant.Request) { r.HostMAC = net.HardwareAddr{1, 2, 3} }, "6-byte"},
		{"zero mac", func(r *grant.Request) { r.HostMAC = make(net.HardwareAddr, 6) }, "00:00:00:00:00:00"},
		{"no tasks", func(r *grant.Request) { r.Tasks = 0 }, "no tasks"},
		{"unassigned built-in task bit", func(r *grant.Request) { r.Tasks = 1 << 9 }, "reserved for built-in tasks"},
		{"no issued_at", func(r *grant.Request) { r.IssuedAt = time.Time{} }, "issued_at not set"},
		{"before 1970", func(r *grant.Request) { r.IssuedAt = time.Unix(-1, 0) }, "outside"},
		{"after 2106", func(r *grant.Request) { r.NotAfter = time.Unix(1<<32, 0) }, "outside"},
		{"backwards", func(r *grant.Request) { r.NotAfter = r.IssuedAt.Add(-time.Second) }, "before issued_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := baseRequest()
			tt.edit(&r)
			_, _, err := grant.Sign(fixedRand(), key, r)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "grant: ") {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, _, err := grant.Sign(iotest.ErrReader(errors.New("no entropy")), key, baseRequest()); err == nil {
		t.Fatal("rand failure ignored")
	}
	if _, _, err := grant.Sign(bytes.NewReader(make([]byte, 20)), key, baseRequest()); err == nil {
		t.Fatal("short rand ignored")
	}
	if _, _, err := grant.Sign(fixedRand(), nil, baseRequest()); err == nil {
		t.Fatal("nil key accepted")
	}
	// A grant valid for exactly one second (not_after == issued_at) is fine.
	r := baseRequest()
	r.NotAfter = r.IssuedAt
	if _, _, err := grant.Sign(fixedRand(), key, r); err != nil {
		t.Fatal(err)
	}
}

// TestParseMalformed changes one field of a valid grant at a time; Parse
// must reject each with ErrMalformed.
func TestParseMalformed(t *testing.T) {
	key := testKey(t, 1024)
	ipOnly := baseRequest()
	ipOnly.HostMAC = nil
	g, _ := mustSign(t, key, ipOnly)
	if _, err := grant.Parse(g); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(b []byte) []byte
	}{
		{"empty", func(b []byte) []byte { return nil }},
		{"body only", func(b []byte) []byte { return b[:grant.BodySize] }},
		{"one short", func(b []byte) []byte { return b[:len(b)-1] }},
		{"one long", func(b []byte) []byte { return append(b, 0) }},
		{"rsa-1536 length", func(b []byte) []byte { return append(b, make([]byte, 64)...) }},
		{"magic", func(b []byte) []byte { b[0] = 'm'; return b }},
		{"version 0", func(b []byte) []byte { b[grant.OffVersion] = 0; return b }},
		{"version 2", func(b []byte) []byte { b[grant.OffVersion] = 2; return b }},
		{"unknown flag", func(b []byte) []byte { b[grant.OffFlags] |= 0x08; return b }},
		{"high flag", func(b []byte) []byte { b[grant.OffFlags] |= 0x80; return b }},
		{"no host flag", func(b []byte) []byte { b[grant.OffFlags] &^= grant.FlagHostIP; return b }},
		{"mac without flag", func(b []byte) []byte { b[grant.OffHostMAC+5] = 1; return b }},
		{"mac flag zero mac", func(b []byte) []byte { b[grant.OffFlags] |= grant.FlagHostMAC; return b }},
		{"ip flag zero ip", func(b []byte) []byte { copy(b[grant.OffHostIP:], []byte{0, 0, 0, 0}); return b }},
		{"no tasks", func(b []byte) []byte { copy(b[grant.OffTasks:], []byte{0, 0, 0, 0}); return b }},
		{"backwards times", func(b []byte) []byte { copy(b[grant.OffNotAfter:], []byte{0, 0, 0, 1}); return b }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.edit(bytes.Clone(g))
			p, err := grant.Parse(b)
			if !errors.Is(err, grant.ErrMalformed) || p != nil {
				t.Fatalf("got %v, %v", p, err)
			}
		})
	}
	// IP without its flag: a MAC-bound grant with an address in the IP field.
	macOnly := baseRequest()
	macOnly.HostIP = netip.Addr{}
	g2, _ := mustSign(t, key, macOnly)
	g2[grant.OffHostIP] = 10
	if _, err := grant.Parse(g2); !errors.Is(err, grant.ErrMalformed) {
		t.Fatalf("ip without flag: %v", err)
	}
	// Task bits outside the registry parse (a newer issuer may know more
	// tasks; a device ignores bits it does not know) and are named bitN.
	g3 := bytes.Clone(g)
	g3[grant.OffTasks] = 0x80
	p, err := grant.Parse(g3)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Tasks.String(), "bit31") {
		t.Fatalf("tasks %s", p.Tasks)
	}
}

func TestHostKeyFile(t *testing.T) {
	var k [16]byte
	for i := range k {
		k[i] = byte(0xf0 + i)
	}
	data := grant.MarshalHostKey(k, "grant alice.grant\nserial 3")
	if !bytes.Contains(data, []byte("# serial 3\n")) || !bytes.HasPrefix(data, []byte("mstool-hostkey v1\n")) {
		t.Fatalf("file:\n%s", data)
	}
	got, err := grant.ParseHostKey(data)
	if err != nil || got != k {
		t.Fatalf("%x %v", got, err)
	}
	for _, bad := range []string{
		"",
		"host-key: f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff\n",
		"mstool-hostkey v1\n",
		"mstool-hostkey v1\nhost-key: f0f1\n",
		"mstool-hostkey v1\nhost-key: zz\n",
		"mstool-hostkey v1\nkey: f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff\n",
		"mstool-hostkey v1\nhost-key: f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff\nhost-key: f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff\n",
		"mstool-device v1\ndevice-id: 0x1\n",
	} {
		if _, err := grant.ParseHostKey([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestSealKeyDomainSeparation(t *testing.T) {
	d := testDevice()
	sk := grant.SealKey(d.MasterKey)
	if sk == d.MasterKey || sk == grant.SealKey(d.GroupKey) {
		t.Fatal("seal key equals its input or another key's")
	}
}
