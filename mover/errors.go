package mover

import (
	"errors"
	"fmt"
)

// Kind classifies why an operation failed.
type Kind string

const (
	// KindFatal is any failure not classified below.
	KindFatal Kind = "Fatal"
	// KindWrongPassword: no key in the repository opens with the password.
	KindWrongPassword Kind = "WrongPassword"
	// KindRepositoryMissing: there is no repository at the location.
	KindRepositoryMissing Kind = "RepositoryMissing"
	// KindBackendUnreachable: the storage backend did not answer (DNS, refused
	// connection, timeout, backend down for longer than the mover waits).
	KindBackendUnreachable Kind = "BackendUnreachable"
	// KindLocked: another process holds a conflicting lock.
	KindLocked Kind = "Locked"
	// KindNoSpace: a disk (the target, the cache or a local repository) is full.
	KindNoSpace Kind = "NoSpace"
	// KindPermissionDenied: the backend or the file system refused access.
	KindPermissionDenied Kind = "PermissionDenied"
	// KindPartial: the operation finished but some items could not be read
	// or written. The result is returned together with this error.
	KindPartial Kind = "Partial"
	// KindInterrupted: the context was canceled.
	KindInterrupted Kind = "Interrupted"
	// KindInvalid: the request itself is wrong (caught before running restic).
	KindInvalid Kind = "Invalid"
	// KindUnsafeTarget: a restore target would let data escape it.
	KindUnsafeTarget Kind = "UnsafeTarget"
)

// Sentinel errors, one per Kind, for errors.Is.
var (
	ErrFatal              = &Error{Kind: KindFatal}
	ErrWrongPassword      = &Error{Kind: KindWrongPassword}
	ErrRepositoryMissing  = &Error{Kind: KindRepositoryMissing}
	ErrBackendUnreachable = &Error{Kind: KindBackendUnreachable}
	ErrLocked             = &Error{Kind: KindLocked}
	ErrNoSpace            = &Error{Kind: KindNoSpace}
	ErrPermissionDenied   = &Error{Kind: KindPermissionDenied}
	ErrPartial            = &Error{Kind: KindPartial}
	ErrInterrupted        = &Error{Kind: KindInterrupted}
	ErrInvalid            = &Error{Kind: KindInvalid}
	ErrUnsafeTarget       = &Error{Kind: KindUnsafeTarget}
)

// Error is a classified mover failure. Message never holds a secret: the
// restic implementation redacts every secret value before building it.
type Error struct {
	Kind Kind
	// Op is the operation, e.g. "backup".
	Op string
	// ExitCode is restic's exit code, -1 when restic did not exit by itself.
	ExitCode int
	// Message is restic's own explanation (redacted).
	Message string
	// Err is an underlying Go error, if any.
	Err error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Op, e.Kind)
	if e.Op == "" {
		msg = string(e.Kind)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches another *Error of the same Kind, so errors.Is(err, ErrLocked) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind
}

// KindOf returns the Kind of err, or "" if err is not a mover error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}
