package safile

import (
	"bytes"
	"encoding/hex"
	"fmt"

	"github.com/mstool/mstool/pkg/esp"
)

// xfrmAlgs is the Linux crypto API spelling of each suite for ip-xfrm(8):
// the algorithm keyword, name and, for integrity and AEAD, the ICV length in
// bits.
var xfrmAlgs = map[esp.Suite]struct {
	enc, encName   string // "aead" or "enc"
	authName       string // "" for AEAD suites
	icvBits        int
	nullEncryption bool
}{
	esp.SuiteAES128CCM8:          {enc: "aead", encName: "rfc4309(ccm(aes))", icvBits: 64},
	esp.SuiteAES128CCM16:         {enc: "aead", encName: "rfc4309(ccm(aes))", icvBits: 128},
	esp.SuiteAES128GCM16:         {enc: "aead", encName: "rfc4106(gcm(aes))", icvBits: 128},
	esp.SuiteAES128CTRHMACSHA256: {enc: "enc", encName: "rfc3686(ctr(aes))", authName: "hmac(sha256)", icvBits: 128},
	esp.SuiteAES128CBCHMACMD5:    {enc: "enc", encName: "cbc(aes)", authName: "hmac(md5)", icvBits: 96},
	esp.SuiteAES128CBCHMACSHA1:   {enc: "enc", encName: "cbc(aes)", authName: "hmac(sha1)", icvBits: 96},
	esp.SuiteAES128CBCHMACSHA256: {enc: "enc", encName: "cbc(aes)", authName: "hmac(sha256)", icvBits: 128},
	esp.SuiteNULLHMACSHA256:      {enc: "enc", encName: "ecb(cipher_null)", authName: "hmac(sha256)", icvBits: 128, nullEncryption: true},
}

// ExportXfrm returns one `ip xfrm state add` command per SA of f, equivalent
// to the file's SAs, ready to paste into a root shell on a Linux host (the
// algorithm names are single-quoted for the shell). It configures states
// only: add matching `ip xfrm policy` lines for the traffic to protect.
// Every SA needs its src and dst addresses, which ip-xfrm requires.
func ExportXfrm(f *File) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# ip xfrm states exported by mstool (contain secret keys); add policies with 'ip xfrm policy'\n")
	write := func(dir string, sas []*esp.SA) error {
		for _, sa := range sas {
			if err := sa.Validate(); err != nil {
				return fmt.Errorf("safile: xfrm: %s SA 0x%08x: %w", dir, sa.SPI, err)
			}
			if !sa.Src.IsValid() {
				return fmt.Errorf("safile: xfrm: %s SA 0x%08x has no src/dst addresses, which ip xfrm needs", dir, sa.SPI)
			}
			fmt.Fprintf(&b, "# %s %s\n", dir, sa.Suite)
			b.WriteString(xfrmState(sa, dir == sectionInbound))
			b.WriteByte('\n')
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

func xfrmState(sa *esp.SA, inbound bool) string {
	a := xfrmAlgs[sa.Suite]
	var b bytes.Buffer
	fmt.Fprintf(&b, "ip xfrm state add src %s dst %s proto esp spi 0x%08x mode %s", sa.Src, sa.Dst, sa.SPI, sa.Mode)
	if inbound || sa.ESN {
		// The kernel keeps a replay window for inbound states; with ESN it
		// needs one in both directions.
		w := sa.ReplayWindow
		if w == 0 {
			w = esp.DefaultReplayWindow
		}
		fmt.Fprintf(&b, " replay-window %d", w)
	}
	if sa.ESN {
		b.WriteString(" flag esn")
	}
	switch {
	case a.enc == "aead":
		fmt.Fprintf(&b, " aead '%s' 0x%s %d", a.encName, hex.EncodeToString(sa.EncKey), a.icvBits)
	case a.nullEncryption:
		fmt.Fprintf(&b, " enc '%s' ''", a.encName)
	default:
		fmt.Fprintf(&b, " enc '%s' 0x%s", a.encName, hex.EncodeToString(sa.EncKey))
	}
	if a.authName != "" {
		fmt.Fprintf(&b, " auth-trunc '%s' 0x%s %d", a.authName, hex.EncodeToString(sa.AuthKey), a.icvBits)
	}
	if sa.Encap != nil {
		oaddr := "0.0.0.0" // no NAT original address
		if !sa.Src.Is4() {
			oaddr = "::"
		}
		fmt.Fprintf(&b, " encap espinudp %d %d %s", sa.Encap.SrcPort, sa.Encap.DstPort, oaddr)
	}
	return b.String()
}
