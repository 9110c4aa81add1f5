package safile

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/mstool/mstool/pkg/esp"
)

// Wireshark's esp_sa table (the "ESP SAs" preference, file "esp_sa" in a
// profile directory) has eight columns in Wireshark 4.0: protocol, source
// address, destination address, SPI, encryption algorithm, encryption key,
// authentication algorithm, authentication key. The algorithm columns hold
// the exact display strings of Wireshark's packet-esp.c, checked against
// Debian 12's tshark 4.0.
const (
	wsProtoIPv4 = "IPv4"
	wsProtoIPv6 = "IPv6"
	wsWildcard  = "*"

	wsEncNULL   = "NULL"
	wsEncAESCBC = "AES-CBC [RFC3602]"
	wsEncAESCTR = "AES-CTR [RFC3686]"
	wsEncGCM16  = "AES-GCM with 16 octet ICV [RFC4106]"

	wsAuthNULL      = "NULL"
	wsAuthMD596     = "HMAC-MD5-96 [RFC2403]"
	wsAuthSHA196    = "HMAC-SHA-1-96 [RFC2404]"
	wsAuthSHA256128 = "HMAC-SHA-256-128 [RFC4868]"

	wsColumns = 8
)

// wsSuites maps each suite Wireshark 4.0 can decrypt to its algorithm pair.
var wsSuites = map[esp.Suite][2]string{
	esp.SuiteAES128GCM16:         {wsEncGCM16, wsAuthNULL},
	esp.SuiteAES128CTRHMACSHA256: {wsEncAESCTR, wsAuthSHA256128},
	esp.SuiteAES128CBCHMACMD5:    {wsEncAESCBC, wsAuthMD596},
	esp.SuiteAES128CBCHMACSHA1:   {wsEncAESCBC, wsAuthSHA196},
	esp.SuiteAES128CBCHMACSHA256: {wsEncAESCBC, wsAuthSHA256128},
	esp.SuiteNULLHMACSHA256:      {wsEncNULL, wsAuthSHA256128},
}

// WiresharkSupports reports whether Wireshark 4.0 can decrypt ESP of suite s
// given an esp_sa entry. It cannot decrypt AES-CCM (RFC 4309).
func WiresharkSupports(s esp.Suite) bool {
	_, ok := wsSuites[s]
	return ok
}

// ExportWireshark writes sas as a Wireshark esp_sa UAT file (one quoted,
// comma-separated record per line), suitable as the file "esp_sa" of a
// Wireshark profile or, line by line, for tshark -o 'uat:esp_sa:RECORD'.
// SAs of suites Wireshark cannot decrypt are left out and reported in the
// warnings, as are SAs Wireshark can decrypt only partially (ESN: Wireshark
// 4.0 has no setting for extended sequence numbers, so it reports ICV
// failures for such SAs and, for AES-GCM, cannot decrypt them).
func ExportWireshark(sas []*esp.SA) (data []byte, warnings []string) {
	var b bytes.Buffer
	b.WriteString("# Wireshark ESP SAs (esp_sa) exported by mstool; contains secret keys\n")
	for _, sa := range sas {
		algs, ok := wsSuites[sa.Suite]
		if !ok {
			warnings = append(warnings, fmt.Sprintf("SA 0x%08x (%s) left out: Wireshark 4.0 cannot decrypt %s", sa.SPI, sa.Suite, suiteFamily(sa.Suite)))
			continue
		}
		if sa.ESN {
			warnings = append(warnings, fmt.Sprintf("SA 0x%08x uses extended sequence numbers, which Wireshark 4.0's esp_sa cannot express: expect ICV failures (and no decryption for AES-GCM)", sa.SPI))
		}
		if sa.Suite.IsNULL() {
			warnings = append(warnings, fmt.Sprintf("SA 0x%08x uses NULL encryption: its packets are in the clear (debugging only)", sa.SPI))
		}
		b.WriteString(wsRecordOf(sa, algs))
		b.WriteByte('\n')
	}
	return b.Bytes(), warnings
}

// WiresharkRecord returns the esp_sa record of sa without a newline, in
// the form tshark's -o 'uat:esp_sa:RECORD' takes, and false when Wireshark
// 4.0 cannot decrypt sa's suite.
func WiresharkRecord(sa *esp.SA) (string, bool) {
	a, ok := wsSuites[sa.Suite]
	if !ok {
		return "", false
	}
	return wsRecordOf(sa, a), true
}

func wsRecordOf(sa *esp.SA, a [2]string) string {
	proto, src, dst := wsProtoIPv4, wsWildcard, wsWildcard
	if sa.Src.IsValid() {
		if !sa.Src.Is4() {
			proto = wsProtoIPv6
		}
		src, dst = sa.Src.String(), sa.Dst.String()
	}
	fields := []string{
		proto, src, dst,
		fmt.Sprintf("0x%08x", sa.SPI),
		a[0], wsKey(sa.EncKey),
		a[1], wsKey(sa.AuthKey),
	}
	for i, f := range fields {
		fields[i] = strconv.Quote(f)
	}
	return strings.Join(fields, ",")
}

func wsKey(k []byte) string {
	if len(k) == 0 {
		return ""
	}
	return "0x" + hex.EncodeToString(k)
}

func suiteFamily(s esp.Suite) string {
	switch s {
	case esp.SuiteAES128CCM8, esp.SuiteAES128CCM16:
		return "AES-CCM (RFC 4309)"
	}
	return s.String()
}

// ParseWireshark reads a Wireshark esp_sa UAT file as decryption input. Only
// records whose algorithms and key sizes match an mstool suite are accepted;
// anything else is an error naming the line. Wireshark does not record the
// ESP mode, so the SAs are marked esp.Transport: a decryptor recognises
// tunnel mode by the inner Next Header (IPv4 or IPv6). Wildcard ("*")
// addresses leave Src and Dst unset; a wildcard SPI is refused, since
// decryption looks SAs up by SPI.
func ParseWireshark(data []byte) ([]*esp.SA, error) {
	var sas []*esp.SA
	seen := map[uint32]int{}
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || line[0] == '#' {
			continue
		}
		if len(line) > maxLineLen {
			return nil, wsErrorf(n, "line too long")
		}
		fields, err := splitUAT(line)
		if err != nil {
			return nil, wsErrorf(n, "%v", err)
		}
		if len(fields) != wsColumns {
			return nil, wsErrorf(n, "want %d fields (protocol, src, dst, spi, encryption, key, authentication, key), got %d", wsColumns, len(fields))
		}
		sa, err := wsRecord(fields)
		if err != nil {
			return nil, wsErrorf(n, "%v", err)
		}
		if prev, dup := seen[sa.SPI]; dup && sameDst(sas[prev], sa) {
			return nil, wsErrorf(n, "SPI 0x%08x given twice for the same destination", sa.SPI)
		}
		seen[sa.SPI] = len(sas)
		if len(sas) >= MaxSAs {
			return nil, wsErrorf(n, "too many SAs (at most %d)", MaxSAs)
		}
		sas = append(sas, sa)
	}
	if len(sas) == 0 {
		return nil, fmt.Errorf("safile: esp_sa: no SA records")
	}
	return sas, nil
}

func sameDst(a, b *esp.SA) bool { return a.SPI == b.SPI && a.Dst == b.Dst }

func wsErrorf(line int, format string, a ...any) error {
	return fmt.Errorf("safile: esp_sa line %d: %s", line, fmt.Sprintf(format, a...))
}

// splitUAT splits a UAT record: comma-separated fields, each either a
// double-quoted string with backslash escapes (\\, \", \xNN) or a bare token.
func splitUAT(line string) ([]string, error) {
	var fields []string
	i := 0
	for {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		var f strings.Builder
		if i < len(line) && line[i] == '"' {
			i++
			closed := false
			for i < len(line) {
				c := line[i]
				if c == '"' {
					closed = true
					i++
					break
				}
				if c == '\\' {
					if i+1 >= len(line) {
						return nil, fmt.Errorf("unfinished escape")
					}
					switch line[i+1] {
					case '\\', '"':
						f.WriteByte(line[i+1])
						i += 2
					case 'x':
						if i+4 > len(line) {
							return nil, fmt.Errorf("unfinished \\x escape")
						}
						v, err := strconv.ParseUint(line[i+2:i+4], 16, 8)
						if err != nil {
							return nil, fmt.Errorf("bad \\x escape")
						}
						f.WriteByte(byte(v))
						i += 4
					default:
						return nil, fmt.Errorf("unknown escape \\%c", line[i+1])
					}
					continue
				}
				f.WriteByte(c)
				i++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated quoted field")
			}
		} else {
			for i < len(line) && line[i] != ',' {
				f.WriteByte(line[i])
				i++
			}
		}
		fields = append(fields, strings.TrimSpace(f.String()))
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if i == len(line) {
			return fields, nil
		}
		if line[i] != ',' {
			return nil, fmt.Errorf("want ',' between fields")
		}
		i++
		if len(fields) > wsColumns {
			return nil, fmt.Errorf("too many fields")
		}
	}
}

func wsRecord(f []string) (*esp.SA, error) {
	sa := &esp.SA{Mode: esp.Transport}
	switch f[0] {
	case wsProtoIPv4, wsProtoIPv6:
	default:
		return nil, fmt.Errorf("protocol %q: want %q or %q", f[0], wsProtoIPv4, wsProtoIPv6)
	}
	var addrs [2]netip.Addr
	for i, s := range f[1:3] {
		if s == wsWildcard || s == "" {
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("address %q: not an IP address (Wireshark subnets and ranges are not supported)", s)
		}
		if a.Is4() != (f[0] == wsProtoIPv4) {
			return nil, fmt.Errorf("address %q does not match protocol %s", s, f[0])
		}
		addrs[i] = a
	}
	// esp.SA wants both addresses or neither; a half wildcard keeps only
	// what matters for the SPI lookup, the destination.
	sa.Src, sa.Dst = addrs[0], addrs[1]
	if sa.Src.IsValid() != sa.Dst.IsValid() {
		sa.Src, sa.Dst = netip.Addr{}, netip.Addr{}
	}
	spi := strings.ToLower(f[3])
	if spi == wsWildcard || spi == "" {
		return nil, fmt.Errorf("wildcard SPI: mstool needs the SPI of each SA")
	}
	// Wireshark reads the SPI with strtoul(s, 0): 0x-hex or decimal.
	var v uint64
	var err error
	if h, ok := strings.CutPrefix(spi, "0x"); ok {
		v, err = strconv.ParseUint(h, 16, 32)
	} else {
		v, err = strconv.ParseUint(spi, 10, 32)
	}
	if err != nil {
		return nil, fmt.Errorf("SPI %q is not a 32-bit number (0x-hex or decimal)", f[3])
	}
	if v == 0 {
		return nil, fmt.Errorf("SPI 0 is reserved")
	}
	sa.SPI = uint32(v)

	found := false
	for s, algs := range wsSuites {
		if algs[0] == f[4] && algs[1] == f[6] {
			sa.Suite, found = s, true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("algorithms %q with %q: not one of mstool's suites", f[4], f[6])
	}
	if sa.EncKey, err = wsParseKey(f[5], sa.Suite.EncKeyLen(), "encryption"); err != nil {
		return nil, err
	}
	if sa.AuthKey, err = wsParseKey(f[7], sa.Suite.AuthKeyLen(), "authentication"); err != nil {
		return nil, err
	}
	if err := sa.Validate(); err != nil {
		return nil, err
	}
	return sa, nil
}

func wsParseKey(s string, want int, what string) ([]byte, error) {
	if want == 0 {
		if s != "" && s != "0x" {
			return nil, fmt.Errorf("%s key given for an algorithm that takes none", what)
		}
		return nil, nil
	}
	h, ok := strings.CutPrefix(strings.ToLower(s), "0x")
	if !ok {
		return nil, fmt.Errorf("%s key must be hexadecimal starting with 0x (ASCII keys are not supported)", what)
	}
	k, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%s key is not hexadecimal", what)
	}
	if len(k) != want {
		return nil, fmt.Errorf("%s key is %d bytes; mstool's AES-128 suites need %d", what, len(k), want)
	}
	return k, nil
}
