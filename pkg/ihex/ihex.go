// Package ihex reads and writes Intel HEX, the format avrdude and AVR tools
// use for flash and EEPROM images.
//
// Only the record types an 8-bit AVR image needs are supported: data (00),
// end of file (01), extended segment address (02) and extended linear
// address (04); start-address records (03, 05) are accepted and ignored.
package ihex

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Record types.
const (
	recData           = 0x00
	recEOF            = 0x01
	recExtSegment     = 0x02
	recStartSegment   = 0x03
	recExtLinear      = 0x04
	recStartLinear    = 0x05
	bytesPerRecord    = 16
	maxRecordDataSize = 255
)

// MaxImage bounds the address range Decode accepts, so that a hostile file
// cannot make it allocate gigabytes. 16 MiB is far beyond any AVR.
const MaxImage = 16 << 20

// Segment is a run of bytes at an address.
type Segment struct {
	Addr uint32
	Data []byte
}

// Encode writes data at base address addr as Intel HEX with 16-byte data
// records, extended linear address records where needed, and an EOF record.
func Encode(w io.Writer, addr uint32, data []byte) error {
	bw := bufio.NewWriter(w)
	var upper uint32 = 0
	for off := 0; off < len(data); {
		a := addr + uint32(off)
		if a>>16 != upper {
			upper = a >> 16
			writeRecord(bw, 0, recExtLinear, []byte{byte(upper >> 8), byte(upper)})
		}
		n := bytesPerRecord
		if rem := len(data) - off; rem < n {
			n = rem
		}
		// Do not let a record cross a 64 KiB boundary.
		if room := 0x10000 - int(a&0xFFFF); room < n {
			n = room
		}
		writeRecord(bw, uint16(a), recData, data[off:off+n])
		off += n
	}
	writeRecord(bw, 0, recEOF, nil)
	return bw.Flush()
}

func writeRecord(w *bufio.Writer, addr uint16, typ byte, data []byte) {
	rec := make([]byte, 0, 5+len(data))
	rec = append(rec, byte(len(data)), byte(addr>>8), byte(addr), typ)
	rec = append(rec, data...)
	var sum byte
	for _, b := range rec {
		sum += b
	}
	rec = append(rec, -sum)
	fmt.Fprintf(w, ":%s\n", strings.ToUpper(hex.EncodeToString(rec)))
}

// Decode parses Intel HEX into segments sorted by address, merging
// adjacent data. It checks every record's checksum and length, requires an
// EOF record, and rejects overlapping data.
func Decode(r io.Reader) ([]Segment, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1024), 1024)
	var base uint32
	chunks := map[uint32][]byte{}
	line := 0
	total := 0
	sawEOF := false
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		if sawEOF {
			return nil, fmt.Errorf("ihex: line %d: data after the end-of-file record", line)
		}
		if text[0] != ':' {
			return nil, fmt.Errorf("ihex: line %d: record does not start with ':'", line)
		}
		rec, err := hex.DecodeString(text[1:])
		if err != nil || len(rec) < 5 {
			return nil, fmt.Errorf("ihex: line %d: malformed record", line)
		}
		n := int(rec[0])
		if len(rec) != 5+n {
			return nil, fmt.Errorf("ihex: line %d: length byte says %d data bytes, record has %d", line, n, len(rec)-5)
		}
		var sum byte
		for _, b := range rec {
			sum += b
		}
		if sum != 0 {
			return nil, fmt.Errorf("ihex: line %d: checksum mismatch", line)
		}
		addr := uint32(rec[1])<<8 | uint32(rec[2])
		data := rec[4 : 4+n]
		switch rec[3] {
		case recData:
			a := base + addr
			if uint64(a)+uint64(n) > MaxImage {
				return nil, fmt.Errorf("ihex: line %d: address 0x%x beyond %d bytes", line, a, MaxImage)
			}
			if _, dup := chunks[a]; dup && n > 0 {
				return nil, fmt.Errorf("ihex: line %d: address 0x%x given twice", line, a)
			}
			if n > 0 {
				chunks[a] = bytes.Clone(data)
				total += n
			}
		case recEOF:
			sawEOF = true
		case recExtSegment:
			if n != 2 {
				return nil, fmt.Errorf("ihex: line %d: bad extended segment address record", line)
			}
			base = (uint32(data[0])<<8 | uint32(data[1])) << 4
		case recExtLinear:
			if n != 2 {
				return nil, fmt.Errorf("ihex: line %d: bad extended linear address record", line)
			}
			base = (uint32(data[0])<<8 | uint32(data[1])) << 16
		case recStartSegment, recStartLinear:
			// Entry points mean nothing to an AVR image.
		default:
			return nil, fmt.Errorf("ihex: line %d: unknown record type %02x", line, rec[3])
		}
		if total > MaxImage {
			return nil, fmt.Errorf("ihex: more than %d bytes of data", MaxImage)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("ihex: line %d: %w", line+1, err)
	}
	if !sawEOF {
		return nil, errors.New("ihex: no end-of-file record (truncated file?)")
	}
	addrs := make([]uint32, 0, len(chunks))
	for a := range chunks {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i] < addrs[j] })
	var segs []Segment
	for _, a := range addrs {
		d := chunks[a]
		if k := len(segs) - 1; k >= 0 {
			end := segs[k].Addr + uint32(len(segs[k].Data))
			if a < end {
				return nil, fmt.Errorf("ihex: data at 0x%x overlaps data before it", a)
			}
			if a == end {
				segs[k].Data = append(segs[k].Data, d...)
				continue
			}
		}
		segs = append(segs, Segment{Addr: a, Data: d})
	}
	return segs, nil
}

// Flatten places segments into an image of size bytes starting at address
// 0, with gaps filled by fill (0xFF for erased flash and EEPROM). Data
// outside [0, size) is an error.
func Flatten(segs []Segment, size int, fill byte) ([]byte, error) {
	img := bytes.Repeat([]byte{fill}, size)
	for _, s := range segs {
		if uint64(s.Addr)+uint64(len(s.Data)) > uint64(size) {
			return nil, fmt.Errorf("ihex: data at 0x%x..0x%x does not fit %d bytes", s.Addr, s.Addr+uint32(len(s.Data)), size)
		}
		copy(img[s.Addr:], s.Data)
	}
	return img, nil
}
