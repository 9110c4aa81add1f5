package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mstool/mstool/pkg/floorbook"
	"github.com/rogpeppe/go-internal/testscript"
)

// The CLI is pinned by testscript files in testdata/script, one per
// feature, each running the real mstool command (the test binary re-execs
// itself as mstool) and checking stdout, stderr and the exit status.
func TestMain(m *testing.M) {
	// The floor record of in-process runs goes to a scratch directory,
	// never to the user's (testscripts get one per script).
	if os.Getenv(floorbook.EnvDir) == "" {
		dir, err := os.MkdirTemp("", "mstool-test-state-")
		if err != nil {
			panic(err)
		}
		os.Setenv(floorbook.EnvDir, dir)
	}
	testscript.Main(m, map[string]func(){
		"mstool": main,
	})
}

func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("NO_COLOR", "1")
			env.Setenv(floorbook.EnvDir, filepath.Join(env.WorkDir, ".state"))
			env.Setenv("CI", os.Getenv("CI"))
			return nil
		},
		Condition: func(cond string) (bool, error) {
			// [tool:NAME] is true when NAME is on PATH. Scripts that need a
			// tool must fail, not skip, in CI: use 'needtool NAME'.
			if len(cond) > 5 && cond[:5] == "tool:" {
				_, err := exec.LookPath(cond[5:])
				return err == nil, nil
			}
			return false, nil
		},
		Cmds: scriptCmds(),
	})
}

// scriptCmds are the custom commands every testscript of mstool may use.
func scriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	cmds := map[string]func(ts *testscript.TestScript, neg bool, args []string){
		// needtool NAME...: the script needs these tools. A missing
		// tool fails the script (use a [tool:NAME] condition and
		// 'skip' first where a local skip is acceptable outside CI).
		"needtool": func(ts *testscript.TestScript, neg bool, args []string) {
			for _, a := range args {
				if _, err := exec.LookPath(a); err != nil {
					ts.Fatalf("%s is missing: install it (CI=%s)", a, os.Getenv("CI"))
				}
			}
		},
		// exits CODE PROG ARGS...: run PROG like exec, but require
		// exactly this exit status; stdout and stderr are kept for the
		// commands that follow.
		"exits": func(ts *testscript.TestScript, neg bool, args []string) {
			if neg || len(args) < 2 {
				ts.Fatalf("usage: exits CODE PROG [ARGS...]")
			}
			want, err := strconv.Atoi(args[0])
			ts.Check(err)
			got := 0
			if err := ts.Exec(args[1], args[2:]...); err != nil {
				var ee *exec.ExitError
				if !errors.As(err, &ee) {
					ts.Fatalf("%s: %v", args[1], err)
				}
				got = ee.ExitCode()
			}
			if got != want {
				ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
			}
		},
		// chmod MODE FILE
		"chmod": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 2 {
				ts.Fatalf("usage: chmod MODE FILE")
			}
			mode, err := strconv.ParseUint(args[0], 8, 32)
			ts.Check(err)
			ts.Check(os.Chmod(ts.MkAbs(args[1]), os.FileMode(mode)))
		},
		// perm MODE FILE: the file's permission bits are exactly MODE.
		"perm": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 2 {
				ts.Fatalf("usage: perm MODE FILE")
			}
			fi, err := os.Stat(ts.MkAbs(args[1]))
			ts.Check(err)
			mode, err := strconv.ParseUint(args[0], 8, 32)
			ts.Check(err)
			if (fi.Mode().Perm() == os.FileMode(mode)) == neg {
				ts.Fatalf("%s has mode %04o", args[1], fi.Mode().Perm())
			}
		},
	}
	for name, f := range bootstrapScriptCmds() {
		cmds[name] = f
	}
	return cmds
}
