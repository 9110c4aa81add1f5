package link

import (
	"bufio"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// LinkTypeRaw is the pcap link type of recordings: raw IPv4/IPv6 packets
// (LINKTYPE_RAW, 101), which `mstool decrypt`, Wireshark and tshark read.
const LinkTypeRaw = layers.LinkTypeRaw

// snapLen is the recordings' snapshot length: whole packets.
const snapLen = 65535

// Recorder writes the packets a link carries to a pcap file, one record
// per packet, both directions, timestamped when the link saw them. Each
// record is flushed at once, so the file is whole (readable) whenever the
// program stops. It is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	bw      *bufio.Writer
	w       *pcapgo.Writer
	err     error
	packets uint64
	now     func() time.Time
}

// NewRecorder writes the pcap file header to w and returns a Recorder.
func NewRecorder(w io.Writer) (*Recorder, error) {
	bw := bufio.NewWriter(w)
	pw := pcapgo.NewWriterNanos(bw)
	if err := pw.WriteFileHeader(snapLen, LinkTypeRaw); err != nil {
		return nil, fmt.Errorf("link: pcap: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("link: pcap: %w", err)
	}
	return &Recorder{bw: bw, w: pw, now: time.Now}, nil
}

// Record appends one packet. The first write error is kept (Err) and
// later packets are not written.
func (r *Recorder) Record(pkt []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return
	}
	ci := gopacket.CaptureInfo{Timestamp: r.now(), CaptureLength: len(pkt), Length: len(pkt)}
	if err := r.w.WritePacket(ci, pkt); err != nil {
		r.err = fmt.Errorf("link: pcap: %w", err)
		return
	}
	if err := r.bw.Flush(); err != nil {
		r.err = fmt.Errorf("link: pcap: %w", err)
		return
	}
	r.packets++
}

// Packets returns how many packets were recorded.
func (r *Recorder) Packets() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.packets
}

// Err returns the first write error, if any.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}
