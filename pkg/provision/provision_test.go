package provision

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/mstool/mstool/pkg/bootstrap"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/ihex"
	"github.com/mstool/mstool/pkg/safile"
	"github.com/mstool/mstool/pkg/signkey"
)

var update = flag.Bool("update", false, "rewrite golden files")

func testSA(spi uint32, suite esp.Suite, fill byte) *esp.SA {
	return &esp.SA{
		SPI: spi, Suite: suite, Mode: esp.Transport,
		EncKey:  bytes.Repeat([]byte{fill}, suite.EncKeyLen()),
		AuthKey: bytes.Repeat([]byte{fill + 1}, suite.AuthKeyLen()),
	}
}

func testIssuer(t testing.TB, bits int) *rsa.PublicKey {
	name := map[int]string{1024: "test-rsa1024.pub.pem", 2048: "test-rsa2048.pub.pem"}[bits]
	data, err := os.ReadFile(filepath.Join("..", "..", "vectors", "keys", name))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := signkey.ParsePublicPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func testConfig(t testing.TB) *Config {
	cfg := &Config{
		DeviceID:    0x2a,
		Addr:        netip.MustParseAddr("10.0.0.2"),
		Peer:        netip.MustParseAddr("10.0.0.1"),
		Inbound:     testSA(0x1000, esp.SuiteAES128CCM8, 0x11),
		Outbound:    testSA(0x2000, esp.SuiteAES128CBCHMACMD5, 0x22),
		Issuer:      testIssuer(t, 1024),
		SerialFloor: 7,
	}
	copy(cfg.MasterKey[:], bytes.Repeat([]byte{0xA5}, 16))
	return cfg
}

func TestCRC16CheckValue(t *testing.T) {
	if got := CRC16([]byte("123456789")); got != 0x29B1 {
		t.Fatalf("CRC-16/CCITT-FALSE check value %04x, want 29b1", got)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, mcu := range []string{"atmega328p", "atmega168"} {
		size, _ := EEPROMSize(mcu)
		cfg := testConfig(t)
		cfg.HasGroup, cfg.GroupID = true, 9
		cfg.GroupKey[0] = 1
		cfg.AllowClearICMP = true
		cfg.Outbound.ESN = true
		cfg.Outbound.Encap = &esp.UDPEncap{SrcPort: 4500, DstPort: 4500}
		img, err := Build(cfg, size)
		if err != nil {
			t.Fatalf("%s: %v", mcu, err)
		}
		if len(img) != size {
			t.Fatalf("%s: image %d bytes", mcu, len(img))
		}
		got, st, err := Parse(img)
		if err != nil {
			t.Fatalf("%s: %v", mcu, err)
		}
		if got.DeviceID != cfg.DeviceID || got.Addr != cfg.Addr || got.Peer != cfg.Peer || got.MasterKey != cfg.MasterKey ||
			!got.HasGroup || got.GroupID != 9 || got.GroupKey != cfg.GroupKey || !got.AllowClearICMP ||
			!got.Issuer.Equal(cfg.Issuer) || got.SerialFloor != 7 {
			t.Fatalf("%s: config changed in round trip: %+v", mcu, got)
		}
		for i, pair := range [][2]*esp.SA{{got.Inbound, cfg.Inbound}, {got.Outbound, cfg.Outbound}} {
			a, b := pair[0], pair[1]
			if a.SPI != b.SPI || a.Suite != b.Suite || !bytes.Equal(a.EncKey, b.EncKey) || !bytes.Equal(a.AuthKey, b.AuthKey) || a.ESN != b.ESN || (a.Encap == nil) != (b.Encap == nil) {
				t.Fatalf("%s: SA %d changed: %+v vs %+v", mcu, i, a, b)
			}
		}
		if st.Generation != 1 || st.ESPOutReserved != 0 || st.SerialFloor != 7 {
			t.Fatalf("%s: initial state %+v", mcu, st)
		}
		// Everything past the config and the first state slot is erased.
		length := int(binary.BigEndian.Uint16(img[offLength:]))
		if bytes.Count(img[length:size-StateSize], []byte{0xFF}) != size-StateSize-length ||
			bytes.Count(img[size-StateSize+StateSlotSize:], []byte{0xFF}) != StateSize-StateSlotSize {
			t.Fatalf("%s: unused EEPROM not erased", mcu)
		}
	}
}

func TestNoSAsNoIssuer(t *testing.T) {
	cfg := testConfig(t)
	cfg.Inbound, cfg.Outbound, cfg.Issuer, cfg.Peer = nil, nil, nil, netip.Addr{}
	img, err := Build(cfg, 512)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := Parse(img)
	if err != nil || got.Inbound != nil || got.Issuer != nil {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestBuildRejects(t *testing.T) {
	cases := map[string]func(*Config){
		"id zero":      func(c *Config) { c.DeviceID = 0 },
		"no address":   func(c *Config) { c.Addr = netip.Addr{} },
		"ipv6 address": func(c *Config) { c.Addr = netip.MustParseAddr("::1") },
		"one SA":       func(c *Config) { c.Outbound = nil },
		"tunnel":       func(c *Config) { c.Inbound.Mode = esp.Tunnel },
		"same SPI":     func(c *Config) { c.Outbound.SPI = c.Inbound.SPI },
		"other port":   func(c *Config) { c.Inbound.Encap = &esp.UDPEncap{SrcPort: 1, DstPort: 4500} },
		"short key":    func(c *Config) { c.Inbound.EncKey = c.Inbound.EncKey[:3] },
		"e=3":          func(c *Config) { c.Issuer = &rsa.PublicKey{N: c.Issuer.N, E: 3} },
	}
	for name, mutate := range cases {
		cfg := testConfig(t)
		mutate(cfg)
		if _, err := Build(cfg, 1024); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// RSA-2048 does not fit an ATmega168 with the state area; it fits a 328P.
	cfg := testConfig(t)
	cfg.Issuer = testIssuer(t, 2048)
	if _, err := Build(cfg, 512); err == nil {
		t.Error("RSA-2048 on a 512-byte EEPROM accepted")
	}
	if _, err := Build(cfg, 1024); err != nil {
		t.Errorf("RSA-2048 on a 1024-byte EEPROM: %v", err)
	}
}

// Every single-byte corruption of the config area is detected: the device
// reports unprovisioned instead of using garbage.
func TestEveryConfigByteFlipIsUnprovisioned(t *testing.T) {
	img, err := Build(testConfig(t), 1024)
	if err != nil {
		t.Fatal(err)
	}
	length := int(binary.BigEndian.Uint16(img[offLength:]))
	for i := 0; i < length; i++ {
		for _, mask := range []byte{0x01, 0x80, 0xFF} {
			bad := bytes.Clone(img)
			bad[i] ^= mask
			_, _, err := Parse(bad)
			var ue *UnprovisionedError
			if !errors.As(err, &ue) {
				t.Fatalf("byte %d ^ %02x: %v, want unprovisioned", i, mask, err)
			}
		}
	}
}

func TestUnprovisionedStates(t *testing.T) {
	img, _ := Build(testConfig(t), 1024)
	cases := map[string][]byte{
		"blank":     bytes.Repeat([]byte{0xFF}, 1024),
		"zeros":     make([]byte, 1024),
		"truncated": img[:700],
		"empty":     nil,
		"no state":  append(bytes.Clone(img[:1024-StateSize]), bytes.Repeat([]byte{0xFF}, StateSize)...),
	}
	for name, in := range cases {
		var ue *UnprovisionedError
		if _, _, err := Parse(in); !errors.As(err, &ue) {
			t.Errorf("%s: %v, want unprovisioned", name, err)
		}
	}
}

// The newest slot whose CRC checks wins; a torn write leaves the previous one.
func TestStateSlotSelection(t *testing.T) {
	img, _ := Build(testConfig(t), 1024)
	area := img[1024-StateSize:]
	putState(area[1*StateSlotSize:][:StateSlotSize], &State{Generation: 2, ESPOutReserved: 1024})
	putState(area[2*StateSlotSize:][:StateSlotSize], &State{Generation: 3, ESPOutReserved: 2048})
	st, idx, err := CurrentState(img)
	if err != nil || idx != 2 || st.ESPOutReserved != 2048 {
		t.Fatalf("newest: %+v %d %v", st, idx, err)
	}
	area[2*StateSlotSize+5] ^= 1 // torn write of generation 3
	st, idx, err = CurrentState(img)
	if err != nil || idx != 1 || st.ESPOutReserved != 1024 {
		t.Fatalf("after torn write: %+v %d %v", st, idx, err)
	}
}

// The golden image is what the firmware's own tests read (firmware/tests):
// fixed inputs, so a layout change shows up as a diff here and there.
func TestGoldenImage(t *testing.T) {
	img, err := Build(testConfig(t), 1024)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := ihex.Encode(&b, 0, img); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "golden-atmega328p.hex")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/provision -run Golden -update)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatal("image differs from the golden file: the layout changed; update docs/eeprom.md, the firmware and the golden file together")
	}
}

func FuzzParse(f *testing.F) {
	img, _ := Build(testConfig(f), 1024)
	f.Add(img)
	f.Add(bytes.Repeat([]byte{0xFF}, 512))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, err := Parse(data)
		if err != nil {
			return
		}
		// Whatever parses must build again into an image that parses.
		if _, err := Build(cfg, len(data)); err != nil {
			t.Fatalf("parsed config does not build: %v", err)
		}
	})
}

var _ = rand.Reader

func TestIsImage(t *testing.T) {
	cfg := &Config{DeviceID: 1, Addr: netip.MustParseAddr("10.0.0.2")}
	for _, size := range []int{512, 1024} {
		img, err := Build(cfg, size)
		if err != nil {
			t.Fatal(err)
		}
		if !IsImage(img) {
			t.Errorf("%d-byte image from Build: not recognised", size)
		}
		damaged := append([]byte(nil), img...)
		damaged[10] ^= 0xFF // config CRC no longer matches
		if !IsImage(damaged) {
			t.Errorf("%d-byte image with a damaged config: not recognised", size)
		}
		if IsImage(img[:size-1]) || IsImage(append(img, 0xFF)) {
			t.Errorf("%d-byte image: a wrong size was recognised", size)
		}
		fw := append([]byte{0x0C, 0x94, 0x34, 0x00}, img[4:]...) // JMP at the reset vector
		if IsImage(fw) {
			t.Errorf("%d bytes starting with a JMP: recognised as an EEPROM image", size)
		}
	}
	if IsImage(nil) || IsImage([]byte("ME")) {
		t.Error("short input recognised")
	}
}

// A bootstrapped config (docs/bootstrap.md, "Device state"): RN_i at
// bootstrap.AreaOffset, flag 0x10, SA slots with the derived SPIs and no
// keys; Parse gives the area back and the SAs derived from the master key;
// a config that would reach into the area is refused.
func TestBootstrapArea(t *testing.T) {
	var rni [bootstrap.RNSize]byte
	rni[0] = 2
	area := bootstrap.EnrolArea(rni)
	for _, tc := range []struct {
		size, off int
		issuer    int // bits; 0: none
		ok        bool
	}{{1024, 784, 2048, true}, {1024, 784, 0, true}, {512, 272, 0, true}, {512, 272, 1024, false}} {
		cfg := testConfig(t)
		cfg.Inbound, cfg.Outbound = nil, nil
		cfg.Issuer = nil
		if tc.issuer != 0 {
			cfg.Issuer = testIssuer(t, tc.issuer)
		}
		cfg.Bootstrap = area
		img, err := Build(cfg, tc.size)
		if !tc.ok {
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte("bootstrap area")) {
				t.Fatalf("%d/%d: config into the area: %v", tc.size, tc.issuer, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%d/%d: %v", tc.size, tc.issuer, err)
		}
		if !bytes.Equal(img[tc.off:tc.off+bootstrap.AreaSize], area) {
			t.Fatalf("%d: area not at %d", tc.size, tc.off)
		}
		if img[offFlags]&flagBootstrap == 0 || img[offSACount] != 2 {
			t.Fatalf("%d: flag %02x, SA count %d", tc.size, img[offFlags], img[offSACount])
		}
		if !allZero(img[offSA0+saOffEncKey:offSA0+saSize]) || !allZero(img[offSA1+saOffEncKey:offSA1+saSize]) {
			t.Fatalf("%d: SA keys written into a bootstrapped config", tc.size)
		}
		want, _ := bootstrap.DeriveSAs(cfg.MasterKey, safile.Options{})
		got, _, err := Parse(img)
		if err != nil || !bytes.Equal(got.Bootstrap, area) {
			t.Fatalf("%d: Parse: %v %x", tc.size, err, got.Bootstrap)
		}
		if !sameSA(got.Inbound, want.Outbound[0]) || !sameSA(got.Outbound, want.Inbound[0]) {
			t.Fatalf("%d: Parse: SAs not the derived ones", tc.size)
		}
		// The derived SAs round-trip; others are refused.
		cfg.Inbound, cfg.Outbound = got.Inbound, got.Outbound
		if again, err := Build(cfg, tc.size); err != nil || !bytes.Equal(again, img) {
			t.Fatalf("%d: Build(Parse(image)): %v", tc.size, err)
		}
		cfg.Inbound = testSA(0x1000, esp.SuiteAES128CCM8, 0x11)
		if _, err := Build(cfg, tc.size); err == nil {
			t.Fatalf("%d: explicit SAs in a bootstrapped config", tc.size)
		}
		// Without the area: not bootstrapped, nothing at the offset.
		cfg = testConfig(t)
		img, _ = Build(cfg, tc.size)
		if got, _, err = Parse(img); err != nil || got.Bootstrap != nil {
			t.Fatalf("%d: image without an area: %v %x", tc.size, err, got.Bootstrap)
		}
	}
	cfg := testConfig(t)
	cfg.Inbound, cfg.Outbound = nil, nil
	cfg.Bootstrap = area[:10]
	if _, err := Build(cfg, 1024); err == nil {
		t.Fatal("short area accepted")
	}
}
