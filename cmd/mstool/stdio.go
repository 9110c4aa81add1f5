package main

// "-" names standard input or standard output wherever a command reads one
// file or writes one output, as with age, minisign, tar and curl. The rules
// live here so that every command follows the same ones (docs/cli.md):
//
//   - Standard input is read once: a second "-" input is a usage error.
//   - When standard output carries the data, the human summary (tables,
//     public keys, "wrote ..." lines) goes to standard error instead, or
//     nowhere with --quiet; --json, which wants standard output too, is a
//     usage error.
//   - Secrets and binary data are not written to a terminal: a key on the
//     screen stays in the scrollback, a capture garbles it (age refuses
//     binary output to a terminal the same way). Pipe or redirect it.
//   - Where "-" cannot work (a file that lives next to another, a file that
//     another program or a later run opens by name, a file appended to), it
//     is a usage error that says why.

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"
)

// stdioName is what names standard input or output in place of a file.
const stdioName = "-"

// maxStdin bounds what is read from standard input into memory (keys, SA
// files, grants, images; a capture is streamed instead).
const maxStdin = 16 << 20

func isStdio(path string) bool { return path == stdioName }

// inName and outName name a file or the standard stream in messages.
func inName(path string) string {
	if isStdio(path) {
		return "standard input"
	}
	return path
}

func outName(path string) string {
	if isStdio(path) {
		return "standard output"
	}
	return path
}

// dataKind is what a command writes to standard output with "-".
type dataKind int

const (
	publicText dataKind = iota // fine on a terminal
	binaryData                 // refused on a terminal
	secretData                 // refused on a terminal
)

// stdStreams records what standard input and output are used for in one
// run of mstool.
type stdStreams struct {
	in      io.Reader
	inFor   string    // what standard input was read for ("--key"), once it was
	data    io.Writer // standard output, once it carries data
	outTTY  bool      // standard output is a terminal
	command string    // the running command's path, for messages
}

// stdin hands out standard input for what (a flag such as "--key", or an
// argument such as "GRANT"), once per run.
func (ui *UI) stdin(what string) (io.Reader, error) {
	if ui.std.inFor != "" {
		return nil, usageErrorf("give all but one of the inputs as files",
			"%sstandard input is already read for %s; %s cannot be - too", ui.cmdPrefix(), ui.std.inFor, what)
	}
	ui.std.inFor = what
	return ui.std.in, nil
}

// readStdin reads all of standard input for what.
func (ui *UI) readStdin(what string) ([]byte, error) {
	r, err := ui.stdin(what)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(r, maxStdin+1))
	if err != nil {
		return nil, failf("", "%sreading %s from standard input: %v", ui.cmdPrefix(), what, err)
	}
	if len(data) > maxStdin {
		return nil, failf("give it as a file", "%s%s: more than %d MiB on standard input", ui.cmdPrefix(), what, maxStdin>>20)
	}
	return data, nil
}

// readFile reads a public input: the file, or standard input for "-".
// Errors of the file are returned as they are, for the caller's hint.
func (ui *UI) readFile(what, path string) ([]byte, error) {
	if isStdio(path) {
		return ui.readStdin(what)
	}
	return os.ReadFile(path)
}

// claimStdout makes standard output carry the data of what ("-o"): the
// human summary moves to standard error (nowhere with --quiet). It refuses
// --json, and secrets or binary data on a terminal.
func (ui *UI) claimStdout(what string, kind dataKind) error {
	if ui.std.data != nil {
		return usageErrorf("name files for all but one of the outputs", "%sstandard output already carries data; %s cannot be - too", ui.cmdPrefix(), what)
	}
	if ui.JSON {
		return usageErrorf(fmt.Sprintf("name a file with %s FILE, or leave out --json", what),
			"%s--json and %s - both write to standard output", ui.cmdPrefix(), what)
	}
	if ui.std.outTTY {
		switch kind {
		case secretData:
			return failf(fmt.Sprintf("pipe or redirect standard output (e.g. '> FILE'), or name a file with %s FILE", what),
				"%srefusing to write secret key material to a terminal", ui.cmdPrefix())
		case binaryData:
			return failf(fmt.Sprintf("pipe or redirect standard output (e.g. '> FILE'), or name a file with %s FILE", what),
				"%srefusing to write binary data to a terminal", ui.cmdPrefix())
		}
	}
	ui.std.data = ui.Out
	ui.Out, ui.outStyle = ui.Err, ui.errStyle
	if ui.Quiet {
		ui.Out = io.Discard
	}
	return nil
}

// writeData writes data to standard output claimed by claimStdout.
func (ui *UI) writeData(data []byte) error {
	if ui.std.data == nil {
		return withCode(exitInternal, errors.New("standard output written before it was claimed"), "")
	}
	if _, err := ui.std.data.Write(data); err != nil {
		return failf("", "%swriting standard output: %v", ui.cmdPrefix(), err)
	}
	return nil
}

// notStdin refuses "-" for an input that must be a file, saying why.
func notStdin(c *cli.Context, what, value, why string) error {
	return notStdio(c, what, value, "standard input", why)
}

// notStdout refuses "-" for an output that must be a file, saying why.
func notStdout(c *cli.Context, what, value, why string) error {
	return notStdio(c, what, value, "standard output", why)
}

func notStdio(c *cli.Context, what, value, stream, why string) error {
	if !isStdio(value) {
		return nil
	}
	return usageErrorf("give the path of a file", "%s", prefixed(c, fmt.Sprintf("%s cannot be - (%s): %s", what, stream, why)))
}

func (ui *UI) cmdPrefix() string {
	if ui.std.command == "" {
		return ""
	}
	return ui.std.command + ": "
}
