// Command gencap writes a large ESP capture for the decrypt benchmark
// (scripts/perf-decrypt.sh): an Ethernet pcap of one session, ICMP echo
// requests host → device and UDP datagrams device → host with payloads of
// 0..1400 bytes, sealed with pkg/esp, plus the session's SA file (dev.sa)
// and its Wireshark esp_sa export (esp_sa).
//
//	go run ./internal/gencap -o DIR [-size 200] [-suite aes128-cbc-hmac-sha1-96]
package main

import (
	"bufio"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/mstool/mstool/pkg/capture"
	"github.com/mstool/mstool/pkg/capture/capturetest"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/keyfile"
	"github.com/mstool/mstool/pkg/safile"
)

func main() {
	dir := flag.String("o", "", "output `DIR` (created)")
	sizeMB := flag.Int("size", 200, "capture size in `MB` (10^6 bytes), at least")
	suiteName := flag.String("suite", esp.SuiteAES128CBCHMACSHA1.String(), "ESP `SUITE`")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "gencap: -o DIR is required")
		os.Exit(2)
	}
	if err := run(*dir, int64(*sizeMB)*1000*1000, *suiteName); err != nil {
		fmt.Fprintln(os.Stderr, "gencap:", err)
		os.Exit(1)
	}
}

func run(dir string, size int64, suiteName string) error {
	suite, err := esp.ParseSuite(suiteName)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	host, device := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	f, err := safile.New(mrand.NewChaCha8([32]byte{'g', 'e', 'n', 'c', 'a', 'p'}), safile.Options{Suite: suite, Local: host, Remote: device})
	if err != nil {
		return err
	}
	if err := safile.WriteFile(filepath.Join(dir, "dev.sa"), f); err != nil {
		return err
	}
	ws, _ := safile.ExportWireshark(f.All())
	if err := keyfile.WriteNew(filepath.Join(dir, "esp_sa"), ws, 0o600); err != nil {
		return err
	}
	out, err := esp.NewOutbound(f.Outbound[0])
	if err != nil {
		return err
	}
	back, err := esp.NewOutbound(f.Inbound[0])
	if err != nil {
		return err
	}
	file, err := keyfile.Create(filepath.Join(dir, "esp.pcap"), false)
	if err != nil {
		return err
	}
	defer file.Close()
	bw := bufio.NewWriterSize(file, 1<<20)
	w, err := capturetest.NewWriter(bw, capture.LinkTypeEthernet, false)
	if err != nil {
		return err
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	data := make([]byte, 1400)
	for i := range data {
		data[i] = byte(i)
	}
	written := int64(24)
	var sealed []byte
	for i := 0; written < size; i++ {
		n := rng.IntN(len(data) + 1)
		var ip []byte
		o := out
		if i%2 == 0 {
			ip = capturetest.ICMPEcho(host, device, 1, uint16(i), data[:n])
		} else {
			ip, o = capturetest.UDP(device, host, 40001, 40002, data[:n]), back
		}
		if sealed, err = o.SealPacket(sealed[:0], ip); err != nil {
			return err
		}
		fr := capturetest.Frame(capture.LinkTypeEthernet, sealed)
		if err := w.Write(fr); err != nil {
			return err
		}
		written += int64(16 + len(fr))
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return file.Close()
}
