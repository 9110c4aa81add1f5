package main

// mstool sniff: live capture with on-the-fly ESP decryption (pkg/capture).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mstool/mstool/pkg/capture"
)

func sniffCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:      "sniff",
		Usage:     "capture traffic live and decrypt ESP and MSSL on the fly",
		ArgsUsage: " ",
		Description: "Captures from a network interface (AF_PACKET; Linux, root or CAP_NET_RAW),\n" +
			"decrypts ESP packets that authenticate under the given SAs as they arrive,\n" +
			"prints one line per packet (or JSON lines with --json) and, with --pcap (old\n" +
			"name -w), writes a pcapng capture in which decrypted packets appear as\n" +
			"plaintext. Ctrl-C stops cleanly; the capture file is complete. MSSL\n" +
			"decryption is not implemented yet.\n" +
			"--pcap - writes the capture to standard output (not to a terminal) and the\n" +
			"packet lines to standard error:\n" +
			"   mstool sniff -i eth0 --sa host.sa --pcap - | wireshark -k -i -",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "interface", Aliases: []string{"i"}, Usage: "capture on `IFACE`"},
			pcapFlag("write a pcapng capture to `OUT`", "w", "write"),
			&cli.StringFlag{Name: "sa", Usage: "mstool SA `FILE` to decrypt with"},
			&cli.StringFlag{Name: "esp-sa", Usage: "Wireshark esp_sa `FILE` to decrypt with"},
			&cli.Uint64Flag{Name: "count", Aliases: []string{"c"}, Usage: "stop after `N` packets"},
			&cli.BoolFlag{Name: "force", Usage: "replace OUT if it exists"},
		},
		Action: func(c *cli.Context) error {
			args, err := interspersed(ui, c)
			if err != nil {
				return err
			}
			if len(args) > 0 {
				return usageErrorf("usage: mstool sniff -i IFACE [--pcap OUT.pcapng] [--sa FILE]", "sniff: unexpected argument %q", args[0])
			}
			iface := c.String("interface")
			if iface == "" {
				return usageErrorf("give the interface with -i IFACE (see 'ip link')", "sniff: no interface")
			}
			outPath := c.String("pcap")
			if isStdio(outPath) {
				if err := ui.claimStdout("--pcap", binaryData); err != nil {
					return err
				}
			}
			var opts capture.SniffOptions
			opts.Interface, opts.Count = iface, c.Uint64("count")
			if c.String("sa") != "" || c.String("esp-sa") != "" {
				keys, err := loadKeys(ui, c.String("sa"), c.String("esp-sa"))
				if err != nil {
					return err
				}
				if opts.Decryptor, err = capture.NewDecryptor(keys.esp); err != nil {
					return failf(saFormatHint, "sniff: %v", err)
				}
			}
			src, err := capture.OpenLive(iface)
			if err != nil {
				return liveError(err, iface)
			}
			var out *os.File
			if isStdio(outPath) {
				opts.Output = ui.std.data
			} else if outPath != "" {
				out, err = createOutput(outPath, c.Bool("force"))
				if err != nil {
					src.Close()
					return err
				}
				opts.Output = out
			}
			showLines := !ui.Quiet || outPath == ""
			enc := json.NewEncoder(ui.Out)
			opts.OnPacket = func(p capture.LivePacket) {
				if !showLines {
					return
				}
				if ui.JSON {
					enc.Encode(livePacketJSONOf(p))
					return
				}
				ui.Printf("%s %5d %-11s %s\n", p.Time.Format("15:04:05.000000"), p.Index, p.Result, p.Summary)
			}

			ctx, stop := notifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ui.Infof("capturing on %s; press Ctrl-C to stop", iface)
			st, serr := capture.Sniff(ctx, src, opts)
			if out != nil {
				if err := out.Sync(); err != nil && serr == nil {
					serr = err
				}
				if err := out.Close(); err != nil && serr == nil {
					serr = err
				}
			}
			if serr != nil {
				return failf("", "sniff: %v", serr)
			}
			if ui.JSON {
				return enc.Encode(sniffSummaryJSON{Type: "summary", Interface: iface, Output: outPath,
					Packets: st.Packets, Decrypted: st.Decrypted, FailedICV: st.FailedICV, Replayed: st.Replayed,
					UnknownSPI: st.UnknownSPI, Malformed: st.Malformed, Dummy: st.Dummy, Other: st.Other + st.Unrepresentable})
			}
			ui.Infof("%d packets: %d decrypted, %d failed ICV, %d replayed, %d unknown SPI, %d malformed, %d other",
				st.Packets, st.Decrypted, st.FailedICV, st.Replayed, st.UnknownSPI, st.Malformed, st.Other+st.Dummy+st.Unrepresentable)
			if outPath != "" {
				ui.Infof("wrote %s", outName(outPath))
			}
			return nil
		},
	}
}

func liveError(err error, iface string) error {
	switch {
	case errors.Is(err, capture.ErrLiveUnsupported):
		return withCode(exitFailure, errors.New("sniff: live capture is supported on Linux only"),
			"capture with tcpdump or Wireshark and decrypt with 'mstool decrypt'")
	case errors.Is(err, fs.ErrPermission):
		return linkError(fmt.Errorf("sniff: no permission to capture on %s (needs root or CAP_NET_RAW)", iface),
			"run it as root (sudo mstool sniff ...) or grant the capability: sudo setcap cap_net_raw+ep $(command -v mstool)")
	case errors.Is(err, capture.ErrNoInterface):
		return linkError(fmt.Errorf("sniff: no interface %q", iface), "list the interfaces with 'ip link'")
	}
	return linkError(fmt.Errorf("sniff: %v", err), "")
}

type livePacketJSON struct {
	Type    string `json:"type"` // "packet"
	Index   uint64 `json:"index"`
	Time    string `json:"time"` // RFC 3339 with nanoseconds
	Length  int    `json:"length"`
	Result  string `json:"result"` // decrypted, failed-icv, replayed, unknown-spi, malformed, dummy, unrepresentable, other
	SPI     string `json:"spi,omitempty"`
	Seq     uint64 `json:"seq,omitempty"`
	Summary string `json:"summary"`
}

func livePacketJSONOf(p capture.LivePacket) livePacketJSON {
	j := livePacketJSON{Type: "packet", Index: p.Index, Time: p.Time.UTC().Format(time.RFC3339Nano), Length: p.Length, Result: p.Result.String(), Seq: p.Seq, Summary: p.Summary}
	if p.SPI != 0 {
		j.SPI = fmt.Sprintf("0x%08x", p.SPI)
	}
	return j
}

type sniffSummaryJSON struct {
	Type       string `json:"type"` // "summary"
	Interface  string `json:"interface"`
	Output     string `json:"output,omitempty"`
	Packets    uint64 `json:"packets"`
	Decrypted  uint64 `json:"decrypted"`
	FailedICV  uint64 `json:"failed_icv"`
	Replayed   uint64 `json:"replayed"`
	UnknownSPI uint64 `json:"unknown_spi"`
	Malformed  uint64 `json:"malformed"`
	Dummy      uint64 `json:"dummy"`
	Other      uint64 `json:"other"`
}
