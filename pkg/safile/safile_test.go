package safile

import (
	"bytes"
	"crypto/rand"
	"errors"
	"flag"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/keyfile"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// allSuites builds one transport pair per suite, with varied options, from
// deterministic bytes.
func allSuites(t *testing.T) *File {
	t.Helper()
	r := mrand.NewChaCha8([32]byte{'s', 'a', 'f', 'i', 'l', 'e'}) // deterministic, for golden files
	f := &File{}
	for i, s := range esp.Suites {
		opts := Options{
			Suite:  s,
			Local:  netip.MustParseAddr("192.0.2.1"),
			Remote: netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}),
		}
		switch i % 4 {
		case 1:
			opts.Mode = esp.Tunnel
		case 2:
			opts.UDPEncap = true
			opts.LocalPort = 40000 + uint16(i)
		case 3:
			opts.ESN = true
			opts.ReplayWindow = 128
		}
		p, err := New(r, opts)
		if err != nil {
			t.Fatalf("New(%s): %v", s, err)
		}
		f.Inbound = append(f.Inbound, p.Inbound...)
		f.Outbound = append(f.Outbound, p.Outbound...)
	}
	return f
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	f := allSuites(t)
	text, err := Format(f)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "all-suites.sa", text)
	back, err := Parse(text)
	if err != nil {
		t.Fatalf("Parse(Format(f)): %v\n%s", err, text)
	}
	if !reflect.DeepEqual(f, back) {
		t.Errorf("round trip changed the file:\n%+v\n%+v", f, back)
	}
	again, err := Format(back)
	if err != nil || !bytes.Equal(again, text) {
		t.Errorf("Format is not canonical (err %v)", err)
	}
}

func TestNew(t *testing.T) {
	for _, s := range esp.Suites {
		t.Run(s.String(), func(t *testing.T) {
			f, err := New(rand.Reader, Options{Suite: s, UDPEncap: true, LocalPort: 1234,
				Local: netip.MustParseAddr("10.0.0.1"), Remote: netip.MustParseAddr("10.0.0.2")})
			if err != nil {
				t.Fatal(err)
			}
			in, out := f.Inbound[0], f.Outbound[0]
			if in.SPI == out.SPI || in.SPI < 256 || out.SPI < 256 {
				t.Errorf("SPIs %#x %#x: want distinct, >= 256", in.SPI, out.SPI)
			}
			if len(in.EncKey) != s.EncKeyLen() || len(in.AuthKey) != s.AuthKeyLen() {
				t.Errorf("key lengths %d/%d", len(in.EncKey), len(in.AuthKey))
			}
			if s.EncKeyLen() > 0 && bytes.Equal(in.EncKey, out.EncKey) {
				t.Error("inbound and outbound share an encryption key")
			}
			if s.AuthKeyLen() > 0 && bytes.Equal(in.AuthKey, out.AuthKey) {
				t.Error("inbound and outbound share an authentication key")
			}
			if out.Src.String() != "10.0.0.1" || out.Dst.String() != "10.0.0.2" || in.Src != out.Dst || in.Dst != out.Src {
				t.Errorf("addresses: out %v→%v in %v→%v", out.Src, out.Dst, in.Src, in.Dst)
			}
			if *out.Encap != (esp.UDPEncap{SrcPort: 1234, DstPort: 4500}) || *in.Encap != (esp.UDPEncap{SrcPort: 4500, DstPort: 1234}) {
				t.Errorf("encap: out %+v in %+v", *out.Encap, *in.Encap)
			}
			if in.ReplayWindow != esp.DefaultReplayWindow || in.Mode != esp.Transport {
				t.Errorf("defaults: window %d mode %v", in.ReplayWindow, in.Mode)
			}
		})
	}
	if f, err := New(rand.Reader, Options{}); err != nil || f.Inbound[0].Suite != DefaultSuite {
		t.Errorf("zero options: %v", err)
	}
	if _, err := New(rand.Reader, Options{Suite: 99}); err == nil {
		t.Error("invalid suite accepted")
	}
	if _, err := New(bytes.NewReader(make([]byte, 10)), Options{}); err == nil {
		t.Error("short randomness accepted")
	}
	if _, err := New(rand.Reader, Options{Local: netip.MustParseAddr("10.0.0.1")}); err == nil {
		t.Error("only one address accepted")
	}
}

func TestMirror(t *testing.T) {
	f := allSuites(t)
	m := f.Mirror()
	if !reflect.DeepEqual(m.Inbound, f.Outbound) || !reflect.DeepEqual(m.Outbound, f.Inbound) {
		t.Fatal("mirror is not the swap")
	}
	m.Inbound[0].EncKey[0] ^= 1
	if m.Inbound[0].EncKey[0] == f.Outbound[0].EncKey[0] {
		t.Error("mirror shares key bytes")
	}
}

const validSA = `mstool-sa v1
[inbound]
spi = 0x00001000
suite = aes128-cbc-hmac-sha1-96
enc-key = 000102030405060708090a0b0c0d0e0f
auth-key = 000102030405060708090a0b0c0d0e0f10111213
mode = transport
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
		line             int
	}{
		{"empty", "", "empty file", 1},
		{"no magic", "[inbound]\n", "not an mstool SA file", 1},
		{"future version", "mstool-sa v2\n", `unsupported version "v2"`, 1},
		{"no SAs", "mstool-sa v1\n# nothing\n", "no SAs", 2},
		{"unknown section", "mstool-sa v1\n[sideways]\n", "unknown section", 2},
		{"key outside", "mstool-sa v1\nspi = 0x1\n", "outside a section", 2},
		{"unknown key", validSA + "colour = red\n", `unknown key "colour"`, 8},
		{"no equals", validSA + "esn\n", `want "key = value"`, 8},
		{"duplicate key", validSA + "mode = tunnel\n", `"mode" given twice`, 8},
		{"missing spi", strings.Replace(validSA, "spi = 0x00001000\n", "", 1), `missing "spi"`, 2},
		{"spi zero", strings.Replace(validSA, "0x00001000", "0x0", 1), "0 is reserved", 3},
		{"spi decimal", strings.Replace(validSA, "0x00001000", "4096", 1), "want 0x", 3},
		{"spi too long", strings.Replace(validSA, "0x00001000", "0x100000000", 1), "want 0x", 3},
		{"spi not hex", strings.Replace(validSA, "0x00001000", "0x1g", 1), "not hexadecimal", 3},
		{"bad suite", strings.Replace(validSA, "aes128-cbc-hmac-sha1-96", "rot13", 1), `unknown suite "rot13"`, 4},
		{"short enc key", strings.Replace(validSA, "0e0f\n", "0e\n", 1), "needs exactly 16 bytes", 5},
		{"long auth key", strings.Replace(validSA, "1213\n", "121314\n", 1), "needs exactly 20 bytes", 6},
		{"odd hex", strings.Replace(validSA, "0e0f\n", "0e0g\n", 1), "not hexadecimal", 5},
		{"missing auth key", strings.Replace(validSA, "auth-key = 000102030405060708090a0b0c0d0e0f10111213\n", "", 1), `missing "auth-key"`, 2},
		{"aead with auth key", strings.Replace(strings.Replace(validSA, "aes128-cbc-hmac-sha1-96", "aes128-gcm16", 1), "0e0f\n", "0e0f10111213\n", 1), "takes no auth-key", 6},
		{"bad mode", strings.Replace(validSA, "transport", "tunnell", 1), "unknown mode", 7},
		{"bad esn", validSA + "esn = yes\n", "true or false", 8},
		{"bad addr", validSA + "src = 1.2.3\ndst = 1.2.3.4\n", "not an IPv4 or IPv6 address", 8},
		{"zone addr", validSA + "src = fe80::1%eth0\ndst = fe80::2\n", "not an IPv4 or IPv6 address", 8},
		{"only src", validSA + "src = 1.2.3.4\n", "both src and dst", 2},
		{"mixed families", validSA + "src = 1.2.3.4\ndst = ::1\n", "different families", 2},
		{"only one port", validSA + "udp-src-port = 4500\n", "both udp-src-port", 2},
		{"port zero", validSA + "udp-src-port = 0\nudp-dst-port = 4500\n", "port 0", 8},
		{"port big", validSA + "udp-src-port = 65536\nudp-dst-port = 4500\n", "out of range", 8},
		{"port sign", validSA + "udp-src-port = +45\nudp-dst-port = 4500\n", "decimal", 8},
		{"window big", validSA + "replay-window = 100000\n", "out of range", 8},
		{"window leading zero", validSA + "replay-window = 064\n", "decimal", 8},
		{"duplicate spi", validSA + strings.TrimPrefix(validSA, "mstool-sa v1\n"), "already used", 9},
		{"control char", validSA + "# \x00\n", "control", 8},
		{"non-ascii", validSA + "# é\n", "non-ASCII", 8},
		{"long line", validSA + "#" + strings.Repeat("x", 2000) + "\n", "too long", 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.text))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *ParseError", err)
			}
			if !strings.Contains(pe.Msg, tt.want) || pe.Line != tt.line {
				t.Errorf("got %q, want line %d containing %q", err, tt.line, tt.want)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	// Comments, blank lines, CRLF, indentation, spacing and upper-case hex
	// are accepted; the same SA as validSA results.
	loose := "mstool-sa v1\r\n\r\n# comment\r\n  [inbound]\r\n\tspi=0x1000\r\nsuite   =   aes128-cbc-hmac-sha1-96\r\n" +
		"enc-key = 000102030405060708090A0B0C0D0E0F\r\nauth-key = 000102030405060708090a0b0c0d0e0f10111213\r\nmode = transport\r\nesn = false\r\n"
	a, err := Parse([]byte(loose))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse([]byte(validSA))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("loose and strict forms differ: %+v %+v", a.Inbound[0], b.Inbound[0])
	}
	// The same SPI may be used once per direction.
	two := validSA + strings.Replace(strings.TrimPrefix(validSA, "mstool-sa v1\n"), "inbound", "outbound", 1)
	if f, err := Parse([]byte(two)); err != nil || len(f.All()) != 2 {
		t.Errorf("same SPI in both directions: %v", err)
	}
}

func TestReadWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dev.sa")
	f, err := New(rand.Reader, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, err %v; want 0600", fi.Mode(), err)
	}
	if err := WriteFile(path, f); !errors.Is(err, keyfile.ErrExists) {
		t.Errorf("overwrote an existing file: %v", err)
	}
	back, err := ReadFile(path)
	if err != nil || !reflect.DeepEqual(back, f) {
		t.Fatalf("ReadFile: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var ie *keyfile.InsecureError
	if _, err := ReadFile(path); !errors.As(err, &ie) {
		t.Errorf("world-readable SA file accepted: %v", err)
	}
}

func TestXfrmGolden(t *testing.T) {
	out, err := ExportXfrm(allSuites(t))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "all-suites.xfrm", out)

	noAddr, _ := New(rand.Reader, Options{})
	if _, err := ExportXfrm(noAddr); err == nil || !strings.Contains(err.Error(), "no src/dst") {
		t.Errorf("SA without addresses: %v", err)
	}
}

func TestXfrmLines(t *testing.T) {
	// Independent of the golden file: each suite's algorithm clause.
	want := map[esp.Suite]string{
		esp.SuiteAES128CCM8:          " aead 'rfc4309(ccm(aes))' 0x",
		esp.SuiteAES128CCM16:         " aead 'rfc4309(ccm(aes))' 0x",
		esp.SuiteAES128GCM16:         " aead 'rfc4106(gcm(aes))' 0x",
		esp.SuiteAES128CTRHMACSHA256: " enc 'rfc3686(ctr(aes))' 0x",
		esp.SuiteAES128CBCHMACMD5:    " enc 'cbc(aes)' 0x",
		esp.SuiteAES128CBCHMACSHA1:   " enc 'cbc(aes)' 0x",
		esp.SuiteAES128CBCHMACSHA256: " enc 'cbc(aes)' 0x",
		esp.SuiteNULLHMACSHA256:      " enc 'ecb(cipher_null)' ''",
	}
	tail := map[esp.Suite]string{
		esp.SuiteAES128CCM8:          " 64",
		esp.SuiteAES128CCM16:         " 128",
		esp.SuiteAES128GCM16:         " 128",
		esp.SuiteAES128CTRHMACSHA256: " auth-trunc 'hmac(sha256)' 0x%s 128",
		esp.SuiteAES128CBCHMACMD5:    " auth-trunc 'hmac(md5)' 0x%s 96",
		esp.SuiteAES128CBCHMACSHA1:   " auth-trunc 'hmac(sha1)' 0x%s 96",
		esp.SuiteAES128CBCHMACSHA256: " auth-trunc 'hmac(sha256)' 0x%s 128",
		esp.SuiteNULLHMACSHA256:      " auth-trunc 'hmac(sha256)' 0x%s 128",
	}
	for _, s := range esp.Suites {
		f, err := New(rand.Reader, Options{Suite: s, Local: netip.MustParseAddr("10.1.1.1"), Remote: netip.MustParseAddr("10.1.1.2")})
		if err != nil {
			t.Fatal(err)
		}
		line := xfrmState(f.Outbound[0], false)
		if !strings.Contains(line, want[s]) || !strings.HasSuffix(line, strings.ReplaceAll(tail[s], "%s", hexs(f.Outbound[0].AuthKey))) {
			t.Errorf("%s: %s", s, line)
		}
		if !strings.HasPrefix(line, "ip xfrm state add src 10.1.1.1 dst 10.1.1.2 proto esp spi 0x") {
			t.Errorf("%s: %s", s, line)
		}
	}
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	var s strings.Builder
	for _, c := range b {
		s.WriteByte(digits[c>>4])
		s.WriteByte(digits[c&15])
	}
	return s.String()
}

func TestWiresharkGolden(t *testing.T) {
	f := allSuites(t)
	out, warnings := ExportWireshark(f.All())
	golden(t, "all-suites.esp_sa", out)
	joined := strings.Join(warnings, "\n")
	for _, w := range []string{"aes128-ccm8) left out", "aes128-ccm16) left out", "NULL encryption", "extended sequence numbers"} {
		if !strings.Contains(joined, w) {
			t.Errorf("warnings lack %q:\n%s", w, joined)
		}
	}
	// Importing the export gives back every exported SA, as transport SAs.
	sas, err := ParseWireshark(out)
	if err != nil {
		t.Fatal(err)
	}
	var want []*esp.SA
	for _, sa := range f.All() {
		if WiresharkSupports(sa.Suite) {
			c := *sa
			c.Mode, c.ESN, c.Encap, c.ReplayWindow = esp.Transport, false, nil, 0
			want = append(want, &c)
		}
	}
	if !reflect.DeepEqual(sas, want) {
		t.Errorf("import of export differs:\n%+v\n%+v", sas, want)
	}
}

func TestParseWireshark(t *testing.T) {
	good := `"IPv4","*","*","0x00000100","AES-CBC [RFC3602]","0x000102030405060708090a0b0c0d0e0f","HMAC-SHA-1-96 [RFC2404]","0x000102030405060708090a0b0c0d0e0f10111213"`
	sas, err := ParseWireshark([]byte("# c\n\n" + good + "\r\n"))
	if err != nil || len(sas) != 1 || sas[0].Suite != esp.SuiteAES128CBCHMACSHA1 || sas[0].SPI != 0x100 || sas[0].Dst.IsValid() {
		t.Fatalf("%v %+v", err, sas)
	}
	// Decimal SPI and a half wildcard (only the destination known).
	g2 := strings.Replace(strings.Replace(good, `"0x00000100"`, `"256"`, 1), `"*","*"`, `"*","10.0.0.2"`, 1)
	if sas, err := ParseWireshark([]byte(g2)); err != nil || sas[0].SPI != 256 {
		t.Errorf("decimal SPI: %v", err)
	}
	bad := []struct{ name, line, want string }{
		{"fields", `"IPv4","*"`, "want 8 fields"},
		{"protocol", strings.Replace(good, "IPv4", "IPX", 1), "protocol"},
		{"wildcard spi", strings.Replace(good, "0x00000100", "*", 1), "wildcard SPI"},
		{"spi zero", strings.Replace(good, "0x00000100", "0", 1), "reserved"},
		{"aes256", strings.Replace(good, "0x000102030405060708090a0b0c0d0e0f\"", "0x000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f\"", 1), "need 16"},
		{"ascii key", strings.Replace(good, "0x000102030405060708090a0b0c0d0e0f\"", "secretsecret1234\"", 1), "ASCII keys"},
		{"unknown alg", strings.Replace(good, "AES-CBC [RFC3602]", "TripleDES-CBC [RFC2451]", 1), "not one of mstool's suites"},
		{"family", strings.Replace(good, `"*","*"`, `"::1","::2"`, 1), "does not match"},
		{"unterminated", `"IPv4`, "unterminated"},
		{"escape", `"IPv4\q"`, "unknown escape"},
	}
	for _, tt := range bad {
		if _, err := ParseWireshark([]byte(tt.line)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := ParseWireshark([]byte("# only comments\n")); err == nil {
		t.Error("empty table accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(validSA))
	if b, err := os.ReadFile(filepath.Join("testdata", "all-suites.sa")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		// Anything accepted formats canonically and parses back the same.
		text, err := Format(file)
		if err != nil {
			t.Fatalf("accepted file does not format: %v", err)
		}
		back, err := Parse(text)
		if err != nil || !reflect.DeepEqual(back, file) {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}

func FuzzParseWireshark(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "all-suites.esp_sa")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sas, err := ParseWireshark(data)
		if err != nil {
			return
		}
		for _, sa := range sas {
			if err := sa.Validate(); err != nil {
				t.Fatalf("accepted an invalid SA: %v", err)
			}
		}
	})
}
