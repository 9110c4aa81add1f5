package main

import (
	"bytes"
	"strings"
	"testing"
)

// Secrets and binary data are not written to a terminal; public text is.
// (testscript runs mstool with pipes, so the terminal case is tested here.)
func TestStdoutRefusesTerminal(t *testing.T) {
	for _, tc := range []struct {
		kind dataKind
		ok   bool
		msg  string
	}{
		{secretData, false, "refusing to write secret key material to a terminal"},
		{binaryData, false, "refusing to write binary data to a terminal"},
		{publicText, true, ""},
	} {
		var out, errw bytes.Buffer
		ui := newUI(&out, &errw)
		ui.std.outTTY = true
		ui.std.command = "keygen owner"
		err := ui.claimStdout("-o", tc.kind)
		if tc.ok {
			if err != nil {
				t.Errorf("kind %d: %v", tc.kind, err)
			}
			continue
		}
		if err == nil || exitCode(err) != exitFailure || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("kind %d: got %v (exit %d), want exit 1 %q", tc.kind, err, exitCode(err), tc.msg)
		}
		if h := hintOf(err); !strings.Contains(h, "pipe or redirect standard output") {
			t.Errorf("kind %d: hint %q", tc.kind, h)
		}
		if ui.std.data != nil || ui.Out != &out {
			t.Errorf("kind %d: a refused claim moved the output", tc.kind)
		}
	}
}

// Once standard output carries data, the human output goes to stderr, or
// nowhere with --quiet; a second claim is refused.
func TestStdoutClaim(t *testing.T) {
	var out, errw bytes.Buffer
	ui := newUI(&out, &errw)
	if err := ui.claimStdout("-o", secretData); err != nil {
		t.Fatal(err)
	}
	ui.KeyValues([][2]string{{"k", "v"}})
	ui.Printf("summary\n")
	if err := ui.writeData([]byte("DATA")); err != nil {
		t.Fatal(err)
	}
	if out.String() != "DATA" {
		t.Errorf("stdout = %q, want only the data", out.String())
	}
	if !strings.Contains(errw.String(), "summary") || !strings.Contains(errw.String(), "k: v\n") {
		t.Errorf("stderr = %q, want the summary", errw.String())
	}
	if err := ui.claimStdout("-w", binaryData); err == nil || exitCode(err) != exitUsage {
		t.Errorf("second claim: %v", err)
	}

	out.Reset()
	errw.Reset()
	ui = newUI(&out, &errw)
	ui.Quiet = true
	if err := ui.claimStdout("-o", binaryData); err != nil {
		t.Fatal(err)
	}
	ui.Printf("summary\n")
	if out.Len() != 0 || errw.Len() != 0 {
		t.Errorf("--quiet: stdout %q, stderr %q", out.String(), errw.String())
	}
}
