package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ErrLiveUnsupported is returned by OpenLive on systems other than Linux.
var ErrLiveUnsupported = errors.New("capture: live capture is supported on Linux only")

// ErrNoInterface reports an interface name that does not exist.
var ErrNoInterface = errors.New("capture: no such interface")

// LiveSource is an open live capture.
type LiveSource interface {
	// ZeroCopyReadPacketData blocks for the next frame; the data is valid
	// until the next call. After Close it returns an error.
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	// LinkType is the link type of every frame.
	LinkType() layers.LinkType
	// Close stops the capture and unblocks a pending read.
	Close() error
}

// LivePacket describes one packet seen by Sniff.
type LivePacket struct {
	Index   uint64 // 1-based
	Time    time.Time
	Length  int // captured frame length
	Result  Result
	SPI     uint32 // ESP packets
	Seq     uint64 // authenticated ESP packets
	Summary string // one line about the packet as written (decrypted when Result is Decrypted)
}

// SniffOptions configures Sniff.
type SniffOptions struct {
	// Decryptor decrypts ESP; nil shows and writes packets as they are.
	Decryptor *Decryptor
	// Output, when set, receives a pcapng capture of every packet (the
	// decrypted frame for decrypted packets). It is flushed after every
	// packet, so the file is whole whenever Sniff returns.
	Output io.Writer
	// Interface names the capture's interface in the pcapng file.
	Interface string
	// Count stops after this many packets; 0 means until ctx is done.
	Count uint64
	// OnPacket, when set, is called for every packet, in order.
	OnPacket func(LivePacket)
}

// Sniff reads frames from src until ctx is done, src fails, or Count
// packets were seen; it closes src when it returns. Frames are decrypted on
// the fly in capture order (replays are detected as a receiver would).
// Cancellation is a clean stop, not an error.
func Sniff(ctx context.Context, src LiveSource, opts SniffOptions) (Stats, error) {
	var stats Stats
	stats.Format = PCAPNG
	lt := src.LinkType()
	var w *pcapgo.NgWriter
	if opts.Output != nil {
		var err error
		w, err = pcapgo.NewNgWriterInterface(opts.Output, pcapgo.NgInterface{
			Name: opts.Interface, LinkType: lt, SnapLength: defaultSnap, TimestampResolution: 9,
		}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "mstool sniff"}})
		if err != nil {
			return stats, fmt.Errorf("capture: writing: %w", err)
		}
		if err := w.Flush(); err != nil {
			return stats, fmt.Errorf("capture: writing: %w", err)
		}
	}

	var once sync.Once
	closeSrc := func() { once.Do(func() { src.Close() }) }
	defer closeSrc()
	stop := context.AfterFunc(ctx, closeSrc)
	defer stop()

	buf := make([]byte, 0, initialBuf)
	for opts.Count == 0 || stats.Packets < opts.Count {
		frame, ci, err := src.ZeroCopyReadPacketData()
		if err != nil {
			if ctx.Err() != nil {
				return stats, nil
			}
			return stats, fmt.Errorf("capture: reading: %w", err)
		}
		out := frame
		info := PacketInfo{Result: Other}
		if opts.Decryptor != nil {
			var dec []byte
			dec, info = opts.Decryptor.Packet(buf[:0], lt, frame)
			if info.Result == Decrypted {
				out, buf = dec, dec
			}
		}
		stats.add(info.Result)
		if w != nil {
			ci.CaptureLength, ci.AncillaryData, ci.InterfaceIndex = len(out), nil, 0
			if info.Result == Decrypted {
				ci.Length = len(out)
			}
			if ci.Length < ci.CaptureLength {
				ci.Length = ci.CaptureLength
			}
			if err := w.WritePacket(ci, out); err != nil {
				return stats, fmt.Errorf("capture: writing: %w", err)
			}
			if err := w.Flush(); err != nil {
				return stats, fmt.Errorf("capture: writing: %w", err)
			}
		}
		if opts.OnPacket != nil {
			opts.OnPacket(LivePacket{
				Index: stats.Packets, Time: ci.Timestamp, Length: len(frame),
				Result: info.Result, SPI: info.SPI, Seq: info.Seq,
				Summary: Describe(lt, out),
			})
		}
	}
	return stats, nil
}
