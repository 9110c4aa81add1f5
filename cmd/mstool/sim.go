package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/mstool/mstool/pkg/fwimage"
	"github.com/mstool/mstool/pkg/keyfile"
	"github.com/mstool/mstool/pkg/sim"
	"github.com/urfave/cli/v2"
)

func simCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:  "sim",
		Usage: "start the simulated device (the real firmware on simavr) and print its port",
		Description: "Runs the firmware image on a simulated ATmega328P (or ATmega168) in the mssim\n" +
			"harness and bridges its UART to a pseudo-terminal. The port path (e.g.\n" +
			"/dev/pts/3) is printed on standard output, alone on its line; with --json one\n" +
			"object instead: {\"port\", \"mcu\", \"f_cpu\", \"firmware\", \"pid\"}. Then mstool\n" +
			"waits until Ctrl-C or SIGTERM, stops the device and saves its EEPROM. Run it in\n" +
			"the background and use the port with the other commands:\n\n" +
			"   mstool sim --eeprom dev.eeprom.hex > port.txt &\n" +
			"   mstool bench --port $(cat port.txt)\n\n" +
			"--eeprom FILE is the device's EEPROM as raw bytes: loaded at start, saved on\n" +
			"change and at exit, mode 0600, kept across restarts (one simulator at a time);\n" +
			"a FILE that does not exist is a blank device's new EEPROM, unless it is named\n" +
			"*.hex: an image that is not there is refused.\n" +
			"An Intel HEX image from 'mstool provision' (IMAGE.hex) only creates the device's\n" +
			"EEPROM file IMAGE.eep next to the image, mode 0600: --eeprom dev.eeprom.hex\n" +
			"keeps the device in dev.eeprom.eep. That file is kept across restarts (counters,\n" +
			"floors, keys provisioned over serial); once the device has moved on from the\n" +
			"image (provisioned again over the serial line, or the image changed) the image\n" +
			"is refused unless --reset-eeprom loads it over the device, as flashing it would.\n" +
			"The harness stops when mstool does, however mstool ends.\n\n" +
			"The harness and firmware are found under firmware/build/ in this directory or a\n" +
			"parent (a source checkout; build them with 'make -C firmware'), then where\n" +
			"'make install' puts them next to mstool's executable (../lib/mstool/mssim,\n" +
			"../share/mstool/firmware/MCU/mstool.elf; or mssim and firmware/MCU/ beside it),\n" +
			"then mssim on PATH; or given with --harness and --elf. $MSTOOL_MSSIM also names\n" +
			"the harness and comes first. The harness needs libsimavr at run time.",
		ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "elf", Usage: "firmware image `FILE` (.elf or .hex; default firmware/build/MCU/mstool.elf)"},
			&cli.StringFlag{Name: "eeprom", Usage: "keep the device's EEPROM in `FILE` (raw; loaded at start, saved on change and at exit); an Intel HEX image from 'mstool provision' is loaded into FILE.eep, which then keeps the device's state"},
			&cli.BoolFlag{Name: "reset-eeprom", Usage: "load the --eeprom image over FILE.eep even though the device has moved on from it (its keys, counters and floors go back to the image's, as when flashing it)"},
			&cli.BoolFlag{Name: "allow-older-floors", Usage: "load an --eeprom image whose revocation floors are below the host's record (undoes revocations)"},
			&cli.StringFlag{Name: "mcu", Value: "atmega328p", Usage: "simulated `MCU`: atmega328p or atmega168"},
			&cli.StringFlag{Name: "harness", Usage: "the mssim harness binary `FILE` (default firmware/build/mssim, or PREFIX/lib/mstool/mssim when installed)"},
			&cli.StringFlag{Name: "boot", Usage: "start at this byte `ADDRESS` (a bootloader, e.g. 0x7e00 for optiboot)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("run 'mstool sim --help' for usage", "sim takes no arguments")
			}
			var boot uint64
			if s := c.String("boot"); s != "" {
				v, err := strconv.ParseUint(s, 0, 32)
				if err != nil {
					return usageErrorf("give a byte address such as 0x7e00", "sim: bad --boot %q", s)
				}
				boot = v
			}
			switch c.String("mcu") {
			case "atmega328p", "atmega168":
			default:
				return usageErrorf("give --mcu atmega328p or --mcu atmega168", "sim: unsupported MCU %q", c.String("mcu"))
			}
			eeprom := c.String("eeprom")
			if err := notStdin(c, "--eeprom", eeprom, "the device's EEPROM is kept in a file"); err != nil {
				return err
			}
			if err := notStdin(c, "--elf", c.String("elf"), "the simulator loads the firmware from a file"); err != nil {
				return err
			}
			// A missing FILE is a blank device's new raw EEPROM file, but
			// not when it is named as an image: --eeprom dev.eprom.hex (a
			// typo) would start a blank device and leave raw bytes under
			// a .hex name.
			if _, err := os.Lstat(eeprom); eeprom != "" && errors.Is(err, os.ErrNotExist) && strings.EqualFold(filepath.Ext(eeprom), ".hex") {
				return failf("give the image 'mstool provision -o' wrote; for a blank device, name a raw EEPROM file such as dev.eep",
					"sim: --eeprom %s: no such image", eeprom)
			}
			reset := c.Bool("reset-eeprom")
			if reset && (eeprom == "" || !sim.IsHex(eeprom)) {
				return usageErrorf("give the Intel HEX image with --eeprom IMAGE.hex", "sim: --reset-eeprom loads an image: it goes with --eeprom IMAGE.hex")
			}
			if eeprom != "" && sim.IsHex(eeprom) {
				// A provisioning image: the device's EEPROM lives in FILE.eep.
				var raw string
				var fresh bool
				var err error
				if _, serr := os.Lstat(sim.RawPathFor(eeprom)); reset || errors.Is(serr, os.ErrNotExist) {
					// The image goes into the device: as with flash --eeprom,
					// not with floors below the record.
					im, err := fwimage.Load(eeprom)
					if err != nil {
						return failf("give the EEPROM image 'mstool provision' wrote", "sim: --eeprom: %v", err)
					}
					if err := checkImageFloors(im.Flash, c.Bool("allow-older-floors")); err != nil {
						return err
					}
				}
				// The harness and the firmware before the EEPROM file:
				// when either is missing, no IMAGE.eep is made for a
				// device that never starts.
				if _, err := sim.FindHarness(c.String("harness")); err != nil {
					return simNotFound(err)
				}
				if _, err := sim.FindFirmware(c.String("elf"), c.String("mcu")); err != nil {
					return simNotFound(err)
				}
				if reset {
					raw, err = sim.ResetEEPROM(eeprom, c.String("mcu"))
					fresh = true
				} else {
					raw, fresh, err = sim.PrepareEEPROM(eeprom, c.String("mcu"))
				}
				if err != nil {
					return simEEPROMError(err, sim.RawPathFor(eeprom))
				}
				if fresh {
					ui.Infof("loaded the image %s into the device's EEPROM file %s", eeprom, raw)
				} else {
					ui.Infof("using the device's EEPROM file %s (state kept; provisioned from %s)", raw, eeprom)
				}
				eeprom = raw
			}
			return runSim(ui, sim.Options{
				Harness: c.String("harness"), Firmware: c.String("elf"), MCU: c.String("mcu"),
				EEPROM: eeprom, BootAddr: uint32(boot),
			})
		},
	}
}

func runSim(ui *UI, o sim.Options) error {
	ctx, stop := notifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if ui.Verbose {
		o.Stderr = ui.Err
	}
	d, err := sim.Start(context.Background(), o)
	if err != nil {
		switch {
		case errors.Is(err, sim.ErrHarnessNotFound), errors.Is(err, sim.ErrFirmwareNotFound):
			return simNotFound(err)
		case errors.Is(err, sim.ErrEEPROMInUse), errors.Is(err, keyfile.ErrSymlink):
			return simEEPROMError(err, o.EEPROM)
		}
		return failf("run with --verbose to see the simulator's messages", "%v", err)
	}
	if ui.JSON {
		if err := ui.WriteJSON(map[string]any{"port": d.Port, "mcu": d.MCU, "f_cpu": d.FCPU, "firmware": d.Firmware, "pid": os.Getpid()}); err != nil {
			d.Stop()
			return err
		}
	} else {
		ui.Printf("%s\n", d.Port)
	}
	if f, ok := ui.Out.(*os.File); ok {
		f.Sync()
	}
	ui.Infof("simulated %s at %d Hz running firmware %s", d.MCU, d.FCPU, d.Firmware)
	ui.Infof("port %s (115200 8N1); press Ctrl-C to stop", d.Port)
	select {
	case <-ctx.Done():
		ui.Infof("stopping the simulated device")
		if err := d.Stop(); err != nil {
			return failf("", "%v", err)
		}
		return nil
	case <-d.Done():
		return failf("run with --verbose to see the simulator's messages", "sim: the simulated device stopped: %v", d.Err())
	}
}

// simNotFound explains a missing harness or firmware image.
func simNotFound(err error) error {
	return failf("build them with 'make -C firmware' in a source checkout (or install them with 'make install'), or give --harness/--elf", "%v", err)
}

// simEEPROMError explains why the device's EEPROM file raw cannot be
// used.
func simEEPROMError(err error, raw string) error {
	switch {
	case errors.Is(err, sim.ErrEEPROMMovedOn):
		return failf(fmt.Sprintf("run the device as it is with '--eeprom %s', or add --reset-eeprom to load the image over it (its counters and floors go back to the image's)", raw),
			"%v; refusing to load it over the device's EEPROM", err)
	case errors.Is(err, sim.ErrEEPROMInUse):
		return failf("stop the simulator that runs on it, or give another --eeprom file", "%v", err)
	case errors.Is(err, keyfile.ErrSymlink):
		return symlinkRefused(raw)
	}
	return failf("give the image 'mstool provision' wrote for this --mcu", "%v", err)
}
