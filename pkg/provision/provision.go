// Package provision builds and reads the device's EEPROM image: its id,
// address, master key, ESP SAs, the grant issuer's RSA modulus and the
// initial state of its counters. The layout, byte by byte, is in
// docs/eeprom.md; the firmware reads the same layout at boot.
package provision

import (
	"bytes"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/mstool/mstool/internal/crc16"
	"math/big"
	"net/netip"

	"github.com/mstool/mstool/pkg/bootstrap"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/safile"
)

// Layout constants (docs/eeprom.md).
const (
	Version = 1

	offMagic      = 0
	offVersion    = 2
	offFlags      = 3
	offLength     = 4
	offCRC        = 6
	offDeviceID   = 8
	offAddr       = 12
	offPeer       = 16
	offMasterKey  = 20
	offGroupID    = 36
	offGroupKey   = 40
	offModulusLen = 56
	offSACount    = 58
	offReserved   = 59
	offSA0        = 64
	offSA1        = 128
	offModulus    = 192

	// ConfigFixedSize is the config area without the issuer modulus.
	ConfigFixedSize = offModulus

	saSize       = 64
	saOffSPI     = 0
	saOffSuite   = 4
	saOffFlags   = 5
	saOffEncKey  = 8
	saOffAuthKey = 28
	saEncKeyMax  = 20
	saAuthKeyMax = 32

	// StateSlots slots of StateSlotSize bytes end the EEPROM.
	StateSlots    = 6
	StateSlotSize = 32
	StateSize     = StateSlots * StateSlotSize

	slotOffGeneration  = 0
	slotOffESPOut      = 4
	slotOffESPInFloor  = 8
	slotOffNonce       = 12
	slotOffSerialFloor = 16
	slotOffTimeFloor   = 20
	slotOffSettings    = 24
	slotOffBootCount   = 28
	slotOffCRC         = 30
)

// Config flags.
const (
	flagGroup     = 0x01
	flagIssuer    = 0x02
	flagClearICMP = 0x04
	flagSealOK    = 0x08
	flagBootstrap = 0x10
	flagsKnown    = flagGroup | flagIssuer | flagClearICMP | flagSealOK | flagBootstrap

	saFlagESN      = 0x01
	saFlagUDPEncap = 0x02
	saFlagsKnown   = saFlagESN | saFlagUDPEncap
)

var magic = [2]byte{'M', 'E'}

// EEPROM sizes of the supported MCUs.
var eepromSizes = map[string]int{"atmega328p": 1024, "atmega168": 512}

// EEPROMSize returns the EEPROM size of an MCU ("atmega328p", "atmega168").
func EEPROMSize(mcu string) (int, error) {
	n, ok := eepromSizes[mcu]
	if !ok {
		return 0, fmt.Errorf("provision: unknown MCU %q (want atmega328p or atmega168)", mcu)
	}
	return n, nil
}

// IsImage reports whether img, read from address 0, is an mstool EEPROM
// image (Build's output) rather than something else, such as firmware: it
// is exactly the EEPROM size of a supported MCU and starts with the config
// magic "ME". Parse need not accept it (a damaged config is still an EEPROM
// image). No AVR firmware image matches: one starts with its vector table
// (JMP 0x940c or RJMP 0xcxxx), while the magic read as the reset vector is
// the word 0x454d (SBCI r20, 0x5d).
func IsImage(img []byte) bool {
	for _, n := range eepromSizes {
		if len(img) == n {
			return bytes.HasPrefix(img, magic[:])
		}
	}
	return false
}

// Config is what provisioning writes into a device.
type Config struct {
	DeviceID  uint32
	Addr      netip.Addr // the device's IPv4 address
	Peer      netip.Addr // the host the SAs are with; invalid or 0.0.0.0 = any
	MasterKey [16]byte

	HasGroup bool
	GroupID  uint32
	GroupKey [16]byte

	// Inbound is the SA the device receives with (the host's outbound SA),
	// Outbound the SA it sends with. Both or neither.
	Inbound, Outbound *esp.SA

	Issuer *rsa.PublicKey // grant issuer; nil for none

	AllowClearICMP bool // answer ICMP echo without ESP (diagnostics)
	// MSSLSealOK is the owner's MSSL policy: a device-bound grant is
	// accepted on its seal alone (docs/mssl.md, "Seal-only"); group grants
	// still need the RSA signature. False: every grant needs it (a device
	// built without RSA then refuses every grant).
	MSSLSealOK  bool
	SerialFloor uint32 // initial grant revocation floor
	TimeFloor   uint32 // initial grant time floor (unix seconds; 0: none)

	// Bootstrap is the device's bootstrap area (docs/bootstrap.md, "Device
	// state": RN_i, bootstrap.AreaSize bytes at bootstrap.AreaOffset), nil
	// for a device not enrolled for bootstrapping. With it the config is
	// bootstrapped (flag 0x10): MasterKey is IK (later the last join's
	// PSK) and both SAs derive from it (bootstrap.DeriveSAs, aes128-ccm8):
	// Build writes their SPIs and flags but no keys, and takes Inbound and
	// Outbound nil or as DeriveSAs made them (for ESN and UDP
	// encapsulation); Parse returns them derived. Build refuses a config
	// that reaches into the area.
	Bootstrap []byte
}

// State is one state-area slot: the counters and floors the firmware keeps.
type State struct {
	Generation     uint32
	ESPOutReserved uint32
	ESPInFloor     uint32
	NonceReserved  uint32
	SerialFloor    uint32
	TimeFloor      uint32
	Settings       [2]uint16
	BootCount      uint16
}

// Build returns the whole EEPROM image (eepromSize bytes) for cfg: the
// config area, the first state slot, and 0xFF everywhere else, so that
// writing it also erases any state an earlier image left behind.
func Build(cfg *Config, eepromSize int) ([]byte, error) {
	if err := check(cfg); err != nil {
		return nil, err
	}
	modLen := 0
	if cfg.Issuer != nil {
		modLen = (cfg.Issuer.N.BitLen() + 7) / 8
	}
	length := ConfigFixedSize + modLen
	if length+StateSize > eepromSize {
		return nil, fmt.Errorf("provision: config (%d bytes) and state (%d bytes) do not fit %d bytes of EEPROM; use an RSA-1024 issuer key or a larger MCU", length, StateSize, eepromSize)
	}
	var areaOff int
	if cfg.Bootstrap != nil {
		if len(cfg.Bootstrap) != bootstrap.AreaSize {
			return nil, fmt.Errorf("provision: the bootstrap area is %d bytes, not %d", bootstrap.AreaSize, len(cfg.Bootstrap))
		}
		if areaOff = bootstrap.AreaOffset(eepromSize); length > areaOff {
			return nil, fmt.Errorf("provision: config (%d bytes) reaches into the bootstrap area at %d; leave out the issuer key or use a larger MCU", length, areaOff)
		}
	}
	in, out := cfg.Inbound, cfg.Outbound
	if cfg.Bootstrap != nil {
		var err error
		if in, out, err = derivedSAs(cfg); err != nil {
			return nil, err
		}
	}
	img := bytes.Repeat([]byte{0xFF}, eepromSize)
	if cfg.Bootstrap != nil {
		copy(img[areaOff:], cfg.Bootstrap)
	}
	c := img[:length]
	clear(c)
	copy(c[offMagic:], magic[:])
	c[offVersion] = Version
	var flags byte
	if cfg.HasGroup {
		flags |= flagGroup
		binary.BigEndian.PutUint32(c[offGroupID:], cfg.GroupID)
		copy(c[offGroupKey:], cfg.GroupKey[:])
	}
	if cfg.Issuer != nil {
		flags |= flagIssuer
		binary.BigEndian.PutUint16(c[offModulusLen:], uint16(modLen))
		cfg.Issuer.N.FillBytes(c[offModulus : offModulus+modLen])
	}
	if cfg.AllowClearICMP {
		flags |= flagClearICMP
	}
	if cfg.MSSLSealOK {
		flags |= flagSealOK
	}
	if cfg.Bootstrap != nil {
		flags |= flagBootstrap
	}
	c[offFlags] = flags
	binary.BigEndian.PutUint16(c[offLength:], uint16(length))
	binary.BigEndian.PutUint32(c[offDeviceID:], cfg.DeviceID)
	a4 := cfg.Addr.As4()
	copy(c[offAddr:], a4[:])
	if cfg.Peer.IsValid() {
		p4 := cfg.Peer.As4()
		copy(c[offPeer:], p4[:])
	}
	copy(c[offMasterKey:], cfg.MasterKey[:])
	if in != nil {
		c[offSACount] = 2
		putSA(c[offSA0:offSA0+saSize], in)
		putSA(c[offSA1:offSA1+saSize], out)
	}
	binary.BigEndian.PutUint16(c[offCRC:], configCRC(c))
	putState(img[eepromSize-StateSize:][:StateSlotSize], &State{Generation: 1, SerialFloor: cfg.SerialFloor, TimeFloor: cfg.TimeFloor})
	return img, nil
}

func check(cfg *Config) error {
	if cfg.DeviceID == 0 {
		return errors.New("provision: device id 0 is reserved")
	}
	if !cfg.Addr.Is4() || cfg.Addr.IsUnspecified() {
		return fmt.Errorf("provision: the device needs an IPv4 address, not %q", cfg.Addr)
	}
	if cfg.Peer.IsValid() && !cfg.Peer.Is4() {
		return fmt.Errorf("provision: the peer address must be IPv4, not %s", cfg.Peer)
	}
	if (cfg.Inbound == nil) != (cfg.Outbound == nil) {
		return errors.New("provision: a device needs both an inbound and an outbound SA, or none")
	}
	for _, sa := range []*esp.SA{cfg.Inbound, cfg.Outbound} {
		if sa == nil {
			continue
		}
		if err := sa.Validate(); err != nil {
			return fmt.Errorf("provision: %w", err)
		}
		if sa.Mode != esp.Transport {
			return fmt.Errorf("provision: SA 0x%08x: the device does transport mode only", sa.SPI)
		}
		if sa.Encap != nil && (sa.Encap.SrcPort != 4500 || sa.Encap.DstPort != 4500) {
			return fmt.Errorf("provision: SA 0x%08x: the device does UDP encapsulation on port 4500 only", sa.SPI)
		}
		if len(sa.EncKey) > saEncKeyMax || len(sa.AuthKey) > saAuthKeyMax {
			return fmt.Errorf("provision: SA 0x%08x: keys too long for the EEPROM layout", sa.SPI)
		}
	}
	if cfg.Inbound != nil && cfg.Inbound.SPI == cfg.Outbound.SPI {
		return errors.New("provision: inbound and outbound SAs must have different SPIs")
	}
	if cfg.Issuer != nil {
		if b := cfg.Issuer.N.BitLen(); (b != 1024 && b != 2048) || cfg.Issuer.E != 65537 {
			return fmt.Errorf("provision: issuer key must be RSA-1024 or RSA-2048 with e = 65537")
		}
	}
	return nil
}

// derivedSAs are the SAs Build writes for a bootstrapped config: SPI,
// suite and flags of the SAs derived from the master key, no keys (the
// device derives them). cfg's SAs, when given, must be those.
func derivedSAs(cfg *Config) (in, out *esp.SA, err error) {
	opts := safile.Options{Suite: esp.SuiteAES128CCM8}
	if cfg.Inbound != nil {
		opts.ESN = cfg.Inbound.ESN
		opts.UDPEncap = cfg.Inbound.Encap != nil
	}
	f, err := bootstrap.DeriveSAs(cfg.MasterKey, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("provision: %w", err)
	}
	in, out = f.Outbound[0], f.Inbound[0] // the host's outbound is the device's inbound
	if cfg.Inbound != nil && (!sameSA(cfg.Inbound, in) || !sameSA(cfg.Outbound, out)) {
		return nil, nil, errors.New("provision: a bootstrapped device's SAs derive from its master key (docs/bootstrap.md): give none, or the derived ones")
	}
	for _, sa := range []*esp.SA{in, out} {
		sa.EncKey = make([]byte, len(sa.EncKey))
		sa.AuthKey = nil
	}
	return in, out, nil
}

// sameSA: the same SPI, suite and keys.
func sameSA(a, b *esp.SA) bool {
	return a.SPI == b.SPI && a.Suite == b.Suite && bytes.Equal(a.EncKey, b.EncKey) && bytes.Equal(a.AuthKey, b.AuthKey)
}

func putSA(b []byte, sa *esp.SA) {
	binary.BigEndian.PutUint32(b[saOffSPI:], sa.SPI)
	b[saOffSuite] = byte(sa.Suite)
	var f byte
	if sa.ESN {
		f |= saFlagESN
	}
	if sa.Encap != nil {
		f |= saFlagUDPEncap
	}
	b[saOffFlags] = f
	copy(b[saOffEncKey:saOffEncKey+saEncKeyMax], sa.EncKey)
	copy(b[saOffAuthKey:saOffAuthKey+saAuthKeyMax], sa.AuthKey)
}

func putState(b []byte, s *State) {
	binary.BigEndian.PutUint32(b[slotOffGeneration:], s.Generation)
	binary.BigEndian.PutUint32(b[slotOffESPOut:], s.ESPOutReserved)
	binary.BigEndian.PutUint32(b[slotOffESPInFloor:], s.ESPInFloor)
	binary.BigEndian.PutUint32(b[slotOffNonce:], s.NonceReserved)
	binary.BigEndian.PutUint32(b[slotOffSerialFloor:], s.SerialFloor)
	binary.BigEndian.PutUint32(b[slotOffTimeFloor:], s.TimeFloor)
	binary.BigEndian.PutUint16(b[slotOffSettings:], s.Settings[0])
	binary.BigEndian.PutUint16(b[slotOffSettings+2:], s.Settings[1])
	binary.BigEndian.PutUint16(b[slotOffBootCount:], s.BootCount)
	binary.BigEndian.PutUint16(b[slotOffCRC:], CRC16(b[:slotOffCRC]))
}

// configCRC covers the config area except the CRC field itself.
func configCRC(c []byte) uint16 {
	crc := crc16.Update(0xFFFF, c[:offCRC])
	return crc16.Update(crc, c[offCRC+2:])
}

// CRC16 is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), the checksum of
// the EEPROM layout; the firmware computes the same.
func CRC16(b []byte) uint16 { return crc16.Checksum(b) }

// UnprovisionedError says why an image does not hold a valid config: the
// state the firmware reports as "unprovisioned".
type UnprovisionedError struct{ Reason string }

func (e *UnprovisionedError) Error() string { return "provision: unprovisioned: " + e.Reason }

func unprovisioned(format string, a ...any) error {
	return &UnprovisionedError{Reason: fmt.Sprintf(format, a...)}
}

// Parse checks an EEPROM image the way the firmware does at boot and
// returns its config and current state. Any problem with the config area
// is an *UnprovisionedError; a state area with no valid slot is one too.
func Parse(img []byte) (*Config, *State, error) {
	size := len(img)
	if size != 512 && size != 1024 {
		return nil, nil, unprovisioned("image is %d bytes; an EEPROM image is 512 or 1024", size)
	}
	if bytes.Count(img, []byte{0xFF}) == size {
		return nil, nil, unprovisioned("blank EEPROM")
	}
	if !bytes.Equal(img[offMagic:offMagic+2], magic[:]) {
		return nil, nil, unprovisioned("no config (bad magic %02x%02x)", img[0], img[1])
	}
	if img[offVersion] != Version {
		return nil, nil, unprovisioned("layout version %d is not supported (want %d)", img[offVersion], Version)
	}
	length := int(binary.BigEndian.Uint16(img[offLength:]))
	if length < ConfigFixedSize || length+StateSize > size {
		return nil, nil, unprovisioned("config length %d does not fit", length)
	}
	c := img[:length]
	if got, want := configCRC(c), binary.BigEndian.Uint16(c[offCRC:]); got != want {
		return nil, nil, unprovisioned("config CRC mismatch (stored %04x, computed %04x): corrupt image", want, got)
	}
	flags := c[offFlags]
	if flags&^flagsKnown != 0 {
		return nil, nil, unprovisioned("unknown config flags %02x", flags)
	}
	if !allZero(c[offReserved:offSA0]) {
		return nil, nil, unprovisioned("reserved bytes are not zero")
	}
	cfg := &Config{
		DeviceID:       binary.BigEndian.Uint32(c[offDeviceID:]),
		Addr:           netip.AddrFrom4([4]byte(c[offAddr : offAddr+4])),
		Peer:           netip.AddrFrom4([4]byte(c[offPeer : offPeer+4])),
		AllowClearICMP: flags&flagClearICMP != 0,
		MSSLSealOK:     flags&flagSealOK != 0,
	}
	copy(cfg.MasterKey[:], c[offMasterKey:])
	if cfg.DeviceID == 0 {
		return nil, nil, unprovisioned("device id 0")
	}
	if flags&flagGroup != 0 {
		cfg.HasGroup = true
		cfg.GroupID = binary.BigEndian.Uint32(c[offGroupID:])
		copy(cfg.GroupKey[:], c[offGroupKey:])
	} else if !allZero(c[offGroupID : offGroupKey+16]) {
		return nil, nil, unprovisioned("group fields set without the group flag")
	}
	modLen := int(binary.BigEndian.Uint16(c[offModulusLen:]))
	if (flags&flagIssuer != 0) != (modLen != 0) || (modLen != 0 && modLen != 128 && modLen != 256) || length != ConfigFixedSize+modLen {
		return nil, nil, unprovisioned("issuer key length %d inconsistent with flags and config length", modLen)
	}
	if modLen != 0 {
		n := new(big.Int).SetBytes(c[offModulus : offModulus+modLen])
		if n.BitLen() != modLen*8 {
			return nil, nil, unprovisioned("issuer modulus has a leading zero byte")
		}
		cfg.Issuer = &rsa.PublicKey{N: n, E: 65537}
	}
	switch c[offSACount] {
	case 0:
		if !allZero(c[offSA0:offModulus]) {
			return nil, nil, unprovisioned("SA slots set with an SA count of 0")
		}
	case 2:
		var err error
		if cfg.Inbound, err = parseSA(c[offSA0 : offSA0+saSize]); err != nil {
			return nil, nil, err
		}
		if cfg.Outbound, err = parseSA(c[offSA1 : offSA1+saSize]); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, unprovisioned("SA count %d (want 0 or 2)", c[offSACount])
	}
	st, _, err := CurrentState(img)
	if err != nil {
		return nil, nil, err
	}
	cfg.SerialFloor, cfg.TimeFloor = st.SerialFloor, st.TimeFloor
	if flags&flagBootstrap != 0 {
		off := bootstrap.AreaOffset(size)
		if length > off {
			return nil, nil, unprovisioned("bootstrapped config (%d bytes) reaches into the bootstrap area at %d", length, off)
		}
		if cfg.Inbound == nil || cfg.Inbound.Suite != esp.SuiteAES128CCM8 || cfg.Outbound.Suite != esp.SuiteAES128CCM8 {
			return nil, nil, unprovisioned("a bootstrapped config has two aes128-ccm8 SAs")
		}
		cfg.Bootstrap = append([]byte(nil), img[off:off+bootstrap.AreaSize]...)
		f, err := bootstrap.DeriveSAs(cfg.MasterKey, safile.Options{Suite: esp.SuiteAES128CCM8, ESN: cfg.Inbound.ESN, UDPEncap: cfg.Inbound.Encap != nil})
		if err != nil {
			return nil, nil, unprovisioned("%v", err)
		}
		in, out := f.Outbound[0], f.Inbound[0]
		in.ESN, in.Encap, out.ESN, out.Encap = cfg.Inbound.ESN, cfg.Inbound.Encap, cfg.Outbound.ESN, cfg.Outbound.Encap
		cfg.Inbound, cfg.Outbound = in, out
	}
	return cfg, st, nil
}

func parseSA(b []byte) (*esp.SA, error) {
	suite := esp.Suite(b[saOffSuite])
	if !suite.Valid() {
		return nil, unprovisioned("unknown ESP suite %d", b[saOffSuite])
	}
	flags := b[saOffFlags]
	if flags&^saFlagsKnown != 0 {
		return nil, unprovisioned("unknown SA flags %02x", flags)
	}
	ek, ak := suite.EncKeyLen(), suite.AuthKeyLen()
	if ek > saEncKeyMax || ak > saAuthKeyMax || !allZero(b[saOffEncKey+ek:saOffAuthKey]) || !allZero(b[saOffAuthKey+ak:]) || !allZero(b[6:8]) {
		return nil, unprovisioned("SA key padding or reserved bytes are not zero")
	}
	sa := &esp.SA{
		SPI:     binary.BigEndian.Uint32(b[saOffSPI:]),
		Suite:   suite,
		EncKey:  bytes.Clone(b[saOffEncKey : saOffEncKey+ek]),
		AuthKey: bytes.Clone(b[saOffAuthKey : saOffAuthKey+ak]),
		Mode:    esp.Transport,
		ESN:     flags&saFlagESN != 0,
	}
	if flags&saFlagUDPEncap != 0 {
		sa.Encap = &esp.UDPEncap{SrcPort: 4500, DstPort: 4500}
	}
	if err := sa.Validate(); err != nil {
		return nil, unprovisioned("SA: %v", err)
	}
	return sa, nil
}

// CurrentState returns the newest valid state slot and its index, as the
// firmware selects it: the highest generation whose CRC checks.
func CurrentState(img []byte) (*State, int, error) {
	area := img[len(img)-StateSize:]
	best, bestIdx := (*State)(nil), -1
	for i := 0; i < StateSlots; i++ {
		b := area[i*StateSlotSize : (i+1)*StateSlotSize]
		gen := binary.BigEndian.Uint32(b[slotOffGeneration:])
		if gen == 0xFFFFFFFF || CRC16(b[:slotOffCRC]) != binary.BigEndian.Uint16(b[slotOffCRC:]) {
			continue
		}
		if best == nil || gen > best.Generation {
			best, bestIdx = &State{
				Generation:     gen,
				ESPOutReserved: binary.BigEndian.Uint32(b[slotOffESPOut:]),
				ESPInFloor:     binary.BigEndian.Uint32(b[slotOffESPInFloor:]),
				NonceReserved:  binary.BigEndian.Uint32(b[slotOffNonce:]),
				SerialFloor:    binary.BigEndian.Uint32(b[slotOffSerialFloor:]),
				TimeFloor:      binary.BigEndian.Uint32(b[slotOffTimeFloor:]),
				Settings:       [2]uint16{binary.BigEndian.Uint16(b[slotOffSettings:]), binary.BigEndian.Uint16(b[slotOffSettings+2:])},
				BootCount:      binary.BigEndian.Uint16(b[slotOffBootCount:]),
			}, i
		}
	}
	if best == nil {
		return nil, -1, unprovisioned("no valid state slot")
	}
	return best, bestIdx, nil
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
