package main

// mstool identify: what is on a serial port, without a key (pkg/device
// Describe), as esptool chip_id or mcumgr echo.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/esp"
)

func identifyCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:  "identify",
		Usage: "show what is on a serial port: firmware, MCU, provisioned or not and why; no key needed",
		Description: "Asks the device on --port who it is, over the management channel (IDENTIFY,\n" +
			"STATUS, PROV INFO and STATS; docs/management.md), none of which needs a key:\n" +
			"firmware version, MCU and clock, whether it is provisioned and if not why (and\n" +
			"whether it takes a provisioning), its device id, address and SAs, the ESP suites\n" +
			"built in, MSSL and its issuer key, the engineering commands, and why it last reset.\n" +
			"When nothing answers, exit status 3.\n\n" +
			"   mstool identify --port /dev/ttyACM0",
		ArgsUsage: " ",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "port", Aliases: []string{"p"}, Usage: "serial `PORT` of the device (e.g. /dev/ttyACM0, or the path 'mstool sim' printed)"},
		}, resetFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("run 'mstool identify --help' for usage", "identify: unexpected argument %q", c.Args().First())
			}
			if err := requireFlags(c, "port"); err != nil {
				return err
			}
			reset, err := resetMode(c)
			if err != nil {
				return err
			}
			return runIdentify(ui, c.String("port"), reset)
		},
	}
}

func runIdentify(ui *UI, port string, reset device.Reset) error {
	noAnswer := func(err error) error {
		if errors.Is(err, device.ErrNoAnswer) {
			err = fmt.Errorf("identify: no device answered on %s: %w", port, err)
		}
		return deviceError(err, port)
	}
	d, err := device.Open(port, ui.deviceOptions(device.Options{Reset: reset}))
	if err != nil {
		return noAnswer(err)
	}
	defer d.Close()
	// The signal handler is installed once the port is open and the device
	// answered: during Open's wait for the device (up to 3 s) Ctrl-C ends
	// mstool at once, as it does in the esp and mssl commands.
	ctx, stop := notifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	desc, err := d.Describe(ctx)
	if err != nil {
		return noAnswer(err)
	}
	r := newIdentifyReport(port, desc)
	if ui.JSON {
		return ui.WriteJSON(r)
	}
	ui.KeyValues(r.rows())
	return nil
}

// identifyReport is the --json output (docs/json.md, "identify").
type identifyReport struct {
	Port        string   `json:"port"`
	MCU         string   `json:"mcu"`
	Signature   string   `json:"signature"`
	Firmware    string   `json:"firmware"`
	Protocol    int      `json:"protocol"`
	FCPU        uint32   `json:"f_cpu"`
	FlashKiB    int      `json:"flash_kib"`
	RAM         int      `json:"ram"`
	EEPROM      int      `json:"eeprom"`
	FrameMax    int      `json:"frame_max"`
	Options     []string `json:"options"`
	Engineering bool     `json:"engineering"`
	MSSL        bool     `json:"mssl"`

	// From STATUS.
	Suites      []string    `json:"esp_suites,omitempty"`
	Provisioned *bool       `json:"provisioned,omitempty"`
	Reason      string      `json:"unprovisioned_reason,omitempty"`
	DeviceID    string      `json:"device_id,omitempty"`
	Address     string      `json:"address,omitempty"`
	Peer        string      `json:"peer,omitempty"`
	InboundSA   *identifySA `json:"inbound_sa,omitempty"`
	OutboundSA  *identifySA `json:"outbound_sa,omitempty"`
	IssuerKey   *bool       `json:"issuer_key,omitempty"`
	BootCount   *uint16     `json:"boot_count,omitempty"`
	// From PROV INFO and STATS.
	Provisioning string   `json:"provisioning,omitempty"`
	ResetCause   []string `json:"reset_cause,omitempty"`
}

type identifySA struct {
	SPI      string `json:"spi"`
	Suite    string `json:"suite"`
	ESN      bool   `json:"esn"`
	UDPEncap bool   `json:"udp_encap"`
}

func newIdentifyReport(port string, desc *device.Description) *identifyReport {
	in := desc.Info
	r := &identifyReport{
		Port: port, MCU: in.MCU, Signature: in.Signature, Firmware: in.Firmware, Protocol: in.Proto, FCPU: in.FCPU,
		FlashKiB: in.FlashKiB, RAM: in.RAM, EEPROM: in.EEPROM, FrameMax: in.FrameMax, Options: in.OptionNames,
		Engineering: in.Options&device.OptEngineering != 0, MSSL: in.Options&device.OptMSSL != 0,
	}
	if r.Options == nil {
		r.Options = []string{}
	}
	if st := desc.Status; st != nil {
		r.Suites = []string{}
		for _, s := range st.SuiteList() {
			r.Suites = append(r.Suites, s.String())
		}
		r.Provisioned = &st.Provisioned
		if !st.Provisioned {
			r.Reason = st.ReasonText
		}
		if st.DeviceID != 0 {
			r.DeviceID = fmt.Sprintf("0x%08x", st.DeviceID)
			r.Address = st.Addr.String()
			r.Peer = peerText(st.Peer)
			issuer := st.HasIssuer()
			r.IssuerKey = &issuer
			r.BootCount = &st.BootCount
		} else {
			no := false
			r.IssuerKey = &no
		}
		r.InboundSA = statusSA(st.InSPI, st.InSuite, st.InFlags)
		r.OutboundSA = statusSA(st.OutSPI, st.OutSuite, st.OutFlags)
	}
	if desc.Prov != nil {
		r.Provisioning = desc.Prov.State.String()
	}
	if desc.Stats != nil {
		r.ResetCause = desc.Stats.ResetCauses()
		if r.ResetCause == nil {
			r.ResetCause = []string{}
		}
	}
	return r
}

func statusSA(spi uint32, suite, flags byte) *identifySA {
	if spi == 0 {
		return nil
	}
	return &identifySA{SPI: fmt.Sprintf("0x%08x", spi), Suite: esp.Suite(suite).String(), ESN: flags&0x01 != 0, UDPEncap: flags&0x02 != 0}
}

func peerText(a netip.Addr) string {
	if !a.IsValid() || a.IsUnspecified() {
		return "any"
	}
	return a.String()
}

// rows is the table for people.
func (r *identifyReport) rows() [][2]string {
	yesNo := func(b bool, yes, no string) string {
		if b {
			return yes
		}
		return no
	}
	rows := [][2]string{
		{"port", r.Port},
		{"MCU", fmt.Sprintf("%s (signature %s), %d Hz", r.MCU, r.Signature, r.FCPU)},
		{"firmware", fmt.Sprintf("%s (management protocol %d)", r.Firmware, r.Protocol)},
		{"memory", fmt.Sprintf("%d KiB flash, %d B RAM, %d B EEPROM", r.FlashKiB, r.RAM, r.EEPROM)},
	}
	if r.Provisioned != nil {
		prov := "yes"
		if !*r.Provisioned {
			prov = "no: " + r.Reason
		}
		switch r.Provisioning {
		case "factory":
			prov += " (factory state: takes a first provisioning)"
		case "locked":
			prov += " (locked: erase its EEPROM through ISP)"
		case "provisioned":
			if !*r.Provisioned {
				prov += " (re-provisioning under its master key possible)"
			}
		}
		rows = append(rows, [2]string{"provisioned", prov})
	} else if r.Provisioning != "" {
		rows = append(rows, [2]string{"provisioning", r.Provisioning})
	}
	if r.DeviceID != "" {
		rows = append(rows, [2]string{"device id", r.DeviceID}, [2]string{"address", r.Address}, [2]string{"peer", r.Peer})
	}
	saText := func(sa *identifySA) string {
		s := sa.SPI + " " + sa.Suite
		if sa.ESN {
			s += ", ESN"
		}
		if sa.UDPEncap {
			s += ", UDP-encapsulated"
		}
		return s
	}
	if r.InboundSA != nil {
		rows = append(rows, [2]string{"inbound SA", saText(r.InboundSA)})
	}
	if r.OutboundSA != nil {
		rows = append(rows, [2]string{"outbound SA", saText(r.OutboundSA)})
	}
	if r.Suites != nil {
		suites := strings.Join(r.Suites, ", ")
		if suites == "" {
			suites = "none"
		}
		rows = append(rows, [2]string{"ESP suites", suites})
	}
	mssl := "not built"
	if r.MSSL {
		mssl = "built"
		if r.IssuerKey != nil {
			mssl += yesNo(*r.IssuerKey, ", issuer key present", ", no issuer key (grants refused)")
		}
	}
	rows = append(rows,
		[2]string{"MSSL", mssl},
		[2]string{"engineering", yesNo(r.Engineering, "BENCH, COMPUTE, RSA built", "not built")},
	)
	if r.BootCount != nil {
		rows = append(rows, [2]string{"boot count", strconv.Itoa(int(*r.BootCount))})
	}
	if r.ResetCause != nil {
		cause := strings.Join(r.ResetCause, ", ")
		if cause == "" {
			cause = "none recorded"
		}
		rows = append(rows, [2]string{"reset cause", cause})
	}
	return rows
}
