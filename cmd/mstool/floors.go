package main

import (
	"errors"
	"fmt"

	"github.com/mstool/mstool/pkg/floorbook"
)

// floorBook is the host's record of the floors each device was given
// (pkg/floorbook; docs/provisioning.md "Floor record").
func floorBook() (*floorbook.Book, error) {
	b, err := floorbook.Open()
	if err != nil {
		return nil, failf("set "+floorbook.EnvDir+" to a directory mstool may keep its state in", "%v", err)
	}
	return b, nil
}

// checkImageFloors refuses an EEPROM image whose floors are below the
// record (flashing it would undo revocations) unless allowed.
func checkImageFloors(img []byte, allow bool) error {
	book, err := floorBook()
	if err != nil {
		return err
	}
	err = book.CheckImage(img)
	if errors.Is(err, floorbook.ErrOlderFloors) && !allow {
		return failf("make a new image with 'mstool provision' (it carries the recorded floors forward); --allow-older-floors writes this one anyway", "%v", err)
	}
	if err != nil && !errors.Is(err, floorbook.ErrOlderFloors) {
		return failf("", "%v", err)
	}
	return nil
}

// floorRecordError is the error of a floor record that could not be
// read or written (what says which, after the command's name): where the
// record is kept and what to do.
func floorRecordError(book *floorbook.Book, what string, err error) error {
	return failf(fmt.Sprintf("mstool records the floors it gives devices in %s: make it writable, or set %s to a directory mstool may keep its state in", book.Dir, floorbook.EnvDir),
		"%s: %v", what, err)
}
