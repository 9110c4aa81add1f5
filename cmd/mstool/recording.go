package main

import (
	"errors"
	"os"

	"github.com/mstool/mstool/pkg/keyfile"
	"github.com/mstool/mstool/pkg/link"
)

// openRecording creates the --pcap file of a session (mode 0600: it holds
// the session's ciphertext and, with a key log, can be decrypted) and a
// recorder writing to it. It never overwrites a file unless force.
func openRecording(path string, force bool) (*os.File, *link.Recorder, error) {
	f, err := createOutput(path, force)
	if err != nil {
		return nil, nil, err
	}
	rec, err := link.NewRecorder(f)
	if err != nil {
		f.Close()
		return nil, nil, failf("", "%v", err)
	}
	return f, rec, nil
}

// createOutput creates an output file that is written as it goes (a
// recording, a capture): mode 0600, never over an existing file unless
// force, never through a symbolic link (keyfile.Create).
func createOutput(path string, force bool) (*os.File, error) {
	f, err := keyfile.Create(path, force)
	switch {
	case err == nil:
		return f, nil
	case errors.Is(err, keyfile.ErrExists):
		return nil, failf("choose another name, or add --force to replace it", "%s already exists", path)
	}
	return nil, writeError(err, path)
}

// symlinkRefused is the error for an output or secret file that is a
// symbolic link: mstool never writes through one.
func symlinkRefused(path string) error {
	return failf("remove the link, or give the real file's path", "%s is a symbolic link; refusing to write through it", path)
}
