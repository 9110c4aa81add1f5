package main

// All of mstool's terminal output goes through this file: data to stdout,
// diagnostics and progress to stderr, one message style
// ("mstool: error: ...", "mstool: hint: ..."), lowercase, no final period.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"
	"github.com/muesli/termenv"
	"golang.org/x/term"
)

// UI renders results for people (tables, colour) or scripts (JSON) and
// carries the global output flags.
type UI struct {
	Out, Err io.Writer
	JSON     bool
	Quiet    bool
	Verbose  bool
	// Lines makes WriteJSON write one compact object per line: streams
	// and the shells (docs/json.md).
	Lines bool

	std      stdStreams // "-" as standard input or output (stdio.go)
	outStyle *lipgloss.Renderer
	errStyle *lipgloss.Renderer
}

// newUI decides colour once: on only when the stream is a terminal and
// NO_COLOR is unset (https://no-color.org).
func newUI(out, errw io.Writer) *UI {
	ui := &UI{Out: out, Err: errw}
	ui.std.outTTY = isTerminal(out)
	ui.outStyle = renderer(out)
	ui.errStyle = renderer(errw)
	return ui
}

func renderer(w io.Writer) *lipgloss.Renderer {
	r := lipgloss.NewRenderer(w)
	if _, set := os.LookupEnv("NO_COLOR"); set || !isTerminal(w) {
		r.SetColorProfile(termenv.Ascii)
	}
	return r
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// errIsTerminal reports whether progress output on stderr would be seen by
// a person; progress bars are drawn only then.
func (ui *UI) errIsTerminal() bool { return isTerminal(ui.Err) }

func (ui *UI) label(s string, color string) string {
	return ui.errStyle.NewStyle().Bold(true).Foreground(lipgloss.Color(color)).Render(s)
}

// Errorf prints an error. It is never suppressed by --quiet.
func (ui *UI) Errorf(format string, a ...any) {
	fmt.Fprintf(ui.Err, "mstool: %s %s\n", ui.label("error:", "9"), fmt.Sprintf(format, a...))
}

// Hintf tells the user what to do about the preceding error or warning.
func (ui *UI) Hintf(format string, a ...any) {
	fmt.Fprintf(ui.Err, "mstool: %s %s\n", ui.label("hint:", "12"), fmt.Sprintf(format, a...))
}

// Warnf prints a warning. Warnings concern safety, so --quiet keeps them.
func (ui *UI) Warnf(format string, a ...any) {
	fmt.Fprintf(ui.Err, "mstool: %s %s\n", ui.label("warning:", "11"), fmt.Sprintf(format, a...))
}

// Infof prints progress and diagnostics to stderr unless --quiet.
func (ui *UI) Infof(format string, a ...any) {
	if ui.Quiet {
		return
	}
	fmt.Fprintf(ui.Err, "mstool: %s\n", fmt.Sprintf(format, a...))
}

// Debugf prints only with --verbose.
func (ui *UI) Debugf(format string, a ...any) {
	if !ui.Verbose {
		return
	}
	fmt.Fprintf(ui.Err, "mstool: %s\n", fmt.Sprintf(format, a...))
}

// Printf writes data to stdout.
func (ui *UI) Printf(format string, a ...any) { fmt.Fprintf(ui.Out, format, a...) }

// WriteJSON writes v as indented JSON to stdout, or as one line when
// ui.Lines. JSON field names are part of the stable, documented interface
// (docs/json.md).
func (ui *UI) WriteJSON(v any) error {
	enc := json.NewEncoder(ui.Out)
	if !ui.Lines {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(v)
}

// jsonError is an error as --json reports it: one line on stderr
// (docs/json.md, "Errors").
type jsonError struct {
	Error string `json:"error"`
	Hint  string `json:"hint"`
	Exit  int    `json:"exit"`
}

// Fail reports err, with its hint and exit status: "mstool: error: ..."
// and "mstool: hint: ..." lines, or with --json one JSON object line on
// stderr. It is never suppressed by --quiet.
func (ui *UI) Fail(err error, hint string, code int) {
	if ui.JSON {
		b, merr := json.Marshal(jsonError{Error: err.Error(), Hint: hint, Exit: code})
		if merr == nil {
			fmt.Fprintf(ui.Err, "%s\n", b)
			return
		}
	}
	ui.Errorf("%v", err)
	if hint != "" {
		ui.Hintf("%s", hint)
	}
}

// Table renders rows under headers on stdout; colour only on a terminal.
func (ui *UI) Table(headers []string, rows [][]string) {
	r := ui.outStyle
	head := r.NewStyle().Bold(true).Padding(0, 1)
	cell := r.NewStyle().Padding(0, 1)
	t := table.New().
		Border(lipgloss.NormalBorder()).
		BorderStyle(r.NewStyle().Foreground(lipgloss.Color("8"))).
		Headers(headers...).
		Rows(rows...).
		StyleFunc(func(row, col int) lipgloss.Style {
			if row == table.HeaderRow {
				return head
			}
			return cell
		})
	fmt.Fprintln(ui.Out, t.Render())
}

// KeyValues renders a two-column table of labelled values.
func (ui *UI) KeyValues(pairs [][2]string) {
	rows := make([][]string, len(pairs))
	for i, p := range pairs {
		rows[i] = []string{p[0], p[1]}
	}
	ui.Table([]string{"field", "value"}, rows)
}

// Banner renders a loud one-line label, used for the NULL debugging suite
// and other states a user must not miss.
func (ui *UI) Banner(s string) {
	st := ui.errStyle.NewStyle().Bold(true).Reverse(true)
	fmt.Fprintln(ui.Err, st.Render(" "+strings.ToUpper(s)+" "))
}

// Progress redraws a one-line progress indicator on stderr. Callers draw
// it only when ui.errIsTerminal() and not ui.Quiet; ProgressDone clears it.
func (ui *UI) Progress(format string, a ...any) {
	fmt.Fprintf(ui.Err, "\rmstool: %s", fmt.Sprintf(format, a...))
}

// ProgressDone erases the progress line.
func (ui *UI) ProgressDone() { fmt.Fprint(ui.Err, "\r\033[K") }
