// Package shell reads command lines and runs them: the interactive shell
// of 'mstool esp shell' and 'mstool mssl connect'. It never prints to the
// process's standard streams: output goes to the writers it is given, and
// command failures to a callback.
//
// On a terminal (Config.Interactive) lines are edited with
// golang.org/x/term: the arrow keys recall earlier lines, kept across
// sessions in a history file (Config.History, mode 0600, at most
// Config.HistoryMax lines); Tab completes command names and their
// arguments. Ctrl-C clears the line being edited; at an empty prompt it
// says how to leave, and a second Ctrl-C in a row ends the session, as
// Ctrl-D (end of input), 'quit' and 'exit' do. Ctrl-C while a command runs
// interrupts that command and returns to the prompt.
//
// Otherwise (input from a pipe or file) no prompt is written, lines
// starting with '#' are skipped, and Run reports the first failure when
// the input ends (see FailedError); an interrupt ends the session
// (ErrInterrupted).
//
// In both, a dead link ends the session: a command error that
// Config.Link classifies as LinkDown, or Config.MaxSilent commands in a
// row classified as LinkSilent (see LinkDownError).
package shell

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
)

// A Command is one thing the shell can run.
type Command struct {
	Name string
	Args string // the arguments, for help: "on|off|toggle|read"
	Help string // what it does, one line

	// Complete returns the candidates for the argument after args (the
	// words typed so far after the command name); nil: none.
	Complete func(args []string) []string

	// Run runs the command. ctx is cancelled when the user interrupts it.
	Run func(ctx context.Context, args []string) error
}

// LinkState is what a command's error says about the link to the device.
type LinkState int

const (
	LinkUp     LinkState = iota // the link works (the command failed for another reason)
	LinkSilent                  // the device did not answer
	LinkDown                    // the link is gone: transport closed, session ended
)

// DefaultMaxSilent is how many commands in a row without an answer end
// the session when Config.MaxSilent is 0.
const DefaultMaxSilent = 3

// DefaultHistoryMax is the history's length when Config.HistoryMax is 0.
const DefaultHistoryMax = 500

// Config configures Run.
type Config struct {
	Prompt   string // "esp> "
	Commands []Command

	In  io.Reader // the command lines
	Out io.Writer // help, completion lists, the newline at the end of input

	// Interactive makes In and Out a terminal: a prompt, line editing,
	// completion and history. TTY, when set, is put in raw mode while a
	// line is edited (In is then usually TTY).
	Interactive bool
	TTY         *os.File

	History    string // history file ("" none); interactive only
	HistoryMax int    // lines kept (0: DefaultHistoryMax)

	// Other runs a line whose first word names no command (nil: such a
	// line fails with an *UnknownCommandError).
	Other func(ctx context.Context, words []string) error

	// Report prints a command's failure; the session goes on.
	Report func(err error)
	// Warn prints a problem of the shell itself (history file); nil: none.
	Warn func(msg string)
	// Link classifies a command's error (nil: LinkUp for any error).
	Link func(err error) LinkState
	// MaxSilent: commands in a row classified LinkSilent that end the
	// session (0: DefaultMaxSilent).
	MaxSilent int

	// Interrupt returns the context a command runs in, cancelled on an
	// interrupt (nil: signal.NotifyContext(ctx, os.Interrupt)).
	Interrupt func(ctx context.Context) (context.Context, context.CancelFunc)
}

// ErrInterrupted is returned when a non-interactive session is interrupted.
var ErrInterrupted = errors.New("shell: interrupted")

// ErrLinkDown is matched (errors.Is) by a LinkDownError.
var ErrLinkDown = errors.New("shell: the link to the device is down")

// LinkDownError ends a session whose link is dead. Err is the last
// command's error.
type LinkDownError struct {
	Err    error
	Silent int // commands in a row without an answer (0: the link went down)
}

func (e *LinkDownError) Error() string {
	if e.Silent > 0 {
		return fmt.Sprintf("shell: the device did not answer %d commands in a row: ending the session", e.Silent)
	}
	return fmt.Sprintf("shell: the link is down: ending the session (%v)", e.Err)
}
func (e *LinkDownError) Unwrap() []error   { return []error{e.Err} }
func (e *LinkDownError) Is(err error) bool { return err == ErrLinkDown }

// FailedError is returned at the end of a non-interactive session in which
// commands failed. Unwrap gives the first failure.
type FailedError struct {
	First  error
	Line   int // the first failure's input line
	Failed int // commands that failed
}

func (e *FailedError) Error() string {
	return fmt.Sprintf("shell: %d command(s) failed, the first on line %d", e.Failed, e.Line)
}
func (e *FailedError) Unwrap() error { return e.First }

type shell struct {
	cfg    Config
	byName map[string]*Command
	names  []string // sorted, with the built-in commands
}

// Built-in commands.
const (
	cmdHelp = "help"
	cmdQuit = "quit"
	cmdExit = "exit"
)

// Run reads and runs command lines until 'quit', 'exit', the end of input,
// a second Ctrl-C at an empty prompt, or a dead link. It returns nil, a
// *LinkDownError, a *FailedError (non-interactive only), ErrInterrupted
// (non-interactive only), or an error reading the input.
func Run(ctx context.Context, cfg Config) error {
	s := &shell{cfg: cfg, byName: map[string]*Command{}}
	for i := range cfg.Commands {
		c := &s.cfg.Commands[i]
		s.byName[c.Name] = c
		s.names = append(s.names, c.Name)
	}
	s.names = append(s.names, cmdHelp, cmdQuit, cmdExit)
	sort.Strings(s.names)
	if s.cfg.MaxSilent <= 0 {
		s.cfg.MaxSilent = DefaultMaxSilent
	}
	if s.cfg.Interrupt == nil {
		s.cfg.Interrupt = func(ctx context.Context) (context.Context, context.CancelFunc) {
			return signal.NotifyContext(ctx, os.Interrupt)
		}
	}
	if s.cfg.Report == nil {
		s.cfg.Report = func(error) {}
	}
	var read func() (string, error)
	if cfg.Interactive {
		e := s.newEditor()
		defer e.hist.save()
		read = e.readLine
	} else {
		sc := bufio.NewScanner(cfg.In)
		read = func() (string, error) {
			if !sc.Scan() {
				if err := sc.Err(); err != nil {
					return "", err
				}
				return "", io.EOF
			}
			return sc.Text(), nil
		}
	}
	var failed *FailedError
	silent := 0
	for n := 1; ; n++ {
		line, err := read()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return fmt.Errorf("shell: reading commands: %w", err)
			}
			if failed != nil {
				return failed
			}
			return nil
		}
		words := strings.Fields(line)
		if len(words) == 0 || (!cfg.Interactive && strings.HasPrefix(words[0], "#")) {
			continue
		}
		switch words[0] {
		case cmdQuit, cmdExit:
			if failed != nil {
				return failed
			}
			return nil
		case cmdHelp, "?":
			s.help()
			continue
		}
		cctx, stop := s.cfg.Interrupt(ctx)
		err = s.run(cctx, words)
		interrupted := cctx.Err() != nil && ctx.Err() == nil
		stop()
		if err == nil {
			silent = 0
			continue
		}
		s.cfg.Report(err)
		if interrupted {
			if !cfg.Interactive {
				return ErrInterrupted
			}
			continue
		}
		if failed == nil && !cfg.Interactive {
			failed = &FailedError{First: err, Line: n}
		}
		if failed != nil {
			failed.Failed++
		}
		state := LinkUp
		if s.cfg.Link != nil {
			state = s.cfg.Link(err)
		}
		switch state {
		case LinkDown:
			return &LinkDownError{Err: err}
		case LinkSilent:
			if silent++; silent >= s.cfg.MaxSilent {
				return &LinkDownError{Err: err, Silent: silent}
			}
		default:
			silent = 0
		}
	}
}

// UnknownCommandError is a line naming no command.
type UnknownCommandError struct{ Name string }

func (e *UnknownCommandError) Error() string {
	return fmt.Sprintf("shell: unknown command %q (type 'help' for the commands)", e.Name)
}

func (s *shell) run(ctx context.Context, words []string) error {
	c, ok := s.byName[words[0]]
	if !ok {
		if s.cfg.Other != nil {
			return s.cfg.Other(ctx, words)
		}
		return &UnknownCommandError{Name: words[0]}
	}
	return c.Run(ctx, words[1:])
}

// help writes the commands with their arguments and descriptions.
func (s *shell) help() {
	type row struct{ use, help string }
	rows := make([]row, 0, len(s.cfg.Commands)+2)
	for _, c := range s.cfg.Commands {
		use := c.Name
		if c.Args != "" {
			use += " " + c.Args
		}
		rows = append(rows, row{use, c.Help})
	}
	rows = append(rows, row{"help", "list the commands"}, row{"quit, exit", "end the session (also Ctrl-D)"})
	w := 0
	for _, r := range rows {
		w = max(w, len(r.use))
	}
	var b strings.Builder
	b.WriteString("commands:\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-*s  %s\n", w, r.use, r.help)
	}
	if s.cfg.Interactive {
		b.WriteString("Tab completes; Ctrl-C clears the line or interrupts a command; Ctrl-D or Ctrl-C twice ends the session.\n")
	}
	io.WriteString(s.cfg.Out, b.String())
}

// Complete returns the candidates for the word being typed at the end of
// line, and that word's start.
func (s *shell) complete(line string) (cands []string, start int) {
	words := strings.Fields(line)
	start = len(line)
	prefix := ""
	if len(words) > 0 && !strings.HasSuffix(line, " ") {
		prefix = words[len(words)-1]
		words = words[:len(words)-1]
		start = len(line) - len(prefix)
	}
	var all []string
	if len(words) == 0 {
		all = s.names
	} else if c, ok := s.byName[words[0]]; ok && c.Complete != nil {
		all = c.Complete(words[1:])
	}
	for _, w := range all {
		if strings.HasPrefix(w, prefix) {
			cands = append(cands, w)
		}
	}
	return cands, start
}

// commonPrefix is the longest prefix of all of ws (ws not empty).
func commonPrefix(ws []string) string {
	p := ws[0]
	for _, w := range ws[1:] {
		for !strings.HasPrefix(w, p) {
			p = p[:len(p)-1]
		}
	}
	return p
}
