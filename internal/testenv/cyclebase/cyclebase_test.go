package cyclebase

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that keeps what Check reports.
type recorder struct {
	testing.TB
	errors, logs []string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Errorf(f string, a ...any) { r.errors = append(r.errors, fmt.Sprintf(f, a...)) }
func (r *recorder) Logf(f string, a ...any)   { r.logs = append(r.logs, fmt.Sprintf(f, a...)) }
func (r *recorder) Failed() bool              { return len(r.errors) > 0 }

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		measured uint64
		update   bool
		fail     bool
		written  uint64 // 0: nothing written back
	}{
		{"equal", 10000, false, false, 0},
		{"2 % worse", 10200, false, false, 0},
		{"2.01 % worse", 10201, false, true, 0},
		{"much faster (logged)", 9000, false, false, 0},
		{"unknown key", 0, false, true, 0},
		{"update lowers", 9000, true, false, 9000},
		{"update never raises", 10100, true, false, 0},
		{"update does not pass a regression", 10300, true, true, 0},
		{"zero measured", 0, false, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			path := filepath.Join(t.TempDir(), "c.json")
			os.WriteFile(path, []byte(`{"note":"","figures":{"k":10000}}`), 0o644)
			tb := &Table{t: r, path: path, figures: map[string]uint64{"k": 10000}}
			if tc.update {
				tb.update = map[string]uint64{}
			}
			key, m := "k", tc.measured
			if tc.name == "unknown key" {
				key, m = "other", 5
			}
			tb.Check(key, m)
			if got := len(r.errors) > 0; got != tc.fail {
				t.Fatalf("failed %v, want %v (errors %q, logs %q)", got, tc.fail, r.errors, r.logs)
			}
			if tc.update {
				tb.write()
				f, err := read(path)
				if err != nil {
					t.Fatal(err)
				}
				want := tc.written
				if want == 0 {
					want = 10000
				}
				if f.Figures["k"] != want {
					t.Fatalf("figure written %d, want %d", f.Figures["k"], want)
				}
			}
		})
	}
}
