package esp

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mstool/mstool/internal/testenv"
)

// scapyCase is one case of testdata/scapy_esp.py's JSON protocol.
type scapyCase struct {
	Suite   string  `json:"suite"`
	SPI     uint32  `json:"spi"`
	EncKey  string  `json:"enc_key"`
	AuthKey string  `json:"auth_key"`
	Mode    string  `json:"mode"`
	Src     string  `json:"src"`
	Dst     string  `json:"dst"`
	Encap   *[2]int `json:"encap"`
	ESN     bool    `json:"esn"`
	Seq     uint64  `json:"seq"`
	Packet  string  `json:"packet"`

	sa    *SA    // the SA both sides use
	inner []byte // the inner (plaintext) IP packet
	name  string
}

type scapyResult struct {
	Packet string `json:"packet"`
	Error  string `json:"error"`
}

// runScapy runs one batch through a single python process.
func runScapy(t *testing.T, py, op string, cases []*scapyCase) []scapyResult {
	t.Helper()
	req, err := json.Marshal(map[string]any{"op": op, "cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, filepath.Join("testdata", "scapy_esp.py"))
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scapy_esp.py %s: %v\n%s", op, err, stderr.String())
	}
	var resp struct{ Results []scapyResult }
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("scapy_esp.py %s: %v", op, err)
	}
	if len(resp.Results) != len(cases) {
		t.Fatalf("scapy_esp.py %s: %d results for %d cases", op, len(resp.Results), len(cases))
	}
	return resp.Results
}

// interopCases builds the matrix: every suite (scapy 2.5 has them all),
// transport and tunnel, IPv4 and IPv6, with and without UDP encapsulation,
// payload sizes 0..1400, random keys, SPIs and sequence numbers; ESN for
// the AEAD suites (scapy's ESP applies ESN to the AEAD AAD only, not to the
// HMAC ICV).
func interopCases(t *testing.T, r *mrand.Rand) []*scapyCase {
	sizes := append([]int{}, sizes...)
	for range 3 {
		sizes = append(sizes, r.IntN(1401))
	}
	var cases []*scapyCase
	for _, suite := range Suites {
		for _, mode := range []Mode{Transport, Tunnel} {
			for _, encap := range []bool{false, true} {
				for _, v6 := range []bool{false, true} {
					for i, n := range sizes {
						if v6 && i%3 != 0 {
							continue // IPv6: a third of the sizes keeps the batch small
						}
						if v6 && encap && mode == Transport {
							// scapy 2.5 cannot do this: its encrypt leaves the
							// IPv6 next-header chain pointing at ESP with UDP
							// inserted, and its decrypt keeps the UDP header
							// in the result (see docs/esp.md). Covered by
							// TestRoundTrip instead.
							continue
						}
						esn := suite.IsAEAD() && i%2 == 1
						sa := &SA{
							SPI:     256 + r.Uint32N(1<<32-256),
							Suite:   suite,
							EncKey:  make([]byte, suite.EncKeyLen()),
							AuthKey: make([]byte, suite.AuthKeyLen()),
							Mode:    mode,
							ESN:     esn,
						}
						rand.Read(sa.EncKey)
						rand.Read(sa.AuthKey)
						var inner []byte
						if v6 {
							sa.Src, sa.Dst = netip.MustParseAddr("2001:db8:1::1"), netip.MustParseAddr("2001:db8:2::2")
							inner = udp6(n, i%2 == 0)
						} else {
							sa.Src, sa.Dst = netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("203.0.113.2")
							inner = udp4(n, i%2 == 0)
						}
						seq := uint64(1 + r.Uint32N(1<<31))
						if esn {
							seq |= uint64(1+r.Uint32N(1000)) << 32
						}
						c := &scapyCase{
							Suite: suite.String(), SPI: sa.SPI, Mode: mode.String(),
							EncKey: hex.EncodeToString(sa.EncKey), AuthKey: hex.EncodeToString(sa.AuthKey),
							Src: sa.Src.String(), Dst: sa.Dst.String(), ESN: esn, Seq: seq,
							sa: sa, inner: inner,
							name: fmt.Sprintf("%s/%s/udp=%v/v6=%v/esn=%v/size=%d", suite, mode, encap, v6, esn, n),
						}
						if encap {
							sa.Encap = &UDPEncap{SrcPort: uint16(1024 + r.IntN(60000)), DstPort: UDPEncapPort}
							c.Encap = &[2]int{int(sa.Encap.SrcPort), int(sa.Encap.DstPort)}
						}
						cases = append(cases, c)
					}
				}
			}
		}
	}
	return cases
}

// TestScapyInterop: scapy encrypts and pkg/esp decrypts byte for byte, and
// pkg/esp encrypts and scapy decrypts, for the whole matrix, in one python
// process per direction.
func TestScapyInterop(t *testing.T) {
	py := testenv.ScapyPython(t)
	seed := mrand.Uint64()
	t.Logf("seed %d", seed)
	r := mrand.New(mrand.NewPCG(seed, 1))

	t.Run("scapy-to-go", func(t *testing.T) {
		cases := interopCases(t, r)
		for _, c := range cases {
			c.Packet = hex.EncodeToString(c.inner)
		}
		results := runScapy(t, py, "encrypt", cases)
		for i, c := range cases {
			if results[i].Error != "" {
				t.Errorf("%s: scapy: %s", c.name, results[i].Error)
				continue
			}
			pkt, _ := hex.DecodeString(results[i].Packet)
			in, err := NewInbound(c.sa)
			if err != nil {
				t.Fatal(err)
			}
			// Put the window where the sender is: the high half of an ESN
			// sequence number is not on the wire.
			in.win.Update(c.Seq - 1)
			got, err := in.OpenPacket(nil, pkt)
			if err != nil {
				t.Errorf("%s: open: %v\npacket %.200x", c.name, err, pkt)
				continue
			}
			if !bytes.Equal(got, c.inner) {
				t.Errorf("%s: decrypted\n%.200x\nwant\n%.200x", c.name, got, c.inner)
			}
			// The same packet again is a replay.
			if _, err := in.OpenPacket(nil, pkt); err == nil {
				t.Errorf("%s: replay accepted", c.name)
			}
		}
		t.Logf("%d cases", len(cases))
	})

	t.Run("go-to-scapy", func(t *testing.T) {
		cases := interopCases(t, r)
		for _, c := range cases {
			out, err := NewOutbound(c.sa, WithNextSeq(c.Seq))
			if err != nil {
				t.Fatal(err)
			}
			pkt, err := out.SealPacket(nil, c.inner)
			if err != nil {
				t.Fatalf("%s: seal: %v", c.name, err)
			}
			c.Packet = hex.EncodeToString(pkt)
		}
		results := runScapy(t, py, "decrypt", cases)
		for i, c := range cases {
			if results[i].Error != "" {
				t.Errorf("%s: scapy: %s\npacket %.200s", c.name, results[i].Error, c.Packet)
				continue
			}
			got, _ := hex.DecodeString(results[i].Packet)
			if !bytes.Equal(got, c.inner) {
				t.Errorf("%s: scapy decrypted\n%.200x\nwant\n%.200x", c.name, got, c.inner)
			}
		}
		t.Logf("%d cases", len(cases))
	})
}
