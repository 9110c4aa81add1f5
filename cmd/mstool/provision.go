package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"

	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/ihex"
	"github.com/mstool/mstool/pkg/keyfile"
	"github.com/mstool/mstool/pkg/provision"
	"github.com/mstool/mstool/pkg/safile"
	"github.com/mstool/mstool/pkg/signkey"
	"github.com/urfave/cli/v2"
)

func provisionCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:  "provision",
		Usage: "build the device's EEPROM image (Intel HEX): id, keys, SAs, issuer key, counters",
		Description: "Writes the whole EEPROM (layout: docs/eeprom.md) as Intel HEX, mode 0600 (it holds\n" +
			"the device's keys). The SA file is the host's (from 'mstool esp sa new'); the device\n" +
			"gets its mirror image. Write the image with 'mstool flash --eeprom' through an ISP\n" +
			"programmer, or load it into the simulated device with 'mstool sim --eeprom'.\n\n" +
			"Provisioning resets the device's counters: use fresh SAs for every image.",
		ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "device", Aliases: []string{"d"}, Usage: "the device identity `FILE` (from 'mstool keygen device')"},
			&cli.StringFlag{Name: "ip", Usage: "the device's IPv4 `ADDRESS`"},
			&cli.StringFlag{Name: "peer", Usage: "the host's IPv4 `ADDRESS` the SAs are with (default: from the SA file, else any)"},
			&cli.StringFlag{Name: "sa", Usage: "the host's SA `FILE`; the device gets its mirror (inbound and outbound swapped)"},
			&cli.StringFlag{Name: "issuer", Usage: "the grant issuer's public key `FILE` (PEM; for MSSL)"},
			&cli.StringFlag{Name: "serial-floor", Value: "0", Usage: "initial grant revocation floor (grants with a lower serial are refused)"},
			&cli.BoolFlag{Name: "allow-icmp", Usage: "let the device answer ICMP echo without ESP (diagnostics; off by default)"},
			&cli.StringFlag{Name: "mcu", Value: "atmega328p", Usage: "the device's `MCU`: atmega328p (1 KB EEPROM) or atmega168 (512 B)"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write the image to `FILE` (Intel HEX, mode 0600, never overwritten)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("run 'mstool provision --help' for usage", "provision: unexpected argument %q", c.Args().First())
			}
			if err := requireFlags(c, "device", "ip", "out"); err != nil {
				return err
			}
			return provisionImage(ui, c)
		},
		Subcommands: []*cli.Command{
			{
				Name:      "inspect",
				Usage:     "check an EEPROM image as the firmware does at boot and show what it holds",
				ArgsUsage: "FILE.hex",
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageErrorf("mstool provision inspect FILE.hex", "provision inspect: name one image file")
					}
					return provisionInspect(ui, c.Args().First())
				},
			},
		},
	}
}

func provisionImage(ui *UI, c *cli.Context) error {
	size, err := provision.EEPROMSize(c.String("mcu"))
	if err != nil {
		return usageErrorf("use --mcu atmega328p or --mcu atmega168", "%v", err)
	}
	out := c.String("out")
	if err := refuseExisting(out); err != nil {
		return err
	}
	addr, err := netip.ParseAddr(c.String("ip"))
	if err != nil || !addr.Is4() {
		return usageErrorf("give the device's IPv4 address, e.g. --ip 10.0.0.2", "provision: bad --ip %q", c.String("ip"))
	}
	floor, err := strconv.ParseUint(c.String("serial-floor"), 0, 32)
	if err != nil {
		return usageErrorf("a serial floor is a 32-bit number", "provision: bad --serial-floor %q", c.String("serial-floor"))
	}
	ident, err := readIdentity(c.String("device"))
	if err != nil {
		return err
	}
	cfg := &provision.Config{
		DeviceID:       ident.ID,
		Addr:           addr,
		MasterKey:      ident.MasterKey,
		HasGroup:       ident.HasGroup,
		GroupID:        ident.GroupID,
		GroupKey:       ident.GroupKey,
		AllowClearICMP: c.Bool("allow-icmp"),
		SerialFloor:    uint32(floor),
	}
	if p := c.String("peer"); p != "" {
		if cfg.Peer, err = netip.ParseAddr(p); err != nil || !cfg.Peer.Is4() {
			return usageErrorf("give the host's IPv4 address, e.g. --peer 10.0.0.1", "provision: bad --peer %q", p)
		}
	}
	if path := c.String("sa"); path != "" {
		if err := deviceSAs(cfg, path); err != nil {
			return err
		}
	} else {
		ui.Warnf("no --sa given: the device will have no ESP SA and will drop all ESP traffic")
	}
	if path := c.String("issuer"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return failf("check the path", "provision: %v", err)
		}
		if cfg.Issuer, err = signkey.ParsePublicPEM(data); err != nil {
			return failf("give the owner's public key (mstool keygen -y OWNER.pem > owner.pub)", "%s: %v", path, err)
		}
	}
	img, err := provision.Build(cfg, size)
	if err != nil {
		return failf("", "%v", err)
	}
	var hex bytes.Buffer
	if err := ihex.Encode(&hex, 0, img); err != nil {
		return err
	}
	if err := writeSecret(out, hex.Bytes()); err != nil {
		return err
	}
	ui.Infof("wrote %s (%d-byte EEPROM image for %s)", out, size, c.String("mcu"))
	ui.Warnf("provisioning resets the device's sequence counters: never provision the same SA file twice (make fresh SAs with 'mstool esp sa new')")
	return renderImage(ui, out, cfg, nil)
}

// deviceSAs puts the mirror of the host's SA file into cfg, checking that it
// is the one pair a device holds and that its addresses agree.
func deviceSAs(cfg *provision.Config, path string) error {
	f, err := safile.ReadFile(path)
	if err != nil {
		var ie *keyfile.InsecureError
		if errors.As(err, &ie) {
			return failf(ie.Hint(), "refusing to use %s: it is readable by other users", path)
		}
		return failf("make one with 'mstool esp sa new'", "%v", err)
	}
	if len(f.Inbound) != 1 || len(f.Outbound) != 1 {
		return failf("a device holds one inbound and one outbound SA", "%s: has %d inbound and %d outbound SAs", path, len(f.Inbound), len(f.Outbound))
	}
	dev := f.Mirror()
	in, out := dev.Inbound[0], dev.Outbound[0]
	// The device receives on its own address and sends from it.
	for _, a := range []netip.Addr{in.Dst, out.Src} {
		if a.IsValid() && a != cfg.Addr {
			return failf("give --ip the device address the SA file was made for", "%s: the SAs are for device address %s, not %s", path, a, cfg.Addr)
		}
	}
	if !cfg.Peer.IsValid() && in.Src.IsValid() {
		cfg.Peer = in.Src
	}
	if in.Src.IsValid() && in.Src != cfg.Peer {
		return failf("", "%s: the SAs are with host %s, not --peer %s", path, in.Src, cfg.Peer)
	}
	cfg.Inbound, cfg.Outbound = in, out
	return nil
}

func provisionInspect(ui *UI, path string) error {
	data, err := readSecret(path)
	if err != nil {
		return err
	}
	segs, err := ihex.Decode(bytes.NewReader(data))
	if err != nil {
		return failf("the file should be an Intel HEX EEPROM image from 'mstool provision'", "%s: %v", path, err)
	}
	size := 1024
	if len(segs) > 0 {
		last := segs[len(segs)-1]
		if end := int(last.Addr) + len(last.Data); end <= 512 {
			size = 512
		}
	}
	img, err := ihex.Flatten(segs, size, 0xFF)
	if err != nil {
		return failf("", "%s: %v", path, err)
	}
	cfg, st, err := provision.Parse(img)
	if err != nil {
		return failf("this is the state the firmware reports as unprovisioned", "%s: %v", path, err)
	}
	return renderImage(ui, path, cfg, st)
}

func renderImage(ui *UI, file string, cfg *provision.Config, st *provision.State) error {
	saJSON := func(sa *esp.SA) map[string]any {
		if sa == nil {
			return nil
		}
		return map[string]any{"spi": fmt.Sprintf("0x%08x", sa.SPI), "suite": sa.Suite.String(), "esn": sa.ESN, "udp_encap": sa.Encap != nil}
	}
	peer := "any"
	if cfg.Peer.IsValid() && !cfg.Peer.IsUnspecified() {
		peer = cfg.Peer.String()
	}
	issuer := ""
	if cfg.Issuer != nil {
		issuer = fmt.Sprintf("%x (RSA-%d)", signkey.KeyID(cfg.Issuer), cfg.Issuer.N.BitLen())
	}
	if ui.JSON {
		m := map[string]any{
			"file": file, "device_id": fmt.Sprintf("0x%08x", cfg.DeviceID), "address": cfg.Addr.String(), "peer": peer,
			"inbound_sa": saJSON(cfg.Inbound), "outbound_sa": saJSON(cfg.Outbound),
			"allow_clear_icmp": cfg.AllowClearICMP, "serial_floor": cfg.SerialFloor,
		}
		if cfg.HasGroup {
			m["group_id"] = fmt.Sprintf("0x%08x", cfg.GroupID)
		}
		if cfg.Issuer != nil {
			m["issuer_key_id"] = fmt.Sprintf("%x", signkey.KeyID(cfg.Issuer))
			m["issuer_bits"] = cfg.Issuer.N.BitLen()
		}
		if st != nil {
			m["state"] = map[string]any{
				"generation": st.Generation, "esp_out_reserved": st.ESPOutReserved, "esp_in_floor": st.ESPInFloor,
				"nonce_reserved": st.NonceReserved, "serial_floor": st.SerialFloor, "time_floor": st.TimeFloor,
				"boot_count": st.BootCount,
			}
		}
		return ui.WriteJSON(m)
	}
	saText := func(sa *esp.SA) string {
		if sa == nil {
			return "none"
		}
		return fmt.Sprintf("0x%08x %s", sa.SPI, sa.Suite)
	}
	rows := [][2]string{
		{"device id", fmt.Sprintf("0x%08x", cfg.DeviceID)},
		{"address", cfg.Addr.String()},
		{"peer", peer},
		{"inbound SA", saText(cfg.Inbound)},
		{"outbound SA", saText(cfg.Outbound)},
		{"clear ICMP echo", strconv.FormatBool(cfg.AllowClearICMP)},
		{"serial floor", strconv.FormatUint(uint64(cfg.SerialFloor), 10)},
	}
	if cfg.HasGroup {
		rows = append(rows, [2]string{"group id", fmt.Sprintf("0x%08x", cfg.GroupID)})
	}
	if issuer != "" {
		rows = append(rows, [2]string{"issuer key", issuer})
	}
	if st != nil {
		rows = append(rows,
			[2]string{"state generation", strconv.FormatUint(uint64(st.Generation), 10)},
			[2]string{"ESP out reserved", strconv.FormatUint(uint64(st.ESPOutReserved), 10)},
			[2]string{"ESP in floor", strconv.FormatUint(uint64(st.ESPInFloor), 10)},
			[2]string{"time floor", strconv.FormatUint(uint64(st.TimeFloor), 10)},
		)
	}
	ui.KeyValues(rows)
	return nil
}
