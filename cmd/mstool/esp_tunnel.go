package main

// mstool esp tunnel: a TUN interface carrying the host side of an ESP SA
// (pkg/tunnel on an espsession.Session).

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/urfave/cli/v2"

	"github.com/mstool/mstool/pkg/espsession"
	"github.com/mstool/mstool/pkg/safile"
	"github.com/mstool/mstool/pkg/tunnel"
)

func espTunnelCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:  "tunnel",
		Usage: "a network interface reaching the device through ESP",
		Description: "Makes a TUN interface (--name, default " + tunnel.DefaultName + ") carrying the host side of the SA:\n" +
			"IPv4 packets the kernel routes into it from the SA's host address to its device\n" +
			"address are sealed as ESP and sent to the device; what the device sends back is\n" +
			"opened and written to the interface, so any program (ping, nc, a CoAP client)\n" +
			"reaches the device. Runs until Ctrl-C or SIGTERM, then removes the interface and\n" +
			"saves the sequence state. Address the interface yourself, for example:\n\n" +
			"    ip addr add HOST peer DEVICE dev " + tunnel.DefaultName + "\n\n" +
			"Needs CAP_NET_ADMIN (root, or 'sudo setcap cap_net_admin+ep mstool'). The default\n" +
			"--mtu fits the ATmega328P's frames; use 80 for the ATmega168 (docs/tunnel.md).\n\n" + espLinkHelp,
		Flags: espFlags(
			&cli.StringFlag{Name: "name", Value: tunnel.DefaultName, Usage: "the interface `NAME`"},
			&cli.IntFlag{Name: "mtu", Value: tunnel.DefaultMTU, Usage: "the interface MTU in `BYTES` (inner packets)"},
		),
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageErrorf("", "esp tunnel: takes no arguments")
			}
			if err := requireFlags(c, "sa"); err != nil {
				return err
			}
			if m := c.Int("mtu"); m < tunnel.MinMTU || m > tunnel.MaxMTU {
				return usageErrorf(fmt.Sprintf("an IPv4 MTU is %d-%d bytes", tunnel.MinMTU, tunnel.MaxMTU), "esp tunnel: bad --mtu %d", m)
			}
			// The interface first: without CAP_NET_ADMIN nothing else is touched.
			sas, err := safile.ReadFile(c.String("sa"))
			if err != nil || len(sas.Outbound) != 1 || !sas.Outbound[0].Src.Is4() || !sas.Outbound[0].Dst.Is4() {
				e, err := openESP(ui, c) // reports what is wrong with the file
				if err != nil {
					return err
				}
				e.Close()
				return failf("", "esp tunnel: %s: unusable SA file", c.String("sa"))
			}
			out := sas.Outbound[0]
			log, _ := ui.logHooks()
			tun, err := tunnel.Create(tunnel.Config{Name: c.String("name"), MTU: c.Int("mtu"), Local: out.Src, Remote: out.Dst, Log: log})
			if err != nil {
				if errors.Is(err, tunnel.ErrPermission) {
					return linkError(err, "run as root, or give the binary the capability: sudo setcap cap_net_admin+ep $(command -v mstool)")
				}
				return linkError(err, "")
			}
			defer tun.Close()
			var ready atomic.Bool
			e, err := openESP(ui, c, func(cfg *espsession.OpenConfig) {
				cfg.Inner = func(pkt []byte) {
					if ready.Load() {
						tun.Deliver(pkt)
					}
				}
			})
			if err != nil {
				return err
			}
			ready.Store(true)
			ui.Infof("%s: %s > %s through ESP (SPI 0x%08x) on %s; Ctrl-C to stop", tun.Name(), out.Src, out.Dst, out.SPI, e.link)
			ui.Infof("address it with: ip addr add %s peer %s dev %s", out.Src, out.Dst, tun.Name())
			ctx, stop := signalContext()
			defer stop()
			runErr := tun.Run(ctx, e.sess.SendPacket, func(err error) bool { return errors.Is(err, espsession.ErrSelector) })
			ready.Store(false)
			tun.Close()
			cerr := e.Close()
			if runErr != nil {
				return sessionError(runErr)
			}
			if cerr != nil {
				return failf("the state file is described in docs/sa-file.md (\"Sequence state\")", "esp tunnel: %v", cerr)
			}
			tc, sc := tun.Counters(), e.sess.Counters()
			if ui.JSON {
				return ui.WriteJSON(map[string]any{"interface": tun.Name(), "tunnel": tc, "session": sc})
			}
			ui.Infof("%s removed: %d packets to the device, %d from it; %d dropped (not IPv4 %d, other addresses %d, refused %d, unwritten %d); ESP dropped %d (auth %d, replay %d)",
				tun.Name(), tc.ToDevice, tc.FromDevice, tc.NotIPv4+tc.OtherAddr+tc.SendFailed+tc.WriteFailed,
				tc.NotIPv4, tc.OtherAddr, tc.SendFailed, tc.WriteFailed,
				sc.AuthFailed+sc.Replayed+sc.UnknownSPI+sc.NotESP+sc.Malformed, sc.AuthFailed, sc.Replayed)
			return nil
		},
	}
}
