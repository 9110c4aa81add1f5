package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mstool/mstool/pkg/avrdude"
	"github.com/mstool/mstool/pkg/board"
	"github.com/mstool/mstool/pkg/flash"
	"github.com/mstool/mstool/pkg/floorbook"
	"github.com/mstool/mstool/pkg/fwimage"
	"github.com/urfave/cli/v2"
)

func flashCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:      "flash",
		Usage:     "write firmware and EEPROM image through avrdude, with port detection and verification",
		ArgsUsage: "FIRMWARE.elf|FIRMWARE.hex",
		Description: "Writes the firmware with avrdude and verifies it. The board profile (--board)\n" +
			"chooses avrdude's programmer, baud rate and part:\n\n" + boardTable() + "\n\n" +
			"An .elf is converted to Intel HEX here; the MCU it was built for (its\n" +
			".note.gnu.avr.deviceinfo section, or manifest.json next to it) must be the\n" +
			"board's, or flash refuses. Without --port, the port is found among USB serial\n" +
			"adapters of known boards (Arduino, CH340, FTDI, CP210x); other ports are never\n" +
			"touched, and with several candidates mstool lists them and asks for --port.\n\n" +
			"--eeprom writes an EEPROM image (mstool provision) and needs an ISP programmer:\n" +
			"stock optiboot cannot write EEPROM. --dry-run prints the avrdude command and\n" +
			"runs nothing. avrdude's own output is shown with --verbose. See docs/flash.md.\n\n" +
			"Flash refuses an mstool EEPROM image given as FIRMWARE (it goes with --eeprom),\n" +
			"and an image whose static RAM (size-report.json next to it) plus its stack need\n" +
			"(manifest.json's stack) exceeds the MCU's RAM, unless --allow-ram-overflow.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "board", Aliases: []string{"b"}, Value: board.DefaultBoard, Usage: "board profile `NAME`: " + strings.Join(board.Names(), ", ")},
			&cli.StringFlag{Name: "port", Aliases: []string{"p"}, Usage: "serial `PORT` (default: detected), or usb for ISP programmers"},
			&cli.StringFlag{Name: "programmer", Aliases: []string{"c"}, Usage: "avrdude programmer `ID` instead of the profile's"},
			&cli.IntFlag{Name: "baud", Usage: "serial speed `N` instead of the profile's"},
			&cli.StringFlag{Name: "mcu", Usage: "the board's `MCU` where the profile allows several (" + strings.Join(board.MCUNames(), ", ") + ")"},
			&cli.StringFlag{Name: "eeprom", Usage: "also write this EEPROM image `FILE.hex` (ISP programmers only)"},
			&cli.BoolFlag{Name: "allow-ram-overflow", Usage: "flash an image whose static RAM plus stack need exceeds the MCU's RAM (a warning instead)"},
			&cli.BoolFlag{Name: "allow-older-floors", Usage: "write an EEPROM image whose revocation floors are below the host's record (undoes revocations)"},
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "print the avrdude command and exit"},
			&cli.BoolFlag{Name: "no-verify", Usage: "skip avrdude's read-back verification"},
			&cli.IntFlag{Name: "sync-attempts", Usage: "tries `N` to reach the bootloader (avrdude -x attempts=N; default avrdude's 10, ~5 s each)"},
			&cli.StringFlag{Name: "avrdude", Usage: "avrdude `PATH` (default: $MSTOOL_AVRDUDE, then avrdude on PATH)"},
		},
		Action: func(c *cli.Context) error { return runFlash(ui, c) },
	}
}

func boardTable() string {
	var b strings.Builder
	for i, p := range board.Profiles() {
		if i > 0 {
			b.WriteString("\n")
		}
		var vs []string
		for _, v := range p.Variants {
			if v.Baud > 0 {
				vs = append(vs, fmt.Sprintf("%s@%d", v.MCU, v.Baud))
			} else {
				vs = append(vs, v.MCU)
			}
		}
		fmt.Fprintf(&b, "   %-11s %-11s %s", p.Name, p.Programmer, strings.Join(vs, ", "))
	}
	return b.String()
}

// flashReport is the --json output (docs/flash.md).
type flashReport struct {
	Board       string   `json:"board"`
	Programmer  string   `json:"programmer"`
	Port        string   `json:"port"`
	Baud        int      `json:"baud,omitempty"`
	MCU         string   `json:"mcu"`
	Part        string   `json:"part"`
	Firmware    string   `json:"firmware,omitempty"`
	FirmwareMCU string   `json:"firmware_mcu,omitempty"`
	EEPROM      string   `json:"eeprom,omitempty"`
	Command     []string `json:"command"`
	DryRun      bool     `json:"dry_run,omitempty"`
	Avrdude     string   `json:"avrdude_version,omitempty"`
	Signature   string   `json:"signature,omitempty"`
	FlashBytes  int      `json:"flash_bytes"`
	EEPROMBytes int      `json:"eeprom_bytes"`
	Verified    bool     `json:"verified"`
}

func runFlash(ui *UI, c *cli.Context) error {
	const usage = "run 'mstool flash --help' for usage"
	eeprom := c.String("eeprom")
	if c.NArg() > 1 {
		return usageErrorf(usage, "flash: one firmware file, got %d arguments", c.NArg())
	}
	fw := c.Args().First()
	const byName = "avrdude reads the image from a file, and its MCU is checked from the file and the manifest next to it"
	if err := notStdin(c, "FIRMWARE", fw, byName); err != nil {
		return err
	}
	if err := notStdin(c, "--eeprom", eeprom, "avrdude reads the image from a file"); err != nil {
		return err
	}
	if fw == "" && eeprom == "" {
		return usageErrorf("give the firmware, e.g. 'mstool flash firmware/build/atmega328p/mstool.elf'", "flash: missing FIRMWARE")
	}
	if c.Int("baud") < 0 {
		return usageErrorf(usage, "flash: --baud must be positive")
	}
	prof, err := board.Lookup(c.String("board"))
	if err != nil {
		return usageErrorf("see 'mstool flash --help' for the profiles", "flash: %v", err)
	}
	tgt, err := prof.Resolve(board.Overrides{MCU: c.String("mcu"), Programmer: c.String("programmer"), Baud: c.Int("baud")})
	if err != nil {
		return usageErrorf("see 'mstool flash --help' for what each board carries", "flash: %v", err)
	}
	rep := flashReport{Board: tgt.Board, Programmer: tgt.Programmer, Baud: tgt.Baud, MCU: tgt.MCU.Name, Part: tgt.MCU.Part, DryRun: c.Bool("dry-run")}
	if n := c.Int("sync-attempts"); n < 0 || n > 100 {
		return usageErrorf(usage, "flash: --sync-attempts must be 1..100")
	}

	// Everything is checked before avrdude touches a board: the images
	// first (refusing a wrong image must not need a board), then the
	// port and avrdude.
	job, err := flash.Prepare(flash.Config{
		Target: tgt, Images: flash.Images{Firmware: fw, EEPROM: eeprom},
		Port: c.String("port"), Avrdude: c.String("avrdude"),
		NoVerify: c.Bool("no-verify"), Verbose: ui.Verbose, SyncAttempts: c.Int("sync-attempts"),
		AllowRAMOverflow: c.Bool("allow-ram-overflow"), AllowOlderFloors: c.Bool("allow-older-floors"),
		DryRun: rep.DryRun,
		Warn: func(err error) {
			var re *fwimage.RAMError
			if errors.As(err, &re) {
				ui.Warnf("%s; flashing anyway (--allow-ram-overflow): the stack may run into the static data", re.Detail())
				return
			}
			ui.Warnf("%v", err)
		},
		Log:      func(msg string) { ui.Debugf("%s", msg) },
		Detected: func(p board.Port) { ui.Infof("using %s (%s)", p.Name, p.Adapter) },
	})
	if err != nil {
		return flashError(ui, err, tgt, prof, fw)
	}
	defer job.Close()
	port := job.Port
	rep.Port = port
	if fw != "" {
		rep.Firmware, rep.FirmwareMCU = fw, job.Plan.FirmwareMCU
	}
	rep.EEPROM = eeprom
	if rep.DryRun {
		argv := job.Command()
		rep.Command = argv
		if ui.JSON {
			return ui.WriteJSON(rep)
		}
		if fw != "" && job.Flash != fw {
			ui.Infof("%s is an Intel HEX converted from %s; it exists only while flashing", job.Flash, fw)
		}
		ui.Printf("%s\n", avrdude.CommandLine(argv))
		return nil
	}

	ctx, stop := notifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep.Avrdude = avrdude.Version(ctx, job.Avrdude)
	ui.Debugf("avrdude %s: %s", rep.Avrdude, avrdude.CommandLine(job.Command()))
	if tgt.AutoReset {
		ui.Debugf("opening %s resets the board into its bootloader (DTR)", port)
	} else if tgt.Serial {
		ui.Infof("press the board's reset button now if it has no auto-reset")
	}
	what := "flash"
	if fw == "" {
		what = "EEPROM"
	}
	ui.Infof("writing %s of %s on %s (%s, %s)", what, tgt.MCU.Name, port, tgt.Board, describeLink(tgt))

	opts := avrdude.Options{}
	bar := ui.errIsTerminal() && !ui.Quiet && !ui.Verbose
	if ui.Verbose {
		opts.Output = ui.Err
	}
	if bar {
		opts.Progress = func(e avrdude.Event) {
			ui.Progress("%-6s %-6s [%-25s] %3d%%", opName(e.Op), e.Memory, strings.Repeat("#", e.Percent/4), e.Percent)
		}
	}
	res, err := job.Run(ctx, opts)
	if bar {
		ui.ProgressDone()
	}
	rep.Command = job.Command()
	if err != nil {
		return avrdudeError(err)
	}
	rep.Signature, rep.FlashBytes, rep.EEPROMBytes, rep.Verified = res.Signature, res.FlashBytes, res.EEPROMBytes, res.Verified
	if ui.JSON {
		return ui.WriteJSON(rep)
	}
	ver := "verified"
	if !rep.Verified {
		ver = "not verified"
	}
	if fw != "" {
		ui.Infof("wrote %d bytes of flash (%s), %s", rep.FlashBytes, filepath.Base(fw), ver)
	}
	if eeprom != "" {
		ui.Infof("wrote %d bytes of EEPROM (%s), %s", rep.EEPROMBytes, filepath.Base(eeprom), ver)
	}
	return nil
}

func describeLink(t board.Target) string {
	if t.Baud > 0 {
		return fmt.Sprintf("%s at %d baud", t.Programmer, t.Baud)
	}
	return t.Programmer
}

func opName(op string) string {
	switch op {
	case "write":
		return "write"
	case "read":
		return "verify"
	}
	return op
}

// flashError maps a refusal of flash.Prepare to an exit code and its hint.
func flashError(ui *UI, err error, tgt board.Target, prof board.Profile, fw string) error {
	var (
		isp  *flash.EEPROMNeedsISPError
		nf   *flash.NotFirmwareError
		le   *flash.LoadError
		me   *flash.MCUError
		se   *flash.SizeError
		re   *fwimage.RAMError
		fe   *flash.FloorsError
		de   *flash.DetectError
		many *board.ManyPortsError
		pe   *flash.PortError
		ae   *avrdude.Error
	)
	switch {
	case errors.As(err, &isp):
		return usageErrorf("write the keys over serial with 'mstool provision --port', or use an ISP programmer: --board usbasp or --board avrispmkii",
			"flash: --eeprom needs an ISP programmer: the %s bootloader (programmer %s) cannot write EEPROM", prof.Name, isp.Programmer)
	case errors.As(err, &nf):
		return usageErrorf(fmt.Sprintf("write it with --eeprom %s and an ISP programmer (--board usbasp), or over serial with 'mstool provision --port'", fw),
			"%v", err)
	case errors.As(err, &le) && le.EEPROM:
		return failf("give the EEPROM image 'mstool provision' wrote", "flash: --eeprom: %v", err)
	case errors.As(err, &le):
		return failf("give the .elf or .hex that 'make -C firmware' builds", "flash: %v", err)
	case errors.As(err, &me):
		return failf(fmt.Sprintf("use the image built for %s (firmware/build/%s/), or choose the board that carries %s (--board/--mcu)", tgt.MCU.Name, tgt.MCU.Name, me.Built),
			"flash: %s was built for %s, but the %s profile's part is %s; refusing to flash", fw, me.Built, tgt.Board, tgt.MCU.Name)
	case errors.As(err, &se):
		return failf("", "flash: %s holds %d bytes, more than the %s's %d bytes of %s", se.Path, se.Size, tgt.MCU.Name, se.Limit, se.Memory)
	case errors.As(err, &re):
		return failf("shrink the image's buffers or build options (docs/PERFORMANCE.md), use an MCU with more RAM, or --allow-ram-overflow if you know the figures are wrong",
			"flash: %s", re.Detail())
	case errors.As(err, &fe) && fe.Open:
		return failf("set "+floorbook.EnvDir+" to a directory mstool may keep its state in", "%v", err)
	case errors.As(err, &fe) && errors.Is(err, floorbook.ErrOlderFloors):
		return failf("make a new image with 'mstool provision' (it carries the recorded floors forward); --allow-older-floors writes this one anyway", "%v", err)
	case errors.As(err, &fe):
		return failf("", "%v", err)
	case errors.As(err, &many):
		for _, cand := range many.Candidates {
			ui.Infof("candidate: %s (%s:%s %s)", cand.Name, cand.VID, cand.PID, cand.Adapter)
		}
		return usageErrorf("choose one with --port", "flash: %d boards found", len(many.Candidates))
	case errors.As(err, &de) && errors.Is(err, board.ErrNoPort):
		return linkError(de, "plug the board in, or give its port with --port (unknown adapters are never picked automatically)")
	case errors.As(err, &de):
		return linkError(de, "give the board's port with --port")
	case errors.As(err, &pe) && pe.Missing:
		return linkError(pe, "check the cable and the port name; without --port, mstool flash lists the boards it can see")
	case errors.As(err, &pe):
		return linkError(pe, "add yourself to the dialout group (sudo usermod -aG dialout $USER), then log out and back in")
	case errors.As(err, &ae):
		return avrdudeError(err)
	}
	return failf("", "%v", err)
}

// avrdudeError maps a pkg/avrdude failure to an exit code and its hint.
func avrdudeError(err error) error {
	var ae *avrdude.Error
	if !errors.As(err, &ae) {
		if errors.Is(err, context.Canceled) {
			return withCode(exitFailure, errors.New("flash: interrupted (the chip may hold a partial image: flash again)"), "")
		}
		return failf("run with --verbose to see avrdude's output", "flash: %v", err)
	}
	e := fmt.Errorf("flash: %w", err)
	switch ae.Kind {
	case avrdude.NotInstalled:
		return withCode(exitFailure, e, ae.Hint())
	case avrdude.PortNotFound, avrdude.Permission, avrdude.PortBusy, avrdude.ProgrammerNotFound,
		avrdude.NotResponding, avrdude.NotInSync:
		return linkError(e, ae.Hint())
	case avrdude.Verify:
		return authError(e, ae.Hint())
	}
	return withCode(exitFailure, e, ae.Hint())
}
