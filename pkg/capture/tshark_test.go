package capture

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/capture/capturetest"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/safile"
)

// tsharkSession builds an Ethernet pcapng of one session: ICMP echo
// requests host → device and UDP datagrams device → host, each with a
// distinct payload, and returns the capture and the expected
// "icmp.seq \t data" lines tshark prints once it has decrypted them.
func tsharkSession(t *testing.T, out, back *esp.Outbound, n int) (capture []byte, want []string) {
	t.Helper()
	var pkts []packet
	for i := range n {
		data := []byte(fmt.Sprintf("mstool packet %d %s", i, strings.Repeat("x", i*37%300)))
		var ip []byte
		if i%2 == 0 {
			ip = capturetest.ICMPEcho(host, device, 0x77, uint16(i+1), data)
			want = append(want, fmt.Sprintf("%d\t%x", i+1, data))
			pkts = append(pkts, packet{frame: capturetest.Frame(LinkTypeEthernet, seal(t, out, ip))})
		} else {
			ip = capturetest.UDP(device, host, 40001, 40002, data)
			want = append(want, fmt.Sprintf("\t%x", data))
			pkts = append(pkts, packet{frame: capturetest.Frame(LinkTypeEthernet, seal(t, back, ip))})
		}
	}
	return build(t, LinkTypeEthernet, true, pkts), want
}

// tsharkFields runs tshark on a capture and returns one line per packet
// with the ICMP sequence number and the innermost payload.
func tsharkFields(t *testing.T, tshark, path string, extra ...string) []string {
	t.Helper()
	args := []string{"-n", "-r", path}
	args = append(args, extra...)
	args = append(args, "-T", "fields", "-E", "occurrence=l", "-e", "icmp.seq", "-e", "data.data")
	cmd := exec.Command(tshark, args...)
	// A private, empty configuration: only what the test passes counts.
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), "HOME="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v\n%s", args, err, stderr.String())
	}
	s := strings.TrimRight(string(outb), "\n")
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.ReplaceAll(l, ":", "") // older tsharks separate bytes with ':'
	}
	return lines
}

func compareLines(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("tshark printed %d packets, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("packet %d: tshark shows %q, want %q", i+1, got[i], want[i])
		}
	}
}

// TestTsharkDecryptsExportedSAs: tshark 4.0, given only the esp_sa records
// mstool exports, decrypts mstool-made captures and sees the same inner
// packets; with authentication checking on, every ICV is good.
func TestTsharkDecryptsExportedSAs(t *testing.T) {
	tshark := testenv.Tool(t, "tshark", "tshark")
	suites := []esp.Suite{
		esp.SuiteAES128CBCHMACMD5, esp.SuiteAES128CBCHMACSHA1, esp.SuiteAES128CBCHMACSHA256,
		esp.SuiteAES128CTRHMACSHA256, esp.SuiteAES128GCM16, esp.SuiteNULLHMACSHA256,
	}
	for i, s := range suites {
		for _, mode := range []esp.Mode{esp.Transport, esp.Tunnel} {
			udp := i%2 == 0
			t.Run(fmt.Sprintf("%s/%s/udp=%v", s, mode, udp), func(t *testing.T) {
				f, out, back := session(t, uint64(1000+i), safile.Options{Suite: s, Mode: mode, UDPEncap: udp})
				capt, want := tsharkSession(t, out, back, 8)
				dir := t.TempDir()
				path := filepath.Join(dir, "esp.pcapng")
				if err := os.WriteFile(path, capt, 0o600); err != nil {
					t.Fatal(err)
				}
				// Without keys tshark sees no ICMP/UDP payloads at all.
				if got := tsharkFields(t, tshark, path); strings.Contains(strings.Join(got, ""), hex.EncodeToString([]byte("mstool packet"))) {
					t.Fatalf("plaintext visible without keys:\n%s", strings.Join(got, "\n"))
				}
				table, warnings := safile.ExportWireshark(f.All())
				if s.IsNULL() != (len(warnings) > 0) {
					t.Errorf("warnings: %q", warnings)
				}
				args := []string{"-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE"}
				for _, line := range strings.Split(strings.TrimSpace(string(table)), "\n") {
					if strings.HasPrefix(line, "#") {
						continue
					}
					args = append(args, "-o", "uat:esp_sa:"+line)
				}
				got := tsharkFields(t, tshark, path, args...)
				t.Logf("tshark: %q", got[:2])
				compareLines(t, got, want)
				if s.IsAEAD() {
					return // tshark 4.0 checks no ICV for AES-GCM
				}
				// Every ICV verified.
				cmd := exec.Command(tshark, append(append([]string{"-n", "-r", path}, args...), "-T", "fields", "-e", "esp.icv_good")...)
				cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), "HOME="+t.TempDir())
				o, err := cmd.Output()
				if err != nil {
					t.Fatal(err)
				}
				if got := strings.Fields(string(o)); len(got) != len(want) || strings.Count(string(o), "True")+strings.Count(string(o), "1") < len(want) {
					t.Errorf("esp.icv_good: %q", o)
				}
			})
		}
	}
}

// buildMstool builds the real mstool binary once per test binary run.
func buildMstool(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mstool")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/mstool")
	cmd.Dir = testenv.RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestTsharkReadsDecryptOutput: `mstool decrypt` (the real binary) turns a
// capture tshark cannot decrypt (AES-CCM, its default suite) into one in
// which tshark dissects the inner ICMP and UDP; tampered, replayed,
// cut-off and foreign packets are counted and left encrypted.
func TestTsharkReadsDecryptOutput(t *testing.T) {
	tshark := testenv.Tool(t, "tshark", "tshark")
	mstool := buildMstool(t)
	for _, lt := range []layers.LinkType{LinkTypeEthernet, LinkTypeSLIP, LinkTypeSLL2, LinkTypeRaw} {
		for _, ng := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d/ng=%v", lt, ng), func(t *testing.T) {
				dir := t.TempDir()
				f, out, back := session(t, uint64(lt), safile.Options{Suite: esp.SuiteAES128CCM16, UDPEncap: ng})
				saPath := filepath.Join(dir, "dev.sa")
				if err := safile.WriteFile(saPath, f); err != nil {
					t.Fatal(err)
				}
				_, foreign, _ := session(t, 555, safile.Options{})
				var pkts []packet
				var want []string
				for i := range 6 {
					data := []byte(fmt.Sprintf("inner %d", i))
					ip := capturetest.ICMPEcho(host, device, 9, uint16(i+1), data)
					o := out
					if i%2 == 1 {
						ip = capturetest.UDP(device, host, 40001, 40002, data)
						o = back
					}
					fr := capturetest.Frame(lt, seal(t, o, ip))
					pkts = append(pkts, packet{frame: fr})
					if i%2 == 0 {
						want = append(want, fmt.Sprintf("%d\t%x", i+1, data))
					} else {
						want = append(want, fmt.Sprintf("\t%x", data))
					}
					if i == 2 {
						pkts = append(pkts, packet{frame: fr}) // replayed
						bad := bytes.Clone(fr)
						bad[len(bad)-1] ^= 0x80
						pkts = append(pkts, packet{frame: bad})                                         // tampered
						pkts = append(pkts, packet{frame: fr[:len(fr)-3]})                              // cut off
						pkts = append(pkts, packet{frame: capturetest.Frame(lt, seal(t, foreign, ip))}) // unknown SPI
						want = append(want, "\t", "\t", "\t", "\t")
					}
				}
				in := filepath.Join(dir, "in.pcap")
				if err := os.WriteFile(in, build(t, lt, ng, pkts), 0o600); err != nil {
					t.Fatal(err)
				}
				outPath := filepath.Join(dir, "out.pcap")
				cmd := exec.Command(mstool, "--json", "decrypt", in, "-o", outPath, "--sa", saPath)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				js, err := cmd.Output()
				if err != nil {
					t.Fatalf("mstool decrypt: %v\n%s", err, stderr.String())
				}
				var sum map[string]any
				if err := json.Unmarshal(js, &sum); err != nil {
					t.Fatalf("%v: %s", err, js)
				}
				for k, v := range map[string]float64{"packets": 10, "decrypted": 6, "replayed": 1, "failed_icv": 1, "malformed": 1, "unknown_spi": 1} {
					if sum[k] != v {
						t.Errorf("%s = %v, want %v (%s)", k, sum[k], v, js)
					}
				}
				compareLines(t, tsharkFields(t, tshark, outPath), want)
				// The decrypted packets are dissected as ICMP/UDP, not ESP.
				cmd = exec.Command(tshark, "-n", "-r", outPath, "-T", "fields", "-e", "frame.protocols")
				cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())
				o, err := cmd.Output()
				if err != nil {
					t.Fatal(err)
				}
				protos := strings.Split(strings.TrimSpace(string(o)), "\n")
				if !strings.HasSuffix(protos[0], "ip:icmp:data") || !strings.HasSuffix(protos[1], "ip:udp:data") || !strings.Contains(protos[4], "esp") {
					t.Errorf("protocols: %q", protos)
				}
			})
		}
	}
}
