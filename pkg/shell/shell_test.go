package shell

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var (
	errSilent = errors.New("no answer")
	errClosed = errors.New("transport closed")
	errDenied = errors.New("denied")
)

// fakeSession is a device: 'led ARG', 'id', and commands that fail in the
// ways the shell tells apart.
type fakeSession struct {
	ran []string
}

func (f *fakeSession) commands() []Command {
	run := func(name string, err error) func(context.Context, []string) error {
		return func(_ context.Context, args []string) error {
			f.ran = append(f.ran, strings.Join(append([]string{name}, args...), " "))
			return err
		}
	}
	return []Command{
		{Name: "id", Help: "the device's identity", Run: run("id", nil)},
		{Name: "led", Args: "on|off|toggle|read", Help: "switch the LED", Run: run("led", nil),
			Complete: func(args []string) []string {
				if len(args) == 0 {
					return []string{"off", "on", "read", "toggle"}
				}
				return nil
			}},
		{Name: "deny", Help: "a task the grant does not permit", Run: run("deny", errDenied)},
		{Name: "silent", Help: "no answer", Run: run("silent", errSilent)},
		{Name: "close", Help: "the link goes down", Run: run("close", errClosed)},
	}
}

func link(err error) LinkState {
	switch {
	case errors.Is(err, errSilent):
		return LinkSilent
	case errors.Is(err, errClosed):
		return LinkDown
	}
	return LinkUp
}

func run(t *testing.T, interactive bool, in string, hist string) (out string, reports []error, err error, f *fakeSession) {
	t.Helper()
	f = &fakeSession{}
	var b bytes.Buffer
	err = Run(context.Background(), Config{
		Prompt: "x> ", Commands: f.commands(), In: strings.NewReader(in), Out: &b,
		Interactive: interactive, History: hist, HistoryMax: 3,
		Report: func(err error) { reports = append(reports, err) },
		Link:   link,
	})
	return b.String(), reports, err, f
}

func TestShellPiped(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		ran     []string
		first   error // the failure Run returns (nil: none)
		line    int
		down    bool // a *LinkDownError
		reports int
	}{
		{name: "ok", in: "id\nled on\n", ran: []string{"id", "led on"}},
		{name: "quit", in: "id\nquit\nid\n", ran: []string{"id"}},
		{name: "comments and blanks", in: "# x\n\n  \nid\n", ran: []string{"id"}},
		{name: "failure at eof", in: "id\ndeny\nid\n", ran: []string{"id", "deny", "id"}, first: errDenied, line: 2, reports: 1},
		{name: "failure then quit", in: "deny\nexit\n", ran: []string{"deny"}, first: errDenied, line: 1, reports: 1},
		{name: "unknown command", in: "fly\n", first: &UnknownCommandError{}, line: 1, reports: 1},
		{name: "silent resets", in: "silent\nsilent\nid\nsilent\nsilent\n", ran: []string{"silent", "silent", "id", "silent", "silent"}, first: errSilent, line: 1, reports: 4},
		{name: "dead link: silent", in: "silent\nsilent\nsilent\nid\n", ran: []string{"silent", "silent", "silent"}, down: true, reports: 3},
		{name: "dead link: closed", in: "close\nid\n", ran: []string{"close"}, down: true, reports: 1},
		{name: "help", in: "help\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, reports, err, f := run(t, false, tc.in, "")
			if !reflect.DeepEqual(f.ran, tc.ran) {
				t.Errorf("ran %q, want %q", f.ran, tc.ran)
			}
			if len(reports) != tc.reports {
				t.Errorf("%d reports, want %d: %v", len(reports), tc.reports, reports)
			}
			if strings.Contains(out, "x> ") {
				t.Errorf("prompt written on a pipe: %q", out)
			}
			switch {
			case tc.down:
				var ld *LinkDownError
				if !errors.As(err, &ld) || !errors.Is(err, ErrLinkDown) {
					t.Fatalf("err %v, want a dead link", err)
				}
			case tc.first == nil:
				if err != nil {
					t.Fatalf("err %v", err)
				}
			default:
				var fe *FailedError
				if !errors.As(err, &fe) {
					t.Fatalf("err %v, want a FailedError", err)
				}
				_, unknown := tc.first.(*UnknownCommandError)
				if fe.Line != tc.line || (unknown && !errors.As(err, new(*UnknownCommandError))) || (!unknown && !errors.Is(err, tc.first)) {
					t.Fatalf("first failure %v on line %d, want %v on line %d", fe.First, fe.Line, tc.first, tc.line)
				}
			}
		})
	}
}

func TestShellHelp(t *testing.T) {
	out, _, err, _ := run(t, false, "help\n", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"commands:\n",
		"  led on|off|toggle|read  switch the LED\n",
		"  id                      the device's identity\n",
		"  help                    list the commands\n",
		"  quit, exit              end the session (also Ctrl-D)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
}

func TestShellComplete(t *testing.T) {
	s := &shell{cfg: Config{Commands: (&fakeSession{}).commands()}, byName: map[string]*Command{}}
	for i := range s.cfg.Commands {
		c := &s.cfg.Commands[i]
		s.byName[c.Name] = c
		s.names = append(s.names, c.Name)
	}
	s.names = append(s.names, cmdHelp, cmdQuit, cmdExit)
	tests := []struct {
		line  string
		cands []string
		start int
	}{
		{"", []string{"id", "led", "deny", "silent", "close", "help", "quit", "exit"}, 0},
		{"l", []string{"led"}, 0},
		{"led ", []string{"off", "on", "read", "toggle"}, 4},
		{"led o", []string{"off", "on"}, 4},
		{"led  t", []string{"toggle"}, 5},
		{"led on ", nil, 7},
		{"fly ", nil, 4},
		{"q", []string{"quit"}, 0},
	}
	for _, tc := range tests {
		cands, start := s.complete(tc.line)
		if fmt.Sprint(cands) != fmt.Sprint(tc.cands) && !(tc.line == "" && len(cands) == len(tc.cands)) || start != tc.start {
			t.Errorf("complete(%q) = %q, %d; want %q, %d", tc.line, cands, start, tc.cands, tc.start)
		}
	}
}

// The line editor, driven through a pipe as a terminal would be.
func TestShellEditor(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ran  []string
		err  bool
		out  []string // substrings of the output
	}{
		{name: "eof newline", in: "id\r\x04", ran: []string{"id"}, out: []string{"x> \r\n"}},
		{name: "tab completes the command and argument", in: "l\tto\t\r", ran: []string{"led toggle"}},
		{name: "tab lists", in: "led o\t\t\x15\x04", out: []string{"off  on"}},
		{name: "ctrl-c clears the line", in: "led on\x03id\r", ran: []string{"id"}},
		{name: "ctrl-c twice ends", in: "\x03\x03id\r", out: []string{leaveHint[:len(leaveHint)-1]}},
		{name: "ctrl-c, a key, ctrl-c does not end", in: "\x03i\x03id\r", ran: []string{"id"}},
		{name: "failures do not set the status", in: "deny\rquit\r", ran: []string{"deny"}},
		{name: "dead link", in: "close\rid\r", ran: []string{"close"}, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err, f := run(t, true, tc.in, "")
			if !reflect.DeepEqual(f.ran, tc.ran) {
				t.Errorf("ran %q, want %q (output %q)", f.ran, tc.ran, out)
			}
			if (err != nil) != tc.err {
				t.Errorf("err %v", err)
			}
			for _, w := range tc.out {
				if !strings.Contains(out, w) {
					t.Errorf("output %q lacks %q", out, w)
				}
			}
		})
	}
}

func TestShellHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history", "esp")
	if _, _, err, _ := run(t, true, "id\rled on\rid\rled off\rled off \r\x04", path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("history mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if string(b) != "led on\nid\nled off\n" { // bounded to 3, no repeats
		t.Errorf("history %q", b)
	}
	// The next session recalls the last line with the up arrow.
	_, _, err, f := run(t, true, "\x1b[A\r\x04", path)
	if err != nil || !reflect.DeepEqual(f.ran, []string{"led off"}) {
		t.Errorf("recalled %q, err %v", f.ran, err)
	}
}
