package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// pcapng block types (draft-ietf-opsawg-pcapng §4) that ngFilter passes.
const (
	ngSectionHeader       = 0x0A0D0D0A
	ngInterfaceDesc       = 1
	ngObsoletePacket      = 2
	ngSimplePacket        = 3
	ngInterfaceStatistics = 5
	ngEnhancedPacket      = 6
	ngByteOrderMagic      = 0x1A2B3C4D
)

// ngFilter passes the blocks of a pcapng stream that decrypting needs
// (section headers, interface descriptions and statistics, packets) to
// pcapgo's NgReader and drops every other block unread. pcapgo keeps a
// section's decryption secrets and name resolution blocks until the
// section ends, so through gzip a small file could make it hold gigabytes;
// the output carries neither kind, and pcapgo skips the others anyway.
//
// It frames blocks exactly as pcapgo does: a block is as long as its
// total length field says, aligned or not, so the two never disagree on
// where a block starts (pcapgo skips an unknown block of 8 or 13 bytes
// without a word). pcapgo reading past a block's end (a capture or option
// length beyond it) makes its remaining length wrap, and it fails at the
// block's end. A length shorter than the block's own header, or a section
// header without its byte-order magic, is an error here.
type ngFilter struct {
	r       io.Reader
	order   binary.ByteOrder
	pending []byte // block header bytes read, still to pass
	hdr     [12]byte
	left    int64 // bytes of the current block still to pass
	err     error // to return once pending is passed
}

var errNgBlock = errors.New("pcapng block shorter than its header")

func newNgFilter(r io.Reader) *ngFilter { return &ngFilter{r: r, order: binary.LittleEndian} }

func (f *ngFilter) Read(p []byte) (int, error) {
	for {
		if len(f.pending) > 0 {
			n := copy(p, f.pending)
			f.pending = f.pending[n:]
			return n, nil
		}
		if f.err != nil {
			return 0, f.err
		}
		if f.left > 0 {
			if int64(len(p)) > f.left {
				p = p[:f.left]
			}
			n, err := f.r.Read(p)
			f.left -= int64(n)
			if err == io.EOF && f.left > 0 {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
		f.nextBlock()
	}
}

// nextBlock reads the next block's header: a block to pass becomes
// pending (its header) and left (the rest), one to drop is discarded.
func (f *ngFilter) nextBlock() {
	n, err := io.ReadFull(f.r, f.hdr[:8])
	if err != nil { // (io.EOF: the stream ends between blocks)
		f.pending, f.err = f.hdr[:n], err
		return
	}
	typ := binary.LittleEndian.Uint32(f.hdr[:4]) // the section header's is a palindrome
	hlen := 8
	if typ == ngSectionHeader {
		if n, err := io.ReadFull(f.r, f.hdr[8:12]); err != nil {
			f.pending, f.err = f.hdr[:8+n], err
			return
		}
		hlen = 12
		switch uint32(ngByteOrderMagic) {
		case binary.LittleEndian.Uint32(f.hdr[8:12]):
			f.order = binary.LittleEndian
		case binary.BigEndian.Uint32(f.hdr[8:12]):
			f.order = binary.BigEndian
		default:
			f.err = errors.New("pcapng section header without its byte-order magic")
			return
		}
	} else {
		typ = f.order.Uint32(f.hdr[:4])
	}
	size := int64(f.order.Uint32(f.hdr[4:8]))
	if size < int64(hlen) {
		f.err = fmt.Errorf("%w (%d bytes)", errNgBlock, size)
		return
	}
	switch typ {
	case ngSectionHeader, ngInterfaceDesc, ngObsoletePacket, ngSimplePacket, ngInterfaceStatistics, ngEnhancedPacket:
		f.pending, f.left = f.hdr[:hlen], size-int64(hlen)
	default:
		if _, err := io.CopyN(io.Discard, f.r, size-8); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			f.err = err
		}
	}
}
