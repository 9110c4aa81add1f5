package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestExamples: every command that is built has an example at the end of
// its --help, and the example's words and flags parse (it is run with
// --help right after the command path, in an empty directory); the
// examples of the commands with required flags give them all (their
// requireFlags checks, run without the rest of the command).
func TestExamples(t *testing.T) {
	t.Chdir(t.TempDir())
	app := newApp(newUI(io.Discard, io.Discard), nil)
	walkCommands(app.Commands, "", func(path string, cmd *cli.Command) {
		if strings.HasSuffix(cmd.Usage, "(not implemented yet)") {
			return
		}
		ex, ok := examples[path]
		if !ok {
			t.Errorf("%s: no example (examples.go)", path)
			return
		}
		if !strings.HasPrefix(ex.line, "mstool "+path) {
			t.Errorf("%s: example %q does not run it", path, ex.line)
		}
		var out, errb bytes.Buffer
		// Flags parse before --help is acted on: a wrong flag fails here.
		if code := run(exampleHelpArgs(app, ex), nil, &out, &errb); code != 0 {
			t.Errorf("%s: example %q: exit %d: %s", path, ex.line, code, errb.String())
		}
		out.Reset()
		argv := append(append([]string{"mstool"}, strings.Fields(path)...), "--help")
		if code := run(argv, nil, &out, &errb); code != 0 {
			t.Errorf("%s --help: exit %d: %s", path, code, errb.String())
		}
		if !strings.Contains(out.String(), "Example: "+ex.what+"\n      "+ex.line+"\n") {
			t.Errorf("%s --help does not end with its example:\n%s", path, out.String())
		}
	})
	// The commands with required flags: each example runs up to the
	// command's first requireFlags check, which must find nothing missing.
	requiredProbe = func(path string, missing []string) {
		probed[path] = true
		if len(missing) > 0 {
			t.Errorf("%s: example %q lacks the required %s", path, examples[path].line, strings.Join(missing, ", "))
		}
	}
	defer func() { requiredProbe = nil }()
	for _, path := range checksRequired {
		ex, ok := examples[path]
		if !ok {
			t.Errorf("checksRequired: no example for %q", path)
			continue
		}
		probed = map[string]bool{}
		var out, errb bytes.Buffer
		run(append([]string{"mstool"}, exampleArgs(ex)...), nil, &out, &errb)
		if !probed[path] {
			t.Errorf("%s: example %q did not reach the command's required-flags check: %s", path, ex.line, errb.String())
		}
	}
	for path := range examples {
		var found bool
		walkCommands(app.Commands, "", func(p string, _ *cli.Command) { found = found || p == path })
		if !found {
			t.Errorf("examples.go: no command %q", path)
		}
	}
}

// checksRequired lists the commands that check required flags
// (requireFlags) before anything else is read, opened or written; with
// requiredProbe set, TestExamples runs their examples up to that check.
var checksRequired = []string{
	"keygen owner", "keygen device", "keygen sa",
	"grant sign", "grant revoke", "grant verify",
	"provision", "identify",
	"esp ping", "esp send", "esp recv", "esp exec", "esp shell", "esp tunnel", "esp sa new",
	"mssl connect", "mssl exec",
	"bootstrap enrol", "bootstrap serve", "bootstrap join", "bootstrap controller",
	"gateway",
}

// probed holds the command paths requiredProbe was called for.
var probed map[string]bool

// TestManPageSections: the man page lists every exit status of exit.go and
// every environment variable the code reads.
func TestManPageSections(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"mstool", "man"}, nil, &out, &errb); code != 0 {
		t.Fatalf("man: exit %d: %s", code, errb.String())
	}
	man := out.String()
	_, status, _ := strings.Cut(man, ".SH EXIT STATUS\n")
	status, _, _ = strings.Cut(status, "\n.SH ")
	for _, code := range []int{exitOK, exitFailure, exitUsage, exitLink, exitAuth, exitNotImplemented, exitInternal} {
		if !strings.Contains(status, fmt.Sprintf(".TP\n\\fB%d\\fP\n", code)) {
			t.Errorf("EXIT STATUS lacks %d", code)
		}
	}
	_, env, _ := strings.Cut(man, ".SH ENVIRONMENT\n")
	env, _, _ = strings.Cut(env, "\n.SH ")
	// Variables named by a literal or by a constant (Getenv(envTaskMap),
	// os.Getenv(sim.HarnessEnv)), and every "MSTOOL_..." string: the
	// sources of cmd/mstool, pkg and internal (not tests, nor test helpers).
	getenv := regexp.MustCompile(`(?:Getenv|LookupEnv)\(([A-Za-z_][A-Za-z0-9_.]*|"[A-Za-z0-9_]+")\)`)
	constant := regexp.MustCompile(`\b([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"([A-Za-z0-9_]+)"`)
	mstoolVar := regexp.MustCompile(`"(MSTOOL_[A-Z0-9_]+)"`)
	srcs := map[string]string{}
	for _, dir := range []string{".", "../../pkg", "../../internal"} {
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && p == "../../internal/testenv" {
				return filepath.SkipDir
			}
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			src, err := os.ReadFile(p)
			srcs[p] = string(src)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	consts := map[string][]string{} // identifier: the strings it is set to
	for _, src := range srcs {
		for _, m := range constant.FindAllStringSubmatch(src, -1) {
			consts[m[1]] = append(consts[m[1]], m[2])
		}
	}
	seen := map[[2]string]bool{}
	listed := func(p, name string) {
		// LocalAppData is Windows' XDG_STATE_HOME, described there.
		if name == "LocalAppData" || seen[[2]string{p, name}] {
			return
		}
		seen[[2]string{p, name}] = true
		if !strings.Contains(env, `\fB`+name+`\fP`) {
			t.Errorf("%s reads $%s, which ENVIRONMENT does not list", p, name)
		}
	}
	for p, src := range srcs {
		for _, m := range getenv.FindAllStringSubmatch(src, -1) {
			if name, ok := strings.CutPrefix(m[1], `"`); ok {
				listed(p, strings.TrimSuffix(name, `"`))
				continue
			}
			id := m[1][strings.LastIndex(m[1], ".")+1:]
			if len(consts[id]) == 0 {
				t.Errorf("%s: os.Getenv(%s): no string constant %s found", p, m[1], id)
			}
			for _, name := range consts[id] {
				listed(p, name)
			}
		}
		for _, m := range mstoolVar.FindAllStringSubmatch(src, -1) {
			listed(p, m[1])
		}
	}
}

// exampleHelpArgs is ex's command line with --help after the command path
// and its flags, without its arguments (after which --help would be one).
func exampleHelpArgs(app *cli.App, ex example) []string {
	args := exampleArgs(ex)
	argv := []string{"mstool"}
	cmds := app.Commands
	var cmd *cli.Command
	i := 0
	for ; i < len(args); i++ {
		var next *cli.Command
		for _, c := range cmds {
			if c.HasName(args[i]) {
				next = c
			}
		}
		if next == nil {
			break
		}
		cmd, cmds = next, next.Subcommands
		argv = append(argv, args[i])
	}
	argv = append(argv, "--help")
	for ; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			continue // an argument
		}
		argv = append(argv, a)
		if cmd != nil && !strings.Contains(a, "=") && takesValue(cmd, strings.TrimLeft(a, "-")) && i+1 < len(args) {
			i++
			argv = append(argv, args[i])
		}
	}
	return argv
}
