package db

import (
	"context"
	"errors"
	"fmt"
)

// ErrorKind says what kind of failure an error is, for whoever answers the
// user: the web transport maps it to an HTTP status (web/errors.go, the one
// place that does), the CLI to an exit status and a usage hint. It lives
// here, at the bottom, so every engine can return typed errors without
// importing the service layer or the transports.
//
// An ErrorKind is itself an error (its name), so the sentinels below are
// kinds: errors.Is(err, db.ErrNotFound) and KindOf(err) agree.
type ErrorKind uint8

// The kinds. The zero value is Internal: an error nobody classified is a
// failure of ours, never blamed on the user's input.
const (
	ErrorInternal        ErrorKind = iota // a failure of ours; the user sees a generic message
	ErrorInvalid                          // the request or input is wrong as given
	ErrorNotFound                         // what was named does not exist
	ErrorExists                           // the name is taken
	ErrorBusy                             // conflicts with the current state (a running import, a held file, a stale bundle)
	ErrorReadOnly                         // the store or resource cannot be changed
	ErrorTooLarge                         // over a size or count limit
	ErrorUnauthenticated                  // no credentials given
	ErrorForbidden                        // credentials given but not good enough
	ErrorUnsupported                      // a format, encoding or media type we do not read
	ErrorUnavailable                      // a dependency is down or the service is stopping
	ErrorCanceled                         // the caller went away or cancelled
)

var kindNames = [...]string{
	ErrorInternal:        "internal",
	ErrorInvalid:         "invalid",
	ErrorNotFound:        "not found",
	ErrorExists:          "exists",
	ErrorBusy:            "busy",
	ErrorReadOnly:        "read-only",
	ErrorTooLarge:        "too large",
	ErrorUnauthenticated: "unauthenticated",
	ErrorForbidden:       "forbidden",
	ErrorUnsupported:     "unsupported",
	ErrorUnavailable:     "unavailable",
	ErrorCanceled:        "canceled",
}

func (k ErrorKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("error kind %d", k)
}

// Error makes a kind usable as a sentinel error.
func (k ErrorKind) Error() string { return k.String() }

// MarshalText writes the kind's name (JSON error answers carry it).
func (k ErrorKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's name; an unknown name is Internal.
func (k *ErrorKind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if n == string(b) {
			*k = ErrorKind(i)
			return nil
		}
	}
	*k = ErrorInternal
	return nil
}

// The sentinels the store has always returned, now kinds.
var (
	// ErrInvalid marks bad input to the store (bad names, kinds, keys).
	ErrInvalid error = ErrorInvalid
	// ErrNotFound is returned for a set or key that does not exist.
	ErrNotFound error = ErrorNotFound
	// ErrExists is returned when a name is already taken.
	ErrExists error = ErrorExists
)

// Error is a typed error: a kind, a message written for the user, and the
// cause (logged, and reachable with errors.Is/As). Error() is "kind: msg",
// the form the store's messages always had ("invalid: empty value"); the
// user message alone is Message(err).
type Error struct {
	Kind ErrorKind
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	if e.Msg == "" {
		return e.Kind.String()
	}
	return e.Kind.String() + ": " + e.Msg
}

// Unwrap exposes the kind (so errors.Is(err, db.ErrInvalid) holds) and the
// cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// NewSentinel makes an error of a kind whose text is msg alone: a
// sentinel (errors.Is finds it, KindOf classifies it), or an error a
// client rebuilt from the kind and text a daemon sent.
func NewSentinel(kind ErrorKind, msg string) error { return &sentinel{kind, msg} }

type sentinel struct {
	kind ErrorKind
	msg  string
}

func (s *sentinel) Error() string { return s.msg }
func (s *sentinel) Unwrap() error { return s.kind }

// Errorf builds a typed error; the message is formatted as fmt.Errorf does
// and any %w operand becomes the cause.
func Errorf(kind ErrorKind, format string, args ...any) *Error {
	w := fmt.Errorf(format, args...)
	e := &Error{Kind: kind, Msg: w.Error()}
	switch u := w.(type) {
	case interface{ Unwrap() error }:
		e.Err = u.Unwrap()
	case interface{ Unwrap() []error }:
		e.Err = errors.Join(u.Unwrap()...)
	}
	return e
}

// KindOf classifies err: the kind of the first typed error or kind sentinel
// in its chain; cancellation is Canceled; anything else is Internal.
func KindOf(err error) ErrorKind {
	if err == nil {
		return ErrorInternal
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	var k ErrorKind
	if errors.As(err, &k) {
		return k
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ErrorCanceled
	}
	return ErrorInternal
}

// Message is what the user is told about err: the message of the first
// typed error in its chain (without the kind), else the whole text.
// Callers that must not show internal detail check KindOf first.
func Message(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Msg != "" {
		return e.Msg
	}
	return err.Error()
}
