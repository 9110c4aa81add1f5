package shell

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/mstool/mstool/internal/statedir"
)

// HistoryFile is the default history file of the shell called name:
// history/NAME in the state directory ($MSTOOL_STATE_DIR, else
// $XDG_STATE_HOME/mstool, else ~/.local/state/mstool).
func HistoryFile(name string) (string, error) {
	d, err := statedir.Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "history", name), nil
}

// history is a bounded list of lines (term.History), saved to a file with
// mode 0600 after each line.
type history struct {
	path  string
	max   int
	lines []string // oldest first
	warn  func(string)
}

func loadHistory(path string, max int, warn func(string)) *history {
	if max <= 0 {
		max = DefaultHistoryMax
	}
	if warn == nil {
		warn = func(string) {}
	}
	h := &history{path: path, max: max, warn: warn}
	if path == "" {
		return h
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if !os.IsNotExist(err) {
			warn("history: " + err.Error())
		}
		return h
	}
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" {
			h.lines = append(h.lines, l)
		}
	}
	h.trim()
	return h
}

func (h *history) trim() {
	if len(h.lines) > h.max {
		h.lines = append([]string(nil), h.lines[len(h.lines)-h.max:]...)
	}
}

func (h *history) Add(entry string) {
	entry = strings.TrimSpace(entry)
	if entry == "" || strings.ContainsRune(entry, ctrlC) {
		return
	}
	if n := len(h.lines); n > 0 && h.lines[n-1] == entry {
		return
	}
	h.lines = append(h.lines, entry)
	h.trim()
	h.save()
}

func (h *history) Len() int { return len(h.lines) }

func (h *history) At(i int) string { return h.lines[len(h.lines)-1-i] }

// save replaces the file (temporary file, rename), mode 0600, in a
// directory made 0700.
func (h *history) save() {
	if h.path == "" || len(h.lines) == 0 {
		return
	}
	dir := filepath.Dir(h.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		h.fail(err)
		return
	}
	f, err := os.CreateTemp(dir, ".history-*")
	if err != nil {
		h.fail(err)
		return
	}
	_, err = f.WriteString(strings.Join(h.lines, "\n") + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o600)
	}
	if err == nil {
		err = os.Rename(f.Name(), h.path)
	}
	if err != nil {
		os.Remove(f.Name())
		h.fail(err)
	}
}

// fail warns once and stops saving.
func (h *history) fail(err error) {
	h.warn("history not saved: " + err.Error())
	h.path = ""
}
