// Package fwimage loads a firmware image for flashing: an avr-gcc ELF
// (converted to Intel HEX here, from its program headers) or an Intel HEX
// file, and tells which MCU it was built for.
//
// The MCU comes from the ELF's .note.gnu.avr.deviceinfo section (avr-gcc
// 5+ with avr-libc 2.0+ writes it), or from the build manifest
// manifest.json that firmware/Makefile writes next to the image.
package fwimage

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mstool/mstool/pkg/ihex"
)

// AVR ELF address spaces (avr-gcc's linker scripts): flash from 0, RAM at
// 0x800000, EEPROM at 0x810000, fuses, lock bits and signature above.
const (
	ramBase    = 0x800000
	eepromBase = 0x810000
	eepromEnd  = 0x820000
)

// noteSection is where avr-gcc records the device.
const noteSection = ".note.gnu.avr.deviceinfo"

// ManifestName is the build manifest next to a firmware image.
const ManifestName = "manifest.json"

// Errors callers can branch on.
var (
	ErrFormat = errors.New("fwimage: not an AVR ELF or Intel HEX file")
	ErrEmpty  = errors.New("fwimage: image holds no flash data")
)

// Image is a loaded firmware image.
type Image struct {
	Path string
	// Flash is the program image from address 0 (gaps 0xFF).
	Flash []byte
	// EEPROM is the .eeprom content, if the image has any (nil otherwise).
	EEPROM []byte
	// MCU is the part the image was built for ("" if unknown), and
	// MCUSource says where that came from: "elf", "manifest" or "".
	MCU, MCUSource string
}

// Manifest is firmware/build/<mcu>/manifest.json.
type Manifest struct {
	MCU  string `json:"mcu"`
	FCPU uint64 `json:"f_cpu,omitempty"`
}

// Load reads an .elf or .hex image (by content: ELF magic, else HEX).
func Load(path string) (*Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fwimage: %w", err)
	}
	var im *Image
	if bytes.HasPrefix(b, []byte(elf.ELFMAG)) {
		im, err = FromELF(bytes.NewReader(b))
	} else {
		im, err = FromHex(bytes.NewReader(b))
	}
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	im.Path = path
	if im.MCU == "" {
		if m, err := ReadManifest(filepath.Join(filepath.Dir(path), ManifestName)); err == nil && m.MCU != "" {
			im.MCU, im.MCUSource = m.MCU, "manifest"
		}
	}
	return im, nil
}

// ReadManifest reads a build manifest.
func ReadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fwimage: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("fwimage: %s: %w", path, err)
	}
	return &m, nil
}

// FromELF converts an AVR ELF executable: every PT_LOAD segment with file
// contents is placed at its physical (load) address, so .data lands after
// .text as avr-objcopy -O ihex would place it.
func FromELF(r io.ReaderAt) (*Image, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AVR {
		return nil, fmt.Errorf("%w: ELF for %v, not AVR", ErrFormat, f.Machine)
	}
	var flash, eeprom []ihex.Segment
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Filesz == 0 {
			continue
		}
		data := make([]byte, p.Filesz)
		if _, err := p.ReadAt(data, 0); err != nil {
			return nil, fmt.Errorf("%w: segment at 0x%x: %v", ErrFormat, p.Paddr, err)
		}
		switch a := p.Paddr; {
		case a < ramBase:
			flash = append(flash, ihex.Segment{Addr: uint32(a), Data: data})
		case a >= eepromBase && a < eepromEnd:
			eeprom = append(eeprom, ihex.Segment{Addr: uint32(a - eepromBase), Data: data})
		}
	}
	im := &Image{}
	if im.Flash, err = flatten(flash); err != nil {
		return nil, err
	}
	if len(im.Flash) == 0 {
		return nil, ErrEmpty
	}
	if len(eeprom) > 0 {
		if im.EEPROM, err = flatten(eeprom); err != nil {
			return nil, err
		}
	}
	if s := f.Section(noteSection); s != nil {
		if b, err := s.Data(); err == nil {
			im.MCU = noteMCU(b)
			if im.MCU != "" {
				im.MCUSource = "elf"
			}
		}
	}
	return im, nil
}

// FromHex reads Intel HEX; data at 0x810000 and above (avr-objcopy's
// EEPROM convention) goes to EEPROM.
func FromHex(r io.Reader) (*Image, error) {
	segs, err := ihex.Decode(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	var flash, eeprom []ihex.Segment
	for _, s := range segs {
		switch {
		case s.Addr < ramBase:
			flash = append(flash, s)
		case s.Addr >= eepromBase && s.Addr < eepromEnd:
			eeprom = append(eeprom, ihex.Segment{Addr: s.Addr - eepromBase, Data: s.Data})
		}
	}
	im := &Image{}
	if im.Flash, err = flatten(flash); err != nil {
		return nil, err
	}
	if len(im.Flash) == 0 {
		return nil, ErrEmpty
	}
	if len(eeprom) > 0 {
		if im.EEPROM, err = flatten(eeprom); err != nil {
			return nil, err
		}
	}
	return im, nil
}

func flatten(segs []ihex.Segment) ([]byte, error) {
	size := 0
	for _, s := range segs {
		if end := int(s.Addr) + len(s.Data); end > size {
			size = end
		}
	}
	if size == 0 {
		return nil, nil
	}
	if size > ihex.MaxImage {
		return nil, fmt.Errorf("%w: image of %d bytes", ErrFormat, size)
	}
	b, err := ihex.Flatten(segs, size, 0xFF)
	if err != nil {
		return nil, fmt.Errorf("fwimage: %w", err)
	}
	return b, nil
}

// noteMCU parses avr-gcc's device-info note: an ELF note named "AVR"
// whose descriptor holds flash start/size, SRAM start/size, EEPROM
// start/size (six little-endian uint32), then an offset table whose
// first word is the table's own size in bytes (itself included) and whose
// next word is the device name's offset in the string table that follows.
func noteMCU(b []byte) string {
	le := binary.LittleEndian
	if len(b) < 12 {
		return ""
	}
	namesz, descsz := le.Uint32(b[0:]), le.Uint32(b[4:])
	off := 12 + int((namesz+3)&^3)
	if namesz != 4 || len(b) < off || string(b[12:15]) != "AVR" || uint64(off)+uint64(descsz) > uint64(len(b)) {
		return ""
	}
	d := b[off : off+int(descsz)]
	if len(d) < 32 {
		return ""
	}
	tableLen := int(le.Uint32(d[24:]))
	strtab := 24 + tableLen
	if tableLen < 8 || strtab > len(d) {
		return ""
	}
	nameOff := int(le.Uint32(d[28:]))
	if strtab+nameOff >= len(d) {
		return ""
	}
	name := d[strtab+nameOff:]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	return strings.ToLower(string(name))
}

// WriteFlashHex writes the flash image as Intel HEX.
func (im *Image) WriteFlashHex(w io.Writer) error { return ihex.Encode(w, 0, im.Flash) }
