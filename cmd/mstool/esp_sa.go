package main

// mstool esp sa new | show | export: SA files (pkg/safile).

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/mstool/mstool/pkg/bootstrap"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/keyfile"
	"github.com/mstool/mstool/pkg/safile"
)

const saFormatHint = "the SA file format is described in docs/sa-file.md"

func espSANewCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:      "new",
		Usage:     "create a security association file with fresh keys",
		ArgsUsage: " ",
		Description: "Writes a new SA file (mode 0600, never over an existing file) holding one\n" +
			"inbound and one outbound SA with fresh random keys and SPIs. --host-ip\n" +
			"(old name --src) is this host's address, --device-ip (--dst) the device's:\n" +
			"the outbound SA goes from the host to the device.\n\n" +
			"With --repo FILE --device-id ID the SPIs and keys are not random but derived\n" +
			"from the device's key in the bootstrap repository (the PSK of its last join),\n" +
			"as the device derives them when it joins (docs/bootstrap.md, \"After the\n" +
			"join\"; suite aes128-ccm8): right after 'mstool bootstrap join' the host talks\n" +
			"to the device with no provisioning step. Derive one SA file per join and keep\n" +
			"it: a second file with the same keys would start its sequence numbers again.\n\n" +
			"   mstool esp sa new --repo devices.repo --device-id 0x2a -o dev.sa",
		Flags: append([]cli.Flag{
			outputFlag("write the SA file to `FILE`"),
			&cli.StringFlag{Name: "suite", Value: safile.DefaultSuite.String(), Usage: "ESP `SUITE`: " + suiteNames()},
			&cli.StringFlag{Name: "mode", Value: "transport", Usage: "ESP `MODE`: transport or tunnel"},
			hostIPFlag("this host's IP `ADDRESS`", "src"),
			deviceIPFlag("the device's IP `ADDRESS`", "dst"),
			&cli.BoolFlag{Name: "udp-encap", Usage: "carry ESP in UDP (RFC 3948), port 4500 on both sides"},
			&cli.BoolFlag{Name: "esn", Usage: "use 64-bit extended sequence numbers"},
			&cli.IntFlag{Name: "replay-window", Value: esp.DefaultReplayWindow, Usage: "inbound anti-replay window of `N` packets (1.." + strconv.Itoa(esp.MaxReplayWindow) + ")"},
		}, repoFlags()...),
		Action: func(c *cli.Context) error {
			args, err := interspersed(ui, c)
			if err != nil {
				return err
			}
			if len(args) > 0 {
				return usageErrorf("give the file with -o FILE", "esp sa new: unexpected argument %q", args[0])
			}
			if err := requireFlags(c, "output"); err != nil {
				return err
			}
			opts, err := saOptions(c)
			if err != nil {
				return err
			}
			ident, derived, err := repoIdentity(ui, c, "esp sa new")
			if err != nil {
				return err
			}
			if derived && opts.Suite != esp.SuiteAES128CCM8 {
				return usageErrorf("a device installs aes128-ccm8 SAs at a join: leave out --suite", "esp sa new: --suite %s with --repo", opts.Suite)
			}
			path := c.String("output")
			if isStdio(path) {
				if err := ui.claimStdout("-o", secretData); err != nil {
					return err
				}
			}
			var f *safile.File
			if derived {
				clear(ident.MasterKey[:])
				var key [bootstrap.KeySize]byte
				if key, err = claimRepoSAs(c, ident.ID); err != nil {
					return err
				}
				f, err = bootstrap.DeriveSAs(key, opts)
				clear(key[:])
			} else {
				f, err = safile.New(rand.Reader, opts)
			}
			if err != nil {
				return failf("", "esp sa new: %v", err)
			}
			if isStdio(path) {
				data, err := safile.Format(f)
				if err != nil {
					return failf("", "esp sa new: %v", err)
				}
				err = ui.writeData(data)
				if err != nil {
					return err
				}
			} else if err := safile.WriteFile(path, f); err != nil {
				return saWriteError(err, path)
			}
			if opts.Suite.IsNULL() {
				warnNULL(ui)
			}
			if ui.JSON {
				return ui.WriteJSON(saJSON(path, f, false))
			}
			mode := " (mode 0600)"
			if isStdio(path) {
				mode = ""
			}
			ui.Infof("wrote %s%s: inbound SPI 0x%08x, outbound SPI 0x%08x, %s, %s",
				outName(path), mode, f.Inbound[0].SPI, f.Outbound[0].SPI, opts.Suite, f.Inbound[0].Mode)
			return nil
		},
	}
}

func suiteNames() string {
	s := ""
	for i, su := range esp.Suites {
		if i > 0 {
			s += ", "
		}
		s += su.String()
	}
	return s
}

func saOptions(c *cli.Context) (safile.Options, error) {
	var o safile.Options
	var err error
	if o.Suite, err = esp.ParseSuite(c.String("suite")); err != nil {
		return o, usageErrorf("suites: "+suiteNames(), "esp sa new: unknown suite %q", c.String("suite"))
	}
	if o.Mode, err = esp.ParseMode(c.String("mode")); err != nil {
		return o, usageErrorf("use --mode transport or --mode tunnel", "esp sa new: unknown mode %q", c.String("mode"))
	}
	for _, p := range []struct {
		flag string
		dst  *netip.Addr
	}{{"host-ip", &o.Local}, {"device-ip", &o.Remote}} {
		if v := c.String(p.flag); v != "" {
			a, err := netip.ParseAddr(v)
			if err != nil || a.Zone() != "" {
				return o, usageErrorf("give an IPv4 or IPv6 address such as 192.0.2.1", "esp sa new: --%s %q is not an IP address", p.flag, v)
			}
			*p.dst = a.Unmap()
		}
	}
	if o.Local.IsValid() != o.Remote.IsValid() {
		return o, usageErrorf("give both --host-ip and --device-ip, or neither", "esp sa new: only one of --host-ip and --device-ip given")
	}
	if o.Local.IsValid() && o.Local.Is4() != o.Remote.Is4() {
		return o, usageErrorf("use two IPv4 or two IPv6 addresses", "esp sa new: --host-ip and --device-ip are of different address families")
	}
	if o.Mode == esp.Tunnel && !o.Local.IsValid() {
		return o, usageErrorf("tunnel mode needs the tunnel endpoints: add --host-ip and --device-ip", "esp sa new: tunnel mode without addresses")
	}
	o.UDPEncap = c.Bool("udp-encap")
	o.ESN = c.Bool("esn")
	w := c.Int("replay-window")
	if w < 1 || w > esp.MaxReplayWindow {
		return o, usageErrorf(fmt.Sprintf("use a window of 1..%d packets", esp.MaxReplayWindow), "esp sa new: --replay-window %d out of range", w)
	}
	o.ReplayWindow = w
	return o, nil
}

func saWriteError(err error, path string) error {
	if errors.Is(err, keyfile.ErrExists) {
		return failf("choose another name, or remove the old file if its SAs are no longer in use", "%s already exists; SA files are never overwritten", path)
	}
	return writeError(err, path)
}

// readSAFile reads an SA file for what (a flag or argument), or standard
// input for "-", and turns its errors into CLI errors.
func (ui *UI) readSAFile(what, path string) (*safile.File, error) {
	var f *safile.File
	var err error
	if isStdio(path) {
		data, err := ui.readStdin(what)
		if err != nil {
			return nil, err
		}
		if f, err = safile.Parse(data); err != nil {
			err = fmt.Errorf("standard input: %w", err)
		}
	} else {
		f, err = safile.ReadFile(path)
	}
	if err == nil {
		return f, nil
	}
	var pe *safile.ParseError
	switch {
	case errors.As(err, &pe):
		return nil, failf(saFormatHint, "%v", err)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fileError(err, path, "create one with 'mstool esp sa new -o FILE'")
	}
	return nil, fileError(err, path, "")
}

func warnNULL(ui *UI) {
	ui.Banner("null encryption: debugging only, packets travel in the clear")
	ui.Warnf("the NULL suite authenticates but does not encrypt; never use it for real traffic")
}

func espSAShowCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "show a security association file (keys hidden unless asked)",
		ArgsUsage: "FILE",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "show-keys", Usage: "also print the secret keys"},
		},
		Action: func(c *cli.Context) error {
			args, err := interspersed(ui, c)
			if err != nil {
				return err
			}
			if len(args) != 1 {
				return usageErrorf("usage: mstool esp sa show FILE", "esp sa show: want one SA file, got %d arguments", len(args))
			}
			path := args[0]
			f, err := ui.readSAFile("FILE", path)
			if err != nil {
				return err
			}
			keys := c.Bool("show-keys")
			for _, sa := range f.All() {
				if sa.Suite.IsNULL() {
					warnNULL(ui)
					break
				}
			}
			if ui.JSON {
				return ui.WriteJSON(saJSON(path, f, keys))
			}
			headers := []string{"direction", "spi", "suite", "mode", "esn", "src → dst", "udp encap", "replay window"}
			if keys {
				headers = append(headers, "enc-key", "auth-key")
			}
			var rows [][]string
			add := func(dir string, sas []*esp.SA) {
				for _, sa := range sas {
					j := saJSONOf(dir, sa, keys)
					addrs, encap, window := "any", "-", "-"
					if sa.Src.IsValid() {
						addrs = j.Src + " → " + j.Dst
					}
					if sa.Encap != nil {
						encap = fmt.Sprintf("%d → %d", sa.Encap.SrcPort, sa.Encap.DstPort)
					}
					if dir == "inbound" {
						window = strconv.Itoa(j.ReplayWindow)
					}
					row := []string{dir, j.SPI, j.Suite, j.Mode, strconv.FormatBool(j.ESN), addrs, encap, window}
					if keys {
						row = append(row, dash(j.EncKey), dash(j.AuthKey))
					}
					rows = append(rows, row)
				}
			}
			add("inbound", f.Inbound)
			add("outbound", f.Outbound)
			ui.Table(headers, rows)
			if !keys {
				ui.Infof("keys hidden; add --show-keys to print them")
			}
			return nil
		},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// saFileJSON is the --json form of an SA file (docs/sa-file.md).
type saFileJSON struct {
	File string     `json:"file"`
	SAs  []saSAJSON `json:"sas"`
}

type saSAJSON struct {
	Direction    string    `json:"direction"` // "inbound" or "outbound"
	SPI          string    `json:"spi"`       // "0x%08x"
	Suite        string    `json:"suite"`
	Mode         string    `json:"mode"`
	ESN          bool      `json:"esn"`
	Src          string    `json:"src,omitempty"`
	Dst          string    `json:"dst,omitempty"`
	UDPEncap     *udpEncap `json:"udp_encap"`     // null: ESP directly in IP
	ReplayWindow int       `json:"replay_window"` // effective window (inbound)
	NULL         bool      `json:"null_encryption"`
	EncKey       string    `json:"enc_key,omitempty"`  // only with --show-keys
	AuthKey      string    `json:"auth_key,omitempty"` // only with --show-keys
}

type udpEncap struct {
	SrcPort uint16 `json:"src_port"`
	DstPort uint16 `json:"dst_port"`
}

func saJSON(path string, f *safile.File, keys bool) saFileJSON {
	out := saFileJSON{File: path, SAs: []saSAJSON{}}
	for _, sa := range f.Inbound {
		out.SAs = append(out.SAs, saJSONOf("inbound", sa, keys))
	}
	for _, sa := range f.Outbound {
		out.SAs = append(out.SAs, saJSONOf("outbound", sa, keys))
	}
	return out
}

func saJSONOf(dir string, sa *esp.SA, keys bool) saSAJSON {
	j := saSAJSON{
		Direction: dir,
		SPI:       fmt.Sprintf("0x%08x", sa.SPI),
		Suite:     sa.Suite.String(),
		Mode:      sa.Mode.String(),
		ESN:       sa.ESN,
		NULL:      sa.Suite.IsNULL(),
	}
	if sa.Src.IsValid() {
		j.Src, j.Dst = sa.Src.String(), sa.Dst.String()
	}
	if sa.Encap != nil {
		j.UDPEncap = &udpEncap{SrcPort: sa.Encap.SrcPort, DstPort: sa.Encap.DstPort}
	}
	if dir == "inbound" {
		j.ReplayWindow = sa.ReplayWindow
		if j.ReplayWindow == 0 {
			j.ReplayWindow = esp.DefaultReplayWindow
		}
	}
	if keys {
		j.EncKey = fmt.Sprintf("%x", sa.EncKey)
		j.AuthKey = fmt.Sprintf("%x", sa.AuthKey)
	}
	return j
}

func espSAExportCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "export security associations for Wireshark (esp_sa) or ip xfrm",
		ArgsUsage: "FILE",
		Description: "--wireshark writes Wireshark's esp_sa table (save it as the file esp_sa in a\n" +
			"Wireshark profile directory, e.g. ~/.config/wireshark/esp_sa) for every SA of\n" +
			"the file, both directions; suites Wireshark cannot decrypt (AES-CCM) are left\n" +
			"out with a warning. --xfrm writes equivalent 'ip xfrm state add' commands.\n" +
			"The data contains the secret keys. It goes to standard output (never to a\n" +
			"terminal, and not with --json), or with -o FILE to a new file with mode 0600\n" +
			"(never over an existing one), e.g.\n\n" +
			"   mstool esp sa export --wireshark -o ~/.config/wireshark/esp_sa host.sa",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "wireshark", Usage: "write a Wireshark esp_sa table"},
			&cli.BoolFlag{Name: "xfrm", Usage: "write 'ip xfrm state add' commands"},
			outputFlag("write to the new `FILE` (mode 0600, never overwritten) instead of standard output"),
		},
		Action: func(c *cli.Context) error {
			args, err := interspersed(ui, c)
			if err != nil {
				return err
			}
			if len(args) != 1 {
				return usageErrorf("usage: mstool esp sa export --wireshark|--xfrm FILE", "esp sa export: want one SA file, got %d arguments", len(args))
			}
			ws, xf := c.Bool("wireshark"), c.Bool("xfrm")
			if ws == xf {
				return usageErrorf("choose one: --wireshark or --xfrm", "esp sa export: give exactly one output format")
			}
			// Standard output by default, claimed as secret data as with
			// -o - (never a terminal: the keys would stay in its
			// scrollback; not with --json: this is not JSON); -o FILE is a
			// new 0600 file.
			out := c.String("output")
			if out == "" {
				if ui.JSON {
					return usageErrorf("leave out --json, or name a file with -o FILE",
						"esp sa export: --json: the export is in Wireshark's or ip's own format, not JSON, and goes to standard output")
				}
				out = "-"
			}
			write := func(data []byte) error { return ui.writeSecret(out, data) }
			if err := ui.prepareSecretOutput(out); err != nil {
				return err
			}
			f, err := ui.readSAFile("FILE", args[0])
			if err != nil {
				return err
			}
			if xf {
				data, err := safile.ExportXfrm(f)
				if err != nil {
					return failf("give the SAs src and dst addresses (mstool esp sa new --host-ip ... --device-ip ...)", "esp sa export: %v", err)
				}
				return write(data)
			}
			data, warnings := safile.ExportWireshark(f.All())
			for _, w := range warnings {
				ui.Warnf("%s", w)
			}
			exported := 0
			for _, sa := range f.All() {
				if safile.WiresharkSupports(sa.Suite) {
					exported++
				}
			}
			if exported == 0 {
				return failf("use a suite Wireshark 4.0 decrypts (CBC, CTR, GCM or NULL); 'mstool decrypt' handles every suite",
					"esp sa export: no SA of this file can be decrypted by Wireshark")
			}
			return write(data)
		},
	}
}
