package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Exit codes. They are documented in the man page (see exitCodesHelp) and
// are part of the scripting interface: do not renumber.
const (
	exitOK             = 0   // success
	exitFailure        = 1   // the operation failed: bad input, file error, refused action
	exitUsage          = 2   // bad command line: unknown flag, missing argument, bad combination
	exitLink           = 3   // device or link: port missing, busy, no permission, device not answering
	exitAuth           = 4   // authentication or verification failed: bad signature, wrong key, MAC failure, expired or revoked grant
	exitNotImplemented = 5   // the command exists in the design but is not built in this version
	exitInternal       = 10  // a bug in mstool: please report it
	exitInterrupted    = 130 // a piped shell was interrupted (128 + SIGINT, as sh reports it)
)

const exitCodesHelp = `EXIT STATUS:
   0   success
   1   the operation failed (bad input, file error, refused action)
   2   usage error (unknown flag, missing argument, bad combination)
   3   device or link error (port missing, busy or not permitted; device not answering)
   4   authentication or verification failed (bad signature, wrong key, MAC failure,
       expired, revoked or foreign grant)
   5   command not implemented in this version
   10  internal error (a bug in mstool; please report it)
   130 interrupted by Ctrl-C (SIGINT): mstool cleans up, reports it, then ends by SIGINT
       itself, which shells report as 130, so that a script running it stops too (a
       command that completes anyway, such as esp ping or sim, exits as above)`

// cliError carries an exit code and an optional hint to the single place
// that prints errors (main).
type cliError struct {
	code int
	err  error
	hint string
}

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }

func withCode(code int, err error, hint string) error {
	if err == nil {
		return nil
	}
	return &cliError{code: code, err: err, hint: hint}
}

func usageErrorf(hint, format string, a ...any) error {
	return &cliError{code: exitUsage, err: fmt.Errorf(format, a...), hint: hint}
}

func failf(hint, format string, a ...any) error {
	return &cliError{code: exitFailure, err: fmt.Errorf(format, a...), hint: hint}
}

func authError(err error, hint string) error { return withCode(exitAuth, err, hint) }
func linkError(err error, hint string) error { return withCode(exitLink, err, hint) }

// exitCode maps any error returned by a command to its exit status.
func exitCode(err error) int {
	var ce *cliError
	if errors.As(err, &ce) {
		return ce.code
	}
	return exitFailure
}

func hintOf(err error) string {
	var ce *cliError
	if errors.As(err, &ce) {
		return ce.hint
	}
	return ""
}

// libPrefix matches the package prefixes of the libraries' errors
// ("mssl: ", "espsession: "...), which say where in mstool an error was
// made, not what happened.
var libPrefix = regexp.MustCompile(`(^|: |\()(espsession|mssl|device|link): `)

// plainError is err as the user reads it: no package prefixes and no Go
// internals ("context deadline exceeded"). errors.Is and errors.As still
// see err.
func plainError(err error) error {
	if err == nil {
		return nil
	}
	return &plainErr{err}
}

type plainErr struct{ err error }

func (e *plainErr) Unwrap() error { return e.err }
func (e *plainErr) Error() string {
	s := libPrefix.ReplaceAllString(e.err.Error(), "$1")
	s = strings.ReplaceAll(s, "context deadline exceeded", "no answer in time")
	return strings.ReplaceAll(s, "context canceled", "interrupted")
}
