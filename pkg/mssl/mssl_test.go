package mssl_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/mstool/mstool/pkg/grant"
	"github.com/mstool/mstool/pkg/mssl"
	"github.com/mstool/mstool/pkg/mssl/mssltest"
	"github.com/mstool/mstool/pkg/tasks"
)

func (f *fixture) dialRecorded(rec *recorder) (*mssl.Session, *mssltest.Pipe) {
	f.t.Helper()
	p := mssltest.NewPipe(f.srv, hostAddr)
	p.SetHook(rec.hook)
	s, err := mssl.Dial(context.Background(), mssl.Config{Grant: f.grant, HostKey: f.hk, Transport: p, Timeout: 200 * time.Millisecond, Retries: -1})
	if err != nil {
		f.t.Fatalf("handshake: %v", err)
	}
	return s, p
}

// TestSession: a valid grant runs its tasks; a task outside the grant is
// denied (status 3) and the session stays usable; the second handshake
// skips the RSA check (cache); close_notify ends the session.
func TestSession(t *testing.T) {
	for _, bits := range []int{1024, 2048} {
		t.Run(map[int]string{1024: "rsa1024", 2048: "rsa2048"}[bits], func(t *testing.T) {
			f := newFixture(t, bits)
			ctx := context.Background()
			s, _ := f.dial()
			if s.Cached() {
				t.Fatal("first handshake claims a cached grant")
			}
			r, err := s.Task(ctx, tasks.TaskLED, []byte{1})
			if err != nil || r.Status != tasks.StatusOK || !bytes.Equal(r.Result, []byte{1}) {
				t.Fatalf("led on: %v %+v", err, r)
			}
			r, err = s.Task(ctx, tasks.TaskID, nil)
			if err != nil || r.Status != tasks.StatusDenied || len(r.Result) != 0 {
				t.Fatalf("task outside the grant: %v %+v, want status denied", err, r)
			}
			r, err = s.Task(ctx, tasks.TaskSettingsWrite, []byte{0, 0, 7})
			if err != nil || r.Status != tasks.StatusDenied {
				t.Fatalf("settings-write: %v %+v, want denied", err, r)
			}
			if f.tasks.Settings[0] != 0 {
				t.Fatal("a denied task ran")
			}
			r, err = s.Task(ctx, tasks.TaskADC, []byte{5})
			if err != nil || r.Status != tasks.StatusOK || !bytes.Equal(r.Result, []byte{2, 5}) {
				t.Fatalf("adc after a denial: %v %+v", err, r)
			}
			r, err = s.Task(ctx, tasks.TaskADC, []byte{9})
			if err != nil || r.Status != tasks.StatusBadArgs {
				t.Fatalf("adc 9: %v %+v, want bad arguments", err, r)
			}
			if err := s.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if _, ok := f.srv.HasSession(); ok {
				t.Fatal("session survives close_notify")
			}
			if _, err := s.Task(ctx, tasks.TaskADC, []byte{1}); !errors.Is(err, mssl.ErrClosed) {
				t.Fatalf("task after close: %v", err)
			}
			st := f.srv.Stats()
			if st.RSAVerifies != 1 || st.Handshakes != 1 {
				t.Fatalf("stats %+v", st)
			}
			s2, _ := f.dial()
			if !s2.Cached() {
				t.Fatal("second handshake did not use the cache")
			}
			if _, err := s2.Task(ctx, tasks.TaskADC, []byte{1}); err != nil {
				t.Fatal(err)
			}
			if st := f.srv.Stats(); st.RSAVerifies != 1 || st.CacheHits != 1 || st.Handshakes != 2 {
				t.Fatalf("after the cached handshake: %+v", st)
			}
			// The time floor moved to the grant's issued_at.
			if f.store.State.TimeFloor != uint32(t0.Unix()) {
				t.Fatalf("time floor %d", f.store.State.TimeFloor)
			}
			// After a reset the cache is gone: RSA again.
			f.reset()
			s3, _ := f.dial()
			if s3.Cached() {
				t.Fatal("cache survived a reset")
			}
		})
	}
}

// TestNonceNeverRepeats: device nonces stay unique across resets; the
// reservation is written before a counter value is used.
func TestNonceNeverRepeats(t *testing.T) {
	f := newFixture(t, 1024)
	seen := map[[16]byte]bool{}
	var rec recorder
	for round := 0; round < 3; round++ {
		for i := 0; i < 5; i++ {
			s, _ := f.dialRecorded(&rec)
			nd := s.DeviceNonce()
			if seen[nd] {
				t.Fatalf("round %d: device nonce %x repeated", round, nd)
			}
			seen[nd] = true
			if f.store.State.NonceReserved == 0 {
				t.Fatal("nonce used without a reservation")
			}
		}
		f.reset()
	}
	if f.store.Writes < 3 {
		t.Fatalf("%d store writes for 3 boots", f.store.Writes)
	}
	// A device whose storage fails does not hand out nonces.
	f.store.Fail = true
	f.store.State.NonceReserved = 0
	f.reset()
	expectAlert(t, "hello with failing storage", f.srv.Handle(hostAddr, rec.sent(mssl.TypeClientHello)[0]), mssl.AlertInternalError)
}

// TestReplayedHandshake: a captured handshake replayed (from the host's
// own address) fails at Finished: the device's nonce is fresh.
func TestReplayedHandshake(t *testing.T) {
	f := newFixture(t, 2048)
	var rec recorder
	s, _ := f.dialRecorded(&rec)
	s.Close(context.Background())
	hello, fin, sig := rec.sent(mssl.TypeClientHello)[0], rec.sent(mssl.RecordFinished)[0], rec.sent(mssl.TypeGrantSignature)[0]

	replies := f.srv.Handle(hostAddr, hello)
	sh, err := mssl.ParseServerHello(replies[0])
	if err != nil {
		t.Fatal(err)
	}
	if sh.Nd == s.DeviceNonce() {
		t.Fatal("the device reused its nonce")
	}
	expectAlert(t, "replayed Finished", f.srv.Handle(hostAddr, fin), mssl.AlertBadRecordMAC)
	expectAlert(t, "replayed signature", f.srv.Handle(hostAddr, sig), mssl.AlertUnexpectedMessage)
	expectAlert(t, "Finished again", f.srv.Handle(hostAddr, fin), mssl.AlertUnexpectedMessage)
	if _, ok := f.srv.HasSession(); ok {
		t.Fatal("replay established a session")
	}
	f.honest()
}

// TestSpoofedHostWithSniffedGrant: the attacker has every byte of the
// grant and of an honest handshake and sends from the host's address, but
// does not have the host key.
func TestSpoofedHostWithSniffedGrant(t *testing.T) {
	f := newFixture(t, 1024)
	ctx := context.Background()
	var rec recorder
	honest, _ := f.dialRecorded(&rec) // an established honest session
	var wrongKey [16]byte
	rand.Read(wrongKey[:])
	// A full handshake with the sniffed grant and a guessed host key.
	_, _, err := f.dialWith(f.grant, wrongKey, hostAddr)
	if !errors.Is(err, mssl.ErrBadRecordMAC) {
		t.Fatalf("spoofed handshake: %v, want bad_record_mac", err)
	}
	// The sniffed Finished against a fresh ServerHello.
	f.srv.Handle(hostAddr, rec.sent(mssl.TypeClientHello)[0])
	expectAlert(t, "sniffed Finished", f.srv.Handle(hostAddr, rec.sent(mssl.RecordFinished)[0]), mssl.AlertBadRecordMAC)
	// The honest session was not disturbed.
	if r, err := honest.Task(ctx, tasks.TaskLED, []byte{2}); err != nil || r.Status != tasks.StatusOK {
		t.Fatalf("honest session after the attack: %v %+v", err, r)
	}
	f.honest()
}

// TestRecordAttacks: replayed, reordered, truncated, oversized and
// tampered records are refused with their alert; the session goes on.
func TestRecordAttacks(t *testing.T) {
	f := newFixture(t, 1024)
	ctx := context.Background()
	rec := &recorder{}
	s, p := f.dialRecorded(rec)
	// Two requests whose records the attacker holds back.
	rec.drop = func(toDevice bool, m []byte) bool { return toDevice && m[0] == mssl.RecordData }
	sh := mssl.Config{}
	_ = sh
	quick := func() {
		c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		s.Task(c, tasks.TaskADC, []byte{1})
	}
	quick()
	quick()
	rec.drop = nil
	held := rec.sent(mssl.RecordData)
	if len(held) != 2 {
		t.Fatalf("%d held records", len(held))
	}
	first, second := held[0], held[1]
	// Reordered: the later record is accepted, the earlier one then is not.
	if out := f.srv.Handle(hostAddr, second); len(out) != 1 || out[0][0] != mssl.RecordData {
		t.Fatalf("later record: %x", out)
	}
	expectAlert(t, "reordered record", f.srv.Handle(hostAddr, first), mssl.AlertReplay)
	expectAlert(t, "replayed record", f.srv.Handle(hostAddr, second), mssl.AlertReplay)

	// Fresh records to tamper with: the next ones the client will send.
	rec.drop = func(toDevice bool, m []byte) bool { return toDevice && m[0] == mssl.RecordData }
	quick()
	rec.drop = nil
	all := rec.sent(mssl.RecordData)
	fresh := all[len(all)-1]
	expectAlert(t, "truncated by one byte", f.srv.Handle(hostAddr, fresh[:len(fresh)-1]), mssl.AlertBadRecordMAC)
	expectAlert(t, "truncated below the overhead", f.srv.Handle(hostAddr, fresh[:mssl.RecordOverhead-1]), mssl.AlertDecodeError)
	expectAlert(t, "oversized", f.srv.Handle(hostAddr, append(bytes.Clone(fresh), make([]byte, mssl.MaxMessage)...)[:mssl.MaxMessage+1]), mssl.AlertRecordOverflow)
	expectAlert(t, "extended", f.srv.Handle(hostAddr, append(bytes.Clone(fresh), 0)), mssl.AlertBadRecordMAC)
	for i := range fresh {
		for _, x := range []byte{0x01, 0x80} {
			m := bytes.Clone(fresh)
			m[i] ^= x
			out := f.srv.Handle(hostAddr, m)
			a, err := mssl.ParseAlert(out[0])
			if len(out) != 1 || err != nil {
				t.Fatalf("byte %d ^ %#x: accepted (%x)", i, x, out)
			}
			switch a {
			case mssl.AlertBadRecordMAC, mssl.AlertReplay, mssl.AlertDecodeError, mssl.AlertUnexpectedMessage:
			default:
				t.Fatalf("byte %d ^ %#x: alert %s", i, x, a)
			}
		}
	}
	// From another address, a valid record is not the session's.
	expectAlert(t, "record from another address", f.srv.Handle(netip.MustParseAddrPort("10.0.0.9:40000"), fresh), mssl.AlertUnexpectedMessage)
	// The untampered record is still good, and the session goes on.
	if out := f.srv.Handle(hostAddr, fresh); len(out) != 1 || out[0][0] != mssl.RecordData {
		t.Fatalf("untampered record refused: %x", out)
	}
	if r, err := s.Task(ctx, tasks.TaskLED, []byte{3}); err != nil || r.Status != tasks.StatusOK {
		t.Fatalf("session after the attacks: %v %+v (client stats %+v)", err, r, s.Stats())
	}
	_ = p
	f.honest()
}

// TestTamperedGrant changes every byte of the grant (body and signature):
// each must fail with a grant alert, and the device keeps serving.
func TestTamperedGrant(t *testing.T) {
	for _, bits := range []int{1024, 2048} {
		f := newFixture(t, bits)
		for i := range f.grant {
			g := bytes.Clone(f.grant)
			g[i] ^= 0x01
			if i < grant.BodySize {
				if _, err := grant.Parse(g); err != nil {
					// The client refuses to send what does not parse;
					// the device must refuse it too.
					ch := mssl.ClientHello{}
					copy(ch.Body[:], g)
					f.srv.Handle(hostAddr, ch.Marshal())
					out := f.srv.Handle(hostAddr, ch.Marshal())
					a, perr := mssl.ParseAlert(out[0])
					if perr != nil || !a.Auth() {
						t.Fatalf("rsa%d byte %d: malformed grant answered %x", bits, i, out)
					}
					continue
				}
			}
			// Signature bytes: only a device without the grant cached
			// checks the signature.
			f.reset()
			_, _, err := f.dialWith(g, f.hk, hostAddr)
			a, ok := mssl.AlertOf(err)
			if !ok || !a.Auth() || a == mssl.AlertBadRecordMAC {
				t.Fatalf("rsa%d byte %d: %v", bits, i, err)
			}
			if i >= grant.BodySize && a != mssl.AlertBadSignature {
				t.Fatalf("rsa%d signature byte %d: %s, want bad_signature", bits, i, a)
			}
			if i >= grant.OffNonce && i < grant.BodySize && a != mssl.AlertBadGrant {
				t.Fatalf("rsa%d seal byte %d: %s, want bad_grant", bits, i, a)
			}
			if i%37 == 0 {
				f.honest()
			}
		}
		f.honest()
	}
}

// TestGrantRejections: grants for another device or group, revoked,
// expired, signed by another key, for another host.
func TestGrantRejections(t *testing.T) {
	f := newFixture(t, 1024)
	odev := otherDevice()
	cases := []struct {
		name string
		make func() ([]byte, [16]byte)
		peer netip.AddrPort
		want mssl.Alert
	}{
		{"another device", func() ([]byte, [16]byte) {
			return f.sign(request(func(r *grant.Request) { r.Device = odev }))
		}, hostAddr, mssl.AlertWrongDevice},
		{"another group", func() ([]byte, [16]byte) {
			d := otherDevice()
			d.SetGroup(8, [16]byte{1})
			return f.sign(request(func(r *grant.Request) { r.Device, r.Group = d, true }))
		}, hostAddr, mssl.AlertWrongDevice},
		{"signed by another key", func() ([]byte, [16]byte) {
			g, hk, err := grant.Sign(rand.Reader, otherKey(t), request())
			if err != nil {
				t.Fatal(err)
			}
			return g, hk
		}, hostAddr, mssl.AlertUnknownIssuer},
		{"issuer key id forged, signed by another key", func() ([]byte, [16]byte) {
			g, hk := f.sign(request(func(r *grant.Request) { r.Serial = 11 }))
			ok := otherKey(t)
			if ok.Size() != f.issuer.Size() {
				t.Fatal("key sizes differ")
			}
			d := sha256.Sum256(g[:grant.BodySize])
			sig, _ := rsa.SignPKCS1v15(nil, ok, crypto.SHA256, d[:])
			return append(g[:grant.BodySize:grant.BodySize], sig...), hk
		}, hostAddr, mssl.AlertBadSignature},
		{"revoked", func() ([]byte, [16]byte) {
			return f.sign(request(func(r *grant.Request) { r.Serial = 3 }))
		}, hostAddr, mssl.AlertRevoked},
		{"expired", func() ([]byte, [16]byte) {
			return f.sign(request(func(r *grant.Request) { r.IssuedAt, r.NotAfter = t0.Add(-48*time.Hour), t0.Add(-time.Hour) }))
		}, hostAddr, mssl.AlertExpired},
		{"another host address", func() ([]byte, [16]byte) { return f.grant, f.hk }, netip.MustParseAddrPort("10.0.0.3:40000"), mssl.AlertWrongHost},
	}
	f.store.State.SerialFloor = 5
	f.reset()  // the device boots with serial floor 5
	f.honest() // moves the time floor to t0
	for _, c := range cases {
		g, hk := c.make()
		_, _, err := f.dialWith(g, hk, c.peer)
		if a, ok := mssl.AlertOf(err); !ok || a != c.want {
			t.Errorf("%s: %v, want alert %s", c.name, err, c.want)
		}
		f.honest()
	}
	// A group grant for the device's own group works.
	g, hk := f.sign(request(func(r *grant.Request) { r.Group = true }))
	s, _, err := f.dialWith(g, hk, hostAddr)
	if err != nil {
		t.Fatalf("group grant: %v", err)
	}
	s.Close(context.Background())
}

// TestRevoke: a floor statement raises the floors over a session; the
// session's own grant, now revoked, ends it; cached or not, the grant is
// then refused. Bad statements are refused and change nothing.
func TestRevoke(t *testing.T) {
	f := newFixture(t, 2048)
	ctx := context.Background()
	s, _ := f.dial()
	sign := func(k *rsa.PrivateKey, req mssl.FloorRequest) []byte {
		b, err := mssl.SignFloor(k, req)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// Another device's statement, and another key's.
	if _, err := s.RaiseFloor(ctx, sign(f.issuer, mssl.FloorRequest{Target: 0x2b, SerialFloor: 99, IssuedAt: t0})); !errors.Is(err, mssl.ErrWrongDevice) {
		t.Fatalf("statement for another device: %v", err)
	}
	if _, err := s.RaiseFloor(ctx, sign(otherKey(t), mssl.FloorRequest{Target: 0x2a, SerialFloor: 99, IssuedAt: t0})); !errors.Is(err, mssl.ErrUnknownIssuer) {
		t.Fatalf("statement by another key: %v", err)
	}
	// A changed signature.
	st := sign(f.issuer, mssl.FloorRequest{Target: 0x2a, SerialFloor: 99, IssuedAt: t0})
	bad := bytes.Clone(st)
	bad[len(bad)-1] ^= 1
	if _, err := s.RaiseFloor(ctx, bad); !errors.Is(err, mssl.ErrBadSignature) {
		t.Fatalf("changed statement signature: %v", err)
	}
	// A changed body: its signature no longer matches.
	bad = bytes.Clone(st)
	bad[19] ^= 1
	if _, err := s.RaiseFloor(ctx, bad); !errors.Is(err, mssl.ErrBadSignature) {
		t.Fatalf("changed statement body: %v", err)
	}
	if f.store.State.SerialFloor != 0 {
		t.Fatalf("a refused statement moved the floor to %d", f.store.State.SerialFloor)
	}
	// A signature nobody asked for.
	expectAlert(t, "unsolicited floor signature", f.srv.Handle(hostAddr, append([]byte{mssl.TypeFloorSignature}, st[mssl.FloorBodySize:]...)), mssl.AlertUnexpectedMessage)
	// Lower than the grant: nothing ends.
	fl, err := s.RaiseFloor(ctx, sign(f.issuer, mssl.FloorRequest{Target: 0x2a, SerialFloor: 7, IssuedAt: t0}))
	if err != nil || fl.SerialFloor != 7 || fl.Ended != 0 {
		t.Fatalf("floor 7: %+v %v", fl, err)
	}
	// Replaying an older statement lowers nothing.
	fl, err = s.RaiseFloor(ctx, sign(f.issuer, mssl.FloorRequest{Target: 0x2a, SerialFloor: 2, IssuedAt: t0}))
	if err != nil || fl.SerialFloor != 7 {
		t.Fatalf("floor 2 after 7: %+v %v", fl, err)
	}
	// The session is still usable after all that.
	if r, err := s.Task(ctx, tasks.TaskLED, []byte{3}); err != nil || r.Status != tasks.StatusOK {
		t.Fatalf("task: %v", err)
	}
	// Revoking the session's own grant (serial 10) ends the session.
	fl, err = s.RaiseFloor(ctx, sign(f.issuer, mssl.FloorRequest{Target: 0x2a, SerialFloor: 11, TimeFloor: t0.Add(time.Hour), IssuedAt: t0}))
	if err != nil || fl.SerialFloor != 11 || fl.TimeFloor != uint32(t0.Add(time.Hour).Unix()) || fl.Ended != mssl.AlertRevoked {
		t.Fatalf("floor 11: %+v %v", fl, err)
	}
	if _, ok := f.srv.HasSession(); ok {
		t.Fatal("the revoked session goes on")
	}
	if f.store.State.SerialFloor != 11 {
		t.Fatal("floor not stored")
	}
	// The grant is cached, and revoked all the same.
	if _, _, err := f.dialWith(f.grant, f.hk, hostAddr); !errors.Is(err, mssl.ErrRevoked) {
		t.Fatalf("revoked grant: %v", err)
	}
	f.reset()
	if _, _, err := f.dialWith(f.grant, f.hk, hostAddr); !errors.Is(err, mssl.ErrRevoked) {
		t.Fatalf("revoked grant after a reset: %v", err)
	}
	// A group statement for the device's group works too.
	g, hk := f.sign(request(func(r *grant.Request) { r.Serial = 20 }))
	s2, _, err := f.dialWith(g, hk, hostAddr)
	if err != nil {
		t.Fatal(err)
	}
	fl, err = s2.RaiseFloor(ctx, sign(f.issuer, mssl.FloorRequest{Group: true, Target: 7, SerialFloor: 12, IssuedAt: t0}))
	if err != nil || fl.SerialFloor != 12 {
		t.Fatalf("group statement: %+v %v", fl, err)
	}
}

// TestProtocolErrors: messages out of place.
func TestProtocolErrors(t *testing.T) {
	f := newFixture(t, 1024)
	var rec recorder
	s, p := f.dialRecorded(&rec)
	hello := rec.sent(mssl.TypeClientHello)[0]
	bad := bytes.Clone(hello)
	bad[1] = 2
	expectAlert(t, "version 2", f.srv.Handle(hostAddr, bad), mssl.AlertProtocolVersion)
	expectAlert(t, "short hello", f.srv.Handle(hostAddr, hello[:50]), mssl.AlertDecodeError)
	expectAlert(t, "unknown type", f.srv.Handle(hostAddr, []byte{0x99, 1, 2}), mssl.AlertUnexpectedMessage)
	expectAlert(t, "signature without handshake", f.srv.Handle(hostAddr, append([]byte{mssl.TypeGrantSignature}, make([]byte, 128)...)), mssl.AlertUnexpectedMessage)
	expectAlert(t, "Finished without handshake", f.srv.Handle(hostAddr, rec.sent(mssl.RecordFinished)[0]), mssl.AlertUnexpectedMessage)
	if out := f.srv.Handle(hostAddr, nil); out != nil {
		t.Fatal("empty message answered")
	}
	if out := f.srv.Handle(hostAddr, []byte{mssl.TypeAlert, 0}); out != nil {
		t.Fatal("a cleartext alert changed something")
	}
	if _, ok := f.srv.HasSession(); !ok {
		t.Fatal("a cleartext close ended the session")
	}
	if _, err := s.Task(context.Background(), tasks.TaskADC, []byte{0}); err != nil {
		t.Fatal(err)
	}
	// The device reset: the host's records are no longer a session's.
	f.reset()
	p.Server = f.srv
	_, err := s.Task(context.Background(), tasks.TaskADC, []byte{0})
	if !errors.Is(err, mssl.ErrNoAnswer) {
		t.Fatalf("task after a device reset: %v", err)
	}
	f.honest()
}

// TestKeyLogDecrypt: the key log the client writes lets Decrypter open
// every data record of the session, in both directions.
func TestKeyLogDecrypt(t *testing.T) {
	f := newFixture(t, 1024)
	var log bytes.Buffer
	rec := &recorder{}
	p := mssltest.NewPipe(f.srv, hostAddr)
	p.SetHook(rec.hook)
	s, err := mssl.Dial(context.Background(), mssl.Config{Grant: f.grant, HostKey: f.hk, Transport: p, KeyLog: &log})
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	for i := byte(0); i < 4; i++ {
		r, err := s.Task(context.Background(), tasks.TaskADC, []byte{i})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, tasks.AppendRequest(nil, tasks.TaskADC, uint16(i+1), []byte{i}), tasks.AppendReply(nil, tasks.TaskADC, uint16(i+1), r.Status, r.Result))
	}
	s.Close(context.Background())
	want = append(want, []byte{0}, []byte{0}) // close_notify both ways
	entries, err := mssl.ParseKeyLog(&log)
	if err != nil || len(entries) != 1 {
		t.Fatalf("key log: %v (%d entries): %q", err, len(entries), log.String())
	}
	d := mssl.NewDecrypter(entries)
	var got [][]byte
	for _, m := range rec.msgs {
		src, dst := hostAddr, deviceAddr
		if !m.toDevice {
			src, dst = dst, src
		}
		pt, res := d.Open(nil, src, dst, m.msg)
		switch res {
		case mssl.Decrypted:
			got = append(got, pt)
		case mssl.NotMSSL:
		default:
			t.Fatalf("%x: %v", m.msg, res)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d records decrypted, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("record %d: %x, want %x", i, got[i], want[i])
		}
	}
	// Replayed records are reported, other keys open nothing.
	last := rec.msgs[len(rec.msgs)-2]
	if _, res := d.Open(nil, hostAddr, deviceAddr, last.msg); res != mssl.Replayed {
		t.Fatalf("replayed record: %v", res)
	}
	entries[0].Keys.ClientKey[0] ^= 1
	entries[0].Keys.ServerKey[0] ^= 1
	d = mssl.NewDecrypter(entries)
	if _, res := d.Open(nil, hostAddr, deviceAddr, last.msg); res != mssl.Undecryptable {
		t.Fatalf("record under other keys: %v", res)
	}
}

// TestRevocationRace: a handshake parked before a floor raise cannot
// complete for the grant the raise revoked (reference server).
func TestRevocationRace(t *testing.T) {
	f := newFixture(t, 1024)
	checkRevocationRace(t, raceTarget{
		issuer: f.issuer,
		send: func(peer netip.AddrPort) func([]byte) [][]byte {
			return func(m []byte) [][]byte { return f.srv.Handle(peer, m) }
		},
		dial: func(g []byte, hk [16]byte, peer netip.AddrPort) (*mssl.Session, error) {
			s, _, err := f.dialWith(g, hk, peer)
			return s, err
		},
		cacheRoom: true,
	})
}

// TestReplayAfterRollback: the persistent state goes back to an older
// copy (the same image flashed again) and the server restarts; a
// recorded session replayed verbatim must not run its tasks again, and
// the device nonce must not repeat (issue 10, finding 1).
func TestReplayAfterRollback(t *testing.T) {
	f := newFixture(t, 1024)
	image := f.store.State
	var rec recorder
	s, _ := f.dialRecorded(&rec)
	if r, err := s.Task(context.Background(), tasks.TaskLED, []byte{1}); err != nil || r.Status != tasks.StatusOK {
		t.Fatalf("recorded task: %v, %+v", err, r)
	}
	s.Close(context.Background())
	nd := s.DeviceNonce()

	f.store.State = image // flashed again
	f.reset()
	replayRecorded(t, func(m []byte) [][]byte { return f.srv.Handle(hostAddr, m) }, rec.hostMessages(), nd)
	if _, ok := f.srv.HasSession(); ok {
		t.Fatal("the replay established a session")
	}
	f.honest()
}
