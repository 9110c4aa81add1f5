// Package fwimage loads a firmware image for flashing: an avr-gcc ELF
// (converted to Intel HEX here, from its program headers) or an Intel HEX
// file, and tells which MCU it was built for.
//
// The MCU comes from the ELF's .note.gnu.avr.deviceinfo section (avr-gcc
// 5+ with avr-libc 2.0+ writes it), or from the build manifest
// manifest.json that firmware/Makefile writes next to the image, which
// also says what the image holds (ESP suites, MSSL, ...: Manifest).
package fwimage

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
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

// SizeReportName is the build's size report next to a firmware image
// (firmware/tools/sizereport.py: flash and static RAM per module).
const SizeReportName = "size-report.json"

// Errors callers can branch on.
var (
	ErrFormat = errors.New("fwimage: not an AVR ELF or Intel HEX file")
	ErrEmpty  = errors.New("fwimage: image holds no flash data")
	// ErrNoManifest: no build manifest next to the image.
	ErrNoManifest = errors.New("fwimage: no build manifest next to the image")
	// ErrManifestMismatch: the manifest next to the image lists the
	// SHA-256 of the files it was written for, and the image is none of
	// them (rebuilt, replaced or copied next to another build's manifest).
	ErrManifestMismatch = errors.New("fwimage: the build manifest next to the image describes other files")
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

// Manifest is firmware/build/<mcu>/manifest.json, what an image holds
// (firmware/tools/manifest.py writes it from the image's own build
// options; docs/flash.md, "Build manifest"). Manifests written by hand or
// by older builds may hold only the MCU and clock.
type Manifest struct {
	MCU  string `json:"mcu"`
	FCPU uint64 `json:"f_cpu,omitempty"`
	// Firmware is the firmware version (IDENTIFY's), "" if not recorded.
	Firmware string `json:"firmware,omitempty"`
	// ESPSuites names the ESP suites compiled in (pkg/esp's names); nil
	// when the manifest does not say, empty when the image has none.
	ESPSuites []string `json:"esp_suites"`
	// MSSL is built (CONFIG_MSSL); RSAMaxBits is the largest RSA modulus
	// the image verifies (0: no RSA in the image).
	MSSL       bool `json:"mssl"`
	RSAMaxBits int  `json:"rsa_max_bits"`
	// MSSLSealOnly: MSSL is built without RSA (CONFIG_MSSL_RSA=0): it
	// takes device-bound grants on their seal and refuses the others.
	MSSLSealOnly bool `json:"mssl_seal_only"`
	// Engineering: BENCH, COMPUTE and RSA are built (CONFIG_MGMT_CRYPTO).
	Engineering bool `json:"engineering"`
	// CoAP: the tasks are CoAP resources inside ESP (CONFIG_COAP,
	// docs/coap.md).
	CoAP bool `json:"coap"`
	// Bootstrap: the device side of secure bootstrapping is built
	// (CONFIG_BOOTSTRAP, docs/bootstrap.md): the image takes a config
	// whose SAs derive from its master key.
	Bootstrap bool `json:"bootstrap"`
	// EEPROM is the MCU's EEPROM size in bytes, FrameMax the largest
	// frame on the UART (0 if not recorded).
	EEPROM   int `json:"eeprom,omitempty"`
	FrameMax int `json:"frame_max,omitempty"`
	// Stack is the stack the image needs at its deepest, in bytes, the
	// interrupt frame included (0 if not recorded): a documented figure
	// per build configuration (firmware/tools/manifest.py cites it), not
	// a measurement of this very image.
	Stack int `json:"stack,omitempty"`
	// SHA256 maps the image files the manifest was written for
	// (mstool.elf, mstool.hex) to their SHA-256, hex; nil if not recorded.
	SHA256 map[string]string `json:"sha256,omitempty"`
}

// Describes reports whether m was written for an image file with this
// content: true when its SHA-256 is one m lists, or m lists none.
func (m *Manifest) Describes(image []byte) bool {
	if len(m.SHA256) == 0 {
		return true
	}
	sum := sha256.Sum256(image)
	h := hex.EncodeToString(sum[:])
	for _, v := range m.SHA256 {
		if strings.EqualFold(v, h) {
			return true
		}
	}
	return false
}

// ManifestFor reads the build manifest next to the image at path and
// checks that it describes that file: ErrNoManifest when there is none,
// ErrManifestMismatch when it lists other files.
func ManifestFor(path string) (*Manifest, error) {
	image, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fwimage: %w", err)
	}
	mpath := filepath.Join(filepath.Dir(path), ManifestName)
	m, err := ReadManifest(mpath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (%s)", ErrNoManifest, mpath)
	}
	if err != nil {
		return nil, err
	}
	if !m.Describes(image) {
		return nil, fmt.Errorf("%w: %s is not %s", ErrManifestMismatch, path, strings.Join(sortedKeys(m.SHA256), " or "))
	}
	return m, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, "the "+k+" of "+ManifestName)
	}
	sort.Strings(keys)
	return keys
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
		m, err := ReadManifest(filepath.Join(filepath.Dir(path), ManifestName))
		if err == nil && m.MCU != "" && m.Describes(b) {
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

// RAMNeed is what a firmware image needs of the MCU's RAM.
type RAMNeed struct {
	// Static is the static RAM (.data + .bss + .noinit) from the size
	// report next to the image.
	Static int
	// Stack is the stack need from the build manifest (Manifest.Stack; 0
	// when the manifest does not record one).
	Stack int
}

// Total is static RAM plus stack.
func (n *RAMNeed) Total() int { return n.Static + n.Stack }

// RAMError is returned by CheckRAM when an image needs more RAM than the
// MCU has: the stack would run into the static data.
type RAMError struct {
	Path string
	Need RAMNeed
	MCU  string
	RAM  int // the MCU's RAM, bytes
}

func (e *RAMError) Error() string {
	return "fwimage: " + e.Detail()
}

// Detail is the error without the package prefix.
func (e *RAMError) Detail() string {
	how := fmt.Sprintf("%d static + %d of stack", e.Need.Static, e.Need.Stack)
	if e.Need.Stack == 0 {
		how = fmt.Sprintf("%d static, no stack figure in its %s", e.Need.Static, ManifestName)
	}
	return fmt.Sprintf("%s needs %d bytes of RAM (%s), more than the %s's %d", e.Path, e.Need.Total(), how, e.MCU, e.RAM)
}

// RAMNeedFor reads what the image at path needs of RAM from the build's
// size report and manifest next to it. It returns nil, nil when the size
// report is missing, or cannot be tied to the image: the manifest next to
// it describes other files (ManifestFor), or, without a manifest, the
// report is older than the image.
func RAMNeedFor(path string) (*RAMNeed, error) {
	dir := filepath.Dir(path)
	rpath := filepath.Join(dir, SizeReportName)
	b, err := os.ReadFile(rpath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fwimage: %w", err)
	}
	var rep struct {
		Total *struct {
			RAM int `json:"ram"`
		} `json:"total"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("fwimage: %s: %w", rpath, err)
	}
	if rep.Total == nil {
		return nil, fmt.Errorf("fwimage: %s: no total RAM", rpath)
	}
	need := &RAMNeed{Static: rep.Total.RAM}
	m, err := ManifestFor(path)
	switch {
	case err == nil:
		need.Stack = m.Stack
	case errors.Is(err, ErrNoManifest):
		ist, err1 := os.Stat(path)
		rst, err2 := os.Stat(rpath)
		if err1 != nil || err2 != nil || rst.ModTime().Before(ist.ModTime()) {
			return nil, nil
		}
	case errors.Is(err, ErrManifestMismatch):
		return nil, nil
	default:
		return nil, err
	}
	return need, nil
}

// CheckRAM checks that the image at path fits ram bytes of the MCU's RAM
// with its stack: a *RAMError when static RAM plus stack need exceed it.
// need is nil when the build's figures are not there (RAMNeedFor).
func CheckRAM(path, mcu string, ram int) (need *RAMNeed, err error) {
	need, err = RAMNeedFor(path)
	if err != nil || need == nil {
		return need, err
	}
	if need.Total() > ram {
		return need, &RAMError{Path: path, Need: *need, MCU: mcu, RAM: ram}
	}
	return need, nil
}
