package cli

import (
	"fmt"
	"io"
	"sync/atomic"

	"github.com/cloudbill/alicloud-billing-source/connector/accounts"
	"github.com/cloudbill/alicloud-billing-source/connector/textsafe"
)

// configFixer is an error that only a change of the configuration, of the command line or
// of what they name (credentials, a certificate, the state file, the receiver's setup)
// fixes: trying again as it is fails the same way. config.Error, state.Error,
// billing.APIError (credentials, TLS, a redirecting endpoint), sender.ConfigError,
// accounts.UnknownError and usageError are, and cannotStart.
type configFixer interface {
	error
	NeedsConfigFix() bool
}

// exitStatus is the one mapping from an error to an exit status, for every mode and
// every phase: no error 0; an error that needs a configuration fix 2; any other 1 (rows
// were not delivered).
func exitStatus(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case configFix(err) != nil:
		return ExitConfig
	}
	return ExitIncomplete
}

// configFix is the first error in err's tree (errors.Unwrap and errors.Join) that needs a
// configuration fix, or nil.
func configFix(err error) configFixer {
	if f, ok := err.(configFixer); ok && f.NeedsConfigFix() {
		return f
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return configFix(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if f := configFix(e); f != nil {
				return f
			}
		}
	}
	return nil
}

// maxLine bounds a line that the CLI prints from an error or another text it did not
// compose itself: far more than any message the connector writes, with ordinary paths.
const maxLine = 4096

// fail prints err as the process's last word, one safe line ("connector: ..."; a usage
// error adds where to read the usage), and returns its exit status.
func fail(w io.Writer, err error) int {
	fmt.Fprintf(w, "connector: %s\n", textsafe.Line(err.Error(), maxLine))
	switch err.(type) {
	case *usageError, *accounts.UnknownError:
		fmt.Fprint(w, "Run 'connector --help' for usage.\n")
	}
	return exitStatus(err)
}

// startFailure is what Main says when the application could not be built or started: the
// first error in fx's chain that names what to fix, alone, without the wiring around it;
// any other cause as a cannotStart.
func startFailure(err error) error {
	if f := configFix(err); f != nil {
		return f
	}
	return &cannotStart{err}
}

// cannotStart is an application that could not be built or started for a reason that is
// not one of the connector's own (fx's wiring, a credential provider that cannot be set
// up, a start that timed out). Starting it again as it is fails the same way: it needs a
// fix, like the configuration errors (exit 2).
type cannotStart struct{ err error }

func (e *cannotStart) Error() string        { return "cannot start: " + e.err.Error() }
func (e *cannotStart) Unwrap() error        { return e.err }
func (e *cannotStart) NeedsConfigFix() bool { return true }

// usageError is a command line that cannot be run as it is: flags that do not go
// together, or a day that the configuration makes impossible (one the API does not keep).
type usageError struct{ msg string }

func usage(format string, a ...any) *usageError { return &usageError{fmt.Sprintf(format, a...)} }

func (e *usageError) Error() string { return e.msg }

// NeedsConfigFix is true: the command line must change (exit status 2).
func (e *usageError) NeedsConfigFix() bool { return true }

// exitCode carries the run's verdict to Main (written by the run's goroutine).
type exitCode struct{ code atomic.Int32 }

func (e *exitCode) get() int     { return int(e.code.Load()) }
func (e *exitCode) set(code int) { e.code.Store(int32(code)) }
