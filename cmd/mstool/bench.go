package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/mstool/mstool/pkg/bench"
	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/sim"
	"github.com/urfave/cli/v2"
)

func benchCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "run the device's crypto benchmarks over serial and show cycles and throughput",
		Description: "Asks the device (a board or 'mstool sim') to time each crypto primitive with\n" +
			"Timer1 and shows, per primitive: bytes, CPU cycles (one run, the timer's own\n" +
			"overhead subtracted), cycles/byte, microseconds and KB/s at the device's clock,\n" +
			"the flash bytes of the module that implements it (from --elf, or from\n" +
			"firmware/build/MCU/mstool.elf when that exists) and its context RAM.\n" +
			"--host adds the same primitives measured in Go on this machine.\n" +
			"Progress goes to standard error; --json writes one object on standard output.",
		ArgsUsage: " ",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "port", Aliases: []string{"p"}, Usage: "serial `PORT` of the device (e.g. /dev/ttyUSB0, or the path 'mstool sim' printed)"},
			&cli.StringFlag{Name: "elf", Usage: "firmware `FILE` the device runs, for the flash column"},
			&cli.BoolFlag{Name: "host", Usage: "also measure the same primitives on this machine in Go"},
			&cli.IntFlag{Name: "reps", Value: bench.DefaultReps, Usage: "`N` runs per primitive on the device (the minimum is shown)"},
		}, resetFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("run 'mstool bench --help' for usage", "bench takes no arguments")
			}
			if c.String("port") == "" {
				return usageErrorf("start a simulated device with 'mstool sim', or give the board's port (e.g. /dev/ttyUSB0)", "bench: --port is required")
			}
			if err := notStdin(c, "--elf", c.String("elf"), "the module sizes come from the ELF file and the size-report.json next to it"); err != nil {
				return err
			}
			if r := c.Int("reps"); r < 1 || r > 1000 {
				return usageErrorf("", "bench: --reps must be 1..1000")
			}
			reset, err := resetMode(c)
			if err != nil {
				return err
			}
			return runBench(ui, c.String("port"), reset, c.String("elf"), c.Bool("host"), c.Int("reps"))
		},
	}
}

// benchReport is the --json output (documented in docs/management.md).
type benchReport struct {
	Port       string                `json:"port"`
	Device     *device.Info          `json:"device"`
	Firmware   string                `json:"firmware_image,omitempty"`
	SizeSource string                `json:"size_source,omitempty"`
	Modules    map[string]bench.Size `json:"modules,omitempty"`
	Crypto     *bench.Size           `json:"crypto_total,omitempty"`
	Results    []bench.Row           `json:"results"`
	Host       []bench.HostRow       `json:"host,omitempty"`
}

func deviceError(err error, port string) error {
	err = plainError(err)
	switch {
	case errors.Is(err, device.ErrPortNotFound):
		return linkError(err, "check the port name; 'mstool sim' prints the simulated device's port")
	case errors.Is(err, device.ErrPortBusy):
		return linkError(err, "another program has "+port+" open; close it (serial monitor, another mstool)")
	case errors.Is(err, device.ErrPermission):
		return linkError(err, "add yourself to the dialout group ('sudo usermod -aG dialout $USER', then log in again)")
	case errors.Is(err, device.ErrNotSerial):
		return linkError(err, port+" is not a serial port")
	case errors.Is(err, device.ErrNoAnswer):
		return linkError(err, "is the mstool firmware running on the device, at 115200 baud? try 'mstool sim' for a simulated one")
	case errors.Is(err, context.Canceled):
		return withCode(exitFailure, errors.New("bench: interrupted"), "")
	}
	var re *device.RemoteError
	if errors.As(err, &re) {
		return linkError(err, "the firmware refused the request; is it the same version as mstool?")
	}
	return linkError(err, "")
}

func runBench(ui *UI, port string, reset device.Reset, elfPath string, host bool, reps int) error {
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
	ui.Infof("device: %s, firmware %s, %d Hz, options %v", info.MCU, info.Firmware, info.FCPU, info.OptionNames)

	rep := benchReport{Port: port, Device: info}
	if elfPath == "" {
		if p, err := findDefaultELF(info.MCU); err == nil {
			elfPath = p
			ui.Debugf("flash sizes from %s", p)
		}
	}
	if elfPath != "" {
		sizes, src, err := bench.ImageSizes(elfPath)
		if err != nil {
			return failf("give the ELF file the device runs", "%v", err)
		}
		total := bench.CryptoTotal(sizes)
		rep.Firmware, rep.SizeSource, rep.Modules, rep.Crypto = elfPath, src, sizes, &total
	}

	plan := bench.Plan(info)
	progress := func(i, n int, it bench.Item) {
		ui.Infof("[%d/%d] %s, %d bytes", i+1, n, it.Prim, it.Bytes)
	}
	rows, err := bench.RunDevice(ctx, d, info.FCPU, plan, reps, rep.Modules, progress)
	if errors.Is(err, device.ErrNoEngineering) {
		return failf("its image was built with CONFIG_MGMT_CRYPTO=0 (make -C firmware nobench), as a device in service should be; benchmark one built with them (the default image)",
			"bench: the device's firmware has no engineering commands (BENCH, COMPUTE, RSA)")
	}
	if err != nil {
		return deviceError(err, port)
	}
	rep.Results = rows
	if host {
		ui.Infof("measuring the same primitives on this machine")
		rep.Host = bench.Host(plan, 0)
	}

	if ui.JSON {
		return ui.WriteJSON(rep)
	}
	renderBench(ui, info, rep)
	return nil
}

// renderBench writes the tables of a bench report.
func renderBench(ui *UI, info *device.Info, rep benchReport) {
	table := make([][]string, 0, len(rep.Results))
	for _, r := range rep.Results {
		flash := "-"
		if r.FlashBytes > 0 {
			flash = fmt.Sprintf("%d (%s)", r.FlashBytes, r.Module)
		}
		table = append(table, []string{r.Primitive, fmt.Sprint(r.Bytes), fmt.Sprint(r.Cycles),
			fmt.Sprintf("%.1f", r.CyclesPerByte), fmt.Sprintf("%.1f", r.Micros), fmt.Sprintf("%.2f", r.KBps),
			flash, fmt.Sprint(r.ContextRAM)})
	}
	ui.Printf("%s at %.1f MHz, firmware %s\n", info.MCU, float64(info.FCPU)/1e6, info.Firmware)
	ui.Table([]string{"primitive", "bytes", "cycles", "cycles/byte", "µs", "KB/s", "flash bytes (module)", "context RAM"}, table)
	if rep.Crypto != nil {
		ui.Printf("crypto core flash: %d bytes (%s)\n", rep.Crypto.Flash, rep.SizeSource)
	}
	if rep.Host != nil {
		ht := make([][]string, 0, len(rep.Host))
		for _, h := range rep.Host {
			ht = append(ht, []string{h.Primitive, fmt.Sprint(h.Bytes), fmt.Sprintf("%.0f", h.NsPerOp), fmt.Sprintf("%.1f", h.MBps)})
		}
		ui.Printf("this machine (Go):\n")
		ui.Table([]string{"primitive", "bytes", "ns/op", "MB/s"}, ht)
	}
}

// findDefaultELF looks for the firmware build of mcu as 'mstool sim'
// does: in a source checkout, then next to mstool's executable.
func findDefaultELF(mcu string) (string, error) {
	return sim.FindFirmware("", mcu)
}
