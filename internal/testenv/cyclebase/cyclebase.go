// Package cyclebase holds device tests to the cycle figures recorded in
// firmware/tests/cycles/: the crypto, ESP and MSSL cycle tables may get
// no more than 2 % worse (issue 11). Timer1 counts on simavr are
// deterministic up to the interrupts that fall inside a measurement (a
// few hundred cycles at most), so this is a budget like a flash size,
// not a timing: nothing here reads a clock.
//
// A recorded figure is lowered, never raised, by running the tests with
// MSTOOL_UPDATE_CYCLES=1 (new figures are added the same way). Raising
// one is a decision about the product: edit the file by hand and say why
// in docs/PERFORMANCE.md.
package cyclebase

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/mstool/mstool/internal/testenv"
)

// Slack is how much worse than its recorded figure a measurement may be.
const Slack = 0.02

// UpdateEnv names the environment variable that records lower and new
// figures instead of only checking them.
const UpdateEnv = "MSTOOL_UPDATE_CYCLES"

// file is the on-disk form of one table.
type file struct {
	Note    string            `json:"note"`
	Figures map[string]uint64 `json:"figures"`
}

// Table is one file of recorded figures, loaded for one test.
type Table struct {
	t       testing.TB
	path    string
	figures map[string]uint64
	update  map[string]uint64 // figures to write back (update mode only)
}

// Load reads firmware/tests/cycles/<name>.json for t. In update mode the
// lowered and new figures are written back when t ends.
func Load(t testing.TB, name string) *Table {
	t.Helper()
	path := filepath.Join(testenv.RepoRoot(t), "firmware", "tests", "cycles", name+".json")
	f, err := read(path)
	if err != nil {
		t.Fatalf("cycle figures: %v", err)
	}
	tb := &Table{t: t, path: path, figures: f.Figures}
	if v := os.Getenv(UpdateEnv); v != "" && v != "0" {
		tb.update = map[string]uint64{}
		t.Cleanup(tb.write)
	}
	return tb
}

func read(path string) (*file, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &file{Figures: map[string]uint64{}}, nil
	}
	if err != nil {
		return nil, err
	}
	var f file
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.Figures == nil {
		f.Figures = map[string]uint64{}
	}
	return &f, nil
}

// Check compares one measurement with its recorded figure: more than
// Slack above it fails the test; more than Slack below it is logged (the
// figure should be lowered so that the check stays tight).
func (tb *Table) Check(key string, cycles uint64) {
	tb.t.Helper()
	if cycles == 0 {
		tb.t.Errorf("cycles %s: measured 0 (the device did not time it)", key)
		return
	}
	rec, ok := tb.figures[key]
	switch {
	case !ok && tb.update != nil:
		tb.update[key] = cycles
		tb.t.Logf("cycles %s: %d recorded (new)", key, cycles)
	case !ok:
		tb.t.Errorf("cycles %s: %d measured, no recorded figure in %s (record it with %s=1)",
			key, cycles, tb.path, UpdateEnv)
	case float64(cycles) > float64(rec)*(1+Slack):
		tb.t.Errorf("cycles %s: %d, %+.1f %% against the recorded %d: more than %.0f %% worse (issue 11's cycle rule; %s)",
			key, cycles, 100*(float64(cycles)/float64(rec)-1), rec, 100*Slack, tb.path)
	case float64(cycles) < float64(rec)*(1-Slack) && tb.update == nil:
		tb.t.Logf("cycles %s: %d, %.1f %% below the recorded %d: lower it (%s=1)",
			key, cycles, 100*(1-float64(cycles)/float64(rec)), rec, UpdateEnv)
	case cycles < rec && tb.update != nil:
		tb.update[key] = cycles
		tb.t.Logf("cycles %s: %d recorded (was %d)", key, cycles, rec)
	}
}

// write merges the update into the file as it is now on disk (another
// test of the package may have written it meanwhile), keys sorted.
func (tb *Table) write() {
	if len(tb.update) == 0 || tb.t.Failed() {
		return
	}
	f, err := read(tb.path)
	if err != nil {
		tb.t.Errorf("cycle figures: %v", err)
		return
	}
	for k, v := range tb.update {
		if old, ok := f.Figures[k]; !ok || v < old {
			f.Figures[k] = v
		}
	}
	if f.Note == "" {
		f.Note = "Device cycle figures (Timer1 on simavr) that internal/testenv/cyclebase holds the tests to, +2 % at most. Lower them with MSTOOL_UPDATE_CYCLES=1; raise one only by hand, with the reason in docs/PERFORMANCE.md."
	}
	out, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		tb.t.Errorf("cycle figures: %v", err)
		return
	}
	tmp := tb.path + ".tmp"
	if err := os.MkdirAll(filepath.Dir(tb.path), 0o755); err == nil {
		err = os.WriteFile(tmp, append(out, '\n'), 0o644)
		if err == nil {
			err = os.Rename(tmp, tb.path)
		}
	}
	if err != nil {
		tb.t.Errorf("cycle figures: writing %s: %v", tb.path, err)
	}
}
