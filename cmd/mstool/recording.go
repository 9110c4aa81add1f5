package main

import (
	"errors"
	"os"

	"github.com/mstool/mstool/pkg/link"
)

// openRecording creates the --pcap file of a session (mode 0600: it holds
// the session's ciphertext and, with a key log, can be decrypted) and a
// recorder writing to it. It never overwrites a file unless force.
func openRecording(path string, force bool) (*os.File, *link.Recorder, error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, nil, failf("choose another name or add --force", "%s already exists", path)
		}
		return nil, nil, failf("", "%v", err)
	}
	rec, err := link.NewRecorder(f)
	if err != nil {
		f.Close()
		return nil, nil, failf("", "%v", err)
	}
	return f, rec, nil
}
