package main

// All of mstool's terminal output goes through this file: data to stdout,
// diagnostics and progress to stderr, one message style
// ("mstool: error: ...", "mstool: hint: ..."), lowercase, no final period.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"
	"golang.org/x/term"

	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/tasks"
)

// Format is how tables are written (--format).
type Format int

const (
	FormatAuto  Format = iota // FormatTable on a terminal, FormatPlain otherwise
	FormatTable               // boxes, fitted to the terminal's width
	FormatPlain               // "key: value" lines, or TSV with a header line
)

// parseFormat reads --format.
func parseFormat(s string) (Format, bool) {
	switch s {
	case "auto":
		return FormatAuto, true
	case "table":
		return FormatTable, true
	case "plain":
		return FormatPlain, true
	}
	return 0, false
}

// UI renders results for people (tables, colour) or scripts (JSON) and
// carries the global output flags.
type UI struct {
	Out, Err io.Writer
	JSON     bool
	Quiet    bool
	Verbose  bool
	Format   Format

	// Verbosity counts -v (--verbose): 1 shows waits, retries and link
	// events, 2 (-vv, -v -v) also the frames in hex. Verbose is
	// Verbosity > 0.
	Verbosity int

	// width is the width tables are fitted to; 0 asks $COLUMNS, then
	// the terminal (tableWidth). Tests set it to fake a terminal.
	width int

	// Lines makes WriteJSON write one compact object per line: streams
	// and the shells (docs/json.md).
	Lines bool

	std stdStreams // "-" as standard input or output (stdio.go)

	// tasks names and codes tasks: the built-ins and those of the task
	// map (--task-map, MSTOOL_TASK_MAP) in taskMapPath (taskmap.go).
	tasks       tasks.Codec
	taskMapPath string
	outStyle    *lipgloss.Renderer
	errStyle    *lipgloss.Renderer
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

// Tracef prints only with -vv.
func (ui *UI) Tracef(format string, a ...any) {
	if ui.Verbosity < 2 {
		return
	}
	fmt.Fprintf(ui.Err, "mstool: %s\n", fmt.Sprintf(format, a...))
}

// logHooks are the Log and Trace hooks of the library's configs
// (device.Options, link.Options, espsession.OpenConfig) for the -v count:
// events with -v, frames in hex with -vv, nil (silent) otherwise.
func (ui *UI) logHooks() (log func(msg string), trace func(dir string, frame []byte)) {
	if ui.Verbosity > 0 {
		log = func(msg string) { ui.Debugf("%s", msg) }
	}
	if ui.Verbosity > 1 {
		trace = func(dir string, b []byte) { ui.Tracef("%s", hexFrame(dir, b)) }
	}
	return log, trace
}

// deviceOptions are the options of a management channel, with the -v
// hooks.
func (ui *UI) deviceOptions(o device.Options) *device.Options {
	o.Log, o.Trace = ui.logHooks()
	return &o
}

// Progressf tells a person about a long wait on stderr: not with --quiet
// or --json (scripts read stderr for the JSON error).
func (ui *UI) Progressf(format string, a ...any) {
	if ui.JSON {
		return
	}
	ui.Infof(format, a...)
}

// hexFrame renders a frame for -vv, like avrdude -v -v.
func hexFrame(dir string, b []byte) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %d bytes:", dir, len(b))
	for _, c := range b {
		fmt.Fprintf(&sb, " %02x", c)
	}
	return sb.String()
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

// Table renders rows under headers on stdout: boxes on a terminal (or
// with --format table), fitted to its width by wrapping long cells; TSV
// with a header line otherwise (or with --format plain), nothing cut.
func (ui *UI) Table(headers []string, rows [][]string) {
	if !ui.boxes() {
		writeTSV(ui.Out, headers, rows)
		return
	}
	fmt.Fprintln(ui.Out, ui.boxTable(headers, rows))
}

// KeyValues renders labelled values: a two-column box table on a terminal
// (or with --format table), "key: value" lines otherwise.
func (ui *UI) KeyValues(pairs [][2]string) {
	if !ui.boxes() {
		for _, p := range pairs {
			fmt.Fprintf(ui.Out, "%s: %s\n", plainCell(p[0]), plainCell(p[1]))
		}
		return
	}
	rows := make([][]string, len(pairs))
	for i, p := range pairs {
		rows[i] = []string{p[0], p[1]}
	}
	fmt.Fprintln(ui.Out, ui.boxTable([]string{"field", "value"}, rows))
}

// boxes reports whether tables are drawn with boxes: --format, or in
// auto whether they go to a terminal (stdout, or stderr once stdout
// carries data).
func (ui *UI) boxes() bool {
	switch ui.Format {
	case FormatTable:
		return true
	case FormatPlain:
		return false
	}
	return isTerminal(ui.Out)
}

// tableWidth is the width box tables must fit: $COLUMNS when set, else
// the terminal's width; 0 (no limit) when neither is known.
func (ui *UI) tableWidth() int {
	if ui.width > 0 {
		return ui.width
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	if f, ok := ui.Out.(*os.File); ok {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	return 0
}

// boxTable draws a table with a header row. When it is wider than
// tableWidth, the widest columns shrink first and their cells wrap, at
// spaces where they can, inside words (hex strings) where they must: no
// data is lost on a terminal either.
func (ui *UI) boxTable(headers []string, rows [][]string) string {
	n := len(headers)
	for _, r := range rows {
		n = max(n, len(r))
	}
	widths := make([]int, n) // the longest line of each column
	words := make([]int, n)  // the longest word, where lines wrap
	for _, r := range append([][]string{headers}, rows...) {
		for i, c := range r {
			for _, l := range strings.Split(c, "\n") {
				widths[i] = max(widths[i], ansi.StringWidth(l))
			}
			for _, w := range strings.FieldsFunc(c, func(r rune) bool { return r == ' ' || r == '-' || r == '\n' }) {
				words[i] = max(words[i], ansi.StringWidth(w)+1) // a '-' may end it
			}
		}
	}
	if limit := ui.tableWidth(); limit > 0 {
		avail := limit - (3*n + 1) // "│ " before each cell, " │" after the last
		// Wrap between words first; break words only if that is not enough.
		fitWidths(widths, words, avail)
		fitWidths(widths, make([]int, n), avail)
	}

	r := ui.outStyle
	border := r.NewStyle().Foreground(lipgloss.Color("8"))
	bold := r.NewStyle().Bold(true)
	var b strings.Builder
	rule := func(left, mid, right string) {
		parts := make([]string, n)
		for i, w := range widths {
			parts[i] = strings.Repeat("─", w+2)
		}
		b.WriteString(border.Render(left+strings.Join(parts, mid)+right) + "\n")
	}
	row := func(cells []string, head bool) {
		wrapped := make([][]string, n)
		height := 1
		for i := range widths {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			wrapped[i] = strings.Split(ansi.Wrap(c, max(widths[i], 1), ""), "\n")
			height = max(height, len(wrapped[i]))
		}
		bar := border.Render("│")
		for l := 0; l < height; l++ {
			b.WriteString(bar)
			for i, w := range widths {
				t := ""
				if l < len(wrapped[i]) {
					t = strings.TrimRight(wrapped[i][l], " ")
				}
				pad := strings.Repeat(" ", max(w-ansi.StringWidth(t), 0))
				if head {
					t = bold.Render(t)
				}
				b.WriteString(" " + t + pad + " " + bar)
			}
			b.WriteString("\n")
		}
	}
	rule("┌", "┬", "┐")
	row(headers, true)
	rule("├", "┼", "┤")
	for _, cells := range rows {
		row(cells, false)
	}
	rule("└", "┴", "┘")
	return strings.TrimSuffix(b.String(), "\n")
}

// fitWidths narrows the widest column above its floor, one column at a
// time, until the widths add up to at most avail or none can narrow
// (no column is narrowed below 1).
func fitWidths(widths, floors []int, avail int) {
	total := 0
	for _, w := range widths {
		total += w
	}
	for total > avail {
		widest := -1
		for i, w := range widths {
			if w > max(floors[i], 1) && (widest < 0 || w > widths[widest]) {
				widest = i
			}
		}
		if widest < 0 {
			return
		}
		widths[widest]--
		total--
	}
}

// writeTSV writes a header line and one line per row, cells separated by
// tabs (the IANA text/tab-separated-values form, with plainCell's escapes).
func writeTSV(w io.Writer, headers []string, rows [][]string) {
	line := func(cells []string) {
		esc := make([]string, len(cells))
		for i, c := range cells {
			esc[i] = plainCell(c)
		}
		fmt.Fprintln(w, strings.Join(esc, "\t"))
	}
	line(headers)
	for _, r := range rows {
		line(r)
	}
}

// plainCell keeps one cell on one line and in one column: a backslash, tab,
// newline or carriage return becomes \\, \t, \n or \r ("linear TSV").
var plainEscaper = strings.NewReplacer("\\", "\\\\", "\t", "\\t", "\n", "\\n", "\r", "\\r")

func plainCell(s string) string { return plainEscaper.Replace(s) }

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

// taskHint lists the tasks a command line may name; without a task map it
// says how the application's own tasks get their names.
func (ui *UI) taskHint() string {
	h := "tasks: " + strings.Join(ui.tasks.Names(), ", ")
	if ui.tasks.Map == nil {
		h += "; the application's own tasks (16..31) by the names of --task-map FILE, or as bitN (docs/tasks.md)"
	}
	return h
}
