package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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
	// eagerReadMax is the largest record read in one piece whatever the
	// snap length says (pcapgo's limit, libpcap's MAXIMUM_SNAPLEN): longer
	// ones are read as they arrive, so that a few bytes of file cannot make
	// the reader allocate gigabytes.
	eagerReadMax = 262144
)

// pcapSource reads pcap records straight out of the input's buffer into
// each job: one copy per packet (pcapgo's Reader, which this replaces for
// pcap, added its own 4 KiB buffer and packet buffer, three copies).
// It accepts what pcapgo's Reader accepts, with the same errors.
type pcapSource struct {
	br     *bufio.Reader
	order  binary.ByteOrder
	factor uint32 // to nanoseconds: 1000 for microsecond files
	snap   uint32
	lt     layers.LinkType
	maxCap int
}

// newPcapSource reads the file header from br.
func newPcapSource(br *bufio.Reader) (*pcapSource, error) {
	var h [pcapHeaderLen]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, err
	}
	s := &pcapSource{br: br}
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
	s.snap = s.order.Uint32(h[16:20])
	s.lt = layers.LinkType(s.order.Uint32(h[20:24]))
	s.maxCap = max(int(s.snap), eagerReadMax)
	if int(s.snap) < 0 { // 32-bit int
		s.maxCap = eagerReadMax
	}
	return s, nil
}

func (s *pcapSource) resolution() gopacket.TimestampResolution {
	if s.factor == 1000 {
		return gopacket.TimestampResolutionMicrosecond
	}
	return gopacket.TimestampResolutionNanosecond
}

// eofErr is what a short read of a part of a record means: io.EOF when
// nothing of it was there, io.ErrUnexpectedEOF when some was.
func eofErr(got int, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, bufio.ErrBufferFull) {
		if got == 0 {
			return io.EOF
		}
		return io.ErrUnexpectedEOF
	}
	return err
}

func (s *pcapSource) next(j *job) error {
	h, err := s.br.Peek(pcapRecordLen)
	if err != nil {
		return eofErr(len(h), err)
	}
	sec, frac := s.order.Uint32(h[0:4]), s.order.Uint32(h[4:8])
	caplen, length := int(s.order.Uint32(h[8:12])), int(s.order.Uint32(h[12:16]))
	s.br.Discard(pcapRecordLen)
	j.ci = gopacket.CaptureInfo{
		Timestamp:     time.Unix(int64(sec), int64(frac*s.factor)).UTC(),
		CaptureLength: caplen,
		Length:        length,
	}
	j.lt = s.lt
	if caplen > s.maxCap || caplen < 0 {
		return fmt.Errorf("capture length exceeds snap length: %d > %d", caplen, s.snap)
	}
	if caplen > length {
		return fmt.Errorf("capture length exceeds original packet length: %d > %d", caplen, length)
	}
	if caplen <= s.br.Size() {
		data, err := s.br.Peek(caplen)
		if err != nil {
			return eofErr(len(data), err)
		}
		j.data = append(j.data[:0], data...)
		s.br.Discard(caplen)
		return nil
	}
	// Longer than the buffer: read it as it arrives.
	j.data = j.data[:0]
	for len(j.data) < caplen {
		chunk := min(caplen-len(j.data), s.br.Size())
		data, err := s.br.Peek(chunk)
		j.data = append(j.data, data...)
		s.br.Discard(len(data))
		if err != nil {
			return eofErr(len(j.data), err)
		}
	}
	return nil
}
