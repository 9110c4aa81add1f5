package mssl_test

// MSSL seal-only (docs/mssl.md, "Seal-only"): the attack tests that apply
// to a device that verifies no RSA, run against the reference server
// (ServerConfig.NoRSA, SealOK) and against the ATmega168's MSSL profile
// on the simulated device (firmware/build/mssl168/atmega168/mstool.elf,
// `make -C firmware mssl168`).

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/internal/testenv/cyclebase"
	"github.com/mstool/mstool/pkg/devkey"
	"github.com/mstool/mstool/pkg/grant"
	"github.com/mstool/mstool/pkg/mssl"
	"github.com/mstool/mstool/pkg/mssl/mssltest"
	"github.com/mstool/mstool/pkg/provision"
	"github.com/mstool/mstool/pkg/tasks"
)

// sealTarget is a seal-only device: a client dialer and a raw sender.
type sealTarget struct {
	dial func(g []byte, hk [16]byte, peer netip.AddrPort) (*mssl.Session, *recTransport, error)
	raw  func(peer netip.AddrPort) func(msg []byte) [][]byte
}

// sealFloor is a device-bound floor statement with its device MAC.
func sealFloor(t *testing.T, f *fixture, serial uint32) []byte {
	t.Helper()
	st, err := mssl.SignFloor(f.issuer, mssl.FloorRequest{Target: 0x2a, SerialFloor: serial, IssuedAt: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if st, err = mssl.AddFloorMAC(st, testDevice().MasterKey); err != nil {
		t.Fatal(err)
	}
	return st
}

func runSealOnlyAttacks(t *testing.T, f *fixture, tg sealTarget) {
	ctx := context.Background()
	g, hk := f.sign(request())
	sess, tr, err := tg.dial(g, hk, hostAddr)
	if err != nil {
		t.Fatalf("honest handshake: %v", err)
	}
	if !sess.Cached() || tr.first(mssl.TypeGrantSignature) != nil {
		t.Fatal("seal-only handshake asked for the signature")
	}
	alive := func(t *testing.T, what string) {
		t.Helper()
		r, err := sess.Task(ctx, tasks.TaskADC, []byte{2})
		if err != nil || r.Status != tasks.StatusOK {
			t.Fatalf("honest session after %s: %v %+v", what, err, r)
		}
	}
	attacker := netip.AddrPortFrom(hostAddr.Addr(), 40001)
	send := tg.raw(attacker)

	t.Run("disallowed task", func(t *testing.T) {
		r, err := sess.Task(ctx, tasks.TaskSettingsWrite, []byte{0, 0})
		if err != nil || r.Status != tasks.StatusDenied {
			t.Fatalf("task outside the grant: %v %+v", err, r)
		}
		alive(t, "a denied task")
	})
	t.Run("spoofed host", func(t *testing.T) {
		var guess [16]byte
		rand.Read(guess[:])
		if _, _, err := tg.dial(g, guess, attacker); !isAlert(err, mssl.AlertBadRecordMAC) {
			t.Fatalf("guessed host key: %v", err)
		}
		if _, _, err := tg.dial(g, hk, netip.MustParseAddrPort("10.0.0.66:40000")); !isAlert(err, mssl.AlertWrongHost) {
			t.Fatalf("other address: %v", err)
		}
		alive(t, "spoofed hosts")
	})
	t.Run("replay", func(t *testing.T) {
		hello, fin := tr.first(mssl.TypeClientHello), tr.first(mssl.RecordFinished)
		if out := send(hello); len(out) != 1 || out[0][0] != mssl.TypeServerHello {
			t.Fatalf("replayed hello: %x", out)
		}
		expectAlert(t, "replayed Finished", send(fin), mssl.AlertBadRecordMAC)
		expectAlert(t, "Finished again", send(fin), mssl.AlertUnexpectedMessage)
		recs := tr.all(mssl.RecordData)
		expectAlert(t, "replayed record", tg.raw(hostAddr)(recs[len(recs)-1]), mssl.AlertReplay)
		alive(t, "replays")
	})
	t.Run("tampered grant, every byte", func(t *testing.T) {
		// The body is all the device sees: every byte is under the seal.
		ok := map[mssl.Alert]bool{mssl.AlertBadGrant: true, mssl.AlertWrongDevice: true, mssl.AlertRevoked: true,
			mssl.AlertExpired: true, mssl.AlertWrongHost: true, mssl.AlertBadSignature: true}
		for i := 0; i < grant.BodySize; i++ {
			for _, bit := range []byte{0x01, 0x80} {
				ch := mssl.ClientHello{}
				rand.Read(ch.Nh[:])
				copy(ch.Body[:], g)
				ch.Body[i] ^= bit
				out := send(ch.Marshal())
				if a, err := mssl.ParseAlert(firstOf(out)); err != nil || !ok[a] {
					t.Fatalf("body byte %d ^ %#02x: answer %x", i, bit, out)
				}
			}
		}
		alive(t, "tampered grants")
	})
	t.Run("foreign grants", func(t *testing.T) {
		// sealed under another master key for this device id: not the owner's
		forger := &devkey.Identity{ID: 0x2a}
		forger.MasterKey[0] = 0xee
		fg, fhk := f.sign(request(func(r *grant.Request) { r.Device = forger; r.Serial = 20 }))
		if _, _, err := tg.dial(fg, fhk, attacker); !isAlert(err, mssl.AlertBadGrant) {
			t.Fatalf("foreign seal: %v", err)
		}
		og, ohk := f.sign(request(func(r *grant.Request) { r.Device = otherDevice() }))
		if _, _, err := tg.dial(og, ohk, attacker); !isAlert(err, mssl.AlertWrongDevice) {
			t.Fatalf("other device: %v", err)
		}
		// a group grant: other members hold the group key, so its seal
		// proves nothing about the owner; it needs RSA
		gg, ghk := f.sign(request(func(r *grant.Request) { r.Group = true; r.Serial = 13 }))
		if _, _, err := tg.dial(gg, ghk, attacker); !isAlert(err, mssl.AlertBadSignature) {
			t.Fatalf("group grant: %v", err)
		}
		alive(t, "foreign grants")
	})
	// Revocation last: it moves the floors for good.
	t.Run("revoked grant", func(t *testing.T) {
		st := sealFloor(t, f, 11)
		if _, err := sess.RaiseFloor(ctx, st[:len(st)-mssl.FloorMACSize]); !errors.Is(err, mssl.ErrFloorNeedsMAC) {
			t.Fatalf("statement without a MAC: %v", err)
		}
		forged := bytes.Clone(st)
		forged[len(forged)-1] ^= 1
		if _, err := sess.RaiseFloor(ctx, forged); !isAlert(err, mssl.AlertBadSignature) {
			t.Fatalf("forged MAC: %v", err)
		}
		alive(t, "a forged floor statement")
		fl, err := sess.RaiseFloor(ctx, st)
		if err != nil || fl.SerialFloor != 11 || fl.Ended != mssl.AlertRevoked {
			t.Fatalf("raise floor: %v %+v", err, fl)
		}
		if _, _, err := tg.dial(g, hk, attacker); !isAlert(err, mssl.AlertRevoked) {
			t.Fatalf("revoked grant: %v", err)
		}
		g3, hk3 := f.sign(request(func(r *grant.Request) { r.Serial = 11 }))
		s3, _, err := tg.dial(g3, hk3, hostAddr)
		if err != nil {
			t.Fatalf("grant above the floor: %v", err)
		}
		s3.Close(ctx)
	})
}

func isAlert(err error, want mssl.Alert) bool {
	a, ok := remoteAlertOf(err)
	return ok && a == want
}

func sealServer(t *testing.T, f *fixture, sealOK, noRSA bool) *mssl.Server {
	t.Helper()
	srv, err := mssl.NewServer(mssl.ServerConfig{Device: testDevice(), Issuer: &f.issuer.PublicKey, Store: f.store,
		Tasks: f.tasks.Run, SealOK: sealOK, NoRSA: noRSA})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func serverTarget(srv *mssl.Server) sealTarget {
	return sealTarget{
		dial: func(g []byte, hk [16]byte, peer netip.AddrPort) (*mssl.Session, *recTransport, error) {
			tr := &recTransport{Transport: mssltest.NewPipe(srv, peer)}
			s, err := mssl.Dial(context.Background(), mssl.Config{Grant: g, HostKey: hk, Transport: tr, Timeout: 200 * time.Millisecond, Retries: -1})
			return s, tr, err
		},
		raw: func(peer netip.AddrPort) func([]byte) [][]byte {
			return func(m []byte) [][]byte { return srv.Handle(peer, m) }
		},
	}
}

func TestSealOnlyAttacks(t *testing.T) {
	f := newFixture(t, 1024)
	runSealOnlyAttacks(t, f, serverTarget(sealServer(t, f, true, true)))
}

// TestSealOnlyPolicy: without the policy flag a device without RSA takes
// no grant; a device with RSA and the flag takes device grants on their
// seal and still verifies group grants and floor signatures.
func TestSealOnlyPolicy(t *testing.T) {
	f := newFixture(t, 1024)
	tg := serverTarget(sealServer(t, f, false, true))
	if _, _, err := tg.dial(f.grant, f.hk, hostAddr); !isAlert(err, mssl.AlertBadSignature) {
		t.Fatalf("no RSA, no policy: %v", err)
	}
	srv := sealServer(t, f, true, false)
	tg = serverTarget(srv)
	s, tr, err := tg.dial(f.grant, f.hk, hostAddr)
	if err != nil || !s.Cached() || tr.first(mssl.TypeGrantSignature) != nil || srv.Stats().RSAVerifies != 0 {
		t.Fatalf("RSA device with the policy, device grant: %v", err)
	}
	gg, ghk := f.sign(request(func(r *grant.Request) { r.Group = true }))
	if _, tr, err = tg.dial(gg, ghk, hostAddr); err != nil || tr.first(mssl.TypeGrantSignature) == nil {
		t.Fatalf("RSA device with the policy, group grant: %v (signature sent: %v)", err, tr.first(mssl.TypeGrantSignature) != nil)
	}
	// an RSA device takes the signed statement (its MAC unused)
	s, _, err = tg.dial(f.grant, f.hk, hostAddr)
	if err != nil {
		t.Fatal(err)
	}
	if fl, err := s.RaiseFloor(context.Background(), sealFloor(t, f, 5)); err != nil || fl.SerialFloor != 5 {
		t.Fatalf("signed floor statement with a MAC on an RSA device: %v %+v", err, fl)
	}
}

func TestFloorMAC(t *testing.T) {
	f := newFixture(t, 1024)
	st := sealFloor(t, f, 3)
	fl, err := mssl.ParseFloor(st)
	if err != nil || len(fl.MAC) != mssl.FloorMACSize || !bytes.Equal(fl.Marshal(), st) {
		t.Fatalf("parse: %v", err)
	}
	if err := mssl.VerifyFloorMAC(fl, testDevice().MasterKey); err != nil {
		t.Fatal(err)
	}
	for i := range mssl.FloorBodySize {
		bad := bytes.Clone(st)
		bad[i] ^= 0x01
		if b, err := mssl.ParseFloor(bad); err == nil && mssl.VerifyFloorMAC(b, testDevice().MasterKey) == nil {
			t.Fatalf("body byte %d flipped: MAC verifies", i)
		}
	}
	if _, err := mssl.VerifyFloor(st, &f.issuer.PublicKey); err != nil {
		t.Fatalf("the signature stays: %v", err)
	}
	gst, _ := mssl.SignFloor(f.issuer, mssl.FloorRequest{Group: true, Target: 7, SerialFloor: 1, IssuedAt: t0})
	if _, err := mssl.AddFloorMAC(gst, testDevice().MasterKey); err == nil {
		t.Fatal("group statement got a device MAC")
	}
}

// TestDeviceSealOnly168 runs the seal-only attack tests against the
// ATmega168's MSSL profile on the simulated device.
func TestDeviceSealOnly168(t *testing.T) {
	elf := testenv.Artifact(t, "firmware/build/mssl168/atmega168/mstool.elf", "-C firmware mssl168")
	const mcu = "atmega168"
	f := newFixture(t, 1024)
	d := testDevice()
	img, err := provision.Build(&provision.Config{
		DeviceID: d.ID, Addr: deviceAddr.Addr(), MasterKey: d.MasterKey,
		HasGroup: true, GroupID: d.GroupID, GroupKey: d.GroupKey,
		Issuer: &f.issuer.PublicKey, MSSLSealOK: true,
	}, map[string]int{"atmega168": 512, "atmega328p": 1024}[mcu])
	if err != nil {
		t.Fatal(err)
	}
	eep := filepath.Join(t.TempDir(), "dev.eep")
	if err := os.WriteFile(eep, img, 0o600); err != nil {
		t.Fatal(err)
	}
	s := bootSimMCU(t, 1024, eep, elf, mcu)
	// The seal-only handshake's cycles on the ATmega168 (the minimum of
	// three), held to firmware/tests/cycles/mssl.json.
	g, hk := f.sign(request())
	send := s.raw(hostAddr)
	var hello, fin uint32 = ^uint32(0), ^uint32(0)
	for i := 0; i < 3; i++ {
		h, fn, _, noSig := s.handCycles(t, send, g, hk)
		if !noSig {
			t.Fatal("seal-only handshake asked for a signature")
		}
		hello, fin = min(hello, h), min(fin, fn)
	}
	t.Logf("ATmega168 seal-only handshake: ClientHello %d cycles, Finished %d", hello, fin)
	figures := cyclebase.Load(t, "mssl")
	figures.Check("atmega168/seal-only/clienthello", uint64(hello))
	figures.Check("atmega168/seal-only/finished", uint64(fin))
	runSealOnlyAttacks(t, f, sealTarget{
		dial: func(g []byte, hk [16]byte, peer netip.AddrPort) (*mssl.Session, *recTransport, error) {
			return s.dialFrom(g, hk, peer)
		},
		raw: s.raw,
	})
}
