package capture

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// pcap file header magics (https://www.tcpdump.org/manpages/pcap-savefile.5.html).
const (
	pcapMagicMicros = 0xa1b2c3d4
	pcapMagicNanos  = 0xa1b23c4d
	pcapHeaderLen   = 24
	pcapRecordLen   = 16
	// minRead is the least room worth a read at the end of a chunk; with
	// less, the next chunk is started.
	minRead = 64 << 10
	// chunksPerBatch is the most chunks one batch's packets lie in: the
	// reader ends a batch early when it reaches this many, so that the
	// chunk pool (chunksPerBatch+1 besides the batches in flight) cannot
	// run dry while the reader waits for it.
	chunksPerBatch = 2
)

// chunk is a piece of the input that packets are parsed in place from:
// jobs' data point into it, with no copy. It goes back to the pool when
// the last batch with packets in it has been written.
type chunk struct {
	buf  []byte
	refs atomic.Int32 // batches with packets in it, +1 while it is the reader's
	pool *chunkPool   // nil for a huge record's chunk, dropped when released
}

// chunkPool recycles chunks of one size, at most max of them.
type chunkPool struct {
	size int
	max  int
	made int // touched by the reader only
	free chan *chunk
}

func newChunkPool(size, max int) *chunkPool {
	return &chunkPool{size: size, max: max, free: make(chan *chunk, max)}
}

// get returns a chunk of at least n bytes, waiting for one to be released
// when max are in use.
func (p *chunkPool) get(ctx context.Context, n int) (*chunk, error) {
	if n > p.size {
		c := &chunk{buf: make([]byte, n)}
		c.refs.Store(1)
		return c, nil
	}
	var c *chunk
	select {
	case c = <-p.free:
	default:
		if p.made < p.max {
			p.made++
			c = &chunk{buf: make([]byte, p.size), pool: p}
		} else {
			select {
			case c = <-p.free:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	c.refs.Store(1)
	return c, nil
}

// release drops one reference to c.
func (c *chunk) release() {
	if c.refs.Add(-1) == 0 && c.pool != nil {
		c.pool.free <- c
	}
}

// pcapSource parses pcap records in place in chunks of the input, read
// with one large read each (pcapgo's Reader, which it replaces for pcap,
// copied every packet three times: through its own 4 KiB buffer, into its
// packet buffer, into the job). It accepts what pcapgo's Reader accepts,
// with the same errors, except records longer than maxRecordLen, which it
// refuses whatever the snap length says (recordTooLong).
type pcapSource struct {
	ctx     context.Context
	br      *bufio.Reader // what open peeked at: drained first
	raw     io.Reader     // then read directly
	pool    *chunkPool
	cur     *chunk
	r, w    int // unparsed input: cur.buf[r:w]
	eof     error
	order   binary.ByteOrder
	swapped bool   // big-endian file
	factor  uint32 // to nanoseconds: 1000 for microsecond files
	snap    uint32
	lt      layers.LinkType
}

// newPcapSource reads the file header from br; raw is what br reads from.
func newPcapSource(ctx context.Context, br *bufio.Reader, raw io.Reader, pool *chunkPool) (*pcapSource, error) {
	var h [pcapHeaderLen]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, err
	}
	s := &pcapSource{ctx: ctx, br: br, raw: raw, pool: pool}
	switch magic := binary.LittleEndian.Uint32(h[0:4]); magic {
	case pcapMagicNanos:
		s.order, s.factor = binary.LittleEndian, 1
	case pcapMagicMicros:
		s.order, s.factor = binary.LittleEndian, 1000
	case pcapMagicNanos>>24 | pcapMagicNanos>>8&0xff00 | pcapMagicNanos<<8&0xff0000 | pcapMagicNanos<<24&0xff000000:
		s.order, s.factor = binary.BigEndian, 1
	case pcapMagicMicros>>24 | pcapMagicMicros>>8&0xff00 | pcapMagicMicros<<8&0xff0000 | pcapMagicMicros<<24&0xff000000:
		s.order, s.factor = binary.BigEndian, 1000
	default:
		return nil, fmt.Errorf("Unknown magic %x", magic)
	}
	if v := s.order.Uint16(h[4:6]); v != 2 {
		return nil, fmt.Errorf("Unknown major version %d", v)
	}
	if v := s.order.Uint16(h[6:8]); v != 4 {
		return nil, fmt.Errorf("Unknown minor version %d", v)
	}
	s.swapped = s.order == binary.BigEndian
	s.snap = s.order.Uint32(h[16:20])
	s.lt = layers.LinkType(s.order.Uint32(h[20:24]))
	return s, nil
}

// u32 reads a header field in the file's byte order (inlined, unlike a
// call through binary.ByteOrder).
func (s *pcapSource) u32(b []byte) uint32 {
	v := binary.LittleEndian.Uint32(b)
	if s.swapped {
		v = bits.ReverseBytes32(v)
	}
	return v
}

func (s *pcapSource) resolution() gopacket.TimestampResolution {
	if s.factor == 1000 {
		return gopacket.TimestampResolutionMicrosecond
	}
	return gopacket.TimestampResolutionNanosecond
}

// read reads once into p: first what br holds, then from raw.
func (s *pcapSource) read(p []byte) (int, error) {
	if s.br != nil {
		if s.br.Buffered() > 0 {
			return s.br.Read(p)
		}
		s.br = nil
	}
	return s.raw.Read(p)
}

// need makes n unparsed bytes available in cur.buf[r:], reading as much as
// fits. It returns the end of input (io.EOF or a read error) when fewer
// are left.
func (s *pcapSource) need(n int) error {
	empty := 0
	for s.w-s.r < n {
		if s.eof != nil {
			return s.eof
		}
		if c := s.cur; c != nil {
			room, fits := len(c.buf)-s.w, len(c.buf)-s.r >= n
			// Read into this chunk when the record fits and the room is
			// worth a read, or when nothing in it is parsed yet (a small
			// input's only chunk; a huge record's chunk, grown below when
			// full).
			if room > 0 && (s.r == 0 || fits && room >= min(minRead, len(c.buf)/4)) {
				m, err := s.read(c.buf[s.w:])
				s.w += m
				if err != nil {
					s.eof = err
				} else if m == 0 {
					if empty++; empty == 100 {
						s.eof = io.ErrNoProgress
					}
				}
				continue
			}
		}
		// A new chunk, starting with the unparsed bytes (less than one
		// record). A record larger than a chunk gets a chunk of its own,
		// at most twice what was read of it, so that a length field
		// alone cannot make the reader allocate gigabytes.
		size := n
		if n > s.pool.size {
			size = min(n, max(2*(s.w-s.r), s.pool.size))
		}
		c, err := s.pool.get(s.ctx, size)
		if err != nil {
			return err
		}
		if s.cur != nil {
			s.w = copy(c.buf, s.cur.buf[s.r:s.w])
			s.cur.release()
		} else {
			s.w = 0
		}
		s.cur, s.r = c, 0
	}
	return nil
}

// recordTooLong is the error for a record of caplen bytes, above
// maxRecordLen.
func recordTooLong(caplen int) error {
	return fmt.Errorf("record of %d bytes exceeds the %d-byte limit", uint32(caplen), maxRecordLen)
}

// eofErr is what the end of input in a part of a record means: io.EOF
// when nothing of it was there, io.ErrUnexpectedEOF when some was.
func eofErr(got int, err error) error {
	if errors.Is(err, io.EOF) {
		if got == 0 {
			return io.EOF
		}
		return io.ErrUnexpectedEOF
	}
	return err
}

// next parses the next record into j; j.data points into a chunk, which b
// keeps a reference to until it is written.
func (s *pcapSource) next(b *batch, j *job) error {
	if err := s.need(pcapRecordLen); err != nil {
		return eofErr(s.w-s.r, err)
	}
	h := s.cur.buf[s.r : s.r+pcapRecordLen]
	sec, frac := s.u32(h[0:4]), s.u32(h[4:8])
	caplen, length := int(s.u32(h[8:12])), int(s.u32(h[12:16]))
	j.ci = gopacket.CaptureInfo{
		Timestamp:     time.Unix(int64(sec), int64(frac*s.factor)).UTC(),
		CaptureLength: caplen,
		Length:        length,
	}
	j.lt = s.lt
	if caplen > maxRecordLen || caplen < 0 {
		s.r += pcapRecordLen
		return recordTooLong(caplen)
	}
	if caplen > length {
		s.r += pcapRecordLen
		return fmt.Errorf("capture length exceeds original packet length: %d > %d", caplen, length)
	}
	if err := s.need(pcapRecordLen + caplen); err != nil {
		return eofErr(s.w-s.r-pcapRecordLen, err)
	}
	start := s.r + pcapRecordLen
	s.r = start + caplen
	j.data = s.cur.buf[start:s.r:s.r]
	if k := len(b.chunks); k == 0 || b.chunks[k-1] != s.cur {
		s.cur.refs.Add(1)
		b.chunks = append(b.chunks, s.cur)
	}
	return nil
}

// full reports whether b may take no more packets: its packets lie in as
// many chunks as a batch may hold.
func (s *pcapSource) full(b *batch) bool { return len(b.chunks) >= chunksPerBatch }

// done releases the reader's chunk.
func (s *pcapSource) done() {
	if s.cur != nil {
		s.cur.release()
		s.cur = nil
	}
}
