// Package statedir finds the directory where mstool keeps state across
// runs (the floor record, the shells' history).
package statedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Env names the environment variable that overrides the directory.
const Env = "MSTOOL_STATE_DIR"

// Dir returns $MSTOOL_STATE_DIR, else $XDG_STATE_HOME/mstool, else
// ~/.local/state/mstool (on Windows, %LocalAppData%\mstool). It does not
// create it.
func Dir() (string, error) {
	if d := os.Getenv(Env); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "mstool"), nil
	}
	if runtime.GOOS == "windows" {
		if d := os.Getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "mstool"), nil
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no state directory (set %s): %w", Env, err)
	}
	if home == "" {
		return "", errors.New("no state directory (set " + Env + ")")
	}
	return filepath.Join(home, ".local", "state", "mstool"), nil
}
