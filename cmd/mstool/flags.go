package main

// Flag handling shared by every command.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mstool/mstool/pkg/device"
)

// requireFlags reports missing flags as a usage error (exit 2) with a hint,
// where urfave/cli's Required would exit 1 and print help on stdout.
func requireFlags(c *cli.Context, names ...string) error {
	var missing []string
	for _, n := range names {
		if c.String(n) == "" {
			missing = append(missing, "--"+n)
		}
	}
	if requiredProbe != nil {
		requiredProbe(cmdPath(c), missing)
		return errRequiredProbe
	}
	if len(missing) == 0 {
		return nil
	}
	return usageErrorf(fmt.Sprintf("run '%s --help' for usage", fullCommand(c)),
		"%s", prefixed(c, "missing "+strings.Join(missing, ", ")))
}

// requiredProbe, when set (TestExamples), is told the command path and the
// missing flags of each requireFlags check, which then ends the action
// with errRequiredProbe: an example's required flags are checked by the
// command's own checks, without running it.
var (
	requiredProbe    func(path string, missing []string)
	errRequiredProbe = errors.New("required-flags probe")
)

// interspersed returns the positional arguments of c and applies flags
// that follow them ("decrypt IN -o OUT"), which urfave/cli leaves in
// c.Args(), global ones (--json) included. A "--" ends flag parsing.
func interspersed(ui *UI, c *cli.Context) ([]string, error) {
	rest := c.Args().Slice()
	fs := flag.NewFlagSet(c.Command.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range c.Command.Flags {
		if err := f.Apply(fs); err != nil {
			return nil, err
		}
	}
	var pos []string
	for len(rest) > 0 {
		if rest[0] == "--" {
			pos = append(pos, rest[1:]...)
			break
		}
		if len(rest[0]) > 1 && rest[0][0] == '-' {
			// Parse up to the next positional argument only, so that a
			// later "--" is seen by this loop.
			end := 1
			for end < len(rest) && rest[end] != "--" {
				end++
			}
			if err := fs.Parse(rest[:end]); err != nil {
				return nil, flagUsageError(c, err)
			}
			rest = append(append([]string(nil), fs.Args()...), rest[end:]...)
			continue
		}
		pos = append(pos, rest[0])
		rest = rest[1:]
	}
	// Set every name of each flag given (urfave/cli keeps one value per
	// alias and reconciles them only during its own parsing).
	set := map[string]string{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = f.Value.String() })
	for _, f := range c.Command.Flags {
		for _, n := range f.Names() {
			v, ok := set[n]
			if !ok {
				continue
			}
			for _, alias := range f.Names() {
				if err := c.Set(alias, v); err != nil {
					return nil, err
				}
			}
		}
	}
	return pos, applyGlobalFlags(ui, c)
}

// resetFlags are the flags of every command that opens a device's serial
// port: whether opening it may reset the board (device.Reset).
func resetFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "reset", Value: "auto", Usage: "`MODE`: auto (opening the port may reset the board, as on an Uno or a Nano: wait up to 3 s for the firmware to answer before the first packet) or never (send at once)"},
		&cli.BoolFlag{Name: "no-reset", Usage: "the port does not reset the board: same as --reset never"},
	}
}

// resetMode reads --reset and --no-reset.
func resetMode(c *cli.Context) (device.Reset, error) {
	r, err := device.ParseReset(c.String("reset"))
	if err != nil {
		return 0, usageErrorf("give --reset auto or --reset never", "%s", prefixed(c, fmt.Sprintf("bad --reset %q", c.String("reset"))))
	}
	if c.Bool("no-reset") {
		if c.IsSet("reset") && r != device.ResetNever {
			return 0, usageErrorf("give one of them", "%s", prefixed(c, "--no-reset and --reset "+c.String("reset")+" contradict each other"))
		}
		r = device.ResetNever
	}
	return r, nil
}

// One name per concept in every command (docs/cli.md, "Flag names"). The
// first name is the one help, the man page and completions lead with; the
// others are older spellings kept so that scripts keep working.

// outputFlag is the file a command writes its result to.
func outputFlag(usage string) *cli.StringFlag {
	return &cli.StringFlag{Name: "output", Aliases: []string{"o", "out"}, Usage: usage}
}

// deviceIPFlag is the device's IPv4 address; old names, if any, follow.
func deviceIPFlag(usage string, old ...string) *cli.StringFlag {
	return &cli.StringFlag{Name: "device-ip", Aliases: old, Usage: usage}
}

// hostIPFlag is this host's IPv4 address; old names, if any, follow.
func hostIPFlag(usage string, old ...string) *cli.StringFlag {
	return &cli.StringFlag{Name: "host-ip", Aliases: old, Usage: usage}
}

// pcapFlag is a capture file a command writes; old names, if any, follow.
func pcapFlag(usage string, old ...string) *cli.StringFlag {
	return &cli.StringFlag{Name: "pcap", Aliases: old, Usage: usage}
}

// globalFlags are the app's flags. Every command takes them too (hidden in
// its help), so that they may follow the command: "mstool esp ping --json".
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "json", Usage: "write results as JSON (stable, documented in docs/json.md)"},
		&cli.StringFlag{Name: "format", Value: "auto", Usage: "`FORMAT` of tables: table (boxes, fitted to the terminal's width), plain ('key: value' lines, or tab-separated values under a header line) or auto (table on a terminal, plain otherwise)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only data and errors"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print diagnostics, including the output of tools mstool runs, waits, retries and link events; twice (-vv) also the frames in hex"},
		&cli.StringFlag{Name: "task-map", Usage: "name the application's tasks (bits 16..31) from the task map `FILE` (docs/tasks.md; default $" + envTaskMap + ")"},
	}
}

// addGlobalFlags gives cmd hidden copies of the global flags.
func addGlobalFlags(cmd *cli.Command) {
	for _, f := range globalFlags() {
		switch f := f.(type) {
		case *cli.BoolFlag:
			f.Hidden = true
		case *cli.StringFlag:
			f.Hidden = true
		}
		cmd.Flags = append(cmd.Flags, f)
	}
}

// applyGlobalFlags sets ui from the global flags wherever they were given:
// before the command or after it, at any level ("mstool esp --json sa show";
// for --format the one nearest the command wins).
func applyGlobalFlags(ui *UI, c *cli.Context) error {
	formatSet := false
	for _, x := range c.Lineage() { // the innermost first
		ui.JSON = ui.JSON || x.Bool("json")
		ui.Quiet = ui.Quiet || x.Bool("quiet")
		ui.Verbose = ui.Verbose || x.Bool("verbose")
		if ui.Verbose && ui.Verbosity == 0 {
			ui.Verbosity = 1
		}
		if !formatSet && x.IsSet("format") {
			f, ok := parseFormat(x.String("format"))
			if !ok {
				return usageErrorf("give --format table, plain or auto", "bad --format %q", x.String("format"))
			}
			ui.Format, formatSet = f, true
		}
	}
	if ui.Quiet && ui.Verbose {
		return usageErrorf("use one of them", "--quiet and --verbose contradict each other")
	}
	return loadTaskMap(ui, c)
}

// retiredShort are short flags a command used for something else than
// they mean in the others (-i interface, -s serial, -k key file): given
// there, they are a usage error that names the command's long flag.
var retiredShort = map[string]map[string]string{
	"esp ping":     {"i": "interval", "s": "size"},
	"grant verify": {"i": "issuer"},
}

// shortMeaning is what each contested short flag means in every command.
var shortMeaning = map[string]string{
	"i": "--interface",
	"s": "--serial",
	"k": "the key file (--key, --host-key)",
}

// countVerbose expands -vv (-vvv...) into -v -v for the flag parser, which
// knows -v as a bool, and counts the -v and --verbose given before "--":
// the verbosity level (UI.Verbosity).
func countVerbose(args []string) ([]string, int) {
	out := make([]string, 0, len(args))
	n := 0
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...), n
		}
		switch {
		case i > 0 && len(a) > 2 && strings.Trim(a, "v") == "-":
			for range a[1:] {
				out = append(out, "-v")
			}
			n += len(a) - 1
			continue
		case i > 0 && (a == "-v" || a == "--verbose" || a == "-verbose" || a == "--v"):
			n++
		}
		out = append(out, a)
	}
	return out, n
}
