// Package testenv gives tests one policy for external tools and build
// artefacts: when something a test needs is missing it fails under CI=true
// (a missing tool in CI is a broken CI, not a pass) and skips, saying what
// to install, on a developer machine.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// InCI reports whether the tests run in CI, where nothing may be skipped
// for lack of a tool.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing fails the test in CI and skips it elsewhere, with what to do.
func Missing(t testing.TB, what, hint string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is missing (CI=true, so this is a failure): %s", what, hint)
	}
	t.Skipf("%s is missing: %s", what, hint)
}

// Tool returns the path of an executable on PATH, or fails/skips the test.
func Tool(t testing.TB, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, "apt-get install "+debianPackage)
	}
	return p
}

// ScapyPython returns Debian's /usr/bin/python3 after checking that it can
// import scapy. The python3 first on PATH may be another interpreter.
func ScapyPython(t testing.TB) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import scapy.layers.ipsec").Run(); err != nil {
		Missing(t, "scapy for /usr/bin/python3", "apt-get install python3-scapy")
	}
	return py
}

// RepoRoot returns the module root (the directory holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testenv: cannot locate source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Artifact returns the path of a build output under the repo root, or
// fails/skips the test with the make target that builds it.
func Artifact(t testing.TB, rel, makeTarget string) string {
	t.Helper()
	p := filepath.Join(RepoRoot(t), rel)
	if _, err := os.Stat(p); err != nil {
		Missing(t, rel, "run 'make "+makeTarget+"' first (make test does)")
	}
	return p
}
