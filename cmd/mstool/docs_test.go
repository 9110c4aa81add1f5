package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestGeneratedFilesInSync fails when the checked-in completions or man page
// differ from what the command tree generates: run 'make generate'.
func TestGeneratedFilesInSync(t *testing.T) {
	// Generated exactly as 'make generate' does: through the real command.
	generate := func(args ...string) string {
		var out, errb bytes.Buffer
		if code := run(append([]string{"mstool"}, args...), nil, &out, &errb); code != 0 {
			t.Fatalf("mstool %v: exit %d: %s", args, code, errb.String())
		}
		return out.String()
	}
	want := map[string]string{
		"man/mstool.1":            generate("man"),
		"completions/mstool.bash": generate("completion", "bash"),
		"completions/_mstool":     generate("completion", "zsh"),
		"completions/mstool.fish": generate("completion", "fish"),
	}
	for file, content := range want {
		got, err := os.ReadFile(filepath.Join("..", "..", file))
		if err != nil {
			t.Errorf("%s: %v (run 'make generate')", file, err)
			continue
		}
		if !bytes.Equal(got, []byte(content)) {
			t.Errorf("%s is out of date: run 'make generate' and commit the result", file)
		}
	}
}

func TestCompletionCommand(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		var out, errb bytes.Buffer
		if code := run([]string{"mstool", "completion", shell}, nil, &out, &errb); code != 0 || out.Len() == 0 {
			t.Errorf("completion %s: exit %d, %d bytes, %s", shell, code, out.Len(), errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"mstool", "completion", "tcsh"}, nil, &out, &errb); code != exitUsage {
		t.Errorf("unknown shell: exit %d, want %d", code, exitUsage)
	}
}
