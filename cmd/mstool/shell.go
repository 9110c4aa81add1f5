package main

// The interactive shell of 'esp shell' and 'mssl connect' (pkg/shell):
// the terminal, history file, error reports and exit status.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/mstool/mstool/pkg/shell"
	"github.com/mstool/mstool/pkg/tasks"
)

// shellHelp is the part of both shells' --help that says how they behave.
const shellHelp = "On a terminal, Tab completes commands, task names and task arguments, the\n" +
	"arrow keys recall earlier lines (kept across sessions in history/NAME under\n" +
	"the state directory, mode 0600, the last 500 lines), Ctrl-C clears the line or\n" +
	"interrupts a running command, and Ctrl-D, 'quit', 'exit' or Ctrl-C twice at an\n" +
	"empty prompt end the session with status 0; failed commands do not end it.\n\n" +
	"When standard input is not a terminal, no prompt is written, lines starting\n" +
	"with '#' are skipped, and the exit status is that of the first command that\n" +
	"failed (0 if none), also on 'quit'; an interrupt (SIGINT) ends the session with\n" +
	"status 130.\n\n" +
	"A dead link ends the session with status 3: the transport closed, the session\n" +
	"ended by the device, or 3 commands in a row without an answer."

// shellConfig is what differs between the shells.
type shellConfig struct {
	name     string // "esp shell"
	prompt   string // "esp> "
	history  string // history file name
	commands []shell.Command
	other    func(ctx context.Context, words []string) error
	link     func(err error) shell.LinkState
}

// runShell runs the shell on in and maps its end to an exit status.
func runShell(ui *UI, in io.Reader, sc shellConfig) error {
	cfg := shell.Config{
		Prompt: sc.prompt, Commands: sc.commands, Other: sc.other, In: in, Out: ui.Out, Link: sc.link,
		Report: func(err error) { err = shellError(err); ui.Fail(err, hintOf(err), exitCode(err)) },
		Warn:   func(msg string) { ui.Warnf("%s", msg) },
	}
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) && isTerminal(ui.Out) {
		cfg.Interactive, cfg.TTY = true, f
		if p, err := shell.HistoryFile(sc.history); err == nil {
			cfg.History = p
		}
	}
	err := shell.Run(context.Background(), cfg)
	var down *shell.LinkDownError
	var failed *shell.FailedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &down):
		if down.Silent > 0 {
			return linkError(fmt.Errorf("%s: the device did not answer %d commands in a row: session ended", sc.name, down.Silent),
				"is the device running and reachable? 'mstool identify --port PORT' shows its state")
		}
		return linkError(fmt.Errorf("%s: the link is down: session ended", sc.name), "")
	case errors.As(err, &failed):
		first := shellError(failed.First)
		return withCode(exitCode(first), fmt.Errorf("%s: %d command(s) failed, the first on line %d", sc.name, failed.Failed, failed.Line), "")
	case errors.Is(err, shell.ErrInterrupted):
		return withCode(exitInterrupted, fmt.Errorf("%s: interrupted", sc.name), "")
	}
	return failf("", "%s: %v", sc.name, err)
}

// shellError gives the shell's own errors an exit status.
func shellError(err error) error {
	var u *shell.UnknownCommandError
	if errors.As(err, &u) {
		return usageErrorf("type 'help' for the commands", "unknown command %q", u.Name)
	}
	return err
}

// taskCommands are the shell commands of the tasks in set, named, helped,
// completed and run by codec (the task map's names for application tasks).
func taskCommands(codec tasks.Codec, set tasks.Set, run func(ctx context.Context, t tasks.Task, words []string) error) []shell.Command {
	var cmds []shell.Command
	for _, name := range codec.Map.TaskNames(set) {
		t, err := codec.Lookup(name)
		if err != nil {
			continue
		}
		cmds = append(cmds, shell.Command{
			Name: name, Args: codec.Usage(t), Help: codec.Help(t),
			Complete: func(args []string) []string { return codec.Complete(t, args) },
			Run:      func(ctx context.Context, args []string) error { return run(ctx, t, args) },
		})
	}
	return cmds
}
