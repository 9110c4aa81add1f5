package grant_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mstool/mstool/internal/vectors"
	"github.com/mstool/mstool/pkg/devkey"
	"github.com/mstool/mstool/pkg/grant"
	"github.com/mstool/mstool/pkg/signkey"
	"github.com/mstool/mstool/pkg/tasks"
)

// testKey loads one of the committed TEST-ONLY keys of vectors/keys.
func testKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
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
	return k
}

// testDevice is the fixed identity the vectors use: device 0x2a in group 7.
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

// fixedRand returns the bytes Sign reads: host key a0..af, nonce b0..bc.
func fixedRand() *bytes.Reader {
	var b []byte
	for i := 0; i < grant.HostKeySize; i++ {
		b = append(b, 0xa0+byte(i))
	}
	for i := 0; i < grant.NonceSize; i++ {
		b = append(b, 0xb0+byte(i))
	}
	return bytes.NewReader(b)
}

var (
	t0      = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	hostIP  = netip.MustParseAddr("10.0.0.2")
	hostMAC = net.HardwareAddr{0x02, 0x00, 0x5e, 0x00, 0x00, 0x01}
)

// baseRequest is a device grant for host 10.0.0.2 / 02:00:5e:00:00:01.
func baseRequest() grant.Request {
	return grant.Request{
		Device:   testDevice(),
		HostIP:   hostIP,
		HostMAC:  hostMAC,
		Tasks:    1<<tasks.TaskLED | 1<<tasks.TaskADC,
		Serial:   1,
		IssuedAt: t0,
		NotAfter: t0.Add(30 * 24 * time.Hour),
	}
}

func mustSign(t testing.TB, key *rsa.PrivateKey, req grant.Request) ([]byte, [16]byte) {
	t.Helper()
	g, hk, err := grant.Sign(fixedRand(), key, req)
	if err != nil {
		t.Fatal(err)
	}
	return g, hk
}

var (
	otherOnce sync.Once
	other     *rsa.PrivateKey
)

// otherKey is a fresh RSA-2048 key that signed nothing of the fixtures.
func otherKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	otherOnce.Do(func() {
		k, err := signkey.Generate(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		other = k
	})
	if other == nil {
		t.Fatal("no key")
	}
	return other
}
