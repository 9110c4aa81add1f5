package capture

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/safile"
)

// FuzzPcapSource checks pcapSource against pcapgo's Reader, which it
// replaced: the same header errors, the same packets and metadata, and
// the same end (clean, cut off or an error) on any input, except that it
// refuses records longer than maxRecordLen.
func FuzzPcapSource(f *testing.F) {
	_, out, back := session(f, 98, safile.Options{Suite: esp.SuiteAES128CBCHMACSHA1})
	full := build(f, LinkTypeEthernet, false, traffic(f, LinkTypeEthernet, out, back, 4))
	f.Add(full, 0)
	f.Add(full[:len(full)-7], 64)
	f.Add(full[:30], 0)
	big := bytes.Clone(full)
	big[4*4+8] = 0xff // first record's caplen
	f.Add(big, 100)
	// Big-endian, nanoseconds: header and two records of 20 and 3 bytes.
	be := []byte{0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 1}
	be = append(be, 0x5f, 0, 0, 1, 0x3b, 0x9a, 0xc9, 0xff, 0, 0, 0, 20, 0, 0, 0, 60)
	be = append(be, make([]byte, 20)...)
	be = append(be, 0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0, 3, 1, 2, 3)
	f.Add(be, 0)
	f.Fuzz(func(t *testing.T, data []byte, bufsize int) {
		bufsize = 16 + bufsize&0xffff
		pr, perr := pcapgo.NewReader(bytes.NewReader(data))
		// Tiny chunks and buffers: records straddle chunks and outgrow them.
		rd := bytes.NewReader(data)
		src, serr := newPcapSource(context.Background(), bufio.NewReaderSize(rd, bufsize), rd, newChunkPool(bufsize, 3))
		if (perr == nil) != (serr == nil) {
			if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
				return // pcapgo opens gzip itself; open() does that before
			}
			t.Fatalf("header: pcapgo %v, pcapSource %v", perr, serr)
		}
		if perr != nil {
			return
		}
		if pr.LinkType() != src.lt || pr.Snaplen() != src.snap || pr.Resolution() != src.resolution() {
			t.Fatalf("header fields differ")
		}
		var j job
		var b batch
		defer src.done()
		for i := 0; ; i++ {
			want, ci, werr := pr.ZeroCopyReadPacketData()
			gerr := src.next(&b, &j)
			if gerr != nil && gerr.Error() == recordTooLong(j.ci.CaptureLength).Error() {
				return // refused whatever the snap length allows (pcapgo reads it)
			}
			if (werr == nil) != (gerr == nil) || (werr != nil && !sameEnd(werr, gerr)) {
				t.Fatalf("packet %d: pcapgo %v, pcapSource %v", i, werr, gerr)
			}
			if werr != nil {
				return
			}
			if !bytes.Equal(want, j.data) || !ci.Timestamp.Equal(j.ci.Timestamp) || ci.CaptureLength != j.ci.CaptureLength || ci.Length != j.ci.Length {
				t.Fatalf("packet %d differs", i)
			}
			for _, c := range b.chunks {
				c.release()
			}
			b.chunks = b.chunks[:0]
		}
	})
}

func sameEnd(a, b error) bool {
	for _, e := range []error{io.EOF, io.ErrUnexpectedEOF} {
		if errors.Is(a, e) || errors.Is(b, e) {
			return errors.Is(a, e) && errors.Is(b, e)
		}
	}
	return a.Error() == b.Error()
}
