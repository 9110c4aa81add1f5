package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/safile"
)

// ngPackets reads a pcapng stream with pcapgo: its packets (data and
// interface) until the end, whether the end was clean, and the most name
// records pcapgo held at once.
func ngPackets(r io.Reader) (pkts [][]byte, clean bool, names int) {
	nr, err := pcapgo.NewNgReader(r, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
	if err != nil {
		return nil, false, 0
	}
	for len(pkts) < 1000 {
		d, ci, err := nr.ReadPacketData()
		names = max(names, nr.NNames())
		if err != nil {
			return pkts, errors.Is(err, io.EOF), names
		}
		pkts = append(pkts, append([]byte{byte(ci.InterfaceIndex)}, d...))
	}
	return pkts, false, names
}

// ngBlock is a pcapng block of type typ around body (little-endian).
func ngBlock(typ uint32, body []byte) []byte {
	n := uint32(12 + len(body))
	b := binary.LittleEndian.AppendUint32(nil, typ)
	b = binary.LittleEndian.AppendUint32(b, n)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, n)
}

// FuzzNgFilter: no name record reaches pcapgo through ngFilter, whatever
// the input; and the packets pcapgo reads through it are the ones it reads
// without it, wherever pcapgo reads the input to its end (the filter never
// adds an error a clean input did not have).
func FuzzNgFilter(f *testing.F) {
	_, out, back := session(f, 97, safile.Options{Suite: esp.SuiteAES128CBCHMACSHA1})
	hdr := build(f, LinkTypeEthernet, true, nil)
	full := build(f, LinkTypeEthernet, true, traffic(f, LinkTypeEthernet, out, back, 3))
	f.Add(full)
	f.Add(full[:len(full)-5])
	nrb := ngBlock(4, []byte{1, 0, 8, 0, 10, 0, 0, 1, 'a', 0, 'b', 0, 0, 0, 0, 0})
	dsb := ngBlock(10, []byte{'K', 'S', 'L', 'T', 4, 0, 0, 0, 'x', 'y', 'z', '\n'})
	custom := ngBlock(0xBAD, []byte{0, 0, 0, 0})
	mixed := append(bytes.Clone(hdr), nrb...)
	mixed = append(mixed, dsb...)
	mixed = append(mixed, full[len(hdr):]...)
	mixed = append(mixed, custom...)
	f.Add(mixed)
	// A second, big-endian section.
	be := []byte{0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 28, 0x1a, 0x2b, 0x3c, 0x4d, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 28}
	be = append(be, 0, 0, 0, 1, 0, 0, 0, 20, 0, 101, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20)  // IDB, raw IP
	be = append(be, 0, 0, 0, 4, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 16)                // empty NRB
	be = append(be, 0, 0, 0, 3, 0, 0, 0, 20, 0, 0, 0, 4, 0x45, 0, 0, 4, 0, 0, 0, 20) // SPB
	f.Add(append(bytes.Clone(mixed), be...))
	// Blocks pcapgo skips that are not 4-byte aligned, or have no
	// trailer, before name records: a filter that stopped following
	// blocks there let the names through.
	for _, odd := range [][]byte{
		{0xad, 0x0b, 0, 0, 8, 0, 0, 0},
		{0xad, 0x0b, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0, 0},
		{0xad, 0x0b, 0, 0, 4, 0, 0, 0},
	} {
		in := append(append(bytes.Clone(hdr), odd...), nrb...)
		f.Add(append(in, full[len(hdr):]...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, gotClean, names := ngPackets(newNgFilter(bytes.NewReader(data)))
		if names != 0 {
			t.Fatalf("%d name records reached pcapgo through the filter", names)
		}
		want, clean, _ := ngPackets(bytes.NewReader(data))
		if !clean {
			return
		}
		if !gotClean || len(got) != len(want) {
			t.Fatalf("through the filter %d packets (clean %v), without %d", len(got), gotClean, len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("packet %d: %x through the filter, %x without", i, got[i], want[i])
			}
		}
	})
}
