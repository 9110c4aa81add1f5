package link_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"

	"github.com/mstool/mstool/internal/crc16"
	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/ipv4"
	"github.com/mstool/mstool/pkg/link"
	"github.com/mstool/mstool/pkg/link/linktest"
	"github.com/mstool/mstool/pkg/safile"
	"github.com/mstool/mstool/pkg/slip"
)

var (
	hostAddr = netip.MustParseAddr("192.0.2.1")
	devAddr  = netip.MustParseAddr("192.0.2.14")
)

func echo(t testing.TB, seq uint16) []byte {
	p, err := ipv4.AppendEcho(nil, &ipv4.Header{Src: devAddr, Dst: hostAddr}, ipv4.ICMPEchoReply, 1, seq, []byte("data"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// IPv4 frames, management frames and noise interleave on one line; the
// link hands each to its reader and counts the rest.
func TestDemux(t *testing.T) {
	hostEnd, devEnd := linktest.Pipe()
	sas, err := safile.New(rand.Reader, safile.Options{Suite: esp.SuiteAES128CCM8, Local: hostAddr, Remote: devAddr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := linktest.Serve(devEnd, linktest.Config{SAs: sas}); err != nil {
		t.Fatal(err)
	}
	var rec bytes.Buffer
	r, err := link.NewRecorder(&rec)
	if err != nil {
		t.Fatal(err)
	}
	l := link.NewSerial(hostEnd, "pipe", &link.Options{Recorder: r})
	defer l.Close()
	defer devEnd.Close()

	// A management client shares the line.
	d, err := device.New(l.Management(), &device.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Interleave: IPv4 frames from the "device" side, noise, then a
	// management request.
	for i := range 5 {
		devEnd.Write(slip.Encode(echo(t, uint16(i))))
		devEnd.Write(slip.Encode([]byte{0x99, 1, 2}))            // not IPv4, not management
		devEnd.Write([]byte{slip.End, slip.Esc, 0x01, slip.End}) // bad escape
	}
	info, err := d.Identify(context.Background())
	if err != nil {
		t.Fatalf("identify through the demultiplexer: %v", err)
	}
	if info.MCU != "atmega328p" {
		t.Fatalf("identify: %+v", info)
	}
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		p, err := l.ReadPacket(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p, echo(t, uint16(i))) {
			t.Fatalf("packet %d: %x", i, p)
		}
	}
	st := l.Stats()
	if st.PacketsReceived != 5 || st.Dropped != 5 || st.ManagementFrames != 1 {
		t.Fatalf("stats %+v", st)
	}
	// The packet the device counts as noise (we sent an IPv4 frame).
	if err := l.WritePacket(echo(t, 9)); err != nil {
		t.Fatal(err)
	}
	if err := l.WritePacket(make([]byte, link.MaxFrame+1)); !errors.Is(err, link.ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}

	// The recording holds the six IPv4 packets, raw IP link type.
	pr, err := pcapgo.NewReader(bytes.NewReader(rec.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if pr.LinkType() != layers.LinkTypeRaw {
		t.Fatalf("link type %v", pr.LinkType())
	}
	n := 0
	for {
		data, _, err := pr.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ipv4.ParseEcho(data); err != nil {
			t.Fatalf("recorded packet %d: %v", n, err)
		}
		n++
	}
	if n != 6 {
		t.Fatalf("%d recorded packets, want 6", n)
	}

	// Closing the line ends readers with ErrClosed.
	devEnd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := l.ReadPacket(ctx); !errors.Is(err, link.ErrClosed) {
		t.Fatalf("after hang-up: %v", err)
	}
}

// openPTY returns a pseudo-terminal master and its slave's path.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		testenv.Missing(t, "pseudo-terminals (/dev/ptmx)", err.Error())
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

func TestOpenSerialErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := link.OpenSerial(filepath.Join(dir, "ttyNONE"), nil)
	if !errors.Is(err, link.ErrPortNotFound) {
		t.Errorf("missing port: %v", err)
	}
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, nil, 0o600)
	if _, err := link.OpenSerial(plain, nil); !errors.Is(err, link.ErrNotSerial) {
		t.Errorf("regular file: %v", err)
	}
	if os.Geteuid() != 0 {
		noperm := filepath.Join(dir, "noperm")
		os.WriteFile(noperm, nil, 0)
		if _, err := link.OpenSerial(noperm, nil); !errors.Is(err, link.ErrPermission) {
			t.Errorf("unreadable: %v", err)
		}
	}

	// Nobody answers on this pty: no readiness wait.
	never := &link.Options{Reset: device.ResetNever}
	m, pts := openPTY(t)
	l, err := link.OpenSerial(pts, never)
	if err != nil {
		t.Fatal(err)
	}
	// A second opener is refused, even as root.
	if _, err := link.OpenSerial(pts, never); !errors.Is(err, link.ErrPortBusy) {
		t.Errorf("second open: %v, want ErrPortBusy", err)
	}
	// So is the management client (mstool bench) on the same port.
	if _, err := device.Open(pts, &device.Options{Reset: device.ResetNever}); !errors.Is(err, device.ErrPortBusy) {
		t.Errorf("device.Open on a port in use: %v, want ErrPortBusy", err)
	}
	// Bytes on the pty reach the link.
	m.Write(slip.Encode(echo(t, 3)))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	p, err := l.ReadPacket(ctx)
	cancel()
	if err != nil || !bytes.Equal(p, echo(t, 3)) {
		t.Fatalf("read through the pty: %x %v", p, err)
	}
	l.Close()
	l2, err := link.OpenSerial(pts, never)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	l2.Close()

	// By default OpenSerial waits for the device to answer IDENTIFY
	// (the board may reset when the port opens): nobody does, so it
	// fails after ReadyWait and releases the port.
	start := time.Now()
	_, err = link.OpenSerial(pts, &link.Options{ReadyWait: 300 * time.Millisecond})
	if !errors.Is(err, device.ErrNoAnswer) || time.Since(start) > time.Second {
		t.Errorf("open with nobody answering: %v after %v, want ErrNoAnswer after 300ms", err, time.Since(start))
	}
	l3, err := link.OpenSerial(pts, never)
	if err != nil {
		t.Fatalf("open after a failed wait: %v", err)
	}
	l3.Close()
}

// OpenSerial returns as soon as the device answers its first IDENTIFY:
// a port that does not reset the board costs one round trip.
func TestOpenSerialWaitsForAnswer(t *testing.T) {
	m, pts := openPTY(t)
	go answerIdentify(m)
	start := time.Now()
	l, err := link.OpenSerial(pts, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("OpenSerial took %v with a device that answers at once", d)
	}
}

// answerIdentify plays a device on the pty master: every management
// request gets an error reply (an answer all the same), until m closes.
func answerIdentify(m *os.File) {
	dec := slip.NewDecoder(link.MaxFrame)
	buf := make([]byte, 512)
	for {
		n, err := m.Read(buf)
		if err != nil {
			return
		}
		dec.Feed(buf[:n], func(f []byte) {
			if len(f) < 3 || f[0] != 0x00 {
				return
			}
			// magic, type error, seq, length 2, code 1 (unknown command), the command, CRC-16
			reply := []byte{0x00, 0xff, f[2], 0x00, 0x02, 0x01, f[1]}
			reply = binary.BigEndian.AppendUint16(reply, crc16.Checksum(reply))
			m.Write(slip.Encode(reply))
		})
	}
}

// A conn that yields its bytes once, then EOF.
type onceConn struct{ r io.Reader }

func (c *onceConn) Read(p []byte) (int, error)         { return c.r.Read(p) }
func (c *onceConn) Write(p []byte) (int, error)        { return len(p), nil }
func (c *onceConn) Close() error                       { return nil }
func (c *onceConn) SetReadTimeout(time.Duration) error { return nil }
func (c *onceConn) ResetInputBuffer() error            { return nil }

// FuzzDemux: whatever arrives on the line, the link delivers only IPv4
// frames no longer than MaxFrame to the packet reader, never panics and
// ends with ErrClosed at the end of input.
func FuzzDemux(f *testing.F) {
	f.Add(slip.Encode(echo(f, 1)))
	f.Add(append(slip.Encode([]byte{0, 1, 2, 0, 0, 0, 0}), slip.Encode(echo(f, 2))...))
	f.Add([]byte{slip.End, slip.Esc, slip.End, 0x45, slip.Esc})
	f.Fuzz(func(t *testing.T, data []byte) {
		watchdog := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("FuzzDemux: stuck on %x", data)) })
		defer watchdog.Stop()
		l := link.NewSerial(&onceConn{r: bytes.NewReader(data)}, "fuzz", nil)
		defer l.Close()
		for {
			p, err := l.ReadPacket(context.Background())
			if err != nil {
				if !errors.Is(err, link.ErrClosed) {
					t.Fatal(err)
				}
				break
			}
			if len(p) == 0 || len(p) > link.MaxFrame || p[0] < 0x45 || p[0] > 0x4f {
				t.Fatalf("delivered %x", p)
			}
		}
	})
}

func TestUDPLinkRebuildsPackets(t *testing.T) {
	sas, err := safile.New(rand.Reader, safile.Options{Suite: esp.SuiteAES128CTRHMACSHA256, Local: hostAddr, Remote: devAddr, UDPEncap: true})
	if err != nil {
		t.Fatal(err)
	}
	relay := linktest.StartUDPRelay(t, sas)
	ends := link.Endpoints{Local: netip.AddrPortFrom(hostAddr, 4500), Remote: netip.AddrPortFrom(devAddr, 4500)}
	l, err := link.DialUDP(relay.String(), ends, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	out, _ := esp.NewOutbound(sas.Outbound[0])
	in, _ := esp.NewInbound(sas.Inbound[0])
	inner, _ := ipv4.AppendEcho(nil, &ipv4.Header{Src: hostAddr, Dst: devAddr}, ipv4.ICMPEchoRequest, 5, 6, []byte("hi"))
	pkt, err := out.SealPacket(nil, inner)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WritePacket(pkt); err != nil {
		t.Fatal(err)
	}
	if err := l.WritePacket(inner); err == nil {
		t.Fatal("a non-UDP packet was sent on the UDP link")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	reply, err := l.ReadPacket(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, err := ipv4.ParseUDP(reply)
	if err != nil || u.IP.Src != devAddr || u.IP.Dst != hostAddr || u.SrcPort != 4500 || u.DstPort != 4500 {
		t.Fatalf("rebuilt packet %+v %v", u, err)
	}
	got, err := in.OpenPacket(nil, reply)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ipv4.ParseEcho(got)
	if err != nil || !e.Reply || e.Seq != 6 || string(e.Data) != "hi" {
		t.Fatalf("echo reply %+v %v", e, err)
	}
}

// Log is told of the socket and of ICMP errors from a port nobody
// listens on; Trace sees the datagrams sent (mstool -v, -vv).
func TestUDPLinkLogs(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close() // nobody listens there now
	var mu sync.Mutex
	var logs []string
	var sent [][]byte
	opts := &link.Options{
		Log:   func(msg string) { mu.Lock(); logs = append(logs, msg); mu.Unlock() },
		Trace: func(dir string, p []byte) { mu.Lock(); sent = append(sent, append([]byte(dir+" "), p...)); mu.Unlock() },
	}
	ends := link.Endpoints{Local: netip.AddrPortFrom(hostAddr, 4500), Remote: netip.AddrPortFrom(devAddr, 4500)}
	l, err := link.DialUDP(addr, ends, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pkt, _ := ipv4.AppendUDP(nil, &ipv4.Header{Src: hostAddr, Dst: devAddr}, 4500, 4500, []byte("payload"))
	deadline := time.Now().Add(2 * time.Second)
	for {
		if err := l.WritePacket(pkt); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		all := strings.Join(logs, "\n")
		mu.Unlock()
		if strings.Contains(all, "connection refused") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ICMP error logged:\n%s", all)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs[0], "socket open") {
		t.Errorf("first log line %q", logs[0])
	}
	if len(sent) == 0 || string(sent[0]) != "send payload" {
		t.Errorf("traced %q, want the UDP payload sent", sent)
	}
}
