// Package safile reads and writes mstool's security association (SA) files:
// a small, versioned, human-readable text format holding the ESP SAs a host
// uses to receive (inbound) and to send (outbound). It also exports SAs as a
// Wireshark esp_sa table and as ip-xfrm commands, and imports esp_sa tables.
//
// The format is documented byte by byte in docs/sa-file.md. In short:
//
//	mstool-sa v1
//	# comments and blank lines are ignored
//	[inbound]
//	spi = 0x1f2e3d4c
//	suite = aes128-ccm8
//	enc-key = 00112233445566778899aabbccddeeff001122
//	mode = transport
//	esn = false
//	src = 192.0.2.10
//	dst = 192.0.2.1
//	replay-window = 64
//
//	[outbound]
//	...
//
// SA files hold secret keys: read them with ReadFile (which refuses files
// other users can read) and write them with WriteFile (mode 0600, never over
// an existing file).
package safile

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/keyfile"
)

// Magic is the first line of every SA file of this version.
const Magic = "mstool-sa v1"

// magicPrefix is what every version's first line starts with.
const magicPrefix = "mstool-sa "

// Section names.
const (
	sectionInbound  = "inbound"
	sectionOutbound = "outbound"
)

// Keys of an SA section.
const (
	keySPI          = "spi"
	keySuite        = "suite"
	keyEncKey       = "enc-key"
	keyAuthKey      = "auth-key"
	keyMode         = "mode"
	keyESN          = "esn"
	keySrc          = "src"
	keyDst          = "dst"
	keyUDPSrcPort   = "udp-src-port"
	keyUDPDstPort   = "udp-dst-port"
	keyReplayWindow = "replay-window"
)

// maxLineLen bounds one line; no valid line comes close.
const maxLineLen = 1024

// MaxSAs bounds the number of SAs in one file.
const MaxSAs = 1024

// File is the content of an SA file, from the point of view of the host
// that owns it: Inbound SAs protect what it receives, Outbound SAs what it
// sends. A peer's file is the Mirror of this one.
type File struct {
	Inbound  []*esp.SA
	Outbound []*esp.SA
}

// All returns every SA of the file, inbound first. A capture of a session
// shows both directions, so decryption uses all of them.
func (f *File) All() []*esp.SA {
	all := make([]*esp.SA, 0, len(f.Inbound)+len(f.Outbound))
	all = append(all, f.Inbound...)
	return append(all, f.Outbound...)
}

// Mirror returns the peer's view of f: inbound and outbound swapped. The SAs
// and their keys are copied.
func (f *File) Mirror() *File {
	return &File{Inbound: cloneAll(f.Outbound), Outbound: cloneAll(f.Inbound)}
}

func cloneAll(sas []*esp.SA) []*esp.SA {
	out := make([]*esp.SA, len(sas))
	for i, sa := range sas {
		c := *sa
		c.EncKey = bytes.Clone(sa.EncKey)
		c.AuthKey = bytes.Clone(sa.AuthKey)
		if sa.Encap != nil {
			e := *sa.Encap
			c.Encap = &e
		}
		out[i] = &c
	}
	return out
}

// ParseError locates a problem in an SA file.
type ParseError struct {
	Line int // 1-based line number
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("safile: line %d: %s", e.Line, e.Msg) }

func errorf(line int, format string, a ...any) error {
	return &ParseError{Line: line, Msg: fmt.Sprintf(format, a...)}
}

// Parse parses an SA file. It is strict: the first line must be Magic, every
// key must be known and appear at most once per section, keys must have the
// exact length the suite needs, and each SA must pass esp.SA.Validate. SPIs
// are unique within a direction.
func Parse(data []byte) (*File, error) {
	lines := strings.Split(string(data), "\n")
	// A final newline does not start another line.
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	if len(lines) == 0 {
		return nil, errorf(1, "empty file (want %q on the first line)", Magic)
	}
	first := strings.TrimSuffix(lines[0], "\r")
	if first != Magic {
		if strings.HasPrefix(first, magicPrefix) {
			return nil, errorf(1, "unsupported version %q (this mstool reads %q)", strings.TrimPrefix(first, magicPrefix), Magic)
		}
		return nil, errorf(1, "not an mstool SA file (want %q on the first line)", Magic)
	}

	f := &File{}
	var cur *section
	var sections []*section
	for i := 1; i < len(lines); i++ {
		n := i + 1
		line := strings.TrimSuffix(lines[i], "\r")
		if len(line) > maxLineLen {
			return nil, errorf(n, "line too long (%d bytes, at most %d)", len(line), maxLineLen)
		}
		if !isText(line) {
			return nil, errorf(n, "control or non-ASCII character")
		}
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#':
			continue
		case line[0] == '[':
			name, ok := strings.CutSuffix(line[1:], "]")
			if !ok || (name != sectionInbound && name != sectionOutbound) {
				return nil, errorf(n, "unknown section %s (want [inbound] or [outbound])", line)
			}
			if len(sections) >= MaxSAs {
				return nil, errorf(n, "too many SAs (at most %d)", MaxSAs)
			}
			cur = &section{name: name, line: n, vals: map[string]value{}}
			sections = append(sections, cur)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return nil, errorf(n, "want \"key = value\", [inbound] or [outbound]")
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if cur == nil {
				return nil, errorf(n, "%q outside a section (start one with [inbound] or [outbound])", k)
			}
			if !knownKey(k) {
				return nil, errorf(n, "unknown key %q", k)
			}
			if prev, dup := cur.vals[k]; dup {
				return nil, errorf(n, "%q given twice in this section (first on line %d)", k, prev.line)
			}
			cur.vals[k] = value{v, n}
		}
	}
	for _, s := range sections {
		sa, err := s.sa()
		if err != nil {
			return nil, err
		}
		if s.name == sectionInbound {
			f.Inbound = append(f.Inbound, sa)
		} else {
			f.Outbound = append(f.Outbound, sa)
		}
	}
	if err := checkUnique(sections, f); err != nil {
		return nil, err
	}
	if len(f.Inbound)+len(f.Outbound) == 0 {
		return nil, errorf(len(lines), "no SAs (add an [inbound] or [outbound] section)")
	}
	return f, nil
}

func isText(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 0x20 && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}

func knownKey(k string) bool {
	switch k {
	case keySPI, keySuite, keyEncKey, keyAuthKey, keyMode, keyESN, keySrc, keyDst,
		keyUDPSrcPort, keyUDPDstPort, keyReplayWindow:
		return true
	}
	return false
}

func checkUnique(sections []*section, f *File) error {
	seen := map[[2]uint32]int{}
	in, out := 0, 0
	for _, s := range sections {
		var sa *esp.SA
		dir := uint32(0)
		if s.name == sectionInbound {
			sa = f.Inbound[in]
			in++
		} else {
			sa = f.Outbound[out]
			out++
			dir = 1
		}
		k := [2]uint32{dir, sa.SPI}
		if prev, dup := seen[k]; dup {
			return errorf(s.vals[keySPI].line, "SPI 0x%08x is already used by the %s SA on line %d", sa.SPI, s.name, prev)
		}
		seen[k] = s.line
	}
	return nil
}

type value struct {
	s    string
	line int
}

type section struct {
	name string
	line int
	vals map[string]value
}

func (s *section) need(k string) (value, error) {
	v, ok := s.vals[k]
	if !ok {
		return v, errorf(s.line, "[%s] section is missing %q", s.name, k)
	}
	return v, nil
}

func (s *section) sa() (*esp.SA, error) {
	sa := &esp.SA{}

	v, err := s.need(keySPI)
	if err != nil {
		return nil, err
	}
	spi, err := parseSPI(v.s)
	if err != nil {
		return nil, errorf(v.line, "%v", err)
	}
	sa.SPI = spi

	if v, err = s.need(keySuite); err != nil {
		return nil, err
	}
	if sa.Suite, err = esp.ParseSuite(v.s); err != nil {
		return nil, errorf(v.line, "unknown suite %q (one of: %s)", v.s, suiteList())
	}

	if sa.EncKey, err = s.key(keyEncKey, sa.Suite.EncKeyLen(), sa.Suite); err != nil {
		return nil, err
	}
	if sa.AuthKey, err = s.key(keyAuthKey, sa.Suite.AuthKeyLen(), sa.Suite); err != nil {
		return nil, err
	}

	if v, err = s.need(keyMode); err != nil {
		return nil, err
	}
	if sa.Mode, err = esp.ParseMode(v.s); err != nil {
		return nil, errorf(v.line, "unknown mode %q (want transport or tunnel)", v.s)
	}

	if v, ok := s.vals[keyESN]; ok {
		switch v.s {
		case "true":
			sa.ESN = true
		case "false":
		default:
			return nil, errorf(v.line, "esn must be true or false, not %q", v.s)
		}
	}

	for _, k := range []string{keySrc, keyDst} {
		v, ok := s.vals[k]
		if !ok {
			continue
		}
		a, err := netip.ParseAddr(v.s)
		if err != nil || a.Zone() != "" {
			return nil, errorf(v.line, "%s: %q is not an IPv4 or IPv6 address", k, v.s)
		}
		a = a.Unmap()
		if k == keySrc {
			sa.Src = a
		} else {
			sa.Dst = a
		}
	}
	if sa.Src.IsValid() != sa.Dst.IsValid() {
		return nil, errorf(s.line, "[%s] section: give both src and dst, or neither", s.name)
	}

	sp, hasSP := s.vals[keyUDPSrcPort]
	dp, hasDP := s.vals[keyUDPDstPort]
	if hasSP != hasDP {
		return nil, errorf(s.line, "[%s] section: give both udp-src-port and udp-dst-port (ESP-in-UDP), or neither", s.name)
	}
	if hasSP {
		src, err := parsePort(sp.s)
		if err != nil {
			return nil, errorf(sp.line, "udp-src-port: %v", err)
		}
		dst, err := parsePort(dp.s)
		if err != nil {
			return nil, errorf(dp.line, "udp-dst-port: %v", err)
		}
		sa.Encap = &esp.UDPEncap{SrcPort: src, DstPort: dst}
	}

	if v, ok := s.vals[keyReplayWindow]; ok {
		n, err := parseDecimal(v.s, esp.MaxReplayWindow)
		if err != nil {
			return nil, errorf(v.line, "replay-window: %v", err)
		}
		sa.ReplayWindow = n
	}

	if err := sa.Validate(); err != nil {
		return nil, errorf(s.line, "[%s] section: %v", s.name, err)
	}
	return sa, nil
}

func (s *section) key(k string, want int, suite esp.Suite) ([]byte, error) {
	v, ok := s.vals[k]
	if want == 0 {
		if ok {
			return nil, errorf(v.line, "%s takes no %s; remove the line", suite, k)
		}
		return nil, nil
	}
	if !ok {
		return nil, errorf(s.line, "[%s] section is missing %q (%s needs %d bytes)", s.name, k, suite, want)
	}
	if len(v.s) != 2*want {
		return nil, errorf(v.line, "%s: %s needs exactly %d bytes (%d hex digits), got %d hex digits", k, suite, want, 2*want, len(v.s))
	}
	b, err := hex.DecodeString(v.s)
	if err != nil {
		return nil, errorf(v.line, "%s: not hexadecimal", k)
	}
	return b, nil
}

func suiteList() string {
	names := make([]string, len(esp.Suites))
	for i, s := range esp.Suites {
		names[i] = s.String()
	}
	return strings.Join(names, ", ")
}

// parseSPI accepts exactly "0x" followed by 1..8 hex digits, non-zero.
func parseSPI(s string) (uint32, error) {
	h, ok := strings.CutPrefix(s, "0x")
	if !ok || len(h) == 0 || len(h) > 8 {
		return 0, fmt.Errorf("spi: want 0x followed by up to 8 hex digits, got %q", s)
	}
	n, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("spi: %q is not hexadecimal", s)
	}
	if n == 0 {
		return 0, errors.New("spi: 0 is reserved (RFC 4303 §2.1)")
	}
	return uint32(n), nil
}

func parsePort(s string) (uint16, error) {
	n, err := parseDecimal(s, 65535)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, errors.New("port 0 is not a valid UDP port")
	}
	return uint16(n), nil
}

// parseDecimal accepts plain decimal digits without sign or leading zeros.
func parseDecimal(s string, max int) (int, error) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("want a decimal number, got %q", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("want a decimal number, got %q", s)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > max {
		return 0, fmt.Errorf("%s is out of range 0..%d", s, max)
	}
	return n, nil
}

// Format returns the canonical text of f: Parse(Format(f)) equals f for any
// f whose SAs validate. Format refuses invalid SAs.
func Format(f *File) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(Magic + "\n")
	b.WriteString("# mstool ESP security associations (docs/sa-file.md). SECRET: keep mode 0600.\n")
	write := func(name string, sas []*esp.SA) error {
		for _, sa := range sas {
			if err := sa.Validate(); err != nil {
				return fmt.Errorf("safile: %s SA 0x%08x: %w", name, sa.SPI, err)
			}
			formatSA(&b, name, sa)
		}
		return nil
	}
	if err := write(sectionInbound, f.Inbound); err != nil {
		return nil, err
	}
	if err := write(sectionOutbound, f.Outbound); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func formatSA(b *bytes.Buffer, name string, sa *esp.SA) {
	fmt.Fprintf(b, "\n[%s]\n", name)
	if sa.Suite.IsNULL() {
		b.WriteString("# NULL encryption: packets travel in the clear; for debugging only\n")
	}
	kv := func(k, v string) { fmt.Fprintf(b, "%s = %s\n", k, v) }
	kv(keySPI, fmt.Sprintf("0x%08x", sa.SPI))
	kv(keySuite, sa.Suite.String())
	if len(sa.EncKey) > 0 {
		kv(keyEncKey, hex.EncodeToString(sa.EncKey))
	}
	if len(sa.AuthKey) > 0 {
		kv(keyAuthKey, hex.EncodeToString(sa.AuthKey))
	}
	kv(keyMode, sa.Mode.String())
	kv(keyESN, strconv.FormatBool(sa.ESN))
	if sa.Src.IsValid() {
		kv(keySrc, sa.Src.String())
		kv(keyDst, sa.Dst.String())
	}
	if sa.Encap != nil {
		kv(keyUDPSrcPort, strconv.Itoa(int(sa.Encap.SrcPort)))
		kv(keyUDPDstPort, strconv.Itoa(int(sa.Encap.DstPort)))
	}
	if sa.ReplayWindow != 0 {
		kv(keyReplayWindow, strconv.Itoa(sa.ReplayWindow))
	}
}

// ReadFile reads and parses an SA file. Because SA files hold secret keys,
// it refuses files that group or other users can read (the error is a
// *keyfile.InsecureError, which carries a Hint).
func ReadFile(path string) (*File, error) {
	data, err := keyfile.ReadPrivate(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// WriteFile writes f to a new file at path with mode 0600. It never
// overwrites an existing file (the error wraps keyfile.ErrExists).
func WriteFile(path string, f *File) error {
	data, err := Format(f)
	if err != nil {
		return err
	}
	return keyfile.WriteNew(path, data, 0o600)
}

// DefaultSuite is the suite New uses when Options.Suite is zero: the
// reference firmware's default, AES-128-CCM with an 8-octet ICV (RFC
// 4309), the one suite both its MCUs run (firmware/lib/config.h
// CONFIG_ESP_CCM8; the ATmega168 image has no other).
const DefaultSuite = esp.SuiteAES128CCM8

// DefaultNATTPort is the IKE NAT-traversal port ESP-in-UDP uses by default
// (RFC 3948 §2).
const DefaultNATTPort = 4500

// Options says what New generates. The zero value is a transport-mode pair
// of DefaultSuite SAs with no addresses and no UDP encapsulation.
type Options struct {
	Suite esp.Suite // zero: DefaultSuite
	Mode  esp.Mode  // zero: esp.Transport
	ESN   bool      // extended 64-bit sequence numbers

	// Local is this host's address, Remote the peer's (the device). The
	// outbound SA goes Local → Remote, the inbound SA Remote → Local. Both
	// or neither must be set.
	Local, Remote netip.Addr

	// UDPEncap, when set, carries ESP in UDP (RFC 3948) between
	// LocalPort and RemotePort (zero: DefaultNATTPort).
	UDPEncap              bool
	LocalPort, RemotePort uint16

	ReplayWindow int // inbound anti-replay window; zero: esp.DefaultReplayWindow
}

// New generates a fresh pair of SAs, one inbound and one outbound, each
// with its own random keys and a random SPI in 256..2^32-1 (the two SPIs
// differ), reading randomness from rand (normally crypto/rand.Reader). It
// is the one function behind both `mstool esp sa new` and
// `mstool keygen sa`.
func New(rand io.Reader, opts Options) (*File, error) {
	suite := opts.Suite
	if suite == 0 {
		suite = DefaultSuite
	}
	if !suite.Valid() {
		return nil, fmt.Errorf("safile: invalid suite %d", uint8(suite))
	}
	mode := opts.Mode
	if mode == 0 {
		mode = esp.Transport
	}
	window := opts.ReplayWindow
	if window == 0 {
		window = esp.DefaultReplayWindow
	}
	lp, rp := opts.LocalPort, opts.RemotePort
	if lp == 0 {
		lp = DefaultNATTPort
	}
	if rp == 0 {
		rp = DefaultNATTPort
	}

	var spis [2]uint32
	for i := range spis {
		for {
			var b [4]byte
			if _, err := io.ReadFull(rand, b[:]); err != nil {
				return nil, fmt.Errorf("safile: reading randomness: %w", err)
			}
			spi := binary.BigEndian.Uint32(b[:])
			if spi >= 256 && (i == 0 || spi != spis[0]) {
				spis[i] = spi
				break
			}
		}
	}
	mk := func(spi uint32, src, dst netip.Addr, sport, dport uint16) (*esp.SA, error) {
		sa := &esp.SA{
			SPI:     spi,
			Suite:   suite,
			EncKey:  make([]byte, suite.EncKeyLen()),
			AuthKey: make([]byte, suite.AuthKeyLen()),
			Mode:    mode,
			ESN:     opts.ESN,
			Src:     src,
			Dst:     dst,
		}
		if len(sa.EncKey) == 0 {
			sa.EncKey = nil
		}
		if len(sa.AuthKey) == 0 {
			sa.AuthKey = nil
		}
		if _, err := io.ReadFull(rand, sa.EncKey); err != nil {
			return nil, fmt.Errorf("safile: reading randomness: %w", err)
		}
		if _, err := io.ReadFull(rand, sa.AuthKey); err != nil {
			return nil, fmt.Errorf("safile: reading randomness: %w", err)
		}
		if opts.UDPEncap {
			sa.Encap = &esp.UDPEncap{SrcPort: sport, DstPort: dport}
		}
		return sa, nil
	}
	in, err := mk(spis[0], opts.Remote, opts.Local, rp, lp)
	if err != nil {
		return nil, err
	}
	in.ReplayWindow = window
	out, err := mk(spis[1], opts.Local, opts.Remote, lp, rp)
	if err != nil {
		return nil, err
	}
	for _, sa := range []*esp.SA{in, out} {
		if err := sa.Validate(); err != nil {
			return nil, fmt.Errorf("safile: %w", err)
		}
	}
	return &File{Inbound: []*esp.SA{in}, Outbound: []*esp.SA{out}}, nil
}
