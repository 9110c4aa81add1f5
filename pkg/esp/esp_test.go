package esp

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/mstool/mstool/internal/inetsum"
	"net/netip"
	"testing"
)

// testSA returns an SA with random keys for suite.
func testSA(t testing.TB, suite Suite, mode Mode, esn bool, encap bool, v6 bool) *SA {
	t.Helper()
	sa := &SA{
		SPI:     0x1000 + uint32(suite),
		Suite:   suite,
		EncKey:  make([]byte, suite.EncKeyLen()),
		AuthKey: make([]byte, suite.AuthKeyLen()),
		Mode:    mode,
		ESN:     esn,
		Src:     netip.MustParseAddr("192.0.2.1"),
		Dst:     netip.MustParseAddr("192.0.2.2"),
	}
	if v6 {
		sa.Src, sa.Dst = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	}
	rand.Read(sa.EncKey)
	rand.Read(sa.AuthKey)
	if encap {
		sa.Encap = &UDPEncap{SrcPort: 4500, DstPort: 4500}
	}
	return sa
}

func pair(t testing.TB, sa *SA, opts ...OutboundOption) (*Outbound, *Inbound) {
	t.Helper()
	out, err := NewOutbound(sa, opts...)
	if err != nil {
		t.Fatal(err)
	}
	in, err := NewInbound(sa)
	if err != nil {
		t.Fatal(err)
	}
	return out, in
}

// udp4 builds an IPv4/UDP packet with n payload bytes (with an IP option
// when opt is set).
func udp4(n int, opt bool) []byte {
	hl := 20
	if opt {
		hl = 24
	}
	p := make([]byte, hl+8+n)
	p[0] = 0x40 | byte(hl/4)
	p[1] = 0x10
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	binary.BigEndian.PutUint16(p[4:], 0x1234)
	p[6] = 0x40
	p[8], p[9] = 64, 17
	copy(p[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	if opt {
		p[20] = 1 // NOP options
		p[21], p[22], p[23] = 1, 1, 0
	}
	binary.BigEndian.PutUint16(p[10:], inetsum.Checksum(p[:hl]))
	u := p[hl:]
	binary.BigEndian.PutUint16(u[0:], 1234)
	binary.BigEndian.PutUint16(u[2:], 5678)
	binary.BigEndian.PutUint16(u[4:], uint16(8+n))
	for i := range n {
		u[8+i] = byte(i*7 + 3)
	}
	return p
}

// udp6 builds an IPv6/UDP packet with n payload bytes, with a Hop-by-Hop
// and a Destination Options header when ext is set.
func udp6(n int, ext bool) []byte {
	var exts []byte
	nh := byte(17)
	if ext {
		nh = 0
		exts = []byte{60, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0}
	}
	p := make([]byte, 40+len(exts)+8+n)
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], uint16(len(p)-40))
	p[6], p[7] = nh, 64
	p[23], p[39] = 1, 2
	p[8], p[24] = 0x20, 0x20
	copy(p[40:], exts)
	u := p[40+len(exts):]
	binary.BigEndian.PutUint16(u[0:], 1234)
	binary.BigEndian.PutUint16(u[2:], 5678)
	binary.BigEndian.PutUint16(u[4:], uint16(8+n))
	for i := range n {
		u[8+i] = byte(i*5 + 1)
	}
	return p
}

var sizes = []int{0, 1, 15, 16, 17, 63, 64, 255, 1000, 1400}

func TestRoundTrip(t *testing.T) {
	for _, suite := range Suites {
		for _, mode := range []Mode{Transport, Tunnel} {
			for _, esn := range []bool{false, true} {
				for _, encap := range []bool{false, true} {
					for _, v6 := range []bool{false, true} {
						name := fmt.Sprintf("%s/%s/esn=%v/udp=%v/v6=%v", suite, mode, esn, encap, v6)
						t.Run(name, func(t *testing.T) {
							out, in := pair(t, testSA(t, suite, mode, esn, encap, v6))
							for _, n := range sizes {
								for _, opt := range []bool{false, true} {
									var p []byte
									if v6 {
										p = udp6(n, opt)
									} else {
										p = udp4(n, opt)
									}
									sealed, err := out.SealPacket(nil, p)
									if err != nil {
										t.Fatalf("size %d: seal: %v", n, err)
									}
									h, err := ParsePacket(sealed)
									if err != nil {
										t.Fatalf("size %d: ParsePacket: %v", n, err)
									}
									// Opening the parsed packet gives the same, without the window.
									parsed, seq, err := in.OpenParsedNoReplay(nil, sealed, &h)
									if err != nil || !bytes.Equal(parsed, p) || seq == 0 {
										t.Fatalf("size %d: OpenParsedNoReplay: %v", n, err)
									}
									got, err := in.OpenPacket(nil, sealed)
									if err != nil {
										t.Fatalf("size %d: open: %v", n, err)
									}
									if !bytes.Equal(got, p) {
										t.Fatalf("size %d: got\n%x\nwant\n%x", n, got, p)
									}
								}
							}
						})
					}
				}
			}
		}
	}
}

// TestOpenParsedBadHeader: a Header that is not the packet's is refused,
// not trusted.
func TestOpenParsedBadHeader(t *testing.T) {
	out, in := pair(t, testSA(t, SuiteAES128GCM16, Transport, false, false, false))
	sealed, err := out.SealPacket(nil, udp4(100, false))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := ParsePacket(sealed)
	long := h
	long.Length += 1000
	for _, bad := range []Header{{}, long} {
		if _, _, err := in.OpenParsedNoReplay(nil, sealed, &bad); err == nil {
			t.Errorf("%+v: opened", bad)
		}
	}
}

// TestSealLayout checks the wire layout: lengths, alignment, padding and
// the IV policy of each suite.
func TestSealLayout(t *testing.T) {
	for _, suite := range Suites {
		t.Run(suite.String(), func(t *testing.T) {
			sa := testSA(t, suite, Transport, false, false, false)
			out, err := NewOutbound(sa, WithNextSeq(0x01020304))
			if err != nil {
				t.Fatal(err)
			}
			// Open without the transform to check what is in the clear.
			for n := 0; n < 40; n++ {
				payload := bytes.Repeat([]byte{0xAA}, n)
				esp, err := out.Seal(nil, payload, 17)
				if err != nil {
					t.Fatal(err)
				}
				if got := binary.BigEndian.Uint32(esp); got != sa.SPI {
					t.Fatalf("SPI %#x", got)
				}
				seq := binary.BigEndian.Uint32(esp[4:])
				if seq != 0x01020304+uint32(n) {
					t.Fatalf("seq %#x", seq)
				}
				ct := len(esp) - 8 - suite.IVLen() - suite.ICVLen()
				align := 4
				if suite.IVLen() == 16 {
					align = 16
				}
				if ct%align != 0 || ct < n+2 || ct >= n+2+align {
					t.Fatalf("n=%d: ciphertext length %d not minimal with alignment %d", n, ct, align)
				}
				if len(esp)%4 != 0 {
					t.Fatalf("ESP length %d not a multiple of 4", len(esp))
				}
				iv := esp[8 : 8+suite.IVLen()]
				switch suite.IVLen() {
				case 8:
					if binary.BigEndian.Uint64(iv) != uint64(seq) {
						t.Fatalf("IV %x is not the sequence number", iv)
					}
				case 16:
					if bytes.Equal(iv, make([]byte, 16)) {
						t.Fatal("zero CBC IV")
					}
				}
				if suite.IsNULL() {
					// In the clear: payload, padding 1,2,3..., pad length, next header.
					body := esp[8 : 8+ct]
					want := append(append([]byte{}, payload...), []byte{1, 2, 3}[:ct-n-2]...)
					want = append(want, byte(ct-n-2), 17)
					if !bytes.Equal(body, want) {
						t.Fatalf("NULL body %x, want %x", body, want)
					}
				}
			}
		})
	}
}

func TestCBCIVsDistinct(t *testing.T) {
	out, _ := pair(t, testSA(t, SuiteAES128CBCHMACSHA256, Transport, false, false, false))
	seen := map[[16]byte]bool{}
	for range 1000 {
		esp, err := out.Seal(nil, []byte("x"), 17)
		if err != nil {
			t.Fatal(err)
		}
		iv := [16]byte(esp[8:24])
		if seen[iv] {
			t.Fatalf("IV %x repeated", iv)
		}
		seen[iv] = true
	}
}

func TestAllocs(t *testing.T) {
	for _, suite := range Suites {
		for _, mode := range []Mode{Transport, Tunnel} {
			for _, encap := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/udp=%v", suite, mode, encap)
				t.Run(name, func(t *testing.T) {
					out, in := pair(t, testSA(t, suite, mode, true, encap, false))
					p := udp4(1000, false)
					sealBuf := make([]byte, 0, 2048)
					openBuf := make([]byte, 0, 2048)
					var sealed []byte
					seal := testing.AllocsPerRun(200, func() {
						var err error
						sealed, err = out.SealPacket(sealBuf[:0], p)
						if err != nil {
							t.Fatal(err)
						}
					})
					open := testing.AllocsPerRun(200, func() {
						sealed, _ = out.SealPacket(sealBuf[:0], p)
						if _, err := in.OpenPacket(openBuf[:0], sealed); err != nil {
							t.Fatal(err)
						}
					})
					bad := testing.AllocsPerRun(200, func() {
						sealed, _ = out.SealPacket(sealBuf[:0], p)
						sealed[len(sealed)-1] ^= 1
						if _, err := in.OpenPacket(openBuf[:0], sealed); !errors.Is(err, ErrAuth) {
							t.Fatal(err)
						}
					})
					if seal != 0 || open != 0 || bad != 0 {
						t.Errorf("allocs per packet: seal %v, seal+open %v, seal+failed open %v; want 0", seal, open, bad)
					}
				})
			}
		}
	}
}

func testAddrs() (netip.Addr, netip.Addr) {
	return netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
}

func addrPort(a netip.Addr, p uint16) netip.AddrPort { return netip.AddrPortFrom(a, p) }

// TestConcurrent seals and opens from many goroutines at once (run with
// -race): Outbound and Inbound share no per-packet state, sequence numbers
// stay unique, and the window accepts each packet exactly once.
func TestConcurrent(t *testing.T) {
	for _, suite := range []Suite{SuiteAES128CCM8, SuiteAES128CBCHMACSHA1, SuiteAES128CTRHMACSHA256} {
		out, in := pair(t, testSA(t, suite, Tunnel, true, false, false))
		const workers, each = 4, 200
		pkts := make(chan []byte, workers*each)
		done := make(chan error, workers)
		for w := 0; w < workers; w++ {
			go func() {
				for i := 0; i < each; i++ {
					p, err := out.SealPacket(nil, udp4(i%300, false))
					if err != nil {
						done <- err
						return
					}
					pkts <- p
				}
				done <- nil
			}()
		}
		for w := 0; w < workers; w++ {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		close(pkts)
		var all [][]byte
		for p := range pkts {
			all = append(all, p)
		}
		seqs := make(chan uint64, len(all))
		for w := 0; w < workers; w++ {
			go func(w int) {
				for i := w; i < len(all); i += workers {
					_, seq, err := in.OpenPacketNoReplay(nil, all[i])
					if err != nil {
						done <- err
						return
					}
					seqs <- seq
				}
				done <- nil
			}(w)
		}
		for w := 0; w < workers; w++ {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		close(seqs)
		seen := map[uint64]bool{}
		for s := range seqs {
			if seen[s] {
				t.Fatalf("sequence number %d used twice", s)
			}
			seen[s] = true
		}
		if len(seen) != workers*each || out.NextSeq() != workers*each+1 {
			t.Fatalf("%d distinct sequence numbers, next %d", len(seen), out.NextSeq())
		}
	}
}
