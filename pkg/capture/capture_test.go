package capture

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/mstool/mstool/pkg/capture/capturetest"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/safile"
)

var (
	host   = netip.MustParseAddr("192.0.2.1")
	device = netip.MustParseAddr("192.0.2.2")
)

var linkTypes = []layers.LinkType{LinkTypeEthernet, LinkTypeSLIP, LinkTypeRaw, LinkTypeSLL, LinkTypeIPv4, LinkTypeSLL2}

// session returns a fresh SA file and senders for both directions: out
// seals host → device with the file's outbound SA, back seals device → host
// with its inbound SA.
func session(t testing.TB, seed uint64, opts safile.Options) (f *safile.File, out, back *esp.Outbound) {
	t.Helper()
	opts.Local, opts.Remote = host, device
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	f, err := safile.New(mrand.NewChaCha8(s), opts)
	if err != nil {
		t.Fatal(err)
	}
	if out, err = esp.NewOutbound(f.Outbound[0]); err != nil {
		t.Fatal(err)
	}
	if back, err = esp.NewOutbound(f.Inbound[0]); err != nil {
		t.Fatal(err)
	}
	return f, out, back
}

func seal(t testing.TB, o *esp.Outbound, ip []byte) []byte {
	t.Helper()
	p, err := o.SealPacket(nil, ip)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// packet is one frame of a test capture and what decryption must make of it.
type packet struct {
	frame  []byte
	want   []byte // expected output frame (in the input's link type)
	result Result
	lt     layers.LinkType // input link type when SLIP (written as raw IP)
}

func build(t testing.TB, lt layers.LinkType, ng bool, pkts []packet) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := capturetest.NewWriter(&b, lt, ng)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := w.Write(p.frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// readAll returns the frames and link types of a capture.
func readAll(t testing.TB, data []byte) ([][]byte, []layers.LinkType) {
	t.Helper()
	var frames [][]byte
	var lts []layers.LinkType
	if binary.LittleEndian.Uint32(data) == pcapngMagic {
		r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			t.Fatal(err)
		}
		for {
			d, ci, err := r.ReadPacketData()
			if err == io.EOF {
				return frames, lts
			}
			if err != nil {
				t.Fatal(err)
			}
			frames = append(frames, d)
			lts = append(lts, ci.AncillaryData[0].(layers.LinkType))
		}
	}
	r, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for {
		d, _, err := r.ReadPacketData()
		if err == io.EOF {
			return frames, lts
		}
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, d)
		lts = append(lts, r.LinkType())
	}
}

func decrypt(t testing.TB, in []byte, sas []*esp.SA, opts Options) ([]byte, Stats) {
	t.Helper()
	var out bytes.Buffer
	st, err := DecryptCapture(context.Background(), bytes.NewReader(in), &out, sas, opts)
	if err != nil {
		t.Fatalf("DecryptCapture: %v", err)
	}
	return out.Bytes(), st
}

func check(t *testing.T, pkts []packet, out []byte, st Stats) {
	t.Helper()
	frames, lts := readAll(t, out)
	if len(frames) != len(pkts) {
		t.Fatalf("output has %d packets, want %d", len(frames), len(pkts))
	}
	var want Stats
	for i, p := range pkts {
		want.add(p.result)
		w := p.want
		if lts[i] == LinkTypeRaw && p.lt == LinkTypeSLIP {
			w = w[slipHeaderLen:] // SLIP is written as raw IP
		}
		if !bytes.Equal(frames[i], w) {
			t.Errorf("packet %d (%s):\n got %x\nwant %x", i+1, p.result, frames[i], w)
		}
	}
	want.Format = st.Format
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
}

// traffic returns a mixed session: ICMP and UDP of sizes 0..1400 both
// ways, plus packets that are not ESP.
func traffic(t testing.TB, lt layers.LinkType, out, back *esp.Outbound, n int) []packet {
	var pkts []packet
	rng := mrand.New(mrand.NewPCG(uint64(lt), 1))
	for i := range n {
		size := rng.IntN(1401)
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(i + j)
		}
		var ip []byte
		o := out
		if i%2 == 1 {
			o = back
			ip = capturetest.UDP(device, host, 5683, 40000, data)
		} else {
			ip = capturetest.ICMPEcho(host, device, 7, uint16(i), data)
		}
		inner := capturetest.Frame(lt, ip)
		pkts = append(pkts, packet{frame: capturetest.Frame(lt, seal(t, o, ip)), want: inner, result: Decrypted, lt: lt})
		if i%5 == 0 {
			plain := capturetest.Frame(lt, capturetest.UDP(host, device, 53, 53, data[:size/4]))
			pkts = append(pkts, packet{frame: plain, want: plain, result: Other, lt: lt})
		}
	}
	return pkts
}

func TestDecryptSuitesLinkTypes(t *testing.T) {
	for si, suite := range esp.Suites {
		for li, lt := range linkTypes {
			for _, ng := range []bool{false, true} {
				opts := safile.Options{Suite: suite}
				// Vary mode and encapsulation across the matrix.
				if (si+li)%2 == 1 {
					opts.Mode = esp.Tunnel
				}
				if (si+li)%3 == 0 {
					opts.UDPEncap = true
				}
				if si%4 == 3 {
					opts.ESN = true
				}
				name := fmt.Sprintf("%s/%d/ng=%v/%s/udp=%v", suite, lt, ng, opts.Mode, opts.UDPEncap)
				t.Run(name, func(t *testing.T) {
					f, out, back := session(t, uint64(si*100+li), opts)
					pkts := traffic(t, lt, out, back, 12)
					got, st := decrypt(t, build(t, lt, ng, pkts), f.All(), Options{})
					check(t, pkts, got, st)
					if ng != (binary.LittleEndian.Uint32(got) == pcapngMagic) {
						t.Error("output format differs from input format")
					}
				})
			}
		}
	}
}

func TestNegative(t *testing.T) {
	lt := LinkTypeEthernet
	f, out, back := session(t, 1, safile.Options{Suite: esp.SuiteAES128CBCHMACSHA256, UDPEncap: false})
	_, otherOut, _ := session(t, 2, safile.Options{Suite: esp.SuiteAES128GCM16})
	ping := capturetest.ICMPEcho(host, device, 1, 1, []byte("hello"))
	ok1 := capturetest.Frame(lt, seal(t, out, ping))
	ok2 := capturetest.Frame(lt, seal(t, back, capturetest.UDP(device, host, 1, 2, []byte("world"))))
	var pkts []packet
	pkts = append(pkts,
		packet{ok1, capturetest.Frame(lt, ping), Decrypted, 0},
		packet{ok2, capturetest.Frame(lt, capturetest.UDP(device, host, 1, 2, []byte("world"))), Decrypted, 0},
		packet{ok1, ok1, Replayed, 0}, // the same packet again
	)
	// Tamper with every byte of the ESP part of a fresh packet (SPI excluded:
	// a changed SPI is an unknown SPI; bytes of the IP header change what
	// the packet is). Each must fail and be copied unchanged.
	fresh := capturetest.Frame(lt, seal(t, out, capturetest.ICMPEcho(host, device, 1, 2, []byte("tamper me"))))
	espStart := 14 + 20
	for i := espStart + 4; i < len(fresh); i++ {
		bad := bytes.Clone(fresh)
		bad[i] ^= 0x01
		want := FailedICV
		pkts = append(pkts, packet{bad, bad, want, 0})
	}
	// Truncated: cut the ICV off, with the IP length fixed to match (so the
	// packet is well-formed IP) and without (the IP length lies).
	cut := bytes.Clone(fresh[:len(fresh)-8])
	pkts = append(pkts, packet{cut, cut, Malformed, 0})
	fixed := bytes.Clone(fresh[:len(fresh)-16]) // whole CBC blocks remain
	binary.BigEndian.PutUint16(fixed[14+2:], uint16(len(fixed)-14))
	binary.BigEndian.PutUint16(fixed[14+10:], 0)
	binary.BigEndian.PutUint16(fixed[14+10:], capturetest.Checksum(fixed[14:34]))
	pkts = append(pkts, packet{fixed, fixed, FailedICV, 0})
	// Unknown SPI: a packet of another session.
	foreign := capturetest.Frame(lt, seal(t, otherOut, ping))
	pkts = append(pkts, packet{foreign, foreign, UnknownSPI, 0})
	// Short ESP: just an SPI.
	short := capturetest.Frame(lt, capturetest.IPv4(host, device, 50, 9, []byte{1, 2, 3}))
	pkts = append(pkts, packet{short, short, Malformed, 0})
	// NAT-keepalive and IKE (non-ESP marker) on UDP 4500: not ESP.
	ka := capturetest.Frame(lt, capturetest.UDP(host, device, 4500, 4500, []byte{0xff}))
	ike := capturetest.Frame(lt, capturetest.UDP(host, device, 4500, 4500, []byte{0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}))
	arp := append(bytes.Clone(ok1[:12]), 0x08, 0x06, 0, 1)
	pkts = append(pkts, packet{ka, ka, Other, 0}, packet{ike, ike, Other, 0}, packet{arp, arp, Other, 0})
	// The "fresh" packet itself, after its tampered copies: still accepted.
	pkts = append(pkts, packet{fresh, capturetest.Frame(lt, capturetest.ICMPEcho(host, device, 1, 2, []byte("tamper me"))), Decrypted, 0})

	for _, ng := range []bool{false, true} {
		got, st := decrypt(t, build(t, lt, ng, pkts), f.All(), Options{Workers: 3, Window: 5})
		check(t, pkts, got, st)
	}
}

func TestWrongKey(t *testing.T) {
	f, out, _ := session(t, 3, safile.Options{Suite: esp.SuiteAES128CCM16})
	wrong := f.Mirror() // same SPIs, keys of the other direction
	for i := range wrong.Inbound {
		wrong.Inbound[i].SPI, wrong.Outbound[i].SPI = wrong.Outbound[i].SPI, wrong.Inbound[i].SPI
		wrong.Inbound[i].Dst, wrong.Outbound[i].Dst = wrong.Outbound[i].Dst, wrong.Inbound[i].Dst
		wrong.Inbound[i].Src, wrong.Outbound[i].Src = wrong.Outbound[i].Src, wrong.Inbound[i].Src
	}
	frame := capturetest.Frame(LinkTypeRaw, seal(t, out, capturetest.ICMPEcho(host, device, 1, 1, nil)))
	pkts := []packet{{frame, frame, FailedICV, 0}}
	got, st := decrypt(t, build(t, LinkTypeRaw, false, pkts), wrong.All(), Options{})
	check(t, pkts, got, st)
}

func TestOrderManyWorkers(t *testing.T) {
	f, out, back := session(t, 4, safile.Options{Suite: esp.SuiteAES128GCM16})
	pkts := traffic(t, LinkTypeEthernet, out, back, 500)
	// Reorder a little: swap neighbours (within the replay window: both
	// still decrypt), then duplicate one (replayed).
	pkts[10], pkts[11] = pkts[11], pkts[10]
	dup := pkts[20]
	dup.result, dup.want = Replayed, dup.frame
	pkts = append(pkts, dup)
	for _, w := range []int{1, 2, 7} {
		got, st := decrypt(t, build(t, LinkTypeEthernet, true, pkts), f.All(), Options{Workers: w, Window: 3 * w})
		check(t, pkts, got, st)
	}
	// Default windows: packets travel in full batches of 64, and a batch
	// cut short by the end of the capture, in both formats.
	for _, ng := range []bool{false, true} {
		for _, w := range []int{0, 1, 3} {
			got, st := decrypt(t, build(t, LinkTypeEthernet, ng, pkts), f.All(), Options{Workers: w})
			check(t, pkts, got, st)
		}
	}
}

func TestMixedInterfacesPcapng(t *testing.T) {
	f, out, _ := session(t, 5, safile.Options{Suite: esp.SuiteAES128CTRHMACSHA256})
	ip := capturetest.ICMPEcho(host, device, 1, 1, []byte("x"))
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriter(&b, LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddInterface(pcapgo.NgInterface{Name: "sl0", LinkType: LinkTypeSLIP}); err != nil {
		t.Fatal(err)
	}
	e := capturetest.Frame(LinkTypeEthernet, seal(t, out, ip))
	s := capturetest.Frame(LinkTypeSLIP, seal(t, out, ip))
	ci := func(idx, n int) gopacket.CaptureInfo {
		return gopacket.CaptureInfo{InterfaceIndex: idx, CaptureLength: n, Length: n}
	}
	if err := w.WritePacket(ci(1, len(s)), s); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(ci(0, len(e)), e); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	got, st := decrypt(t, b.Bytes(), f.All(), Options{})
	frames, lts := readAll(t, got)
	if st.Decrypted != 2 || len(frames) != 2 {
		t.Fatalf("stats %+v", st)
	}
	if lts[0] != LinkTypeRaw || lts[1] != LinkTypeEthernet {
		t.Errorf("link types %v", lts)
	}
	if !bytes.Equal(frames[0], ip) || !bytes.Equal(frames[1], capturetest.Frame(LinkTypeEthernet, ip)) {
		t.Error("frames differ")
	}
}

func TestTruncatedAndEmpty(t *testing.T) {
	f, out, back := session(t, 6, safile.Options{})
	pkts := traffic(t, LinkTypeRaw, out, back, 5)
	for _, ng := range []bool{false, true} {
		full := build(t, LinkTypeRaw, ng, pkts)
		var o bytes.Buffer
		st, err := DecryptCapture(context.Background(), bytes.NewReader(full[:len(full)-10]), &o, f.All(), Options{})
		if err != nil || !st.Truncated || st.Packets != uint64(len(pkts)-1) {
			t.Errorf("ng=%v: truncated capture: %v %+v", ng, err, st)
		}
		frames, _ := readAll(t, o.Bytes())
		if len(frames) != len(pkts)-1 {
			t.Errorf("ng=%v: %d frames written", ng, len(frames))
		}
		// Header only: a valid, empty output.
		hdr := build(t, LinkTypeRaw, ng, nil)
		got, st := decrypt(t, hdr, f.All(), Options{})
		if frames, _ := readAll(t, got); len(frames) != 0 || st.Packets != 0 {
			t.Errorf("ng=%v: empty capture: %+v", ng, st)
		}
	}
	for _, junk := range [][]byte{nil, []byte("GET / HTTP/1.1\r\n\r\n"), {0x1f, 0x8b, 0, 0}} {
		_, err := DecryptCapture(context.Background(), bytes.NewReader(junk), io.Discard, f.All(), Options{})
		if !errors.Is(err, ErrFormat) {
			t.Errorf("%q: %v, want ErrFormat", junk, err)
		}
	}
}

// decryptAllocating decrypts capture with one worker: its result and the
// bytes the process allocated meanwhile.
func decryptAllocating(capture []byte, sas []*esp.SA) (Stats, uint64, error) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	st, err := DecryptCapture(context.Background(), bytes.NewReader(capture), io.Discard, sas, Options{Workers: 1})
	runtime.ReadMemStats(&after)
	return st, after.TotalAlloc - before.TotalAlloc, err
}

// TestGzipRecordBounded checks that a record's length field cannot make
// the reader allocate more than maxRecordLen, whatever the snap length
// says: a ~130 KB gzip of one 128 MiB record of zeros (snaplen
// 0xffffffff) made decrypt allocate ~640 MB while the record's bytes
// arrived. The record is refused with an error naming it, in pcap and in
// pcapng (where pcapgo reads the record, so the input it may read for one
// packet is bounded).
func TestGzipRecordBounded(t *testing.T) {
	const recLen = 128 << 20
	f, _, _ := session(t, 98, safile.Options{Suite: esp.SuiteAES128CBCHMACSHA1})
	for _, ng := range []bool{false, true} {
		var hdr, rec []byte
		if ng {
			hdr = build(t, LinkTypeEthernet, true, nil)
			rec = make([]byte, 28) // EPB up to its data
			binary.LittleEndian.PutUint32(rec[0:], 6)
			binary.LittleEndian.PutUint32(rec[4:], 32+recLen)
			binary.LittleEndian.PutUint32(rec[20:], recLen)
			binary.LittleEndian.PutUint32(rec[24:], recLen)
		} else {
			hdr = make([]byte, 24)
			binary.LittleEndian.PutUint32(hdr[0:], pcapMagicMicros)
			binary.LittleEndian.PutUint16(hdr[4:], 2)
			binary.LittleEndian.PutUint16(hdr[6:], 4)
			binary.LittleEndian.PutUint32(hdr[16:], 0xffffffff) // snap length
			binary.LittleEndian.PutUint32(hdr[20:], 1)          // Ethernet
			rec = make([]byte, 16)
			binary.LittleEndian.PutUint32(rec[8:], recLen)
			binary.LittleEndian.PutUint32(rec[12:], recLen)
		}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		zw.Write(hdr)
		zw.Write(rec)
		zero := make([]byte, 1<<20)
		for range recLen >> 20 {
			zw.Write(zero)
		}
		zw.Close()

		_, got, err := decryptAllocating(gz.Bytes(), f.All())
		if got > 32<<20 {
			t.Errorf("ng=%v: a %d KB capture made decrypt allocate %d MB", ng, gz.Len()>>10, got>>20)
		}
		if err == nil || !strings.Contains(err.Error(), "packet 1: ") || !strings.Contains(err.Error(), "262144") {
			t.Errorf("ng=%v: got %v, want the record refused", ng, err)
		}
	}
}

// TestGzipNameRecordsBounded: pcapgo keeps a section's name resolution
// records, each name a string, so that a name record of 64 KiB of zero
// bytes is 65,528 empty names: 1 MiB of string headers. A gzip capture
// that put a block of 15 of them (within the per-packet input bound)
// before each packet made decrypt hold 15 MiB per packet. Name resolution
// blocks (and decryption secrets) are dropped unread now; the packets
// between them are still decrypted.
func TestGzipNameRecordsBounded(t *testing.T) {
	const blocks, records, value = 16, 15, 65532 // IPv4 address and 65,528 bytes of names
	f, out, back := session(t, 98, safile.Options{Suite: esp.SuiteAES128CBCHMACSHA1})
	hdr := build(t, LinkTypeEthernet, true, nil)
	pkts := build(t, LinkTypeEthernet, true, traffic(t, LinkTypeEthernet, out, back, 64))[len(hdr):]
	nrb := make([]byte, 8+records*(4+value)+4+4)
	binary.LittleEndian.PutUint32(nrb[0:], 4)
	binary.LittleEndian.PutUint32(nrb[4:], uint32(len(nrb)))
	for r := range records {
		binary.LittleEndian.PutUint16(nrb[8+r*(4+value):], 1) // IPv4
		binary.LittleEndian.PutUint16(nrb[8+r*(4+value)+2:], value)
	}
	binary.LittleEndian.PutUint32(nrb[len(nrb)-4:], uint32(len(nrb))) // (the end record: zeros)
	dsb := make([]byte, 20)                                           // a decryption secrets block too
	binary.LittleEndian.PutUint32(dsb[0:], 0x0A)
	binary.LittleEndian.PutUint32(dsb[4:], 20)
	binary.LittleEndian.PutUint32(dsb[8:], 0x544c534b) // TLS key log
	binary.LittleEndian.PutUint32(dsb[12:], 4)
	binary.LittleEndian.PutUint32(dsb[16:], 20)
	// An unknown block of 8 bytes (no trailer), which pcapgo skips, in
	// front: a filter that stopped following blocks there let the names
	// through.
	for _, odd := range [][]byte{nil, {0xad, 0x0b, 0, 0, 8, 0, 0, 0}} {
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		zw.Write(hdr)
		zw.Write(odd)
		var n uint64
		for p := pkts; len(p) > 0; n++ {
			if n < blocks {
				zw.Write(nrb)
				zw.Write(dsb)
			}
			k := binary.LittleEndian.Uint32(p[4:])
			zw.Write(p[:k])
			p = p[k:]
		}
		zw.Close()

		st, got, err := decryptAllocating(gz.Bytes(), f.All())
		if err != nil || st.Packets != n || st.Decrypted != 64 {
			t.Fatalf("odd block %x: %d packets, 64 ESP: %+v, %v", odd, n, st, err)
		}
		if got > 32<<20 {
			t.Errorf("odd block %x: a %d KB capture with %d name records made decrypt allocate %d MB", odd, gz.Len()>>10, blocks*records, got>>20)
		}
	}
}

// TestRecordLimit checks the limit on uncompressed input: a record of
// maxRecordLen bytes is read, one byte more is refused, even under a snap
// length that allows it (pcap) or without one (pcapng).
func TestRecordLimit(t *testing.T) {
	f, _, _ := session(t, 99, safile.Options{})
	for _, ng := range []bool{false, true} {
		for _, n := range []int{maxRecordLen, maxRecordLen + 1} {
			var b bytes.Buffer
			data := make([]byte, n)
			ci := gopacket.CaptureInfo{CaptureLength: n, Length: n}
			if ng {
				w, err := pcapgo.NewNgWriterInterface(&b, pcapgo.NgInterface{LinkType: LinkTypeRaw}, pcapgo.NgWriterOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if err := w.WritePacket(ci, data); err != nil {
					t.Fatal(err)
				}
				w.Flush()
			} else {
				w := pcapgo.NewWriter(&b)
				if err := w.WriteFileHeader(0xffffffff, LinkTypeRaw); err != nil {
					t.Fatal(err)
				}
				if err := w.WritePacket(ci, data); err != nil {
					t.Fatal(err)
				}
			}
			st, err := DecryptCapture(context.Background(), &b, io.Discard, f.All(), Options{})
			if n == maxRecordLen && (err != nil || st.Packets != 1) {
				t.Errorf("ng=%v, %d bytes: %v %+v", ng, n, err, st)
			}
			if want := "reading packet 1: record of 262145 bytes exceeds the 262144-byte limit"; n > maxRecordLen && (err == nil || !strings.Contains(err.Error(), want)) {
				t.Errorf("ng=%v, %d bytes: got %v, want %q", ng, n, err, want)
			}
		}
	}
}

// TestPcapngInterfaceLimit checks that a section's interfaces are bounded:
// pcapgo keeps every interface of a section, and a gzip of 20-byte IDBs
// costs nearly nothing per interface.
func TestPcapngInterfaceLimit(t *testing.T) {
	f, out, back := session(t, 97, safile.Options{})
	pkt := traffic(t, LinkTypeRaw, out, back, 1)[0]
	for _, n := range []int{maxNgInterfaces, maxNgInterfaces + 1} {
		var b bytes.Buffer
		w, err := pcapgo.NewNgWriterInterface(&b, pcapgo.NgInterface{LinkType: LinkTypeRaw}, pcapgo.NgWriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for range n - 1 {
			if _, err := w.AddInterface(pcapgo.NgInterface{LinkType: LinkTypeRaw}); err != nil {
				t.Fatal(err)
			}
		}
		ci := gopacket.CaptureInfo{CaptureLength: len(pkt.frame), Length: len(pkt.frame)}
		if err := w.WritePacket(ci, pkt.frame); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		_, err = DecryptCapture(context.Background(), &b, io.Discard, f.All(), Options{})
		if tooMany := err != nil && strings.Contains(err.Error(), "interfaces, more than"); tooMany != (n > maxNgInterfaces) {
			t.Errorf("%d interfaces: %v", n, err)
		}
	}
}

func TestUnrepresentable(t *testing.T) {
	// An IPv6 packet tunnelled in IPv4 cannot be written on LINKTYPE_IPV4.
	f, out, _ := session(t, 7, safile.Options{Mode: esp.Tunnel})
	v6 := make([]byte, 40)
	v6[0] = 0x60
	v6[6] = 59 // no next header
	v6[7] = 64
	copy(v6[8:], netip.MustParseAddr("2001:db8::1").AsSlice())
	copy(v6[24:], netip.MustParseAddr("2001:db8::2").AsSlice())
	frame := seal(t, out, v6)
	pkts := []packet{{frame, frame, Unrepresentable, 0}}
	got, st := decrypt(t, build(t, LinkTypeIPv4, false, pkts), f.All(), Options{})
	check(t, pkts, got, st)
	// The same on Ethernet works, with the EtherType changed to IPv6.
	e := capturetest.Frame(LinkTypeEthernet, frame)
	pkts = []packet{{e, capturetest.Frame(LinkTypeEthernet, v6), Decrypted, 0}}
	f2, _, _ := session(t, 7, safile.Options{Mode: esp.Tunnel})
	got, st = decrypt(t, build(t, LinkTypeEthernet, false, pkts), f2.All(), Options{})
	check(t, pkts, got, st)
}

func TestCancel(t *testing.T) {
	f, out, back := session(t, 8, safile.Options{})
	data := build(t, LinkTypeRaw, false, traffic(t, LinkTypeRaw, out, back, 50))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := DecryptCapture(ctx, bytes.NewReader(data), io.Discard, f.All(), Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriteError(t *testing.T) {
	f, out, back := session(t, 9, safile.Options{})
	data := build(t, LinkTypeRaw, false, traffic(t, LinkTypeRaw, out, back, 2000))
	_, err := DecryptCapture(context.Background(), bytes.NewReader(data), &failWriter{n: 100000}, f.All(), Options{})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("disk full")) {
		t.Errorf("got %v", err)
	}
}

func TestProgress(t *testing.T) {
	f, out, back := session(t, 10, safile.Options{})
	data := build(t, LinkTypeRaw, false, traffic(t, LinkTypeRaw, out, back, 3000))
	var calls int
	var last int64
	_, err := DecryptCapture(context.Background(), bytes.NewReader(data), io.Discard, f.All(), Options{
		Size: int64(len(data)),
		Progress: func(read, total int64) {
			calls++
			if read < last || total != int64(len(data)) {
				t.Errorf("progress %d/%d after %d", read, total, last)
			}
			last = read
		},
	})
	if err != nil || calls < 2 || last != int64(len(data)) {
		t.Errorf("err %v, %d calls, last %d of %d", err, calls, last, len(data))
	}
}

// TestConstantAllocations checks that the allocations of a run do not grow
// with the number of packets: buffers are recycled, not allocated per packet.
func TestConstantAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	f, out, back := session(t, 11, safile.Options{Suite: esp.SuiteAES128GCM16})
	small := build(t, LinkTypeEthernet, false, traffic(t, LinkTypeEthernet, out, back, 500))
	_, out2, back2 := session(t, 11, safile.Options{Suite: esp.SuiteAES128GCM16})
	large := build(t, LinkTypeEthernet, false, traffic(t, LinkTypeEthernet, out2, back2, 5000))
	run := func(data []byte) float64 {
		return testing.AllocsPerRun(2, func() {
			if _, err := DecryptCapture(context.Background(), bytes.NewReader(data), io.Discard, f.All(), Options{Workers: 2}); err != nil {
				t.Fatal(err)
			}
		})
	}
	a, b := run(small), run(large)
	// 4500 more packets (5400 frames): allow well under one allocation
	// per 10 packets for runtime noise.
	if b-a > 500 {
		t.Errorf("allocations grow with packets: %v for 600 frames, %v for 6000", a, b)
	}
	t.Logf("allocations per run: %v (600 frames), %v (6000 frames)", a, b)
}

func BenchmarkDecryptCapture(b *testing.B) {
	for _, s := range []esp.Suite{esp.SuiteAES128GCM16, esp.SuiteAES128CBCHMACSHA1, esp.SuiteAES128CCM16} {
		b.Run(s.String(), func(b *testing.B) {
			f, out, back := session(b, 12, safile.Options{Suite: s})
			data := build(b, LinkTypeEthernet, false, traffic(b, LinkTypeEthernet, out, back, 5000))
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecryptCapture(context.Background(), bytes.NewReader(data), io.Discard, f.All(), Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// With Stream, each packet of a live capture comes out before the next
// one goes in: the writer of the input waits for each decrypted packet on
// the output pipe (a bounded wait: a packet held back for a batch or a
// buffer fails the test instead of hanging it).
func TestStream(t *testing.T) {
	for _, ng := range []bool{false, true} {
		t.Run(fmt.Sprintf("ng=%v", ng), func(t *testing.T) {
			lt := layers.LinkTypeRaw
			f, out, back := session(t, 7, safile.Options{Suite: esp.Suites[0]})
			pkts := traffic(t, lt, out, back, 6)
			whole := build(t, lt, ng, pkts)
			// The capture's bytes packet by packet: the header, then
			// each record (build(n) - build(n-1)).
			var parts [][]byte
			prev := build(t, lt, ng, nil)
			parts = append(parts, prev)
			for i := range pkts {
				cur := build(t, lt, ng, pkts[:i+1])
				parts = append(parts, cur[len(prev):])
				prev = cur
			}
			if !bytes.Equal(bytes.Join(parts, nil), whole) {
				t.Fatal("capture does not split into records")
			}

			inR, inW := io.Pipe()
			outR, outW := io.Pipe()
			done := make(chan error, 1)
			go func() {
				_, err := DecryptCapture(context.Background(), inR, outW, f.All(), Options{Stream: true})
				outW.CloseWithError(err)
				done <- err
			}()
			// Read the output in the background, frame by frame.
			frames := make(chan []byte, len(pkts))
			readErr := make(chan error, 1)
			go func() {
				defer close(frames)
				var r interface {
					ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
				}
				var err error
				if ng {
					r, err = pcapgo.NewNgReader(outR, pcapgo.DefaultNgReaderOptions)
				} else {
					r, err = pcapgo.NewReader(outR)
				}
				for err == nil {
					var d []byte
					if d, _, err = r.ReadPacketData(); err == nil {
						frames <- append([]byte(nil), d...)
					}
				}
				readErr <- err
			}()
			if _, err := inW.Write(parts[0]); err != nil {
				t.Fatal(err)
			}
			for i, p := range parts[1:] {
				if _, err := inW.Write(p); err != nil {
					t.Fatal(err)
				}
				select {
				case got, ok := <-frames:
					if !ok {
						t.Fatalf("packet %d: output ended: %v", i, <-readErr)
					}
					if !bytes.Equal(got, pkts[i].want) {
						t.Fatalf("packet %d: got %x, want %x", i, got, pkts[i].want)
					}
				case <-time.After(20 * time.Second):
					t.Fatalf("packet %d: not written out while the input waits for the next one", i)
				}
			}
			inW.Close()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}
