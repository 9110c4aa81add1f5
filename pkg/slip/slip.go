// Package slip implements SLIP framing, RFC 1055 ("A Nonstandard for
// Transmission of IP Datagrams over Serial Lines"), as the device's UART
// uses it for both IPv4 datagrams and management frames.
//
// Frames are sent as END, the escaped bytes, END: the leading END flushes
// any line noise the receiver has accumulated (RFC 1055, "SLIP drivers").
// The Decoder never allocates per byte, drops frames longer than its limit
// and counts what it drops, so a hostile or noisy line costs a counted drop,
// never unbounded memory.
package slip

import "io"

// Special bytes of RFC 1055.
const (
	End    = 0xC0 // frame delimiter
	Esc    = 0xDB // escape
	EscEnd = 0xDC // Esc EscEnd stands for a data End byte
	EscEsc = 0xDD // Esc EscEsc stands for a data Esc byte
)

// DefaultMaxFrame is the Decoder limit when none is given: RFC 1055's
// traditional 1006-byte SLIP MTU.
const DefaultMaxFrame = 1006

// AppendEncode appends the SLIP encoding of frame, with a leading and a
// trailing End, to dst and returns the extended slice.
func AppendEncode(dst, frame []byte) []byte {
	dst = append(dst, End)
	for _, b := range frame {
		switch b {
		case End:
			dst = append(dst, Esc, EscEnd)
		case Esc:
			dst = append(dst, Esc, EscEsc)
		default:
			dst = append(dst, b)
		}
	}
	return append(dst, End)
}

// Encode returns the SLIP encoding of frame.
func Encode(frame []byte) []byte {
	return AppendEncode(make([]byte, 0, len(frame)+len(frame)/8+2), frame)
}

// Stats counts what a Decoder dropped.
type Stats struct {
	Frames    uint64 // complete frames delivered
	Oversized uint64 // frames longer than the limit, dropped
	BadEscape uint64 // frames with Esc followed by anything but EscEnd/EscEsc, dropped
}

// Decoder reassembles frames from a byte stream.
type Decoder struct {
	max     int
	buf     []byte
	esc     bool
	discard bool // the current frame is being dropped (too long or bad escape)
	bad     bool // the drop is for a bad escape (else: oversized)
	Stats   Stats
}

// NewDecoder returns a Decoder delivering frames of at most max bytes
// (DefaultMaxFrame if max <= 0).
func NewDecoder(max int) *Decoder {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	return &Decoder{max: max, buf: make([]byte, 0, max)}
}

// Feed consumes p and calls emit for every complete, non-empty frame. The
// frame passed to emit is only valid during the call. Empty frames (two
// Ends in a row) are ignored, as RFC 1055 suggests.
func (d *Decoder) Feed(p []byte, emit func(frame []byte)) {
	for _, b := range p {
		if b == End {
			if d.discard {
				if d.bad {
					d.Stats.BadEscape++
				} else {
					d.Stats.Oversized++
				}
			} else if len(d.buf) > 0 && !d.esc {
				d.Stats.Frames++
				emit(d.buf)
			} else if d.esc {
				d.Stats.BadEscape++
			}
			d.buf = d.buf[:0]
			d.esc, d.discard, d.bad = false, false, false
			continue
		}
		if d.discard {
			continue
		}
		if d.esc {
			d.esc = false
			switch b {
			case EscEnd:
				b = End
			case EscEsc:
				b = Esc
			default:
				d.discard, d.bad = true, true
				continue
			}
		} else if b == Esc {
			d.esc = true
			continue
		}
		if len(d.buf) >= d.max {
			d.discard = true
			continue
		}
		d.buf = append(d.buf, b)
	}
}

// Reset forgets any partial frame (for instance after a timeout).
func (d *Decoder) Reset() {
	d.buf = d.buf[:0]
	d.esc, d.discard, d.bad = false, false, false
}

// Reader reads whole frames from an io.Reader.
type Reader struct {
	r       io.Reader
	d       *Decoder
	pending [][]byte
	buf     []byte
}

// NewReader returns a Reader of frames of at most max bytes from r.
func NewReader(r io.Reader, max int) *Reader {
	return &Reader{r: r, d: NewDecoder(max), buf: make([]byte, 512)}
}

// Stats returns what the Reader has dropped so far.
func (r *Reader) Stats() Stats { return r.d.Stats }

// ReadFrame returns the next frame (a fresh slice). Oversized frames and
// frames with bad escapes are dropped silently (see Stats). It returns the
// underlying reader's error, io.EOF at the end; a read of zero bytes with no
// error (a serial port's read timeout) is returned as io.ErrNoProgress so
// the caller can apply its own deadline.
func (r *Reader) ReadFrame() ([]byte, error) {
	for {
		if len(r.pending) > 0 {
			f := r.pending[0]
			r.pending = r.pending[1:]
			return f, nil
		}
		n, err := r.r.Read(r.buf)
		if n > 0 {
			r.d.Feed(r.buf[:n], func(f []byte) {
				r.pending = append(r.pending, append([]byte(nil), f...))
			})
			continue
		}
		if err != nil {
			return nil, err
		}
		return nil, io.ErrNoProgress
	}
}

// Reset drops queued frames and any partial frame.
func (r *Reader) Reset() {
	r.pending = nil
	r.d.Reset()
}
