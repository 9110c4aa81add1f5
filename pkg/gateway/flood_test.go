package gateway

import (
	"context"
	"encoding/hex"
	"net"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v3"
	"github.com/plgd-dev/go-coap/v3/message/codes"
)

// clientHello is the first datagram of a real DTLS client (pion/dtls,
// PSK, CCM-8): a ClientHello without a cookie.
func clientHello(t *testing.T) []byte {
	t.Helper()
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	key, _ := hex.DecodeString(keyAlice)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return
		}
		dc, err := piondtls.Client(c, l.LocalAddr(), &piondtls.Config{
			PSK:             func([]byte) ([]byte, error) { return key, nil },
			PSKIdentityHint: []byte("alice"),
			CipherSuites:    []piondtls.CipherSuiteID{piondtls.TLS_PSK_WITH_AES_128_CCM_8},
		})
		if err == nil {
			dc.HandshakeContext(ctx)
			dc.Close()
		}
		c.Close()
	}()
	l.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 2048)
	n, _, err := l.ReadFrom(b)
	if err != nil || !isClientHello(b[:n]) {
		t.Fatalf("no ClientHello: %v %x", err, b[:n])
	}
	return b[:n]
}

// Spoofed ClientHellos (here: from many ports that never answer the
// HelloVerifyRequest) fill every peer slot, each for the handshake limit.
// They must not keep out a client that answers its HelloVerifyRequest: the
// oldest peer that has not returned its cookie makes room for a new one,
// and a peer that has (a session) is never dropped for another.
func TestGatewayHelloFloodDoesNotLockOut(t *testing.T) {
	const maxPeers = 16
	tg := startGW(t, testConfig(t, ""), Options{MaxPeers: maxPeers, HandshakeTimeout: 30 * time.Second})
	addr := tg.g.Addr().(*net.UDPAddr)
	hello := clientHello(t)
	flood := func(n int) {
		for i := 0; i < n; i++ {
			c, err := net.DialUDP("udp", nil, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close() // the port stays taken, and silent
			c.Write(hello)
			if i%8 == 7 {
				time.Sleep(5 * time.Millisecond) // (Accept's backlog)
			}
		}
	}
	flood(2 * maxPeers)
	waitStats(t, tg.g, "the peer slots full", func(s Stats) bool { return s.Peers == maxPeers })

	// A client that answers its HelloVerifyRequest gets a session while
	// the flood holds every slot (the flood's peers would hold them for
	// 30 s).
	// (dialSuite bounds the handshake: 5 s)
	cc, err := dialSuite(addr, "alice", keyAlice, piondtls.TLS_PSK_WITH_AES_128_CCM_8)
	if err != nil {
		t.Fatalf("no session during the flood: %v", err)
	}
	t.Cleanup(func() { cc.Close(); <-cc.Done() })
	if a := request(t, cc, codes.GET, "/dev1/adc?ch=1", ""); a.code != codes.Content {
		t.Fatalf("during the flood: %v %s", a.code, a.body)
	}
	// More flood: the session stays.
	flood(4 * maxPeers)
	if a := request(t, cc, codes.GET, "/dev1/adc?ch=2", ""); a.code != codes.Content {
		t.Fatalf("the session after more flood: %v %s", a.code, a.body)
	}
	if s := tg.g.Stats(); s.Peers > maxPeers || s.Sessions != 1 {
		t.Errorf("stats: %+v", s)
	}
}
