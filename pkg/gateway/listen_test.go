package gateway

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// stallAfterFinished is the gateway's UDP socket on a loaded machine: the
// server stalls right after it sends its Finished (a handshake record in
// epoch 1), before it marks its handshake complete, while the client,
// which has the Finished, already sends requests.
type stallAfterFinished struct {
	net.PacketConn
	stall time.Duration
}

func (s stallAfterFinished) WriteTo(b []byte, a net.Addr) (int, error) {
	n, err := s.PacketConn.WriteTo(b, a)
	for r := b; len(r) >= recordHeaderLen; {
		if r[0] == contentTypeHandshake && binary.BigEndian.Uint16(r[3:5]) == 1 {
			time.Sleep(s.stall)
			break
		}
		end := recordHeaderLen + int(binary.BigEndian.Uint16(r[11:13]))
		if end > len(r) {
			break
		}
		r = r[end:]
	}
	return n, err
}

// A client's first requests, sent as soon as its handshake is complete,
// all reach the session, even when they arrive before the server has
// marked its own handshake complete (pion/dtls alone keeps the first of
// them and drops the rest), and a close_notify sent after them comes
// after them.
func TestDTLSRequestsAsHandshakeEnds(t *testing.T) {
	g, err := New(testConfig(t, ""), Options{Dial: func(*DeviceConfig) Dialer { return newFakeDevice().dial }})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var st stats
	mux := newUDPMux(stallAfterFinished{pc, 500 * time.Millisecond}, 4, &st, false)
	l := &coapListener{m: mux, cfg: g.dtlsConfig(), st: &st}
	defer mux.wait()
	defer l.Close()

	const requests = 6
	got := make(chan int, 1)
	go func() {
		c, err := l.AcceptWithContext(context.Background())
		if err != nil {
			t.Error(err)
			got <- -1
			return
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		dc := c.(*dtlsConn)
		if err := dc.HandshakeContext(ctx); err != nil {
			t.Error(err)
			got <- -1
			return
		}
		dc.SetReadDeadline(time.Now().Add(3 * time.Second))
		b := make([]byte, MaxMessage)
		k := 0
		for ; k < requests; k++ {
			n, err := dc.Read(b)
			if err != nil {
				break
			}
			if n != 4 || b[3] != byte(k) {
				t.Errorf("request %d: %x", k, b[:n])
			}
		}
		if k == requests {
			if _, err := dc.Read(b); err != io.EOF {
				t.Errorf("after the requests: %v, want the close_notify (EOF)", err)
			}
		}
		got <- k
	}()

	client := rawSession(t, pc.LocalAddr(), "alice", keyAlice)
	for i := range requests {
		// Non-confirmable GETs: nothing retransmits them.
		if _, err := client.Write([]byte{0x50, 0x01, 0x00, byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	client.Close() // a close_notify
	if k := <-got; k != requests {
		t.Errorf("the session read %d of %d requests (overrun %d)", k, requests, st.overrun.Load())
	}
}
