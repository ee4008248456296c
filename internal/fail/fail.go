// Package fail classifies podid's errors into exit codes and carries the hint
// that tells the user what to run next.
package fail

import (
	"context"
	"errors"
	"fmt"
)

// Kind decides the exit code.
type Kind int

const (
	KindError        Kind = 1   // something went wrong
	KindUsage        Kind = 2   // bad flags or arguments
	KindVerification Kind = 3   // a check ran and found a problem
	KindTimeout      Kind = 4   // --timeout ran out
	KindInterrupted  Kind = 130 // Ctrl-C
)

// Error is an error with a kind and a hint.
type Error struct {
	Kind Kind
	Err  error
	Hint string // what to run or change next; may be empty
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// New returns an error of the given kind.
func New(kind Kind, hint, format string, args ...any) error {
	return &Error{Kind: kind, Err: fmt.Errorf(format, args...), Hint: hint}
}

// Usagef is a usage error (exit 2).
func Usagef(hint, format string, args ...any) error { return New(KindUsage, hint, format, args...) }

// Verifyf is a verification failure (exit 3).
func Verifyf(hint, format string, args ...any) error {
	return New(KindVerification, hint, format, args...)
}

// Errorf is a plain error with a hint (exit 1).
func Errorf(hint, format string, args ...any) error { return New(KindError, hint, format, args...) }

// WithHint attaches a hint to err, keeping its kind.
func WithHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: KindOf(err), Err: err, Hint: hint}
}

// WithKind sets err's kind, keeping its hint.
func WithKind(err error, kind Kind) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Err: err, Hint: HintOf(err)}
}

// KindOf returns the kind of err: an explicit kind wins, then deadlines mean
// timeout and cancellation means interrupted.
func KindOf(err error) Kind {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return KindTimeout
	case errors.Is(err, context.Canceled):
		return KindInterrupted
	}
	return KindError
}

// HintOf returns the outermost hint in err's chain.
func HintOf(err error) string {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return ""
		}
		if e.Hint != "" {
			return e.Hint
		}
		err = e.Err
	}
	return ""
}

// ExitCode maps err to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	return int(KindOf(err))
}
