// Command mstool provisions, talks to and secures 8-bit "micro servers":
// keys, MSSL grants, EEPROM images, flashing, ESP and MSSL sessions,
// capture decryption, benchmarks and QR bootstrapping.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// version is set at release time by goreleaser (-X main.version=...).
var version = "dev"

func main() {
	code := run(os.Args, os.Stdin, os.Stdout, os.Stderr)
	if code != exitOK && (code == exitInterrupted || interrupted.Load()) {
		// Interrupted: end by SIGINT, so that a calling shell script
		// stops too (interrupt.go).
		reraise()
	}
	os.Exit(code)
}

// run is main without the process exit, so tests can drive it.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	ui := newUI(stdout, stderr)
	defer func() {
		if r := recover(); r != nil {
			ui.Fail(fmt.Errorf("internal error: %v", r), "this is a bug in mstool; please report it with the command you ran", exitInternal)
			if ui.Verbose {
				fmt.Fprintf(stderr, "%s\n", debug.Stack())
			}
			code = exitInternal
		}
	}()
	app := newApp(ui, stdin)
	args, ui.Verbosity = countVerbose(args)
	err := app.Run(args)
	if err == nil {
		return exitOK
	}
	// A usage error found while urfave/cli parses a command's flags ends
	// before the command's action applies the global flags that follow
	// the command ("mstool esp ping --json --cuont 3"): --json still
	// decides how the error is written (docs/json.md, "Errors").
	if !ui.JSON && jsonRequested(args) {
		ui.JSON = true
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) && !isCLIError(err) {
		// urfave/cli reports flag and argument problems this way.
		ui.Fail(err, "", exitUsage)
		return exitUsage
	}
	ui.Fail(err, hintOf(err), exitCode(err))
	return exitCode(err)
}

// jsonRequested reports whether args (the program name first) give --json
// (or -json, --json=true) before a "--".
func jsonRequested(args []string) bool {
	for _, a := range args[min(1, len(args)):] {
		switch a {
		case "--":
			return false
		case "--json", "-json", "--json=true", "-json=true":
			return true
		}
	}
	return false
}

func isCLIError(err error) bool {
	var ce *cliError
	return errors.As(err, &ce)
}

func newApp(ui *UI, stdin io.Reader) *cli.App {
	// -v is --verbose here, so --version has no short form.
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version, VCS revision and the device protocol versions spoken"}
	cli.VersionPrinter = func(c *cli.Context) { printVersion(ui, c) }
	ui.std.in = stdin
	app := &cli.App{
		Name:    "mstool",
		Usage:   "secure and operate 8-bit micro servers (ESP, MSSL, provisioning, flashing)",
		Version: version,
		Description: "mstool puts ATmega168/328P micro servers into service and keeps them secure:\n" +
			"device keys and MSSL access grants, EEPROM provisioning images, flashing through\n" +
			"avrdude, ESP (RFC 4303) and MSSL sessions over serial (SLIP) or UDP, capture\n" +
			"decryption, on-device crypto benchmarks, and QR-code key bootstrapping.\n\n" +
			"'mstool help COMMAND...' (or 'mstool COMMAND... --help') shows a command's help.\n" +
			"Data goes to standard output, diagnostics and progress to standard error.\n" +
			"The global options may also follow the command: mstool esp ping --json ...\n" +
			"Flags have one name and short flags one meaning in every command (docs/cli.md).\n" +
			"A file given as - is standard input or output wherever one file is read or one\n" +
			"output written; the summary then goes to standard error (docs/cli.md).\n" +
			"Tables are drawn with boxes, fitted to the terminal's width, only on a terminal;\n" +
			"otherwise they are 'key: value' lines or tab-separated values (--format).\n" +
			"Colour is used only on a terminal and never when NO_COLOR is set.\n\n" +
			exitCodesHelp,
		Reader:               stdin,
		Writer:               ui.Out,
		ErrWriter:            ui.Err,
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		Flags: append(globalFlags(),
			// urfave/cli adds --help itself only when there is no help
			// command; mstool has its own (suggest.go).
			cli.HelpFlag,
		),
		Before: func(c *cli.Context) error {
			ui.JSON = c.Bool("json")
			ui.Quiet = c.Bool("quiet")
			ui.Verbose = c.Bool("verbose")
			if ui.Verbose && ui.Verbosity == 0 {
				ui.Verbosity = 1
			}
			f, ok := parseFormat(c.String("format"))
			if !ok {
				return usageErrorf("give --format table, plain or auto", "bad --format %q", c.String("format"))
			}
			ui.Format = f
			if ui.Quiet && ui.Verbose {
				return usageErrorf("use one of them", "--quiet and --verbose contradict each other")
			}
			return nil
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run() prints and exits, once
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return flagUsageError(c, err)
		},
		Action:   groupAction,
		Commands: append(commands(ui), helpCommand()),
	}
	for _, cmd := range app.Commands {
		setupTree(ui, cmd, cmd.Name)
	}
	return app
}

// setupTree gives every command (path: "esp sa new") its example
// (examples.go), the same usage errors (the full command
// path, a did-you-mean), tells ui which command runs (for messages), and
// gives every command a hidden 'help' command and every command with
// subcommands, unless it acts itself, an action for unknown subcommands.
func setupTree(ui *UI, cmd *cli.Command, path string) {
	exampleHelp(path, cmd)
	if cmd.BashComplete == nil {
		cmd.BashComplete = completer(cmd)
	}
	if cmd.OnUsageError == nil {
		cmd.OnUsageError = func(c *cli.Context, err error, _ bool) error { return flagUsageError(c, err) }
	}
	for _, sub := range cmd.Subcommands {
		setupTree(ui, sub, path+" "+sub.Name)
	}
	if len(cmd.Subcommands) > 0 && cmd.Action == nil {
		cmd.Action = groupAction
	}
	// Every command has it, hidden; otherwise urfave/cli adds a visible
	// one to a command when it runs, and completion would offer it.
	cmd.Subcommands = append(cmd.Subcommands, helpCommand())
	addGlobalFlags(cmd)
	if act := cmd.Action; act != nil {
		cmd.Action = func(c *cli.Context) error {
			ui.std.command = cmdPath(c)
			if err := applyGlobalFlags(ui, c); err != nil {
				return err
			}
			return act(c)
		}
	}
}

// commands is the whole command surface of DESIGN.md.
func commands(ui *UI) []*cli.Command {
	return []*cli.Command{
		keygenCommand(ui),
		grantCommand(ui),
		provisionCommand(ui),
		flashCommand(ui),
		identifyCommand(ui),
		{
			Name:  "esp",
			Usage: "ESP (RFC 4303) sessions with a device and security association files",
			Subcommands: []*cli.Command{
				espPingCommand(ui),
				espSendCommand(ui),
				espRecvCommand(ui),
				espExecCommand(ui),
				espShellCommand(ui),
				espTunnelCommand(ui),
				{
					Name:  "sa",
					Usage: "security association files",
					Subcommands: []*cli.Command{
						espSANewCommand(ui),
						espSAShowCommand(ui),
						espSAExportCommand(ui),
						espSAStateCommand(ui),
					},
				},
			},
		},
		{
			Name:  "mssl",
			Usage: "MSSL sessions: a signed grant instead of a public-key handshake, then AES",
			Subcommands: []*cli.Command{
				msslConnectCommand(ui),
				msslExecCommand(ui),
			},
		},
		sniffCommand(ui),
		decryptCommand(ui),
		benchCommand(ui),
		bootstrapCommand(ui),
		gatewayCommand(ui),
		simCommand(ui),
		completionCommand(ui),
		manCommand(ui),
	}
}
