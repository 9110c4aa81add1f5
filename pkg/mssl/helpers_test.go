package mssl_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mstool/mstool/internal/vectors"
	"github.com/mstool/mstool/pkg/devkey"
	"github.com/mstool/mstool/pkg/grant"
	"github.com/mstool/mstool/pkg/mssl"
	"github.com/mstool/mstool/pkg/mssl/mssltest"
	"github.com/mstool/mstool/pkg/signkey"
	"github.com/mstool/mstool/pkg/tasks"
)

var (
	hostAddr   = netip.MustParseAddrPort("10.0.0.2:40000")
	deviceAddr = netip.MustParseAddrPort("10.0.0.1:7412")
	t0         = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

var keyCache sync.Map // bits → *rsa.PrivateKey

func testKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	if k, ok := keyCache.Load(bits); ok {
		return k.(*rsa.PrivateKey)
	}
	dir, err := vectors.Dir()
	if err != nil {
		t.Fatal(err)
	}
	name := map[int]string{1024: "test-rsa1024.pem", 2048: "test-rsa2048.pem"}[bits]
	data, err := os.ReadFile(filepath.Join(dir, "keys", name))
	if err != nil {
		t.Fatal(err)
	}
	k, err := signkey.ParsePrivatePEM(data)
	if err != nil {
		t.Fatal(err)
	}
	keyCache.Store(bits, k)
	return k
}

var (
	otherOnce sync.Once
	other     *rsa.PrivateKey
)

// otherKey is an RSA-1024 key no device trusts.
func otherKey(t testing.TB) *rsa.PrivateKey {
	otherOnce.Do(func() {
		k, err := signkey.Generate(rand.Reader, 1024)
		if err != nil {
			panic(err)
		}
		other = k
	})
	return other
}

func testDevice() *devkey.Identity {
	d := &devkey.Identity{ID: 0x2a}
	for i := range d.MasterKey {
		d.MasterKey[i] = byte(i)
	}
	var gk [16]byte
	for i := range gk {
		gk[i] = 0x10 + byte(i)
	}
	d.SetGroup(7, gk)
	return d
}

func otherDevice() *devkey.Identity {
	d := &devkey.Identity{ID: 0x2b}
	for i := range d.MasterKey {
		d.MasterKey[i] = 0x40 + byte(i)
	}
	return d
}

// request is a grant for host 10.0.0.2 on device 0x2a: led and adc.
func request(mod ...func(*grant.Request)) grant.Request {
	r := grant.Request{
		Device:   testDevice(),
		HostIP:   hostAddr.Addr(),
		Tasks:    1<<tasks.TaskLED | 1<<tasks.TaskADC,
		Serial:   10,
		IssuedAt: t0,
		NotAfter: t0.Add(30 * 24 * time.Hour),
	}
	for _, m := range mod {
		m(&r)
	}
	return r
}

type fixture struct {
	t      testing.TB
	issuer *rsa.PrivateKey
	store  *mssl.MemStore
	tasks  *mssltest.Tasks
	srv    *mssl.Server
	grant  []byte
	hk     [16]byte
}

func newFixture(t testing.TB, bits int) *fixture {
	t.Helper()
	f := &fixture{t: t, issuer: testKey(t, bits), store: &mssl.MemStore{}, tasks: &mssltest.Tasks{DeviceID: 0x2a}}
	f.grant, f.hk = f.sign(request())
	f.reset()
	return f
}

func (f *fixture) sign(req grant.Request) ([]byte, [16]byte) {
	f.t.Helper()
	g, hk, err := grant.Sign(rand.Reader, f.issuer, req)
	if err != nil {
		f.t.Fatal(err)
	}
	return g, hk
}

// reset starts the server again on the same store: a device reboot (the
// verified-grant cache, in RAM, is lost).
func (f *fixture) reset() {
	f.t.Helper()
	srv, err := mssl.NewServer(mssl.ServerConfig{Device: testDevice(), Issuer: &f.issuer.PublicKey, Store: f.store, Tasks: f.tasks.Run, CacheSize: 2})
	if err != nil {
		f.t.Fatal(err)
	}
	f.srv = srv
}

func (f *fixture) dialWith(g []byte, hk [16]byte, peer netip.AddrPort) (*mssl.Session, *mssltest.Pipe, error) {
	p := mssltest.NewPipe(f.srv, peer)
	s, err := mssl.Dial(context.Background(), mssl.Config{Grant: g, HostKey: hk, Transport: p, Timeout: 200 * time.Millisecond, Retries: -1})
	return s, p, err
}

func (f *fixture) dial() (*mssl.Session, *mssltest.Pipe) {
	f.t.Helper()
	s, p, err := f.dialWith(f.grant, f.hk, hostAddr)
	if err != nil {
		f.t.Fatalf("honest handshake: %v", err)
	}
	return s, p
}

// honest checks that an honest host still gets its tasks run: the device
// keeps serving after an attack.
func (f *fixture) honest() {
	f.t.Helper()
	s, _ := f.dial()
	r, err := s.Task(context.Background(), tasks.TaskADC, []byte{3})
	if err != nil || r.Status != tasks.StatusOK {
		f.t.Fatalf("honest task after the attack: %v, status %v", err, r.Status)
	}
	if err := s.Close(context.Background()); err != nil {
		f.t.Fatalf("close: %v", err)
	}
}

// expectAlert checks that replies is exactly one cleartext alert code.
func expectAlert(t testing.TB, what string, replies [][]byte, want mssl.Alert) {
	t.Helper()
	if len(replies) != 1 {
		t.Fatalf("%s: %d replies, want one alert %s", what, len(replies), want)
	}
	a, err := mssl.ParseAlert(replies[0])
	if err != nil {
		t.Fatalf("%s: reply %x is not an alert (want %s)", what, replies[0], want)
	}
	if a != want {
		t.Fatalf("%s: alert %s, want %s", what, a, want)
	}
}

// recorder is a pipe hook that keeps every message.
type recorder struct {
	mu   sync.Mutex
	msgs []recorded
	drop func(toDevice bool, m []byte) bool
}

type recorded struct {
	toDevice bool
	msg      []byte
}

func (r *recorder) hook(toDevice bool, m []byte) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, recorded{toDevice, append([]byte(nil), m...)})
	if r.drop != nil && r.drop(toDevice, m) {
		return nil
	}
	return [][]byte{m}
}

func (r *recorder) sent(typ byte) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]byte
	for _, m := range r.msgs {
		if m.toDevice && len(m.msg) > 0 && m.msg[0] == typ {
			out = append(out, m.msg)
		}
	}
	return out
}

// parkHandshake plays a host that holds back the last message of its
// handshake: it sends the ClientHello of grant g and, for a grant the
// device has not cached, the Finished, and returns the message that would
// complete the handshake (the GrantSignature, or for a cached grant the
// Finished) without sending it. send delivers one message and returns the
// answers (the reference server or the simulated device).
func parkHandshake(t testing.TB, send func([]byte) [][]byte, g []byte, hk [16]byte) (completion []byte, cached bool) {
	t.Helper()
	ch := mssl.ClientHello{}
	rand.Read(ch.Nh[:])
	copy(ch.Body[:], g)
	out := send(ch.Marshal())
	if len(out) != 1 {
		t.Fatalf("park: ClientHello answered %x", out)
	}
	sh, err := mssl.ParseServerHello(out[0])
	if err != nil {
		t.Fatalf("park: ClientHello answered %x: %v", out[0], err)
	}
	k := mssl.DeriveKeys(hk, ch.Nh, sh.Nd)
	extra := append([]byte{sh.Flags}, g[grant.OffTag:grant.BodySize]...)
	fin := mssl.SealRecordForTest(k.ClientKey, k.ClientSalt, 1, mssl.RecordFinished, 0, nil, extra)
	if sh.Flags&mssl.FlagCached != 0 {
		return fin, true
	}
	out = send(fin)
	if len(out) != 1 || len(out[0]) != 1 || out[0][0] != mssl.TypeSignatureRequest {
		t.Fatalf("park: Finished answered %x, want SignatureRequest", out)
	}
	return append([]byte{mssl.TypeGrantSignature}, g[grant.BodySize:]...), false
}

// raceTarget is a device under the revocation-race attack: the reference
// server or the simulated device.
type raceTarget struct {
	issuer *rsa.PrivateKey
	send   func(peer netip.AddrPort) func([]byte) [][]byte
	dial   func(g []byte, hk [16]byte, peer netip.AddrPort) (*mssl.Session, error)
	// cacheRoom: the device can cache the victim's grant while the owner's
	// session is up (two cache entries); the firmware's default has one.
	cacheRoom bool
}

// checkRevocationRace: the holder of a grant about to be revoked parks
// its handshake (holds back the GrantSignature, or the Finished of a
// cached grant), the owner raises a floor through its own session, then
// the holder completes. The device must refuse the session (revoked or
// expired, checked when the session would be established) and run none
// of its tasks; the owner's session goes on.
func checkRevocationRace(t *testing.T, tg raceTarget) {
	ctx := context.Background()
	cases := []struct {
		name   string
		cached bool
		victim func(*grant.Request)
		floor  mssl.FloorRequest
		want   mssl.Alert
	}{
		{"serial floor, signature held back", false,
			func(r *grant.Request) { r.Serial = 100 },
			mssl.FloorRequest{Target: 0x2a, SerialFloor: 101, IssuedAt: t0}, mssl.AlertRevoked},
		{"time floor, signature held back", false,
			func(r *grant.Request) { r.Serial = 300; r.NotAfter = t0.Add(time.Hour) },
			mssl.FloorRequest{Target: 0x2a, SerialFloor: 300, TimeFloor: t0.Add(2 * time.Hour), IssuedAt: t0}, mssl.AlertExpired},
		{"serial floor, cached grant, Finished held back", true,
			func(r *grant.Request) { r.Serial = 500 },
			mssl.FloorRequest{Target: 0x2a, SerialFloor: 501, IssuedAt: t0}, mssl.AlertRevoked},
	}
	for i, tc := range cases {
		if tc.cached && !tg.cacheRoom {
			continue
		}
		victimPeer := netip.AddrPortFrom(hostAddr.Addr(), uint16(41500+i))
		ownerPeer := netip.AddrPortFrom(hostAddr.Addr(), uint16(41600+i))
		victim, vhk, err := grant.Sign(rand.Reader, tg.issuer, request(tc.victim))
		if err != nil {
			t.Fatal(err)
		}
		owner, ohk, err := grant.Sign(rand.Reader, tg.issuer, request(func(r *grant.Request) {
			r.Serial = 1000 + uint32(i)
			r.Tasks |= 1 << tasks.TaskID
		}))
		if err != nil {
			t.Fatal(err)
		}
		if tc.cached { // the victim's grant enters the cache first
			s, err := tg.dial(victim, vhk, victimPeer)
			if err != nil {
				t.Fatalf("%s: victim's first handshake: %v", tc.name, err)
			}
			s.Close(ctx)
		}
		own, err := tg.dial(owner, ohk, ownerPeer)
		if err != nil {
			t.Fatalf("%s: owner's handshake: %v", tc.name, err)
		}
		send := tg.send(victimPeer)
		completion, cached := parkHandshake(t, send, victim, vhk)
		if cached != tc.cached {
			t.Fatalf("%s: victim's handshake cached=%v", tc.name, cached)
		}
		st, err := mssl.SignFloor(tg.issuer, tc.floor)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := own.RaiseFloor(ctx, st); err != nil {
			t.Fatalf("%s: raise floor: %v", tc.name, err)
		}
		expectAlert(t, tc.name+": completing the parked handshake", send(completion), tc.want)
		// No session for the victim: its records are unexpected.
		rec := mssl.SealRecordForTest([16]byte{}, [8]byte{}, 1, mssl.RecordData, 1, []byte{1, byte(tasks.TaskLED), 0, 1, 1}, nil)
		expectAlert(t, tc.name+": a record after the refused completion", send(rec), mssl.AlertUnexpectedMessage)
		if r, err := own.Task(ctx, tasks.TaskID, nil); err != nil || r.Status != tasks.StatusOK {
			t.Fatalf("%s: owner's session after the race: %v %+v", tc.name, err, r)
		}
		own.Close(ctx)
		// The revoked grant stays refused, cached or not.
		if _, err := tg.dial(victim, vhk, victimPeer); err == nil {
			t.Fatalf("%s: revoked grant opens a session", tc.name)
		}
	}
}

// replayRecorded replays, in order, what a host sent in an earlier
// session to a device whose persistent state has gone back to what it was
// then (an image flashed again, a simulator reloaded): the attacker of
// issue 10, finding 1. The device must accept none of it: no
// SignatureRequest, Finished or data record may come back, and the
// replayed ClientHello must get a device nonce other than the recorded
// one (nd).
func replayRecorded(t testing.TB, send func([]byte) [][]byte, msgs [][]byte, nd [mssl.NonceSize]byte) {
	t.Helper()
	for _, m := range msgs {
		for _, a := range send(m) {
			if len(a) == 0 {
				continue
			}
			switch a[0] {
			case mssl.TypeServerHello:
				if sh, err := mssl.ParseServerHello(a); err == nil && sh.Nd == nd {
					t.Errorf("the replayed ClientHello got the recorded device nonce %x again", nd)
				}
			case mssl.TypeSignatureRequest, mssl.RecordFinished, mssl.RecordData:
				t.Fatalf("replayed message %02x: the device accepted it (answered %02x)", m[0], a[0])
			}
		}
	}
}

// hostMessages is what the host sent, in order.
func (r *recorder) hostMessages() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]byte
	for _, m := range r.msgs {
		if m.toDevice {
			out = append(out, m.msg)
		}
	}
	return out
}
