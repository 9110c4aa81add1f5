// Package simcheck is FW-LINK's quick end-to-end check of the firmware's
// IPv4/ESP stack on the simulated device, with pkg/esp as the peer. The
// official end-to-end tests live with the host side (pkg/link and the esp
// commands); this one pins the device's behaviour per suite.
package simcheck

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.bug.st/serial"

	"github.com/mstool/mstool/internal/testenv/cyclebase"
	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/ipv4"
	"github.com/mstool/mstool/pkg/provision"
	"github.com/mstool/mstool/pkg/sim"
	"github.com/mstool/mstool/pkg/slip"
)

var (
	hostAddr = netip.MustParseAddr("10.0.0.1")
	devAddr  = netip.MustParseAddr("10.0.0.2")
)

func newSA(t *testing.T, spi uint32, s esp.Suite, encap bool) *esp.SA {
	sa := &esp.SA{SPI: spi, Suite: s, Mode: esp.Transport,
		EncKey: make([]byte, s.EncKeyLen()), AuthKey: make([]byte, s.AuthKeyLen())}
	rand.Read(sa.EncKey)
	rand.Read(sa.AuthKey)
	if encap {
		sa.Encap = &esp.UDPEncap{SrcPort: 4500, DstPort: 4500}
	}
	return sa
}

// link is the raw SLIP line to the simulated device.
type link struct {
	t    *testing.T
	port serial.Port
	dec  *slip.Decoder
	q    [][]byte
}

func openLink(t *testing.T, path string) *link {
	p, err := serial.Open(path, &serial.Mode{BaudRate: 115200})
	if err != nil {
		t.Fatal(err)
	}
	p.SetReadTimeout(50 * time.Millisecond)
	t.Cleanup(func() { p.Close() })
	return &link{t: t, port: p, dec: slip.NewDecoder(2048)}
}

func (l *link) send(frame []byte) {
	if _, err := l.port.Write(slip.Encode(frame)); err != nil {
		l.t.Fatal(err)
	}
}

// recv returns the next frame whose first byte satisfies want, or nil.
func (l *link) recv(want func(byte) bool, timeout time.Duration) []byte {
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 512)
	for {
		for len(l.q) > 0 {
			f := l.q[0]
			l.q = l.q[1:]
			if len(f) > 0 && want(f[0]) {
				return f
			}
		}
		if time.Now().After(deadline) {
			return nil
		}
		n, _ := l.port.Read(buf)
		l.dec.Feed(buf[:n], func(f []byte) { l.q = append(l.q, bytes.Clone(f)) })
	}
}

func crc16(b []byte) uint16 { return provision.CRC16(b) }

func (l *link) mgmt(typ byte, payload []byte) []byte {
	for try := 0; try < 3; try++ {
		seq := byte(0x40 + try)
		f := []byte{0, typ, seq, byte(len(payload) >> 8), byte(len(payload))}
		f = append(f, payload...)
		f = binary.BigEndian.AppendUint16(f, crc16(f))
		l.send(f)
		r := l.recv(func(b byte) bool { return b == 0 }, 3*time.Second)
		if r != nil && len(r) >= 7 && r[1] == typ|0x80 && r[2] == seq {
			return r[5 : len(r)-2]
		}
	}
	l.t.Fatalf("no management reply to %#x", typ)
	return nil
}

type status struct {
	provisioned, reason    byte
	outReserved, outNext   uint32
	inFloor, inTop, cycles uint32
	counters               []uint32
}

func (l *link) status() status {
	p := l.mgmt(0x05, nil)
	if len(p) < 58 {
		l.t.Fatalf("status reply %d bytes", len(p))
	}
	s := status{provisioned: p[0], reason: p[1],
		outReserved: binary.BigEndian.Uint32(p[32:]), outNext: binary.BigEndian.Uint32(p[36:]),
		inFloor: binary.BigEndian.Uint32(p[40:]), inTop: binary.BigEndian.Uint32(p[44:]),
		cycles: binary.BigEndian.Uint32(p[50:])}
	for i := 0; i < int(p[57]); i++ {
		s.counters = append(s.counters, binary.BigEndian.Uint32(p[58+4*i:]))
	}
	return s
}

// toDevice is the IPv4 header of what the host sends the device.
var toDevice = ipv4.Header{Src: hostAddr, Dst: devAddr}

func echo(id, seq uint16, data []byte) []byte {
	p, err := ipv4.AppendEcho(nil, &toDevice, ipv4.ICMPEchoRequest, id, seq, data)
	if err != nil {
		panic(err)
	}
	return p
}

func udp(sport, dport uint16, payload []byte) []byte {
	p, err := ipv4.AppendUDP(nil, &toDevice, sport, dport, payload)
	if err != nil {
		panic(err)
	}
	return p
}

// udpPayload is the payload of the UDP datagram pkt, checksums verified.
func udpPayload(t *testing.T, pkt []byte) []byte {
	t.Helper()
	u, err := ipv4.ParseUDP(pkt)
	if err != nil {
		t.Fatalf("reply: %v: % x", err, pkt)
	}
	return u.Payload
}

type session struct {
	t   *testing.T
	l   *link
	out *esp.Outbound
	in  *esp.Inbound
	// every (direction, seq) seen, to check uniqueness
	seen map[uint64]bool
}

func (s *session) roundTrip(pkt []byte) ([]byte, error) {
	sealed, err := s.out.SealPacket(nil, pkt)
	if err != nil {
		s.t.Fatal(err)
	}
	s.l.send(sealed)
	r := s.l.recv(func(b byte) bool { return b >= 0x45 && b <= 0x4f }, 4*time.Second)
	if r == nil {
		return nil, errors.New("no answer")
	}
	h, err := esp.ParsePacket(r)
	if err != nil {
		return nil, err
	}
	if s.seen[uint64(h.Seq)] {
		s.t.Fatalf("device reused outbound sequence number %d", h.Seq)
	}
	s.seen[uint64(h.Seq)] = true
	return s.in.OpenPacket(nil, r)
}

// pingCycles sends four ESP echo requests carrying data, checks the
// replies and returns the fewest device cycles one took (STATUS; the
// first after a boot also waits for an EEPROM write).
func (s *session) pingCycles(data []byte) uint32 {
	var least uint32
	for i := 0; i < 4; i++ {
		r, err := s.roundTrip(echo(7, uint16(i), data))
		if err != nil {
			s.t.Fatalf("ping %d: %v", i, err)
		}
		if e, err := ipv4.ParseEcho(r); err != nil || e.Type != ipv4.ICMPEchoReply || !bytes.Equal(e.Data, data) {
			s.t.Fatalf("bad echo reply (%v) % x", err, r)
		}
		if c := s.l.status().cycles; least == 0 || c < least {
			least = c
		}
	}
	return least
}

func startDevice(t *testing.T, ee string) (*sim.Device, *link) {
	return startImage(t, sim.Options{EEPROM: ee})
}

func startImage(t *testing.T, opts sim.Options) (*sim.Device, *link) {
	d, err := sim.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop() })
	return d, openLink(t, d.Port)
}

func TestSuites(t *testing.T) {
	testenv.Artifact(t, "firmware/build/atmega328p/mstool.elf", "firmware")
	testenv.Artifact(t, "firmware/build/mssim", "firmware")
	figures := cyclebase.Load(t, "esp-ping")
	for _, tc := range []struct {
		name    string
		in, out esp.Suite
		encap   bool
	}{
		{"ccm8", esp.SuiteAES128CCM8, esp.SuiteAES128CCM8, false},
		{"cbc-md5", esp.SuiteAES128CBCHMACMD5, esp.SuiteAES128CBCHMACMD5, false},
		{"ctr-sha256", esp.SuiteAES128CTRHMACSHA256, esp.SuiteAES128CTRHMACSHA256, false},
		{"ccm8-in-cbc-out-udp", esp.SuiteAES128CCM8, esp.SuiteAES128CBCHMACMD5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hostOut := newSA(t, 0x1001, tc.in, tc.encap)
			hostIn := newSA(t, 0x2002, tc.out, tc.encap)
			cfg := &provision.Config{DeviceID: 42, Addr: devAddr, Peer: hostAddr,
				Inbound: hostOut, Outbound: hostIn}
			img, err := provision.Build(cfg, 1024)
			if err != nil {
				t.Fatal(err)
			}
			ee := filepath.Join(t.TempDir(), "ee.bin")
			os.WriteFile(ee, img, 0o600)
			dev, l := startDevice(t, ee)
			st := l.status()
			if st.provisioned != 1 {
				t.Fatalf("not provisioned: reason %d", st.reason)
			}
			out, _ := esp.NewOutbound(hostOut)
			in, _ := esp.NewInbound(hostIn)
			s := &session{t: t, l: l, out: out, in: in, seen: map[uint64]bool{}}
			data := bytes.Repeat([]byte{0xab}, 64)
			minCycles := s.pingCycles(data)
			t.Logf("%s: min cycles for a 64-byte ESP ping: %d", tc.name, minCycles)
			figures.Check("atmega328p/"+tc.name, uint64(minCycles))
			// tasks: id, counters, led, settings-write
			r, err := s.roundTrip(udp(5555, 7411, []byte{1, 0, 0x12, 0x34}))
			if err != nil {
				t.Fatal(err)
			}
			if got := udpPayload(t, r); len(got) != 13 || got[4] != 0 || binary.BigEndian.Uint32(got[5:]) != 42 {
				t.Fatalf("id reply % x", got)
			}
			r, err = s.roundTrip(udp(5555, 7411, []byte{1, 6, 0, 1, 1, 0xbe, 0xef}))
			if err != nil || !bytes.Equal(udpPayload(t, r), []byte{1, 6, 0, 1, 0, 0xbe, 0xef}) {
				t.Fatalf("settings-write: %v % x", err, r)
			}
			// replay of a sealed packet: dropped and counted
			sealed, _ := out.SealPacket(nil, echo(7, 99, data))
			l.send(sealed)
			l.recv(func(b byte) bool { return b >= 0x45 }, 2*time.Second)
			before := l.status().counters
			l.send(sealed)
			tampered, _ := out.SealPacket(nil, echo(7, 100, data))
			tampered[len(tampered)-1] ^= 1
			l.send(tampered)
			if r := l.recv(func(b byte) bool { return b >= 0x45 }, 1500*time.Millisecond); r != nil {
				t.Fatalf("answer to a replay/tampered packet")
			}
			after := l.status().counters
			if after[9] != before[9]+1 || after[8] != before[8]+1 {
				t.Fatalf("replay %d->%d auth %d->%d", before[9], after[9], before[8], after[8])
			}
			// restart: the device must never reuse a sequence number
			for k := 0; k < 2; k++ {
				dev.Stop()
				dev, l = startDevice(t, ee)
				s.l = l
				// a new session starts one block above
				s.out, _ = esp.NewOutbound(hostOut, esp.WithNextSeq(out.NextSeq()+1024))
				out = s.out
				if _, err := s.roundTrip(echo(8, uint16(k), data)); err != nil {
					t.Fatalf("after restart %d: %v", k, err)
				}
				if st := l.status(); st.outNext <= 1024 {
					t.Fatalf("outbound next %d after restart", st.outNext)
				}
			}
			settings, err := s.roundTrip(udp(5555, 7411, []byte{1, 5, 0, 2, 1}))
			if err != nil || !bytes.Equal(udpPayload(t, settings)[5:], []byte{0xbe, 0xef}) {
				t.Fatalf("settings after restart: %v % x", err, settings)
			}
			dev.Stop()
		})
	}
}

// TestPing168 holds the ATmega168's ESP ping (its default image: CCM-8
// with the round keys computed on the fly) to its recorded cycles, as
// TestSuites does the 328P's.
func TestPing168(t *testing.T) {
	elf := testenv.Artifact(t, "firmware/build/atmega168/mstool.elf", "firmware")
	testenv.Artifact(t, "firmware/build/mssim", "firmware")
	hostOut := newSA(t, 0x1001, esp.SuiteAES128CCM8, false)
	hostIn := newSA(t, 0x2002, esp.SuiteAES128CCM8, false)
	img, err := provision.Build(&provision.Config{DeviceID: 42, Addr: devAddr, Peer: hostAddr,
		Inbound: hostOut, Outbound: hostIn}, 512)
	if err != nil {
		t.Fatal(err)
	}
	ee := filepath.Join(t.TempDir(), "ee.bin")
	os.WriteFile(ee, img, 0o600)
	_, l := startImage(t, sim.Options{EEPROM: ee, Firmware: elf, MCU: "atmega168"})
	out, _ := esp.NewOutbound(hostOut)
	in, _ := esp.NewInbound(hostIn)
	s := &session{t: t, l: l, out: out, in: in, seen: map[uint64]bool{}}
	minCycles := s.pingCycles(bytes.Repeat([]byte{0xab}, 64))
	t.Logf("atmega168 ccm8: min cycles for a 64-byte ESP ping: %d", minCycles)
	cyclebase.Load(t, "esp-ping").Check("atmega168/ccm8", uint64(minCycles))
}

func TestUnprovisioned(t *testing.T) {
	testenv.Artifact(t, "firmware/build/atmega328p/mstool.elf", "firmware")
	good, _ := provision.Build(&provision.Config{DeviceID: 1, Addr: devAddr}, 1024)
	corrupt := bytes.Clone(good)
	corrupt[30] ^= 1
	for _, tc := range []struct {
		name   string
		img    []byte
		reason byte
	}{
		{"blank", bytes.Repeat([]byte{0xff}, 1024), 1},
		{"truncated", good[:100], 5},
		{"corrupt", corrupt, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ee := filepath.Join(t.TempDir(), "ee.bin")
			os.WriteFile(ee, tc.img, 0o600)
			dev, l := startDevice(t, ee)
			defer dev.Stop()
			st := l.status()
			if st.provisioned != 0 || st.reason != tc.reason {
				t.Fatalf("provisioned %d reason %d, want 0 %d", st.provisioned, st.reason, tc.reason)
			}
		})
	}
}
