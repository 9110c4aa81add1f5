package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"syscall"

	"github.com/mstool/mstool/pkg/bootstrap"
	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/devkey"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/fwimage"
	"github.com/mstool/mstool/pkg/ihex"
	"github.com/mstool/mstool/pkg/provision"
	"github.com/mstool/mstool/pkg/safile"
	"github.com/mstool/mstool/pkg/seqstate"
	"github.com/mstool/mstool/pkg/signkey"
	"github.com/mstool/mstool/pkg/sim"
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
			"Provisioning resets the device's counters: use fresh SAs for every image.\n\n" +
			"With --port, the configuration goes into the device over its serial port through the\n" +
			"firmware (stock optiboot cannot write EEPROM): a device in factory state (blank EEPROM)\n" +
			"takes it once, in clear; a provisioned device only under its current master key\n" +
			"(--current-device FILE: the identity it was provisioned with), encrypted and\n" +
			"authenticated. Then mstool reads the configuration back and verifies it.\n" +
			"Protocol, threat model and limits: docs/provisioning.md.\n\n" +
			"The SA file's suite must be one the firmware was built with, or the device will not\n" +
			"use the SAs: mstool checks it against the firmware's build manifest (manifest.json\n" +
			"next to --firmware FILE, by default the built reference image for --mcu, found as\n" +
			"'mstool sim' finds it) or, with --port, against the suites the device reports.",
		ArgsUsage: " ",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "device", Aliases: []string{"d"}, Usage: "the device identity `FILE` (from 'mstool keygen device')"},
			deviceIPFlag("the device's IPv4 `ADDRESS`", "ip"),
			hostIPFlag("the host's IPv4 `ADDRESS` the SAs are with (default: from the SA file, else any)", "peer"),
			&cli.StringFlag{Name: "sa", Usage: "the host's SA `FILE`; the device gets its mirror (inbound and outbound swapped)"},
			&cli.StringFlag{Name: "issuer", Usage: "the grant issuer's public key `FILE` (PEM; for MSSL)"},
			&cli.StringFlag{Name: "serial-floor", Value: "0", Usage: "initial grant revocation floor `N` (grants with a lower serial are refused)"},
			&cli.BoolFlag{Name: "allow-icmp", Usage: "let the device answer ICMP echo without ESP (diagnostics; off by default)"},
			&cli.BoolFlag{Name: "mssl-seal-only", Usage: "MSSL policy: accept a device-bound grant on its seal alone (group grants still need the RSA signature); required by firmware built without MSSL RSA"},
			&cli.StringFlag{Name: "mcu", Value: "atmega328p", Usage: "the device's `MCU`: atmega328p (1 KB EEPROM) or atmega168 (512 B); default with --firmware: the image's"},
			&cli.StringFlag{Name: "firmware", Usage: "the firmware image `FILE` (.elf or .hex with the manifest.json of its build) the device runs: the SA suite must be one of its suites (default: the built reference image for --mcu, if found)"},
			outputFlag("write the image to `FILE` (Intel HEX, mode 0600, never overwritten)"),
			&cli.StringFlag{Name: "port", Aliases: []string{"p"}, Usage: "write the configuration into the device on serial `PORT` and verify it (instead of, or besides, --output)"},
			&cli.StringFlag{Name: "current-device", Usage: "with --port: the identity `FILE` the device was last provisioned with (its current master key), to re-provision it"},
			&cli.StringFlag{Name: "bootstrap", Usage: "write the bootstrap area of the enrolled device `FILE` ('bootstrap enrol': ID.device) into the image; the device id and master key (IK) come from it, --device is then optional (docs/bootstrap.md)"},
		}, resetFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				if err := subcommandTypo(c, c.Args().First()); err != nil {
					return err
				}
				return usageErrorf("run 'mstool provision --help' for usage", "provision: unexpected argument %q", c.Args().First())
			}
			if c.String("port") == "" {
				if c.String("current-device") != "" {
					return usageErrorf("--current-device goes with --port", "provision: --current-device without --port")
				}
				need := []string{"device", "device-ip", "output"}
				if c.String("bootstrap") != "" {
					need = need[1:]
				}
				if err := requireFlags(c, need...); err != nil {
					return err
				}
				return provisionImage(ui, c)
			}
			if c.String("bootstrap") != "" {
				return usageErrorf("write the image with -o FILE and put it on the device with 'mstool flash --eeprom' (ISP) or 'mstool sim --eeprom'",
					"provision: --bootstrap with --port: serial provisioning does not write the bootstrap area")
			}
			if err := requireFlags(c, "device", "device-ip"); err != nil {
				return err
			}
			if c.String("firmware") != "" {
				return usageErrorf("leave out --firmware: with --port the device reports its suites", "provision: --firmware with --port")
			}
			return provisionSerial(ui, c)
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
	fw, unchecked, err := imageFirmware(c)
	if err != nil {
		return err
	}
	mcu := c.String("mcu")
	if fw != nil && fw.MCU != "" && fw.MCU != mcu {
		if c.IsSet("mcu") {
			return usageErrorf("leave out --mcu: the firmware says which MCU it is for", "provision: --mcu %s, but %s is built for %s", mcu, fw.Source, fw.MCU)
		}
		mcu = fw.MCU
	}
	size, err := provision.EEPROMSize(mcu)
	if err != nil {
		return usageErrorf("use --mcu atmega328p or --mcu atmega168", "%v", err)
	}
	out := c.String("output")
	if err := ui.prepareSecretOutput(out); err != nil {
		return err
	}
	cfg, img, err := buildImage(ui, c, size, fw)
	if err != nil {
		return err
	}
	if err := refuseSpentSA(c.String("sa"), cfg, "an image"); err != nil {
		return err
	}
	if fw == nil && cfg.Inbound != nil {
		ui.Warnf("the SA suite %s is not checked against the firmware: %s", saSuites(cfg), unchecked)
	}
	if err := ui.writeImage(out, img); err != nil {
		return err
	}
	if err := recordFloors(cfg); err != nil {
		// No image without its record: the record is what keeps a later
		// image from taking the floors back.
		if !isStdio(out) {
			os.Remove(out)
			return failf(hintOf(err), "%v (no image written)", err)
		}
		return err
	}
	ui.Infof("wrote %s (%d-byte EEPROM image for %s)", outName(out), size, mcu)
	ui.Warnf("provisioning resets the device's sequence counters: never provision the same SA file twice (make fresh SAs with 'mstool esp sa new')")
	return renderImage(ui, out, cfg, nil)
}

// imageFirmware resolves the firmware an image is for: --firmware FILE,
// else the built reference image for --mcu, found as 'mstool sim' finds
// it. Without one it returns nil and why, for the warning.
func imageFirmware(c *cli.Context) (fw *provision.Firmware, unchecked string, err error) {
	if path := c.String("firmware"); path != "" {
		fw, err := provision.FirmwareFile(path)
		if err != nil {
			return nil, "", firmwareError(err)
		}
		return fw, "", nil
	}
	path, err := sim.FindFirmware("", c.String("mcu"))
	if err != nil {
		return nil, "no firmware image found (give the one the device runs with --firmware FILE, or provision over --port)", nil
	}
	if fw, err = provision.FirmwareFile(path); err != nil {
		return nil, fmt.Sprintf("%v (rebuild it with 'make -C firmware', or give --firmware FILE)", err), nil
	}
	return fw, "", nil
}

func firmwareError(err error) error {
	switch {
	case errors.Is(err, fwimage.ErrNoManifest):
		return failf("give the image of a firmware build ('make -C firmware' writes manifest.json next to it)", "provision: --firmware: %v", err)
	case errors.Is(err, fwimage.ErrManifestMismatch), errors.Is(err, provision.ErrNoSuites):
		return failf("rebuild the firmware (make -C firmware): its manifest.json then describes the image", "provision: --firmware: %v", err)
	}
	return failf("check the path", "provision: --firmware: %v", err)
}

// suiteOptions names the firmware's build options of the ESP suites, for
// whoever builds the image.
const suiteOptions = `CONFIG_ESP_CCM8, CONFIG_ESP_CTR_SHA256, CONFIG_ESP_CBC_MD5; docs/firmware.md, "Profiles"`

// suiteError explains provision.Firmware.Check's refusal.
func suiteError(err error) error {
	if errors.Is(err, provision.ErrPolicyNeedsRSA) {
		return failf("add --mssl-seal-only (device-bound grants on their seal; docs/mssl.md \"Seal-only\"), or use a firmware built with CONFIG_MSSL_RSA=1", "%v", err)
	}
	var se *provision.SuiteError
	if !errors.As(err, &se) {
		return failf("", "%v", err)
	}
	if len(se.Firmware.Suites) == 0 {
		return failf("that firmware runs no ESP suite: build it with one ("+suiteOptions+")", "%v", err)
	}
	return failf(fmt.Sprintf("that firmware runs %s: make SAs in one of them (mstool esp sa new --suite %s), or build the firmware with the suite ("+suiteOptions+")",
		se.Firmware.SuiteNames(), se.Firmware.Suites[0]), "%v", err)
}

// saSuites names the suites of cfg's SAs.
func saSuites(cfg *provision.Config) string {
	if cfg.Outbound != nil && cfg.Outbound.Suite != cfg.Inbound.Suite {
		return cfg.Inbound.Suite.String() + " and " + cfg.Outbound.Suite.String()
	}
	return cfg.Inbound.Suite.String()
}

func (ui *UI) writeImage(out string, img []byte) error {
	var hex bytes.Buffer
	if err := ihex.Encode(&hex, 0, img); err != nil {
		return err
	}
	return ui.writeSecret(out, hex.Bytes())
}

// buildImage builds the EEPROM image the flags describe, checked against
// the firmware fw (nil: not checked).
func buildImage(ui *UI, c *cli.Context, size int, fw *provision.Firmware) (*provision.Config, []byte, error) {
	addr, err := netip.ParseAddr(c.String("device-ip"))
	if err != nil || !addr.Is4() {
		return nil, nil, usageErrorf("give the device's IPv4 address, e.g. --device-ip 10.0.0.2", "provision: bad --device-ip %q", c.String("device-ip"))
	}
	floor, err := strconv.ParseUint(c.String("serial-floor"), 0, 32)
	if err != nil {
		return nil, nil, usageErrorf("a serial floor is a 32-bit number", "provision: bad --serial-floor %q", c.String("serial-floor"))
	}
	ident, area, err := provisionIdentity(ui, c)
	if err != nil {
		return nil, nil, err
	}
	cfg := &provision.Config{
		DeviceID:       ident.ID,
		Addr:           addr,
		MasterKey:      ident.MasterKey,
		HasGroup:       ident.HasGroup,
		GroupID:        ident.GroupID,
		GroupKey:       ident.GroupKey,
		AllowClearICMP: c.Bool("allow-icmp"),
		MSSLSealOK:     c.Bool("mssl-seal-only"),
		SerialFloor:    uint32(floor),
		Bootstrap:      area,
	}
	if p := c.String("host-ip"); p != "" {
		if cfg.Peer, err = netip.ParseAddr(p); err != nil || !cfg.Peer.Is4() {
			return nil, nil, usageErrorf("give the host's IPv4 address, e.g. --host-ip 10.0.0.1", "provision: bad --host-ip %q", p)
		}
	}
	if path := c.String("sa"); path != "" {
		if err := deviceSAs(ui, cfg, path); err != nil {
			return nil, nil, err
		}
	} else if area != nil {
		ui.Infof("no --sa given: the device's SAs derive from its key (IK until 'mstool bootstrap join', then the PSK; 'mstool esp sa new --repo')")
	} else {
		ui.Warnf("no --sa given: the device will have no ESP SA and will drop all ESP traffic")
	}
	if path := c.String("issuer"); path != "" {
		data, err := ui.readFile("--issuer", path)
		if err != nil {
			if isCLIError(err) {
				return nil, nil, err
			}
			return nil, nil, failf("check the path", "provision: %v", err)
		}
		if cfg.Issuer, err = signkey.ParsePublicPEM(data); err != nil {
			return nil, nil, failf("give the owner's public key (mstool keygen -y OWNER.pem > owner.pub)", "%s: %v", inName(path), err)
		}
	}
	if cfg.MSSLSealOK && cfg.Issuer == nil {
		// The device's MSSL service runs only with an issuer key in its
		// config (docs/mssl.md): the policy alone would be silently inert.
		return nil, nil, usageErrorf("give the owner's public key too (--issuer OWNER.pub; on the ATmega168 an RSA-1024 key): a device runs MSSL only with one, seal-only or not; without MSSL leave out --mssl-seal-only",
			"provision: --mssl-seal-only without --issuer")
	}
	if fw != nil {
		if err := fw.Check(cfg); err != nil {
			return nil, nil, suiteError(err)
		}
		if cfg.Inbound != nil {
			ui.Infof("SA suite %s checked against %s (it runs %s)", saSuites(cfg), fw.Source, fw.SuiteNames())
		}
	}
	if err := carryFloors(ui, cfg); err != nil {
		return nil, nil, err
	}
	img, err := provision.Build(cfg, size)
	if err != nil && cfg.Bootstrap != nil && cfg.Issuer != nil {
		return nil, nil, failf("the ATmega168 holds a bootstrapped device's config only without an issuer key (leave out --issuer and --mssl-seal-only: the device then runs ESP, not MSSL)", "%v", err)
	}
	if err != nil {
		return nil, nil, failf("", "%v", err)
	}
	if cfg.Bootstrap != nil {
		// show the SAs the device derives (Build writes no keys)
		if built, _, err := provision.Parse(img); err == nil {
			cfg.Inbound, cfg.Outbound = built.Inbound, built.Outbound
		}
	}
	return cfg, img, nil
}

// provisionIdentity reads the device identity of --device and, with
// --bootstrap, the enrolled device file: its bootstrap area goes into the
// image and its IK becomes the config's master key (the area's key
// replaces it on a CONFIG_BOOTSTRAP firmware anyway; with IK in both, a
// firmware without bootstrapping uses the key the repository holds).
// --device then only adds a group; its id must be the enrolled one.
func provisionIdentity(ui *UI, c *cli.Context) (*devkey.Identity, []byte, error) {
	var ident *devkey.Identity
	if p := c.String("device"); p != "" {
		var err error
		if ident, err = ui.readIdentity("--device", p); err != nil {
			return nil, nil, err
		}
	}
	p := c.String("bootstrap")
	if p == "" {
		return ident, nil, nil
	}
	data, err := ui.readSecret("--bootstrap", p)
	if err != nil {
		return nil, nil, err
	}
	e, err := bootstrap.ParseEnrolled(data)
	if err != nil {
		return nil, nil, failf("give the ID.device file 'mstool bootstrap enrol' wrote", "%s: %v", inName(p), err)
	}
	if ident == nil {
		ident = &devkey.Identity{ID: e.Device}
	} else if ident.ID != e.Device {
		return nil, nil, failf("give the identity and the enrolment of the same device", "provision: --device is device 0x%08x, --bootstrap device 0x%08x", ident.ID, e.Device)
	}
	ident.MasterKey = e.IK
	return ident, bootstrap.EnrolArea(e.RNi), nil
}

// carryFloors raises cfg's floors to the host's floor record for the
// device, so that no image and no provisioning takes back a revocation
// (docs/provisioning.md "Floor record").
func carryFloors(ui *UI, cfg *provision.Config) error {
	book, err := floorBook()
	if err != nil {
		return err
	}
	had, err := book.Carry(cfg)
	if err != nil {
		return floorRecordError(book, "provision: cannot read the floor record", err)
	}
	if cfg.SerialFloor != had.Serial || cfg.TimeFloor != had.Time {
		ui.Infof("floors from the record of device 0x%08x: serial floor %d, time floor %d (floors never go back)", cfg.DeviceID, cfg.SerialFloor, cfg.TimeFloor)
	}
	return nil
}

// recordFloors notes cfg's floors in the floor record once the image or
// the device has them.
func recordFloors(cfg *provision.Config) error {
	book, err := floorBook()
	if err != nil {
		return err
	}
	if err := book.Record(cfg); err != nil {
		return floorRecordError(book, "provision: cannot record the floors", err)
	}
	return nil
}

// provisionSerial writes the configuration into the device through its
// firmware (docs/provisioning.md) and verifies it by read-back.
func provisionSerial(ui *UI, c *cli.Context) error {
	port := c.String("port")
	out := c.String("output")
	if out != "" {
		if err := ui.prepareSecretOutput(out); err != nil {
			return err
		}
	}
	var current *[16]byte
	if path := c.String("current-device"); path != "" {
		ident, err := ui.readIdentity("--current-device", path)
		if err != nil {
			return err
		}
		current = &ident.MasterKey
	}
	reset, err := resetMode(c)
	if err != nil {
		return err
	}
	d, err := device.Open(port, ui.deviceOptions(device.Options{Reset: reset}))
	if err != nil {
		return deviceError(err, port)
	}
	defer d.Close()
	// The signal handler is installed once the port is open and the device
	// answered: during Open's wait for the device (up to 3 s) Ctrl-C ends
	// mstool at once, as it does in the esp and mssl commands.
	ctx, stop := notifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	info, err := d.Identify(ctx)
	if err != nil {
		return deviceError(err, port)
	}
	mcu := c.String("mcu")
	if !c.IsSet("mcu") {
		mcu = info.MCU
	} else if mcu != info.MCU {
		return usageErrorf("leave out --mcu: mstool asks the device", "provision: --mcu %s, but the device on %s is an %s", mcu, port, info.MCU)
	}
	size, err := provision.EEPROMSize(mcu)
	if err != nil {
		return failf("", "%v", err)
	}
	fw, err := d.Firmware(ctx)
	if err != nil {
		return deviceError(err, port)
	}
	fw.Source = "the device on " + port
	cfg, img, err := buildImage(ui, c, size, fw)
	if err != nil {
		return err
	}
	pi, err := d.ProvisionInfo(ctx)
	if err != nil {
		return provisionError(err, port)
	}
	if pi.State == device.ProvFactory {
		// (A provisioned device keeps its counters when it is given
		// the keys it holds: re-provisioning with the same SA file is
		// safe there, and only there.)
		if err := refuseSpentSA(c.String("sa"), cfg, "a device in factory state"); err != nil {
			return err
		}
		ui.Warnf("the device is in factory state: its keys go over the serial line in clear (physical access assumed)")
	}
	res, err := d.Provision(ctx, &device.ProvisionRequest{Image: img, CurrentMasterKey: current})
	if err != nil {
		return provisionError(err, port)
	}
	if err := recordFloors(cfg); err != nil {
		return err
	}
	if out != "" {
		if err := ui.writeImage(out, img); err != nil {
			return err
		}
		ui.Infof("wrote %s (the same image, for ISP)", outName(out))
	}
	if ui.JSON {
		return ui.WriteJSON(map[string]any{
			"port": port, "mcu": info.MCU, "mode": res.Mode, "device_id": fmt.Sprintf("0x%08x", res.DeviceID),
			"config_length": res.ConfigLen, "staged_bytes": res.Staged, "verified": res.Verified,
		})
	}
	what := "provisioned (factory state)"
	if res.Mode == "reprovision" {
		what = "re-provisioned under its previous master key"
	}
	ui.Infof("%s: %s, read-back verified (%d-byte configuration)", port, what, res.ConfigLen)
	if res.Mode == "factory" {
		ui.Warnf("never provision the same SA file twice (make fresh SAs with 'mstool esp sa new'); keep the device identity: re-provisioning needs it (--current-device)")
	}
	return renderImage(ui, port, cfg, nil)
}

// provisionError turns serial provisioning errors into exit codes and
// hints (docs/provisioning.md "Errors").
func provisionError(err error, port string) error {
	const isp = "erase its EEPROM through an ISP programmer (avrdude -e, or 'mstool flash --eeprom IMAGE.hex' with an ISP board profile)"
	switch {
	case errors.Is(err, device.ErrNotFactory):
		return authError(errors.New("provision: refused: the device is already provisioned (not in factory state)"),
			"give the identity it was provisioned with: --current-device FILE; if that is lost, "+isp)
	case errors.Is(err, device.ErrAuth):
		return authError(errors.New("provision: refused: the device does not hold the master key of --current-device"),
			"--current-device must be the identity the device was last provisioned with")
	case errors.Is(err, device.ErrLocked):
		return authError(fmt.Errorf("provision: refused: %v", err),
			"a device whose EEPROM is corrupt never accepts an unauthenticated provisioning: "+isp)
	case errors.Is(err, device.ErrReadBack):
		return authError(err, "the device does not hold what was written; run again, and suspect its EEPROM if it persists")
	case errors.Is(err, device.ErrNoRoom):
		return failf("keep the issuer key unchanged, or write the image through ISP ('mstool provision -o' then 'mstool flash --eeprom'); docs/provisioning.md lists the limits", "%v", err)
	case errors.Is(err, device.ErrRejected):
		return failf("does the firmware have the SA file's suite? (docs/firmware-net.md: ATmega328P aes128-ccm8, aes128-ctr-hmac-sha256-128, aes128-cbc-hmac-md5-96; ATmega168 aes128-ccm8 only)", "%v", err)
	case errors.Is(err, device.ErrImage):
		return failf("", "%v", err)
	case errors.Is(err, device.ErrStale), errors.Is(err, device.ErrNoSession):
		return linkError(err, "the device reset or another host talked to it meanwhile; run again")
	case errors.Is(err, device.ErrEEPROMWrite):
		return linkError(err, "the device's EEPROM did not take the write; the old configuration stays active")
	}
	return deviceError(err, port)
}

// deviceSAs reads the host's SA file and gives cfg its mirror
// (provision.Config.SetSAs), turning the refusals into CLI errors.
// refuseSpentSA refuses to give the SAs of the SA file path (cfg's) to
// what (a new image, a device in factory state) when a device has
// already sent under them: the file's sequence state holds a floor for
// the device's outbound SA. Such a device starts its counters again, so
// it would reuse its nonces with the same keys, and would take the
// host's old packets again.
func refuseSpentSA(path string, cfg *provision.Config, what string) error {
	if path == "" || isStdio(path) || cfg.Outbound == nil {
		return nil
	}
	st, err := seqstate.Load(seqstate.PathFor(path))
	if err != nil {
		return failf("", "provision: %s: %v", inName(seqstate.PathFor(path)), err)
	}
	if h := st.InboundFloor(cfg.Outbound.SPI); h > 0 {
		return failf("make fresh SAs with 'mstool esp sa new' and provision those (docs/sa-file.md, \"Keep the state file with the SA file\")",
			"provision: refused: a device has already sent up to sequence number %d under the SAs of %s (%s): %s would start its counters again and reuse its nonces with the same keys",
			h, inName(path), inName(seqstate.PathFor(path)), what)
	}
	return nil
}

func deviceSAs(ui *UI, cfg *provision.Config, path string) error {
	var f *safile.File
	var err error
	if isStdio(path) {
		f, err = ui.readSAFile("--sa", path)
	} else if f, err = safile.ReadFile(path); err != nil {
		return fileError(err, path, "make one with 'mstool esp sa new'")
	}
	if err != nil {
		return err
	}
	path = inName(path)
	err = cfg.SetSAs(f)
	var ae *provision.AddrError
	switch {
	case errors.Is(err, provision.ErrSACount):
		return failf("a device holds one inbound and one outbound SA", "%s: has %d inbound and %d outbound SAs", path, len(f.Inbound), len(f.Outbound))
	case errors.As(err, &ae) && !ae.Peer:
		return failf("give --device-ip the device address the SA file was made for", "%s: the SAs are for device address %s, not %s", path, ae.SA, ae.Config)
	case errors.As(err, &ae):
		return failf("", "%s: the SAs are with host %s, not --host-ip %s", path, ae.SA, ae.Config)
	case err != nil:
		return failf("", "%s: %v", path, err)
	}
	return nil
}

func provisionInspect(ui *UI, path string) error {
	data, err := ui.readSecret("FILE.hex", path)
	if err != nil {
		return err
	}
	name := inName(path)
	segs, err := ihex.Decode(bytes.NewReader(data))
	if err != nil {
		return failf("the file should be an Intel HEX EEPROM image from 'mstool provision'", "%s: %v", name, err)
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
		return failf("", "%s: %v", name, err)
	}
	cfg, st, err := provision.Parse(img)
	if err != nil {
		return failf("this is the state the firmware reports as unprovisioned", "%s: %v", name, err)
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
			"mssl_policy": msslPolicy(cfg, true),
		}
		if cfg.HasGroup {
			m["group_id"] = fmt.Sprintf("0x%08x", cfg.GroupID)
		}
		if cfg.Issuer != nil {
			m["issuer_key_id"] = fmt.Sprintf("%x", signkey.KeyID(cfg.Issuer))
			m["issuer_bits"] = cfg.Issuer.N.BitLen()
		}
		if a := areaInfo(cfg); a != nil {
			m["bootstrap"] = map[string]any{"rn_fingerprint": bootstrap.RNFingerprint(a.RNi), "sas_derived": true}
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
		{"MSSL grants", msslPolicy(cfg, false)},
		{"serial floor", strconv.FormatUint(uint64(cfg.SerialFloor), 10)},
	}
	if cfg.HasGroup {
		rows = append(rows, [2]string{"group id", fmt.Sprintf("0x%08x", cfg.GroupID)})
	}
	if issuer != "" {
		rows = append(rows, [2]string{"issuer key", issuer})
	}
	if a := areaInfo(cfg); a != nil {
		rows = append(rows, [2]string{"bootstrap area", areaText(a)})
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

// areaInfo reads cfg's bootstrap area; nil without one.
func areaInfo(cfg *provision.Config) *bootstrap.AreaInfo {
	if cfg.Bootstrap == nil {
		return nil
	}
	a, err := bootstrap.ParseArea(cfg.Bootstrap)
	if err != nil {
		return nil
	}
	return a
}

// areaText describes a bootstrap area without RN_i: its fingerprint (as
// 'bootstrap enrol' prints it).
func areaText(a *bootstrap.AreaInfo) string {
	return "RN_i fingerprint " + bootstrap.RNFingerprint(a.RNi) + "; the master key is IK or the last join's PSK, the SAs derive from it"
}

// msslPolicy names the provisioned MSSL policy (docs/mssl.md, "Seal-only").
func msslPolicy(cfg *provision.Config, short bool) string {
	switch {
	case short && cfg.MSSLSealOK:
		return "seal-only"
	case short:
		return "rsa"
	case cfg.MSSLSealOK:
		return "device grants on their seal, group grants RSA-signed"
	}
	return "RSA signature required"
}
