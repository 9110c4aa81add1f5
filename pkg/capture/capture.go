// Package capture decrypts ESP in packet captures: it reads pcap files (in
// place, in chunks of the input) and pcapng files (through gopacket's
// pcapgo), finds ESP in IPv4 and IPv6 (IP protocol
// 50 and ESP-in-UDP on port 4500, RFC 3948), decrypts every packet that
// authenticates under one of the given SAs with pkg/esp, and writes a
// capture of the same format and link type in which those packets are
// replaced by their inner packets, so that Wireshark and tshark dissect the
// plaintext. Every other packet is copied unchanged.
//
// DecryptCapture streams: memory use is bounded by the in-flight window
// whatever the capture size. Packets are authenticated and decrypted by
// one worker per CPU and written in capture order, where the anti-replay
// check runs (RFC 4303 §3.4.3), so replays are judged exactly as a receiver
// would.
//
// MSSL records (UDP port 7412) are decrypted too when Options.MSSL is set
// (a UDPOpener, e.g. pkg/mssl's Decrypter from a key log): their UDP payload
// is replaced by the plaintext, in capture order.
//
// Link types: Ethernet (1, with up to two VLAN tags), SLIP (8, with the
// 16-byte LINKTYPE_SLIP header), raw IP (101), IPv4 (228), IPv6 (229),
// Linux cooked capture SLL (113) and SLL2 (276). SLIP input is written as
// raw IP (see OutputLinkType): Wireshark cannot dissect LINKTYPE_SLIP.
package capture

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/mstool/mstool/pkg/esp"
)

// ErrFormat reports input that is not a pcap or pcapng capture.
var ErrFormat = errors.New("capture: not a pcap or pcapng file")

// Options tunes DecryptCapture. The zero value is fine.
type Options struct {
	// Workers is the number of decrypting goroutines; 0 means GOMAXPROCS.
	Workers int
	// Window bounds the packets in flight between reader and writer; 0
	// means 256 per worker (at least 512). Memory use is about
	// Window × 2 × the largest packet. Packets travel in batches of up to
	// 64 (fewer when the window is small), so that the pipeline's
	// hand-overs cost per batch, not per packet.
	Window int
	// Size is the input's total size in bytes, passed on to Progress
	// (0 when unknown). An input known to be smaller than the buffers
	// (1 MiB to read, 256 KiB chunks of pcap and 256 KiB to write) gets
	// buffers of its size.
	Size int64
	// Progress, when set, is called from the writing goroutine about every
	// MiB of input read and once at the end.
	Progress func(read, total int64)
	// MSSL, when set, decrypts MSSL records (UDP port 7412) too: it sees
	// every IPv4 UDP datagram that is not ESP, in capture order.
	MSSL UDPOpener
	// Stream delivers each packet as soon as it is read (a live capture
	// on a pipe, `tcpdump -U -w - | mstool decrypt - -o -`): batches of
	// one packet, and the output flushed whenever the writer has caught
	// up with the reader. Without it, packets wait for a full batch and
	// the output for its buffer to fill.
	Stream bool
}

// Format is a capture file format.
type Format uint8

// Capture file formats.
const (
	PCAP Format = iota + 1
	PCAPNG
)

func (f Format) String() string {
	switch f {
	case PCAP:
		return "pcap"
	case PCAPNG:
		return "pcapng"
	}
	return "unknown"
}

const (
	pcapngMagic   = 0x0a0d0d0a // section header block type
	gzipMagic     = 0x1f8b
	progressEvery = 1 << 20
	readBufSize   = 1 << 20
	chunkBytes    = 256 << 10 // pcap input chunk: parsed while still in the cache
	writeBufSize  = 256 << 10
	minBufSize    = 4096   // buffer floor when Options.Size says the input is small
	defaultSnap   = 262144 // libpcap's MAXIMUM_SNAPLEN
	minOutCap     = 256    // output room beyond the input frame (link header changes)
	initialBuf    = 2048   // covers Ethernet MTU-sized frames without regrowth
	maxBatch      = 64     // packets per batch
	batchBytes    = 256 << 10
	// maxRecordLen is the longest record read, in bytes, whatever the
	// file's snap length says (up to 4 GiB): libpcap's MAXIMUM_SNAPLEN,
	// beyond any ESP or MSSL frame (64 KiB + a link header). A gzip
	// capture inflates about 1000:1, so memory that followed a record's
	// length, even as its bytes arrive, followed an attacker's length
	// field times the deflate ratio.
	maxRecordLen = 262144
)

// roundUp returns the next power of two >= n, so buffers regrow rarely.
func roundUp(n int) int {
	c := initialBuf
	for c < n {
		c *= 2
	}
	return c
}

// countingReader counts the bytes read, for progress reports.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// job is one packet travelling through the pipeline. Jobs are recycled, so
// their buffers are reused and steady-state processing does not allocate.
type job struct {
	data     []byte // the captured frame (read-only: pcap's point into a chunk)
	out      []byte // output buffer; res aliases it
	res      []byte // decrypted frame when o.result is Decrypted
	ci       gopacket.CaptureInfo
	lt       layers.LinkType
	opts     pcapgo.NgPacketOptions
	hasOpts  bool
	iface    int                 // pcapng: output interface id
	newIface *pcapgo.NgInterface // pcapng: interface to add before this packet
	o        opened
}

// batch is consecutive packets handed through the pipeline together: one
// channel operation per stage for up to maxBatch packets.
type batch struct {
	jobs   []job
	n      int      // jobs[:n] hold packets
	chunks []*chunk // pcap: the input chunks jobs' data point into
	done   chan struct{}
}

// source reads packets from either format.
type source interface {
	// next reads the next frame of batch b into j.data and fills j's
	// metadata. j.data is read-only: it may point into the input.
	next(b *batch, j *job) error
	// full reports whether b can take no more packets.
	full(b *batch) bool
	// done is called when reading ends.
	done()
}

// sink writes packets in the input's format.
type sink interface {
	write(j *job, frame []byte) error
	flush() error
}

// DecryptCapture reads a pcap or pcapng capture from in, decrypts the ESP
// packets that authenticate under one of sas, and writes the resulting
// capture to out (same format family and link types). It returns the
// statistics and the first read, write or cancellation error. A capture
// that ends in the middle of a record is not an error: Stats.Truncated is
// set and everything before is written.
func DecryptCapture(ctx context.Context, in io.Reader, out io.Writer, sas []*esp.SA, opts Options) (Stats, error) {
	var stats Stats
	var t *saTable
	if len(sas) > 0 || opts.MSSL == nil {
		var err error
		if t, err = newSATable(sas); err != nil {
			return stats, err
		}
	} else {
		t = &saTable{}
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	window := opts.Window
	if window <= 0 {
		window = max(256*workers, 512)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// window packets in batches of per, at least two batches per worker
	// plus the reader's and the writer's.
	per := min(maxBatch, max(1, window/(2*workers+2)))
	if opts.Stream {
		per = 1
	}
	nb := max(1, window/per)

	cr := &countingReader{r: in}
	src, snk, err := open(ctx, cr, out, opts.Size, nb+chunksPerBatch+1)
	if err != nil {
		return stats, err
	}
	stats.Format = PCAP
	if _, ok := src.(*ngSource); ok {
		stats.Format = PCAPNG
	}

	free := make(chan *batch, nb)
	for range nb {
		b := &batch{jobs: make([]job, per), done: make(chan struct{}, 1)}
		for i := range b.jobs {
			b.jobs[i] = job{out: make([]byte, 0, initialBuf+minOutCap)}
		}
		free <- b
	}
	work := make(chan *batch, nb)
	order := make(chan *batch, nb)

	var readErr error
	var truncated bool
	go func() {
		defer close(order)
		defer close(work)
		defer src.done()
		n := uint64(0)
		for {
			var b *batch
			select {
			case b = <-free:
			case <-ctx.Done():
				return
			}
			var err error
			for size := 0; b.n < len(b.jobs) && size < batchBytes && !src.full(b); b.n++ {
				j := &b.jobs[b.n]
				n++
				if err = src.next(b, j); err != nil {
					break
				}
				if c := len(j.data) + minOutCap; cap(j.out) < c {
					j.out = make([]byte, 0, roundUp(c))
				}
				size += len(j.data)
			}
			if b.n > 0 {
				work <- b
				order <- b
			}
			if err != nil {
				switch {
				case ctx.Err() != nil: // reported below
				case errors.Is(err, io.EOF):
				case errors.Is(err, io.ErrUnexpectedEOF):
					truncated = true
				default:
					readErr = fmt.Errorf("capture: reading packet %d: %w", n, err)
				}
				return
			}
		}
	}()

	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				for i := range b.n {
					j := &b.jobs[i]
					j.res, j.o = t.open(j.out[:0], j.lt, j.data)
				}
				b.done <- struct{}{}
			}
		}()
	}

	var writeErr error
	lastReport := int64(0)
	for b := range order {
		<-b.done
		for i := range b.n {
			j := &b.jobs[i]
			if writeErr != nil {
				break // drain so that the reader and workers finish
			}
			r := commit(&j.o)
			if r == Other && opts.MSSL != nil {
				// Sequential: MSSL follows handshakes in capture order.
				j.res, r = openUDP(opts.MSSL, j.out[:0], j.lt, j.data)
			}
			stats.add(r)
			frame := j.data
			if r == Decrypted || r == MSSLDecrypted {
				frame = j.res
				j.ci.CaptureLength = len(frame)
				j.ci.Length = len(frame)
			}
			if err := snk.write(j, frame); err != nil {
				writeErr = fmt.Errorf("capture: writing: %w", err)
				cancel()
			}
			j.newIface = nil
			j.o = opened{}
		}
		b.n = 0
		for i, c := range b.chunks {
			c.release()
			b.chunks[i] = nil
		}
		b.chunks = b.chunks[:0]
		free <- b
		if opts.Stream && writeErr == nil && len(order) == 0 {
			if err := snk.flush(); err != nil {
				writeErr = fmt.Errorf("capture: writing: %w", err)
				cancel()
			}
		}
		if opts.Progress != nil {
			if n := cr.n.Load(); n-lastReport >= progressEvery {
				lastReport = n
				opts.Progress(n, opts.Size)
			}
		}
	}
	wg.Wait()
	stats.Truncated = truncated
	if writeErr != nil {
		return stats, writeErr
	}
	if readErr != nil {
		return stats, readErr
	}
	if err := ctx.Err(); err != nil {
		return stats, err
	}
	if err := snk.flush(); err != nil {
		return stats, fmt.Errorf("capture: writing: %w", err)
	}
	if opts.Progress != nil {
		opts.Progress(cr.n.Load(), opts.Size)
	}
	return stats, nil
}

// bufSize is the size of a read or write buffer for an input of size
// bytes (0: unknown): limit, unless the input is known to be smaller. A small
// capture then costs kilobytes instead of the full-size buffers per call.
func bufSize(limit int, size int64) int {
	if size <= 0 || size >= int64(limit) {
		return limit
	}
	return int(size) + minBufSize
}

// open detects the input format and prepares the matching writer; size is
// the input's size when known (Options.Size), to size the buffers, and
// chunks the number of input chunks pcap input may use.
func open(ctx context.Context, in io.Reader, out io.Writer, size int64, chunks int) (source, sink, error) {
	chunkSize := bufSize(chunkBytes, size)
	var raw io.Reader = in
	br := bufio.NewReaderSize(in, bufSize(readBufSize, size))
	magic, err := br.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("%w: file is empty or shorter than a header", ErrFormat)
		}
		return nil, nil, fmt.Errorf("capture: reading: %w", err)
	}
	var r io.Reader = br
	if binary.BigEndian.Uint16(magic) == gzipMagic {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: bad gzip data: %v", ErrFormat, err)
		}
		br = bufio.NewReaderSize(gz, readBufSize)
		raw, chunkSize = gz, chunkBytes
		if magic, err = br.Peek(4); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		r = br
	}
	if binary.LittleEndian.Uint32(magic) == pcapngMagic {
		return openNg(r, out)
	}
	src, err := newPcapSource(ctx, br, raw, newChunkPool(chunkSize, chunks))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	snk, err := newPcapSink(out, src.resolution(), src.snap, src.lt, bufSize(writeBufSize, size))
	if err != nil {
		return nil, nil, fmt.Errorf("capture: writing: %w", err)
	}
	return src, snk, nil
}

// newPcapSink writes the pcap file header for input of resolution res,
// snap length snap and link type lt, through a buffer of bufSize bytes.
func newPcapSink(out io.Writer, res gopacket.TimestampResolution, snap uint32, lt layers.LinkType, bufSize int) (*pcapSink, error) {
	bw := bufio.NewWriterSize(out, bufSize)
	var w *pcapgo.Writer
	if res == gopacket.TimestampResolutionNanosecond {
		w = pcapgo.NewWriterNanos(bw)
	} else {
		w = pcapgo.NewWriter(bw)
	}
	if snap == 0 {
		snap = defaultSnap
	}
	if err := w.WriteFileHeader(snap, OutputLinkType(lt)); err != nil {
		return nil, err
	}
	return &pcapSink{w: w, bw: bw}, nil
}

// OutputLinkType is the link type DecryptCapture writes for input of link
// type lt: the same, except that SLIP becomes raw IP (LINKTYPE_RAW), since
// Wireshark has no dissector for LINKTYPE_SLIP. The 16-byte SLIP header
// (direction and compression history) is dropped.
func OutputLinkType(lt layers.LinkType) layers.LinkType {
	if lt == LinkTypeSLIP {
		return LinkTypeRaw
	}
	return lt
}

// outputFrame converts a frame of link type lt for OutputLinkType(lt),
// adjusting ci to match.
func outputFrame(lt layers.LinkType, ci *gopacket.CaptureInfo, frame []byte) []byte {
	if lt != LinkTypeSLIP {
		return frame
	}
	n := min(slipHeaderLen, len(frame))
	ci.CaptureLength = len(frame) - n
	ci.Length = max(ci.Length-n, ci.CaptureLength)
	return frame[n:]
}

type pcapSink struct {
	w  *pcapgo.Writer
	bw *bufio.Writer
}

func (s *pcapSink) write(j *job, frame []byte) error {
	frame = outputFrame(j.lt, &j.ci, frame)
	return s.w.WritePacket(j.ci, frame)
}
func (s *pcapSink) flush() error { return s.bw.Flush() }

// Limits on pcapng input beyond maxRecordLen. pcapgo's NgReader trusts the
// length fields of a block (capture and option lengths, even past the
// block's end), allocates as the bytes arrive and keeps a section's
// interfaces; through gzip a few bytes of file arrive as megabytes. These
// bound what it may read and keep (ngFilter keeps the blocks it would
// keep most of, names and secrets, from it).
const (
	// maxNgRead is the most input pcapgo may read for one packet: its
	// block (a record of at most maxRecordLen) and the blocks before it.
	maxNgRead = 1 << 20
	// maxNgInterfaces bounds the interfaces of a section and of the output
	// (every section's interfaces are renumbered into one).
	maxNgInterfaces = 4096
	maxNgOutput     = 65536
	// maxNgNames bounds a section's name resolution records, which
	// ngFilter keeps from pcapgo: a backstop.
	maxNgNames = 256
)

// ngBudget is the input of pcapgo's NgReader: it passes at most left bytes,
// which ngSource.next renews for every packet.
type ngBudget struct {
	r    io.Reader
	left int
}

func (b *ngBudget) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errNgBudget
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= n
	return n, err
}

var errNgBudget = fmt.Errorf("more than %d bytes of pcapng blocks for one packet (records are limited to %d bytes)", maxNgRead, maxRecordLen)

// ngSource reads pcapng with mixed link types; interfaces of every section
// are renumbered into the single section the writer produces.
type ngSource struct {
	r       *pcapgo.NgReader
	in      *ngBudget
	section int
	ids     map[[2]int]int // (section, interface) → output interface id
}

func openNg(r io.Reader, out io.Writer) (source, sink, error) {
	s := &ngSource{ids: map[[2]int]int{}, in: &ngBudget{r: newNgFilter(r), left: maxNgRead}}
	nr, err := pcapgo.NewNgReader(s.in, pcapgo.NgReaderOptions{
		WantMixedLinkType:  true,
		SkipUnknownVersion: true,
		SectionEndCallback: func([]pcapgo.NgInterface, pcapgo.NgSectionInfo) { s.section++ },
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	s.r = nr
	info := nr.SectionInfo()
	info.Application = "mstool decrypt"
	// The writer starts with the first packet's interface.
	return s, &ngSink{out: out, info: info}, nil
}

func (s *ngSource) full(*batch) bool { return false }
func (s *ngSource) done()            {}

func (s *ngSource) next(_ *batch, j *job) error {
	// What pcapgo's reader buffered ahead was counted against the previous
	// packet: at most its buffer, far below the budget.
	s.in.left = maxNgRead
	data, ci, opts, err := s.r.ZeroCopyReadPacketDataWithOptions()
	if err != nil {
		if s.in.left <= 0 {
			return errNgBudget // pcapgo may have wrapped it with %v
		}
		return err
	}
	if ci.CaptureLength > maxRecordLen {
		return recordTooLong(ci.CaptureLength)
	}
	if n := s.r.NInterfaces(); n > maxNgInterfaces {
		return fmt.Errorf("pcapng section with %d interfaces, more than %d", n, maxNgInterfaces)
	}
	if n := s.r.NNames(); n > maxNgNames {
		return fmt.Errorf("pcapng section with %d name records, more than %d", n, maxNgNames)
	}
	ci.AncillaryData = nil
	j.ci = ci
	intf, err := s.r.Interface(ci.InterfaceIndex)
	if err != nil {
		return err
	}
	j.lt = intf.LinkType
	j.hasOpts = len(opts.Comments) > 0 || opts.Flags != nil || len(opts.Hashes) > 0 ||
		opts.DropCount != nil || opts.PacketID != nil || opts.Queue != nil || len(opts.Verdicts) > 0
	j.opts = opts
	key := [2]int{s.section, ci.InterfaceIndex}
	id, ok := s.ids[key]
	if !ok {
		if len(s.ids) == maxNgOutput {
			return fmt.Errorf("pcapng capture with more than %d interfaces in all its sections", maxNgOutput)
		}
		id = len(s.ids)
		s.ids[key] = id
		intf.Statistics = pcapgo.NgInterfaceStatistics{}
		intf.LinkType = OutputLinkType(intf.LinkType)
		j.newIface = &intf
	}
	j.iface = id
	j.data = append(j.data[:0], data...)
	return nil
}

type ngSink struct {
	out     io.Writer
	info    pcapgo.NgSectionInfo
	w       *pcapgo.NgWriter
	started bool
}

func (s *ngSink) write(j *job, frame []byte) error {
	if j.newIface != nil {
		if !s.started {
			w, err := pcapgo.NewNgWriterInterface(s.out, *j.newIface, pcapgo.NgWriterOptions{SectionInfo: s.info})
			if err != nil {
				return err
			}
			s.w, s.started = w, true
		} else if _, err := s.w.AddInterface(*j.newIface); err != nil {
			return err
		}
	}
	j.ci.InterfaceIndex = j.iface
	frame = outputFrame(j.lt, &j.ci, frame)
	if j.hasOpts {
		return s.w.WritePacketWithOptions(j.ci, frame, j.opts)
	}
	return s.w.WritePacket(j.ci, frame)
}

func (s *ngSink) flush() error {
	if !s.started {
		// No packets: still write a valid (empty) pcapng.
		w, err := pcapgo.NewNgWriterInterface(s.out, pcapgo.NgInterface{LinkType: LinkTypeEthernet, TimestampResolution: 9}, pcapgo.NgWriterOptions{SectionInfo: s.info})
		if err != nil {
			return err
		}
		s.w, s.started = w, true
	}
	return s.w.Flush()
}
